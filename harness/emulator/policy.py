"""Policy sessions: TPM2_StartAuthSession, PolicyPCR, PolicyLocality, PolicyGetDigest,
PolicyRestart, FlushContext (Part 3, 11.1, 23, 28.4) and NV authorization through them.

Sessions are unsalted and unbound (tpmKey = bind = TPM_RH_NULL, symmetric
TPM_ALG_NULL).  A session takes the lowest free context slot; its handle is
the type's first handle plus the slot, and at most MAX_LOADED_SESSIONS are
loaded (then TPM_RC_SESSION_MEMORY), as in the reference SessionProcess.c.
HMAC sessions can be started and flushed but not used to authorize: this
emulator computes no HMACs, so an NV command with one is refused with
TPM_RC_AUTH_UNAVAILABLE.  Codes and orders were measured on libtpms 0.9.2.

A policy session authorizes an NV index whose TPMA_NV_POLICYREAD/POLICYWRITE
allows the access, when (CheckPolicyAuthSession order) pcrUpdateCounter has
not moved since its PolicyPCR, its policyDigest equals the index's
authPolicy, and the command runs at a locality its PolicyLocality allows.
After the command the policy is reset, or the session flushed without
continueSession.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING

from .codes import (
    HASH_COUNT,
    HMAC_SESSION_FIRST,
    HMAC_SESSION_LAST,
    MAX_ACTIVE_SESSIONS,
    MAX_DIGEST,
    MAX_LOADED_OBJECTS,
    MAX_LOADED_SESSIONS,
    MIN_NONCE,
    PCR_SELECT,
    POLICY_SESSION_FIRST,
    POLICY_SESSION_LAST,
    RC_1,
    RC_2,
    RC_P,
    RC_S,
    TPMA_NV_POLICYREAD,
    TPMA_NV_POLICYWRITE,
    TPMA_SESSION_CONTINUE_SESSION,
    TPM_ALG_NULL,
    TPM_CC_FlushContext,
    TPM_CC_PolicyGetDigest,
    TPM_CC_PolicyLocality,
    TPM_CC_PolicyPCR,
    TPM_CC_PolicyRestart,
    TPM_CC_StartAuthSession,
    TPM_RC_ATTRIBUTES,
    TPM_RC_AUTH_UNAVAILABLE,
    TPM_RC_HANDLE,
    TPM_RC_HASH,
    TPM_RC_INSUFFICIENT,
    TPM_RC_LOCALITY,
    TPM_RC_PCR_CHANGED,
    TPM_RC_POLICY_FAIL,
    TPM_RC_RANGE,
    TPM_RC_REFERENCE_H0,
    TPM_RC_REFERENCE_S0,
    TPM_RC_SESSION_MEMORY,
    TPM_RC_SIZE,
    TPM_RC_SUCCESS,
    TPM_RC_VALUE,
    TPM_RH_NULL,
    TPM_SE_HMAC,
    TPM_SE_POLICY,
    TPM_SE_TRIAL,
    TPM_ST_SESSIONS,
    TRANSIENT_FIRST,
)
from .command import CommandSpec
from .marshal import SESSIONS_HEADER, U16, U32, CommandError, take_tpm2b, take_u16, take_u32
from .pcr import BY_ALG as _HASHES

if TYPE_CHECKING:
    from .emulator import Emulator


_CC_POLICY_PCR = U32.pack(TPM_CC_PolicyPCR)
_CC_POLICY_LOCALITY = U32.pack(TPM_CC_PolicyLocality)
_AUTH_HEAD = struct.Struct(">II")  # authorizationSize, first session handle


def _p(rc: int, number: int) -> int:
    return rc | RC_P | number << 8


class Session:
    __slots__ = ("kind", "hash", "digest", "pcr_counter", "localities", "nonce_size")

    def __init__(self, kind: int, alg: int, nonce_size: int) -> None:
        self.kind = kind
        self.hash = _HASHES[alg]
        self.nonce_size = nonce_size
        self.reset()

    def reset(self) -> None:
        """SessionResetPolicyData."""
        self.digest = bytes(self.hash.size)
        self.pcr_counter: int | None = None
        self.localities = 0

    def update(self, *parts: bytes) -> None:
        h = self.hash.new(self.digest)
        for part in parts:
            h.update(part)
        self.digest = h.digest()


class Sessions:
    """The loaded sessions by context slot, and the planted policy bugs."""

    def __init__(self, mutants: frozenset[str]) -> None:
        self.slots: dict[int, Session] = {}
        self.bug_selection_ignored = "policy-pcr-digest-ignores-selection" in mutants
        self.bug_pcr_change_missed = "pcr-changed-not-detected" in mutants
        self.bug_locality_ignored = "policy-locality-not-enforced" in mutants
        self.bug_not_reset = "policy-session-not-reset-after-use" in mutants
        self.bug_restart_keeps = "policy-restart-keeps-digest" in mutants
        self.bug_trial_authorizes = "trial-session-authorizes" in mutants

    def clear(self) -> None:
        """_TPM_Init and every Startup: no session stays loaded (reference SessionStartup)."""
        self.slots.clear()

    def policy(self, handle: int) -> Session:
        """A loaded policy or trial session (the handle type was checked at unmarshalling)."""
        session = self.slots.get(handle - POLICY_SESSION_FIRST)
        if session is None or session.kind == TPM_SE_HMAC:
            raise CommandError(TPM_RC_REFERENCE_H0)
        return session


# --- handle checks (TPMI_* unmarshalling) ------------------------------------------------


def _is_null(handle: int) -> bool:
    return handle == TPM_RH_NULL


def _is_policy_session(handle: int) -> bool:
    return POLICY_SESSION_FIRST <= handle <= POLICY_SESSION_LAST


def _end(cmd: bytes, pos: int) -> None:
    if pos != len(cmd):
        raise CommandError(TPM_RC_SIZE)


# --- commands ------------------------------------------------------------------------------


def start_auth_session(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    end = len(cmd)
    nonce, pos = take_tpm2b(cmd, pos, end, MAX_DIGEST, _p(TPM_RC_INSUFFICIENT, 1), _p(TPM_RC_SIZE, 1))
    salt, pos = take_tpm2b(cmd, pos, end, 0xFFFF, _p(TPM_RC_INSUFFICIENT, 2), _p(TPM_RC_SIZE, 2))
    if pos >= end:
        raise CommandError(_p(TPM_RC_INSUFFICIENT, 3))
    kind = cmd[pos]
    pos += 1
    if kind not in (TPM_SE_HMAC, TPM_SE_POLICY, TPM_SE_TRIAL):
        raise CommandError(_p(TPM_RC_VALUE, 3))
    symmetric, pos = take_u16(cmd, pos, _p(TPM_RC_INSUFFICIENT, 4))
    if symmetric != TPM_ALG_NULL:
        raise CommandError(_p(TPM_RC_VALUE, 4))  # parameter encryption is not implemented
    alg, pos = take_u16(cmd, pos, _p(TPM_RC_INSUFFICIENT, 5))
    if alg not in _HASHES:
        raise CommandError(_p(TPM_RC_HASH, 5))
    _end(cmd, pos)
    if salt:
        raise CommandError(_p(TPM_RC_VALUE, 2))  # no tpmKey: nothing can decrypt a salt
    if not MIN_NONCE <= len(nonce) <= _HASHES[alg].size:
        raise CommandError(_p(TPM_RC_SIZE, 1))
    table = emu.sessions.slots
    if len(table) >= MAX_LOADED_SESSIONS:
        raise CommandError(TPM_RC_SESSION_MEMORY)
    slot = min(set(range(MAX_ACTIVE_SESSIONS)) - table.keys())
    table[slot] = Session(kind, alg, len(nonce))
    first = HMAC_SESSION_FIRST if kind == TPM_SE_HMAC else POLICY_SESSION_FIRST
    nonce_tpm = os.urandom(len(nonce))
    return U32.pack(first + slot) + U16.pack(len(nonce_tpm)) + nonce_tpm


def _parse_selection(cmd: bytes, pos: int, number: int) -> tuple[list[tuple[int, int]], bytes, int]:
    """TPML_PCR_SELECTION as parameter ``number``: [(alg, bitmap)], its bytes, next position."""
    start = pos
    end = len(cmd)
    count, pos = take_u32(cmd, pos, _p(TPM_RC_INSUFFICIENT, number))
    if count > HASH_COUNT:
        raise CommandError(_p(TPM_RC_SIZE, number))
    selections = []
    for _ in range(count):
        alg, pos = take_u16(cmd, pos, _p(TPM_RC_INSUFFICIENT, number))
        if alg not in _HASHES:
            raise CommandError(_p(TPM_RC_HASH, number))
        if pos >= end:
            raise CommandError(_p(TPM_RC_INSUFFICIENT, number))
        if cmd[pos] != PCR_SELECT:
            raise CommandError(_p(TPM_RC_VALUE, number))
        pos += 1 + PCR_SELECT
        if pos > end:
            raise CommandError(_p(TPM_RC_INSUFFICIENT, number))
        selections.append((alg, int.from_bytes(cmd[pos - PCR_SELECT:pos], "little")))
    return selections, cmd[start:pos], pos


def policy_pcr(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    wanted, pos = take_tpm2b(cmd, pos, len(cmd), MAX_DIGEST, _p(TPM_RC_INSUFFICIENT, 1), _p(TPM_RC_SIZE, 1))
    selections, marshalled, pos = _parse_selection(cmd, pos, 2)
    _end(cmd, pos)
    sessions = emu.sessions
    session = sessions.policy(handles[0])
    h = session.hash.new()
    for alg, bits in selections:  # PCRComputeCurrentDigest: unallocated banks add nothing
        bank = emu.pcrs.by_alg.get(alg)
        if bank is None:
            continue
        for pcr in range(PCR_SELECT * 8):
            if bits >> pcr & 1:
                h.update(bank.values[pcr])
    current = h.digest()
    counter = emu.pcrs.update_counter
    if session.kind == TPM_SE_TRIAL:
        current = wanted or current
    else:
        if session.pcr_counter is not None and session.pcr_counter != counter:
            raise CommandError(TPM_RC_PCR_CHANGED)
        if wanted and wanted != current:
            raise CommandError(_p(TPM_RC_VALUE, 1))
    if sessions.bug_selection_ignored:
        session.update(_CC_POLICY_PCR, current)
    else:
        session.update(_CC_POLICY_PCR, marshalled, current)
    if session.kind != TPM_SE_TRIAL:
        session.pcr_counter = counter
    return b""


def policy_locality(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    if pos >= len(cmd):
        raise CommandError(_p(TPM_RC_INSUFFICIENT, 1))
    localities = cmd[pos]
    _end(cmd, pos + 1)
    session = emu.sessions.policy(handles[0])
    if localities == 0 or localities > 0x1F:
        raise CommandError(_p(TPM_RC_RANGE, 1))  # extended localities are not implemented
    allowed = localities & session.localities if session.localities else localities
    if not allowed:
        raise CommandError(_p(TPM_RC_RANGE, 1))
    session.update(_CC_POLICY_LOCALITY, bytes((localities,)))
    session.localities = allowed
    return b""


def policy_get_digest(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    _end(cmd, pos)
    digest = emu.sessions.policy(handles[0]).digest
    return U16.pack(len(digest)) + digest


def policy_restart(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    _end(cmd, pos)
    sessions = emu.sessions
    session = sessions.policy(handles[0])
    if sessions.bug_restart_keeps:
        session.pcr_counter, session.localities = None, 0
    else:
        session.reset()
    return b""


def flush_context(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    """TPMI_DH_CONTEXT decides by handle type: a session, or a transient object."""
    handle, pos = take_u32(cmd, pos, _p(TPM_RC_INSUFFICIENT, 1))
    _end(cmd, pos)
    if HMAC_SESSION_FIRST <= handle <= HMAC_SESSION_LAST or _is_policy_session(handle):
        # The slot alone identifies a session (reference SessionIsLoaded masks the type).
        if emu.sessions.slots.pop(handle & 0xFFFFFF, None) is None:
            raise CommandError(_p(TPM_RC_HANDLE, 1))
        return b""
    if TRANSIENT_FIRST <= handle < TRANSIENT_FIRST + MAX_LOADED_OBJECTS:
        return flush_object(emu, handle)
    raise CommandError(_p(TPM_RC_VALUE, 1))


def flush_object(emu: Emulator, handle: int) -> bytes:
    """FlushContext of a transient handle: the sequence object loaded there (sequences.py)."""
    if not emu.sequences.flush(handle):
        raise CommandError(_p(TPM_RC_HANDLE, 1))
    return b""


# --- authorization of NV commands through a session ----------------------------------------


def uses_session(cmd: bytes, pos: int) -> bool:
    """Whether the first session of the authorization area at ``pos`` is an HMAC or policy
    session (the password path of sessions.py handles everything else)."""
    if pos + _AUTH_HEAD.size > len(cmd):
        return False
    handle = _AUTH_HEAD.unpack_from(cmd, pos)[1]
    return HMAC_SESSION_FIRST <= handle <= HMAC_SESSION_LAST or _is_policy_session(handle)


def execute_nv(emu: Emulator, spec: CommandSpec, cmd: bytes, pos: int, handles: tuple[int, ...],
               locality: int) -> bytes:
    """An NV command whose one session is a policy (or HMAC) session: check the session,
    run the command, then reset or flush the session and answer a fresh nonceTPM."""
    emu.nv.check_handles(handles)
    size, pos = take_u32(cmd, pos, TPM_RC_INSUFFICIENT)
    end = pos + size
    if end > len(cmd):
        raise CommandError(TPM_RC_SIZE)
    at = RC_S | RC_1
    handle, pos = take_u32(cmd, pos, TPM_RC_INSUFFICIENT | at)
    _, pos = take_tpm2b(cmd, pos, end, MAX_DIGEST, TPM_RC_INSUFFICIENT | at, TPM_RC_SIZE | at)
    if pos >= end:
        raise CommandError(TPM_RC_INSUFFICIENT | at)
    attributes = cmd[pos]
    _, pos = take_tpm2b(cmd, pos + 1, end, MAX_DIGEST, TPM_RC_INSUFFICIENT | at, TPM_RC_SIZE | at)
    if pos != end:
        raise CommandError(TPM_RC_SIZE | RC_S | RC_2)  # one session only
    if attributes & ~TPMA_SESSION_CONTINUE_SESSION:
        raise CommandError(TPM_RC_ATTRIBUTES | at)
    sessions = emu.sessions
    slot = handle & 0xFFFFFF
    session = sessions.slots.get(slot)
    if session is None:
        raise CommandError(TPM_RC_REFERENCE_S0)
    if session.kind == TPM_SE_HMAC:
        raise CommandError(TPM_RC_AUTH_UNAVAILABLE)
    if session.kind == TPM_SE_TRIAL and not sessions.bug_trial_authorizes:
        raise CommandError(TPM_RC_ATTRIBUTES | at)
    index = emu.nv.indices.get(handles[0])
    needed = TPMA_NV_POLICYREAD if spec.nv_access == "read" else TPMA_NV_POLICYWRITE
    if index is None or spec.nv_access == "provision" or not index.attrs & needed:
        raise CommandError(TPM_RC_AUTH_UNAVAILABLE)  # hierarchies here have no authPolicy
    if (session.pcr_counter is not None and session.pcr_counter != emu.pcrs.update_counter
            and not sessions.bug_pcr_change_missed):
        raise CommandError(TPM_RC_PCR_CHANGED)
    if session.digest != index.policy:
        raise CommandError(TPM_RC_POLICY_FAIL | at)
    if session.localities and not session.localities >> locality & 1 and not sessions.bug_locality_ignored:
        raise CommandError(TPM_RC_LOCALITY)
    params = spec.handler(emu, cmd, end, handles, locality)
    if not attributes & TPMA_SESSION_CONTINUE_SESSION:
        del sessions.slots[slot]
    elif not sessions.bug_not_reset:
        session.reset()
    nonce = os.urandom(session.nonce_size)
    auth = U16.pack(len(nonce)) + nonce + bytes((attributes,)) + U16.pack(0)
    return (SESSIONS_HEADER.pack(TPM_ST_SESSIONS, 14 + len(params) + len(auth), TPM_RC_SUCCESS, len(params))
            + params + auth)


COMMANDS = (
    CommandSpec(TPM_CC_StartAuthSession, "TPM2_StartAuthSession", (_is_null, _is_null), 0, True,
                start_auth_session),
    CommandSpec(TPM_CC_PolicyPCR, "TPM2_PolicyPCR", (_is_policy_session,), 0, True, policy_pcr),
    CommandSpec(TPM_CC_PolicyLocality, "TPM2_PolicyLocality", (_is_policy_session,), 0, True, policy_locality),
    CommandSpec(TPM_CC_PolicyGetDigest, "TPM2_PolicyGetDigest", (_is_policy_session,), 0, True,
                policy_get_digest),
    CommandSpec(TPM_CC_PolicyRestart, "TPM2_PolicyRestart", (_is_policy_session,), 0, True, policy_restart),
    CommandSpec(TPM_CC_FlushContext, "TPM2_FlushContext", (), 0, True, flush_context),
)
