"""Policy sessions on the emulator: hand-built frames, digests from Part 3's formulas with hashlib,
response codes as measured on swtpm 0.7.1 / libtpms 0.9.2, and the policy mutants' scenarios."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable

import pytest

from harness.emulator import Emulator

from .frames import NO_SESSIONS, SESSIONS, assert_rc, auth_area, frame, pcr_extend, pcr_selection, rc, session, startup

CC_START, CC_POLICY_PCR, CC_POLICY_LOCALITY = 0x176, 0x17F, 0x16F
CC_GET_DIGEST, CC_RESTART, CC_FLUSH, CC_NV_READ, CC_NV_DEFINE, CC_NV_WRITE = 0x189, 0x180, 0x165, 0x14E, 0x12A, 0x137
NULL, OWNER = 0x40000007, 0x40000001
POLICY, TRIAL, HMAC = 1, 3, 0
INDEX = 0x01500001
POLICYREAD, OWNERWRITE, OWNERREAD, NO_DA = 1 << 19, 1 << 1, 1 << 17, 1 << 25


def succeeded(response: bytes) -> None:
    assert rc(response) == 0, response.hex()


def start_session(kind: int = POLICY, alg: int = 0x000B, nonce: bytes = b"\x01" * 16) -> bytes:
    body = struct.pack(">IIH", NULL, NULL, len(nonce)) + nonce + struct.pack(">HBHH", 0, kind, 0x0010, alg)
    return frame(NO_SESSIONS, CC_START, body)


def policy_pcr(handle: int, selection, digest: bytes = b"") -> bytes:
    return frame(NO_SESSIONS, CC_POLICY_PCR,
                 struct.pack(">IH", handle, len(digest)) + digest + pcr_selection(selection))


def policy_locality(handle: int, localities: int) -> bytes:
    return frame(NO_SESSIONS, CC_POLICY_LOCALITY, struct.pack(">IB", handle, localities))


def on_handle(code: int, handle: int) -> bytes:
    return frame(NO_SESSIONS, code, struct.pack(">I", handle))


def nv_define(policy: bytes, attrs: int = POLICYREAD | OWNERWRITE | NO_DA) -> bytes:
    public = struct.pack(">IHIH", INDEX, 0x000B, attrs, len(policy)) + policy + struct.pack(">H", 8)
    return frame(SESSIONS, CC_NV_DEFINE, struct.pack(">I", OWNER) + auth_area()
                 + struct.pack(">H", 0) + struct.pack(">H", len(public)) + public)


def nv_write(data: bytes = b"sealed!!") -> bytes:
    return frame(SESSIONS, CC_NV_WRITE, struct.pack(">II", OWNER, INDEX) + auth_area()
                 + struct.pack(">H", len(data)) + data + struct.pack(">H", 0))


def nv_read_with(handle: int, attrs: int = 1) -> bytes:
    return frame(SESSIONS, CC_NV_READ, struct.pack(">II", INDEX, INDEX)
                 + auth_area(session(handle, b"\x02" * 16, attrs)) + struct.pack(">HH", 8, 0))


def started_session(tpm: Emulator, kind: int = POLICY) -> int:
    response = tpm.execute(start_session(kind))
    succeeded(response)
    handle, size = struct.unpack_from(">IH", response, 10)
    assert size == 16 and len(response) == 16 + size
    return handle


def digest(tpm: Emulator, handle: int) -> bytes:
    response = tpm.execute(on_handle(CC_GET_DIGEST, handle))
    succeeded(response)
    return response[12:]


def h256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def pcr_policy(old: bytes, selection, pcr_values: bytes) -> bytes:
    """Part 3 PolicyPCR: H(old || TPM_CC_PolicyPCR || pcrs || H(selected PCR values))."""
    return h256(old, struct.pack(">I", CC_POLICY_PCR), pcr_selection(selection), h256(pcr_values))


def locality_policy(old: bytes, localities: int) -> bytes:
    """Part 3 PolicyLocality: H(old || TPM_CC_PolicyLocality || locality)."""
    return h256(old, struct.pack(">I", CC_POLICY_LOCALITY), bytes((localities,)))


@pytest.fixture
def tpm() -> Emulator:
    emulator = Emulator(banks=("sha1", "sha256"))
    succeeded(emulator.execute(startup()))
    return emulator


def test_policy_digests_follow_part3(tpm):
    handle = started_session(tpm)
    assert handle >> 24 == 0x03 and digest(tpm, handle) == bytes(32)
    succeeded(tpm.execute(policy_pcr(handle, [("sha256", [0, 16])])))
    want = pcr_policy(bytes(32), [("sha256", [0, 16])], bytes(64))
    assert digest(tpm, handle) == want
    succeeded(tpm.execute(policy_locality(handle, 0x05)))
    assert digest(tpm, handle) == locality_policy(want, 0x05)
    succeeded(tpm.execute(on_handle(CC_RESTART, handle)))
    assert digest(tpm, handle) == bytes(32)


def test_trial_session_hashes_the_given_pcr_digest_without_checking_it(tpm):
    handle = started_session(tpm, TRIAL)
    succeeded(tpm.execute(policy_pcr(handle, [("sha1", [3])], b"\x07" * 32)))
    assert digest(tpm, handle) == h256(bytes(32), struct.pack(">I", CC_POLICY_PCR),
                                       pcr_selection([("sha1", [3])]), b"\x07" * 32)


def test_start_auth_session_refusals_and_slots(tpm):
    assert_rc(tpm.execute(start_session(nonce=b"\x01" * 15)), 0x1D5)
    assert_rc(tpm.execute(start_session(nonce=b"\x01" * 33)), 0x1D5)
    succeeded(tpm.execute(start_session(alg=0x0004, nonce=b"\x01" * 20)))
    assert_rc(tpm.execute(start_session(kind=2)), 0x3C4)
    assert_rc(tpm.execute(start_session(alg=0x0010)), 0x5C3)
    handles = [started_session(tpm, HMAC), started_session(tpm)]
    assert handles == [0x02000001, 0x03000002]  # lowest free slots after the sha1 session's 0
    assert_rc(tpm.execute(start_session()), 0x903)  # TPM_RC_SESSION_MEMORY: three are loaded
    succeeded(tpm.execute(on_handle(CC_FLUSH, 0x02000001)))
    assert_rc(tpm.execute(on_handle(CC_FLUSH, 0x02000001)), 0x1CB)
    assert_rc(tpm.execute(on_handle(CC_FLUSH, 0x80000000)), 0x1CB)
    assert_rc(tpm.execute(on_handle(CC_FLUSH, 0x80000003)), 0x1C4)
    assert_rc(tpm.execute(on_handle(CC_GET_DIGEST, 0x03000001)), 0x910)  # TPM_RC_REFERENCE_H0
    assert_rc(tpm.execute(on_handle(CC_GET_DIGEST, 0x02000000)), 0x184)  # not a TPMI_SH_POLICY


def _sealed(tpm: Emulator, selection, localities: int = 0) -> bytes:
    """Define INDEX with the policy of ``selection`` (and PolicyLocality) at current PCRs."""
    trial = started_session(tpm, TRIAL)
    succeeded(tpm.execute(policy_pcr(trial, selection)))
    if localities:
        succeeded(tpm.execute(policy_locality(trial, localities)))
    policy = digest(tpm, trial)
    succeeded(tpm.execute(on_handle(CC_FLUSH, trial)))
    succeeded(tpm.execute(nv_define(policy)))
    succeeded(tpm.execute(nv_write()))
    return policy


def _satisfy(tpm: Emulator, handle: int, selection, localities: int = 0) -> None:
    succeeded(tpm.execute(policy_pcr(handle, selection)))
    if localities:
        succeeded(tpm.execute(policy_locality(handle, localities)))


def test_sealed_index_is_released_iff_the_pcrs_match(tpm):
    selection = [("sha256", [7])]
    assert _sealed(tpm, selection) == pcr_policy(bytes(32), selection, bytes(32))
    handle = started_session(tpm)
    _satisfy(tpm, handle, selection)
    response = tpm.execute(nv_read_with(handle))
    succeeded(response)
    assert response[14:24] == b"\x00\x08sealed!!"
    nonce_size = struct.unpack_from(">H", response, 24)[0]
    assert nonce_size == 16 and response[26 + nonce_size:] == b"\x01\x00\x00"
    assert_rc(tpm.execute(nv_read_with(handle)), 0x99D)  # reset after use: POLICY_FAIL + session 1
    succeeded(tpm.execute(pcr_extend(7, [("sha256", bytes(32))])))
    _satisfy(tpm, handle, selection)
    assert_rc(tpm.execute(nv_read_with(handle)), 0x99D)  # other PCR values, other digest


def test_refusals_at_use(tpm):
    selection = [("sha256", [1])]
    _sealed(tpm, selection, localities=0x04)
    handle = started_session(tpm)
    _satisfy(tpm, handle, selection, 0x04)
    assert_rc(tpm.execute(nv_read_with(handle)), 0x907)  # PolicyLocality(2), used at 0
    succeeded(tpm.execute(pcr_extend(2, [("sha1", bytes(20))])))
    assert_rc(tpm.execute(nv_read_with(handle), 2), 0x128)  # TPM_RC_PCR_CHANGED
    trial = started_session(tpm, TRIAL)
    assert_rc(tpm.execute(nv_read_with(trial)), 0x982)  # a trial session cannot authorize
    assert_rc(tpm.execute(nv_read_with(0x03000030)), 0x918)  # TPM_RC_REFERENCE_S0
    succeeded(tpm.execute(on_handle(CC_RESTART, handle)))
    _satisfy(tpm, handle, selection, 0x04)
    succeeded(tpm.execute(nv_read_with(handle, attrs=0), 2))
    assert_rc(tpm.execute(on_handle(CC_GET_DIGEST, handle)), 0x910)  # flushed: no continueSession


# --- the policy mutants: each scenario asserts the spec behaviour and the planted bug -------

POLICY_SCENARIOS: dict[str, Callable[[Emulator, Emulator], None]] = {}


def scenario(name: str):
    def register(check):
        POLICY_SCENARIOS[name] = check
        return check
    return register


def _both(clean: Emulator, bug: Emulator, command: bytes, locality: int = 0) -> tuple[bytes, bytes]:
    return clean.execute(command, locality), bug.execute(command, locality)


def _prepared(clean: Emulator, bug: Emulator, selection, localities: int = 0) -> int:
    for tpm in (clean, bug):
        succeeded(tpm.execute(startup()))
        _sealed(tpm, selection, localities)
        handle = started_session(tpm)
        _satisfy(tpm, handle, selection, localities)
    return handle


@scenario("policy-pcr-digest-ignores-selection")
def _(clean, bug):
    handle = _prepared(clean, bug, [("sha256", [4])])
    assert digest(clean, handle) == pcr_policy(bytes(32), [("sha256", [4])], bytes(32))
    assert digest(bug, handle) == h256(bytes(32), struct.pack(">I", CC_POLICY_PCR), h256(bytes(32)))


@scenario("pcr-changed-not-detected")
def _(clean, bug):
    handle = _prepared(clean, bug, [("sha256", [4])])
    _both(clean, bug, pcr_extend(5, [("sha256", bytes(32))]))
    ok, wrong = _both(clean, bug, nv_read_with(handle))
    assert rc(ok) == 0x128 and rc(wrong) == 0


@scenario("policy-locality-not-enforced")
def _(clean, bug):
    handle = _prepared(clean, bug, [("sha256", [4])], localities=0x08)
    ok, wrong = _both(clean, bug, nv_read_with(handle), 1)
    assert rc(ok) == 0x907 and rc(wrong) == 0


@scenario("policy-session-not-reset-after-use")
def _(clean, bug):
    handle = _prepared(clean, bug, [("sha256", [4])])
    assert [rc(r) for r in _both(clean, bug, nv_read_with(handle))] == [0, 0]
    ok, wrong = _both(clean, bug, nv_read_with(handle))
    assert rc(ok) == 0x99D and rc(wrong) == 0


@scenario("policy-restart-keeps-digest")
def _(clean, bug):
    handle = _prepared(clean, bug, [("sha256", [4])])
    _both(clean, bug, on_handle(CC_RESTART, handle))
    assert digest(clean, handle) == bytes(32)
    assert digest(bug, handle) == pcr_policy(bytes(32), [("sha256", [4])], bytes(32))


@scenario("trial-session-authorizes")
def _(clean, bug):
    _prepared(clean, bug, [("sha256", [4])])
    for tpm in (clean, bug):
        trial = started_session(tpm, TRIAL)
        _satisfy(tpm, trial, [("sha256", [4])])
    ok, wrong = _both(clean, bug, nv_read_with(trial))
    assert rc(ok) == 0x982 and rc(wrong) == 0


@pytest.mark.parametrize("name", sorted(POLICY_SCENARIOS))
def test_the_policy_mutant_changes_behaviour_as_described(name):
    POLICY_SCENARIOS[name](Emulator(), Emulator(mutants=frozenset({name})))


def test_a_policy_write_needs_policywrite(tpm):
    selection = [("sha256", [9])]
    _sealed(tpm, selection)
    handle = started_session(tpm)
    _satisfy(tpm, handle, selection)
    write = frame(SESSIONS, CC_NV_WRITE, struct.pack(">II", INDEX, INDEX)
                  + auth_area(session(handle, b"\x02" * 16, 1)) + struct.pack(">H", 2) + b"xy" + struct.pack(">H", 0))
    assert_rc(tpm.execute(write), 0x12F)  # TPMA_NV_POLICYWRITE clear: TPM_RC_AUTH_UNAVAILABLE
