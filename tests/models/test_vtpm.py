"""The vTPM manager model: disks, refusals without them, mirrored PCRs, isolation."""

import hashlib

import pytest

from models import ops
from models.tcg import TPM_ALG, TPM_RC
from models.tpm import TpmModel
from models.vtpm import REFUSE_ALL, SCRATCH, VtpmManagerModel, VtpmModel

SHA256 = int(TPM_ALG.TPM_ALG_SHA256)
NV_UNAVAILABLE = int(TPM_RC.TPM_RC_NV_UNAVAILABLE)
EXTEND16 = ops.PcrExtend(16, ((SHA256, b"\x11" * 32),))


def vtpm(**kw) -> VtpmModel:
    return VtpmModel(TpmModel(banks=(SHA256,)), **kw)


def test_without_disk_extends_are_served_and_shutdown_refused():
    v = vtpm(disk=False)
    assert v.apply(ops.Startup(0)).rc == 0
    assert v.apply(EXTEND16).rc == 0
    assert v.apply(ops.Shutdown(1)).rc == NV_UNAVAILABLE
    # The refusal changed nothing: no orderly state, so a Resume is impossible.
    v.apply(ops.PowerCycle())
    assert v.apply(ops.Startup(1)).rc != 0


def test_refusal_comes_after_the_commands_own_checks():
    v = vtpm(disk=False)
    assert v.apply(ops.Shutdown(1)).rc == int(TPM_RC.TPM_RC_INITIALIZE)
    v.apply(ops.Startup(0))
    assert v.apply(ops.Shutdown(7)).rc not in (0, NV_UNAVAILABLE)


def test_late_attach_keeps_pcrs_and_enables_persistence():
    v = vtpm(disk=False)
    v.apply(ops.Startup(0))
    v.apply(EXTEND16)
    want = hashlib.sha256(bytes(32) + b"\x11" * 32).digest()
    v.attach_disk()
    assert v.pcr(SHA256, 16) == want
    assert v.apply(ops.Shutdown(1)).rc == 0
    v.apply(ops.PowerCycle())
    assert v.apply(ops.Startup(1)).rc == 0
    assert v.pcr(SHA256, 16) == bytes(32)  # PCR 16 is not state-saved: reset on Resume


def test_xen_profile_refuses_everything_without_disk():
    v = vtpm(disk=False, without_disk=REFUSE_ALL)
    assert v.apply(ops.Startup(0)).rc == int(TPM_RC.TPM_RC_FAILURE)
    v.attach_disk()
    assert v.apply(ops.Startup(0)).rc == 0


def test_scratch_nv_is_replaced_by_the_disk():
    v = vtpm(disk=False, without_disk=SCRATCH)
    v.apply(ops.Startup(0))
    assert v.apply(ops.Shutdown(1)).rc == 0
    v.attach_disk()  # the disk never saw that Shutdown(STATE)
    v.apply(ops.PowerCycle())
    assert v.apply(ops.Startup(1)).rc != 0


def test_crash_without_disk_forgets_nv_with_disk_keeps_it():
    v = vtpm()
    v.apply(ops.Startup(0))
    v.apply(ops.Shutdown(1))
    v.detach_disk()
    v.apply(ops.Crash())
    assert v.apply(ops.Startup(1)).rc != 0
    v.attach_disk()  # the disk still holds the Shutdown(STATE)
    v.apply(ops.PowerCycle())
    assert v.apply(ops.Startup(1)).rc == 0


def test_mirrored_pcrs_start_with_the_copied_values():
    v = vtpm()
    hw = hashlib.sha256(b"hardware").digest()
    v.mirror_pcrs({SHA256: {10: hw}})
    v.apply(ops.Startup(0))
    assert v.pcr(SHA256, 10) == hw
    assert v.pcr(SHA256, 11) == bytes(32)
    with pytest.raises(ValueError):
        v.mirror_pcrs({SHA256: {10: b"short"}})


def test_instances_are_independent():
    manager = VtpmManagerModel()
    a = manager.add("a", vtpm())
    b = manager.add("b", vtpm())
    for v in (a, b):
        v.apply(ops.Startup(0))
    a.apply(EXTEND16)
    assert b.pcr(SHA256, 16) == bytes(32)
    with pytest.raises(ValueError):
        manager.add("a", vtpm())
