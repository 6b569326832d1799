"""Loaded sessions in TPM2_GetCapability and TPM2_FlushContext of a sequence object, on the
emulator and a spawned swtpm, each in lockstep with the model (the driver compares every answer).

Expected lists are written from the reference's rules (SessionCapGetLoaded: loaded sessions in
slot order, each under its own type's handle; the slots of both types are one space) and the
counts from the reference limits that libtpms 0.9 reports (3 loaded, 64 active sessions).
"""

from __future__ import annotations

from harness.driver import Checked
from harness.policy import start_session
from models import ops
from models.tcg import TPM_CAP, TPM_PT
from tests.test_sequences import tpm  # noqa: F401  (the fixture: emulator and swtpm, each with the model)

HANDLES, PROPERTIES = int(TPM_CAP.TPM_CAP_HANDLES), int(TPM_CAP.TPM_CAP_TPM_PROPERTIES)
HMAC, POLICY, TRIAL, SHA256 = 0x00, 0x01, 0x03, 0x000B
HMAC_FIRST, POLICY_FIRST, TRANSIENT_FIRST = 0x02000000, 0x03000000, 0x80000000


def handles(pair: Checked, first: int) -> tuple[int, ...]:
    return pair.command(ops.GetCapability(HANDLES, first, 16)).value.data


def counts(pair: Checked) -> dict[str, int]:
    first = int(TPM_PT.TPM_PT_HR_LOADED)
    rows = dict(pair.command(ops.GetCapability(PROPERTIES, first, 4)).value.data)
    return {TPM_PT(tag).name: value for tag, value in rows.items()}


def test_loaded_sessions_are_listed_by_slot_under_their_own_type(tpm):  # noqa: F811
    assert handles(tpm, HMAC_FIRST) == ()
    started = [start_session(tpm, ops.StartAuthSession(kind, SHA256)) for kind in (HMAC, POLICY, TRIAL)]
    assert started == [HMAC_FIRST, POLICY_FIRST + 1, POLICY_FIRST + 2]  # lowest free slot first
    assert handles(tpm, HMAC_FIRST) == tuple(started)
    assert handles(tpm, HMAC_FIRST + 2) == (POLICY_FIRST + 2,)  # paged by slot, not by type
    assert handles(tpm, POLICY_FIRST) == ()  # TPM_HT_SAVED_SESSION: nothing saved
    assert counts(tpm) == {"TPM_PT_HR_LOADED": 3, "TPM_PT_HR_LOADED_AVAIL": 0,
                           "TPM_PT_HR_ACTIVE": 3, "TPM_PT_HR_ACTIVE_AVAIL": 61}
    assert tpm.command(ops.FlushContext(POLICY_FIRST + 1)).rc == 0
    assert handles(tpm, HMAC_FIRST) == (HMAC_FIRST, POLICY_FIRST + 2)
    assert counts(tpm)["TPM_PT_HR_LOADED_AVAIL"] == 1


def test_startup_unloads_every_session(tpm):  # noqa: F811
    start_session(tpm, ops.StartAuthSession(POLICY, SHA256))
    tpm.command(ops.Shutdown(0))
    tpm.platform(ops.PowerCycle())
    tpm.command(ops.Startup(0))
    assert handles(tpm, HMAC_FIRST) == ()
    assert counts(tpm)["TPM_PT_HR_ACTIVE"] == 0


def test_flush_context_frees_a_sequence_slot(tpm):  # noqa: F811
    opened = [tpm.command(ops.HashSequenceStart(b"", SHA256)).value for _ in range(3)]
    assert tpm.command(ops.HashSequenceStart(b"", SHA256)).rc == 0x902  # TPM_RC_OBJECT_MEMORY
    assert tpm.command(ops.FlushContext(opened[1])).rc == 0
    assert handles(tpm, TRANSIENT_FIRST) == (opened[0], opened[2])
    assert tpm.command(ops.FlushContext(opened[1])).rc == 0x1CB  # TPM_RC_HANDLE + parameter 1
    assert tpm.command(ops.HashSequenceStart(b"", SHA256)).value == opened[1]
