"""swtpm as a vTPM whose disk comes late: the attach over the control channel keeps PCRs.

Expected PCR values are computed with hashlib; NV behaviour is what the TPM
reports through TPM2_NV_Read.
"""

from __future__ import annotations

import pytest

from harness.targets.base import Capability
from harness.targets.factory import parse_target
from harness.targets.swtpm import SwtpmTarget
from tests.swtpm.tpm import (NV_DEFINE, NV_READ, STARTUP_CLEAR, SUCCESS, SWTPM, extend, extended,
                             nv_read_data, nv_write, pcr, rc)

pytestmark = SWTPM
NV_HANDLE = 0x18B  # TPM_RC_HANDLE + handle 1: the index is not defined


def test_pcrs_extended_before_a_late_attach_survive_it():
    with SwtpmTarget(disk=False) as vtpm:
        assert Capability.DISK in vtpm.capabilities
        assert rc(vtpm.transmit(STARTUP_CLEAR)) == SUCCESS
        assert extend(vtpm, 16, b"before the disk") == SUCCESS
        vtpm.attach_disk()
        want = extended(b"before the disk")
        assert pcr(vtpm, 16) == want
        assert extend(vtpm, 16, b"after") == SUCCESS  # still started: no new Startup needed
        assert pcr(vtpm, 16) == extended(b"after", want)


def test_nv_written_before_the_attach_is_replaced_by_the_disk_and_kept_after_it():
    with SwtpmTarget(disk=False) as vtpm:
        vtpm.transmit(STARTUP_CLEAR)
        assert rc(vtpm.transmit(NV_DEFINE)) == SUCCESS  # on the scratch state
        vtpm.attach_disk()
        assert rc(vtpm.transmit(NV_READ)) == NV_HANDLE  # the disk never had that index
        assert rc(vtpm.transmit(NV_DEFINE)) == SUCCESS
        assert rc(vtpm.transmit(nv_write(b"diskkey!"))) == SUCCESS
        vtpm.crash()  # restarted on the disk
        vtpm.transmit(STARTUP_CLEAR)
        assert nv_read_data(vtpm.transmit(NV_READ)) == b"diskkey!"


def test_a_crash_without_disk_loses_the_scratch_nv():
    with SwtpmTarget(disk=False) as vtpm:
        vtpm.transmit(STARTUP_CLEAR)
        assert rc(vtpm.transmit(NV_DEFINE)) == SUCCESS
        vtpm.crash()
        vtpm.transmit(STARTUP_CLEAR)
        assert rc(vtpm.transmit(NV_READ)) == NV_HANDLE


def test_the_factory_gives_one_process_per_vtpm():
    vtpms = parse_target("swtpm").vtpms({"a": True, "b": False})
    try:
        assert {name: v.disk for name, v in vtpms.items()} == {"a": True, "b": False}
        assert vtpms["a"].pid != vtpms["b"].pid
        for vtpm in vtpms.values():
            vtpm.transmit(STARTUP_CLEAR)
        extend(vtpms["a"], 16, b"only a")
        assert pcr(vtpms["b"], 16) == bytes(32)
    finally:
        for vtpm in vtpms.values():
            vtpm.close()


def test_a_running_swtpm_cannot_lose_its_disk():
    with SwtpmTarget() as vtpm, pytest.raises(NotImplementedError, match="failure mode"):
        vtpm.detach_disk()
