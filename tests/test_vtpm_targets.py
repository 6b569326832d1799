"""vTPM targets from a spec: several instances of one manager, the xen profile, mirroring,
and the architecture 2/3 machines on swtpm processes (one per vTPM)."""

from __future__ import annotations

import hashlib
import shutil

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from harness import session
from harness.errors import UsageError
from harness.targets.base import Capability
from harness.targets.factory import parse_target
from harness.wire import decode_response, encode_command
from models import ops
from suites.arch2_suite import Arch2Machine
from suites.arch3_suite import Arch3Machine

SMALL = settings(max_examples=10, stateful_step_count=12, derandomize=True, database=None, deadline=None)
SHA256 = 0x000B


def run(target, op):
    return decode_response(op, target.transmit(encode_command(op), op.locality))


@pytest.fixture
def spec():
    previous = session.factory()
    yield lambda text: session.configure(parse_target(text))
    session.configure(previous)


def test_emulator_vtpms_share_a_manager_and_keep_their_disks_apart():
    factory = parse_target("emulator?banks=sha256")
    vtpms = factory.vtpms({"a": True, "b": False})
    assert {Capability.DISK, Capability.MIRROR, Capability.INSTANCES} <= factory.capabilities
    for vtpm in vtpms.values():
        assert run(vtpm, ops.Startup(0)).rc == 0
    assert run(vtpms["a"], ops.Shutdown(1)).rc == 0
    assert run(vtpms["b"], ops.Shutdown(1)).rc == 0x923  # TPM_RC_NV_UNAVAILABLE: no disk


def test_the_xen_profile_refuses_everything_until_the_disk_comes():
    (vtpm,) = parse_target("emulator?vtpm=xen").vtpms({"hwdom": False}).values()
    assert run(vtpm, ops.Startup(0)).rc == 0x101  # TPM_RC_FAILURE
    vtpm.attach_disk()
    assert run(vtpm, ops.Startup(0)).rc == 0


def test_an_unknown_vtpm_profile_is_a_usage_error():
    with pytest.raises(UsageError, match="vtpm must be one of"):
        parse_target("emulator?vtpm=stateless")


def test_the_plain_emulator_mirrors_hardware_pcrs_by_bank_name():
    target = parse_target("emulator?banks=sha256").create()
    hw = hashlib.sha256(b"pTPM PCR 4").digest()
    target.mirror_pcrs({"sha256": {4: hw}})
    run(target, ops.Startup(0))
    read = run(target, ops.PcrRead(((SHA256, (3, 4)),)))
    assert read.value.digests == (bytes(32), hw)


def test_the_architecture_3_machine_passes_on_the_xen_profile(spec):
    spec("emulator?vtpm=xen")
    run_state_machine_as_test(Arch3Machine, settings=SMALL)


@pytest.mark.swtpm
@pytest.mark.skipif(shutil.which("swtpm") is None, reason="swtpm is not installed (Debian package swtpm)")
@pytest.mark.parametrize("machine", [Arch2Machine, Arch3Machine], ids=lambda m: m.__name__)
def test_the_vtpm_machines_pass_on_swtpm(machine, spec):
    spec("swtpm")
    run_state_machine_as_test(machine, settings=SMALL)
