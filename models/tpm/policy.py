"""Policy sessions (Part 1 "Enhanced Authorization", Part 3 11 and 23) as an executable spec.

A session lives in one of MAX_LOADED_SESSIONS slots; its handle is the
type's first handle plus its slot number (reference SessionProcess.c), but
which slot is the TPM's choice: StartAuthSession answers SessionIn and the
model follows the handle the target returned (``follow``).  All sessions are
lost at _TPM_Init and flushed by every Startup (reference SessionStartup).

Policy digests: PolicyPCR extends H(old || TPM_CC_PolicyPCR || pcrs ||
pcrDigest), PolicyLocality H(old || TPM_CC_PolicyLocality || locality),
PolicyRestart zeroes.  A non-trial PolicyPCR also records pcrUpdateCounter
(here: the model's (epoch, increments)); a changed counter at use or at a
later PolicyPCR is TPM_RC_PCR_CHANGED.  A successful use with continueSession
resets the policy (SessionResetPolicyData), without it flushes the session.
Check order at use follows SessionProcess.c CheckPolicyAuthSession and was
measured on libtpms 0.9.2: PCR_CHANGED, POLICY_FAIL + S1, LOCALITY.
"""

from __future__ import annotations

import hashlib

from models.ops import ANY_ERROR, Outcome, SessionIn, SessionStarted, SizedNonce
from models.tcg import (DIGEST_SIZE, HASHLIB_NAME, HMAC_SESSION_FIRST, MAX_ACTIVE_SESSIONS,
                        MAX_LOADED_OBJECTS, MAX_LOADED_SESSIONS, POLICY_SESSION_FIRST, RC_P, RC_S,
                        TPM_CC, TPM_RC, TPM_SE, TRANSIENT_FIRST, TPMA_NV)

SE_HMAC, SE_POLICY, SE_TRIAL = int(TPM_SE.TPM_SE_HMAC), int(TPM_SE.TPM_SE_POLICY), int(TPM_SE.TPM_SE_TRIAL)
CC_POLICY_PCR = int(TPM_CC.TPM_CC_PolicyPCR).to_bytes(4, "big")
CC_POLICY_LOCALITY = int(TPM_CC.TPM_CC_PolicyLocality).to_bytes(4, "big")
MIN_NONCE = 16  # StartAuthSession: nonceCaller of 16 octets up to the authHash digest size
_MAX_TPM2B_NONCE = 64
_POLICYREAD = int(TPMA_NV.TPMA_NV_POLICYREAD)
POLICYWRITE = int(TPMA_NV.TPMA_NV_POLICYWRITE)


def _rc(code: int) -> Outcome:
    return Outcome(int(code))


OK = Outcome(0)
SIZE_P1 = _rc(TPM_RC.TPM_RC_SIZE | RC_P | 0x100)
VALUE_P1 = _rc(TPM_RC.TPM_RC_VALUE | RC_P | 0x100)
VALUE_P3 = _rc(TPM_RC.TPM_RC_VALUE | RC_P | 0x300)
HASH_P2 = _rc(TPM_RC.TPM_RC_HASH | RC_P | 0x200)
HASH_P5 = _rc(TPM_RC.TPM_RC_HASH | RC_P | 0x500)
RANGE_P1 = _rc(TPM_RC.TPM_RC_RANGE | RC_P | 0x100)
HANDLE_P1 = _rc(TPM_RC.TPM_RC_HANDLE | RC_P | 0x100)
VALUE_H1 = _rc(TPM_RC.TPM_RC_VALUE | 0x100)
REFERENCE_H0 = _rc(TPM_RC.TPM_RC_REFERENCE_H0)
REFERENCE_S0 = _rc(TPM_RC.TPM_RC_REFERENCE_S0)
ATTRIBUTES_S1 = _rc(TPM_RC.TPM_RC_ATTRIBUTES | RC_S | 0x100)
POLICY_FAIL_S1 = _rc(TPM_RC.TPM_RC_POLICY_FAIL | RC_S | 0x100)
AUTH_UNAVAILABLE = _rc(TPM_RC.TPM_RC_AUTH_UNAVAILABLE)
PCR_CHANGED = _rc(TPM_RC.TPM_RC_PCR_CHANGED)
LOCALITY = _rc(TPM_RC.TPM_RC_LOCALITY)
SESSION_MEMORY = _rc(TPM_RC.TPM_RC_SESSION_MEMORY)
_ANY_ERROR = Outcome(ANY_ERROR)


def marshal_selection(selection) -> bytes:
    """TPML_PCR_SELECTION as the wire carries it (sizeofSelect 3), the bytes PolicyPCR hashes."""
    out = bytearray(len(selection).to_bytes(4, "big"))
    for alg, pcrs in selection:
        bitmap = 0
        for pcr in pcrs:
            bitmap |= 1 << pcr
        out += alg.to_bytes(2, "big") + b"\x03" + bitmap.to_bytes(3, "little")
    return bytes(out)


class Session:
    """One loaded session: its type, hash, policyDigest and the policy's recorded conditions."""

    __slots__ = ("kind", "alg", "digest", "counter", "localities", "nonce_size")

    def __init__(self, kind: int, alg: int, nonce_size: int) -> None:
        self.kind = kind
        self.alg = alg
        self.nonce_size = nonce_size  # nonceTPM has the size of nonceCaller
        self.reset()

    def reset(self) -> None:
        """SessionResetPolicyData: the state of a session just started."""
        self.digest = bytes(DIGEST_SIZE[self.alg])
        self.counter = None  # pcrUpdateCounter at the last non-trial PolicyPCR
        self.localities = 0  # TPMA_LOCALITY of PolicyLocality; 0: any

    def copy(self) -> "Session":
        new = Session.__new__(Session)
        for slot in Session.__slots__:
            setattr(new, slot, getattr(self, slot))
        return new

    def extend(self, *parts: bytes) -> None:
        h = hashlib.new(HASHLIB_NAME[self.alg], self.digest)
        for part in parts:
            h.update(part)
        self.digest = h.digest()


class PolicySessions:
    """The loaded sessions of one TPM by slot, and a started session awaiting its handle."""

    __slots__ = ("slots", "pending")

    def __init__(self) -> None:
        self.slots: dict[int, Session] = {}
        self.pending: Session | None = None

    def copy(self) -> "PolicySessions":
        new = PolicySessions.__new__(PolicySessions)
        new.slots = {n: s.copy() for n, s in self.slots.items()}
        new.pending = self.pending.copy() if self.pending is not None else None
        return new

    def clear(self) -> None:
        self.slots.clear()
        self.pending = None

    def follow(self, handle: int) -> None:
        """The target chose ``handle`` for the session StartAuthSession just started."""
        session, self.pending = self.pending, None
        if session is None:
            raise ValueError("follow(): no StartAuthSession awaits its handle")
        slot = handle - _first(session.kind)
        if slot not in self._free():
            raise ValueError(f"follow(): {handle:#010x} is no free handle of a {session.kind} session")
        self.slots[slot] = session

    def _free(self) -> frozenset:
        return frozenset(range(MAX_ACTIVE_SESSIONS)) - self.slots.keys()

    def handles(self) -> dict[int, Session]:
        """Loaded sessions by handle."""
        return {_first(s.kind) + n: s for n, s in self.slots.items()}

    # --- commands ------------------------------------------------------------------

    def start(self, op, implemented) -> Outcome:
        """TPM2_StartAuthSession (Part 3, 11.1) with tpmKey = bind = TPM_RH_NULL."""
        nonce = op.nonce_caller
        if len(nonce) > _MAX_TPM2B_NONCE:
            return SIZE_P1
        if op.session_type not in (SE_HMAC, SE_POLICY, SE_TRIAL):
            return VALUE_P3
        if op.auth_hash not in implemented:
            return HASH_P5
        if not MIN_NONCE <= len(nonce) <= DIGEST_SIZE[op.auth_hash]:
            return SIZE_P1
        if len(self.slots) >= MAX_LOADED_SESSIONS:
            return SESSION_MEMORY
        self.pending = Session(op.session_type, op.auth_hash, len(nonce))
        return Outcome(0, SessionStarted(SessionIn(_first(op.session_type), self._free()),
                                         SizedNonce(len(nonce))))

    def policy_session(self, handle: int) -> tuple[Session | None, Outcome | None]:
        """The TPMI_SH_POLICY handle check, then whether the session is loaded."""
        slot = handle - POLICY_SESSION_FIRST
        if not 0 <= slot < MAX_ACTIVE_SESSIONS:
            return None, VALUE_H1
        session = self.slots.get(slot)
        if session is None:
            return None, REFERENCE_H0
        if session.kind == SE_HMAC:
            return None, _ANY_ERROR  # the reference finds sessions by slot alone
        return session, None

    def policy_pcr(self, op, pcrs: dict, implemented, counter) -> Outcome:
        """TPM2_PolicyPCR (Part 3, 23.7; PolicyPCR.c)."""
        session, refused = self.policy_session(op.session)
        if refused:
            return refused
        if len(op.pcr_digest) > _MAX_TPM2B_NONCE:
            return SIZE_P1
        for alg, _ in op.selection:
            if alg not in implemented:
                return HASH_P2
        if len(op.selection) > len(implemented):
            return _ANY_ERROR
        h = hashlib.new(HASHLIB_NAME[session.alg])
        for alg, selected in op.selection:
            values = pcrs.get(alg)
            if values is not None:  # an unallocated bank contributes nothing
                for pcr in sorted(set(selected)):
                    h.update(values[pcr])
        pcr_digest = h.digest()
        if session.kind == SE_TRIAL:
            pcr_digest = op.pcr_digest or pcr_digest
        else:
            if session.counter is not None and session.counter != counter:
                return PCR_CHANGED
            if op.pcr_digest and op.pcr_digest != pcr_digest:
                return VALUE_P1
        session.extend(CC_POLICY_PCR, marshal_selection(op.selection), pcr_digest)
        if session.kind != SE_TRIAL:
            session.counter = counter
        return OK

    def policy_locality(self, op) -> Outcome:
        """TPM2_PolicyLocality (Part 3, 23.12): a further call narrows the set (intersection)."""
        session, refused = self.policy_session(op.session)
        if refused:
            return refused
        localities = op.localities
        if localities > 31:
            return _ANY_ERROR  # extended localities are not modelled
        if localities == 0:
            return RANGE_P1
        allowed = localities & session.localities if session.localities else localities
        if allowed == 0:
            return RANGE_P1
        session.extend(CC_POLICY_LOCALITY, bytes((localities,)))
        session.localities = allowed
        return OK

    def get_digest(self, op) -> Outcome:
        session, refused = self.policy_session(op.session)
        return refused or Outcome(0, session.digest)

    def restart(self, op) -> Outcome:
        session, refused = self.policy_session(op.session)
        if refused:
            return refused
        session.reset()
        return OK

    def flush(self, op) -> Outcome:
        """TPM2_FlushContext (Part 3, 28.4): decided by the handle's type."""
        handle = op.handle
        kind = handle >> 24
        if kind in (HMAC_SESSION_FIRST >> 24, POLICY_SESSION_FIRST >> 24):
            slot = handle & 0xFFFFFF
            if slot >= MAX_ACTIVE_SESSIONS:
                return VALUE_P1
            if self.slots.pop(slot, None) is None:  # the type bits are not compared (reference)
                return HANDLE_P1
            return OK
        if kind == TRANSIENT_FIRST >> 24:
            return flush_transient(handle)
        return VALUE_P1

    def authorize_nv(self, op, index, locality: int, counter, needed: int = _POLICYREAD) -> Outcome | None:
        """The policy session of an NV command on ``index`` that needs the TPMA_NV bit ``needed``
        (POLICYREAD or POLICYWRITE) to be authorized by policy (SessionProcess.c); None: authorized."""
        slot = op.session - POLICY_SESSION_FIRST
        session = self.slots.get(slot) if 0 <= slot < MAX_ACTIVE_SESSIONS else None
        if session is None:
            return REFERENCE_S0 if 0 <= slot < MAX_ACTIVE_SESSIONS else _ANY_ERROR
        if session.kind == SE_HMAC:
            return _ANY_ERROR
        if session.kind == SE_TRIAL:
            return ATTRIBUTES_S1
        if not index.attributes & needed:
            return AUTH_UNAVAILABLE
        if session.counter is not None and session.counter != counter:
            return PCR_CHANGED
        if session.digest != index.auth_policy:
            return POLICY_FAIL_S1
        if session.localities and not session.localities >> locality & 1:
            return LOCALITY
        return None

    def used(self, op) -> None:
        """After a successful command: reset the policy, or flush without continueSession."""
        slot = op.session - POLICY_SESSION_FIRST
        if op.continue_session:
            self.slots[slot].reset()
        else:
            del self.slots[slot]


def flush_transient(handle: int) -> Outcome:
    """FlushContext of a transient handle where no sequence is open (models.tpm.sequences):
    an in-range handle is TPM_RC_HANDLE, one beyond the loaded objects TPM_RC_VALUE."""
    return HANDLE_P1 if handle - TRANSIENT_FIRST < MAX_LOADED_OBJECTS else VALUE_P1


def _first(kind: int) -> int:
    return HMAC_SESSION_FIRST if kind == SE_HMAC else POLICY_SESSION_FIRST
