"""The model's policy sessions: digests from Part 3's formulas (hashlib, in this file), TPM-chosen
handles followed, the refusals and their order as measured on libtpms 0.9.2."""

from __future__ import annotations

import hashlib
import struct

import pytest

from models import ops
from models.tcg import TPM_ALG
from models.tpm import PROFILES, TpmModel

SHA1, SHA256 = int(TPM_ALG.TPM_ALG_SHA1), int(TPM_ALG.TPM_ALG_SHA256)
POLICY, TRIAL, HMAC = 1, 3, 0
INDEX = 0x01400001
SEALED = (1 << 19) | (1 << 1) | (1 << 25)  # POLICYREAD | OWNERWRITE | NO_DA


def h(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def pcr_policy(old: bytes, selection_bytes: bytes, values: bytes) -> bytes:
    return h(old, struct.pack(">I", 0x17F), selection_bytes, h(values))


@pytest.fixture
def model() -> TpmModel:
    tpm = TpmModel(PROFILES["libtpms-0.9"], banks=(SHA1, SHA256))
    tpm.apply(ops.Startup(0))
    return tpm


def started(model: TpmModel, kind: int = POLICY, handle: int = 0x03000002) -> int:
    outcome = model.apply(ops.StartAuthSession(kind, SHA256))
    assert outcome.rc == 0 and outcome.value.handle == handle and outcome.value.nonce_tpm == b"\x00" * 16
    assert outcome.value.handle != handle + 64 and outcome.value.nonce_tpm != b"\x00" * 15
    model.follow_session(handle)
    return handle


def test_policy_digest_of_pcr_and_locality(model):
    handle = started(model)
    model.apply(ops.PcrExtend(23, ((SHA256, b"\x11" * 32),)))
    pcr23 = h(bytes(32), b"\x11" * 32)
    assert model.apply(ops.PolicyPCR(handle, ((SHA256, (23, 1)),))).rc == 0
    selection_bytes = struct.pack(">IHB", 1, SHA256, 3) + ((1 << 1) | (1 << 23)).to_bytes(3, "little")
    digest = pcr_policy(bytes(32), selection_bytes, bytes(32) + pcr23)
    assert model.apply(ops.PolicyGetDigest(handle)) == ops.Outcome(0, digest)
    assert model.apply(ops.PolicyLocality(handle, 0x0C)).rc == 0
    assert model.apply(ops.PolicyLocality(handle, 0x13)).rc == 0x1CD  # no locality left: RANGE + P1
    assert model.apply(ops.PolicyGetDigest(handle)).value == h(digest, struct.pack(">IB", 0x16F, 0x0C))
    assert model.apply(ops.PolicyRestart(handle)).rc == 0
    assert model.apply(ops.PolicyGetDigest(handle)).value == bytes(32)


def test_sessions_take_slots_and_are_lost_at_startup(model):
    handles = [started(model, HMAC, 0x02000005), started(model, POLICY, 0x03000000)]
    assert set(model.sessions) == set(handles)
    assert model.apply(ops.StartAuthSession(POLICY, SHA256, b"x" * 15)).rc == 0x1D5
    assert model.apply(ops.StartAuthSession(2, SHA256)).rc == 0x3C4
    started(model, TRIAL, 0x03000009)
    assert model.apply(ops.StartAuthSession(POLICY, SHA256)).rc == 0x903  # SESSION_MEMORY
    assert model.apply(ops.FlushContext(0x03000005)).rc == 0  # the slot decides, as in the reference
    assert model.apply(ops.FlushContext(0x03000005)).rc == 0x1CB
    assert model.apply(ops.FlushContext(0x80000000)).rc == 0x1CB
    assert model.apply(ops.FlushContext(0x81000000)).rc == 0x1C4
    model.apply(ops.Shutdown(1))
    model.apply(ops.PowerCycle())
    model.apply(ops.Startup(1))
    assert model.sessions == {}
    assert model.apply(ops.PolicyGetDigest(0x03000000)).rc == 0x910


def test_sealed_read_checks_in_the_reference_order(model):
    selection = ((SHA256, (16,)),)
    policy = pcr_policy(bytes(32), struct.pack(">IHB", 1, SHA256, 3) + (1 << 16).to_bytes(3, "little"), bytes(32))
    policy = h(policy, struct.pack(">IB", 0x16F, 0x04))
    model.apply(ops.NvDefineSpace(0x40000001, INDEX, SHA256, SEALED, 4, auth_policy=policy))
    model.apply(ops.NvWrite(0x40000001, INDEX, b"data"))
    handle = started(model)
    model.apply(ops.PolicyPCR(handle, selection))
    assert model.apply(ops.NvPolicyRead(INDEX, 4, handle)).rc == 0x99D  # no PolicyLocality yet
    model.apply(ops.PolicyLocality(handle, 0x04))
    assert model.apply(ops.NvPolicyRead(INDEX, 4, handle, locality=1)).rc == 0x907
    assert model.apply(ops.NvPolicyRead(INDEX, 4, handle, locality=2)) == ops.Outcome(0, b"data")
    assert model.apply(ops.PolicyGetDigest(handle)).value == bytes(32)  # reset after use
    model.apply(ops.PolicyPCR(handle, selection))
    model.apply(ops.PcrExtend(16, ((SHA256, bytes(32)),)))  # PCR 16 does not count on libtpms
    model.apply(ops.PolicyLocality(handle, 0x04))
    assert model.apply(ops.NvPolicyRead(INDEX, 4, handle, locality=2)).rc == 0
    model.apply(ops.PolicyPCR(handle, selection))
    model.apply(ops.PcrExtend(1, ((SHA256, bytes(32)),)))
    assert model.apply(ops.NvPolicyRead(INDEX, 4, handle, locality=2)).rc == 0x128  # before POLICY_FAIL
    assert model.apply(ops.PolicyPCR(handle, selection)).rc == 0x128
    trial = started(model, TRIAL, 0x03000001)
    assert model.apply(ops.NvPolicyRead(INDEX, 4, trial)).rc == 0x982
    assert model.apply(ops.NvPolicyRead(INDEX, 4, 0x03000007)).rc == 0x918
    assert model.apply(ops.NvPolicyRead(0x01400002, 4, handle)).rc == 0x18B


def test_follow_refuses_a_handle_that_is_not_free(model):
    handle = started(model)
    model.apply(ops.StartAuthSession(POLICY, SHA256))
    with pytest.raises(ValueError):
        model.follow_session(handle)
    with pytest.raises(ValueError):
        model.follow_session(0x03000001)  # nothing awaits a handle any more


def test_policy_write_needs_policywrite(model):
    selection = ((SHA256, (23,)),)
    policy = pcr_policy(bytes(32), struct.pack(">IHB", 1, SHA256, 3) + (1 << 23).to_bytes(3, "little"), bytes(32))
    model.apply(ops.NvDefineSpace(0x40000001, INDEX, SHA256, SEALED, 4, auth_policy=policy))
    model.apply(ops.NvDefineSpace(0x40000001, INDEX + 1, SHA256, SEALED | (1 << 3), 4, auth_policy=policy))
    handle = started(model)
    model.apply(ops.PolicyPCR(handle, selection))
    assert model.apply(ops.NvPolicyWrite(INDEX, b"new!", handle)).rc == 0x12F  # AUTH_UNAVAILABLE
    assert model.apply(ops.NvPolicyWrite(INDEX + 1, b"new!", handle)).rc == 0
    assert model.apply(ops.NvPolicyWrite(INDEX + 1, b"again", handle)).rc == 0x99D  # reset after use
    model.apply(ops.PolicyPCR(handle, selection))
    assert model.apply(ops.NvPolicyRead(INDEX + 1, 4, handle)) == ops.Outcome(0, b"new!")
