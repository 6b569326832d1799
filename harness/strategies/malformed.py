"""Malformed commands of every ROBUST-INPUT class, each as ``ops.Raw(data, kind=<class>)``.

A class breaks one thing in an otherwise valid command: the header (tag,
commandSize, command code), the handle area, the authorization area or a
parameter.  ``EXPECTED`` holds, per class, the error numbers Part 3 allows
for it (format-1 codes without their handle/parameter/session number): the
header checks of ExecCommand.c, TPM_RC_INSUFFICIENT when unmarshalling runs
out of bytes, TPM_RC_SIZE for a TPM2B over its maximum, and so on.  Every
class is invalid by construction, so no draw can change the TPM's state.

Frames shorter than a header (``zero-length``, ``short-frame``) are drawn
only where the transport carries them (``SHORT_FRAME_KINDS``): swtpm 0.7.1
waits forever for a zero-length command (tests/swtpm/test_short_frames.py).
"""

from __future__ import annotations

import struct

from hypothesis import strategies as st

from harness.strategies.tpm import _IMPLEMENTED, digest_list, localities, pcr_selection
from harness.wire import encode_command
from models import ops
from models.tcg import TPM_CAP, TPM_CC, TPM_RC, TPM_RH, TPM_ST

_HDR = struct.Struct(">HII")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
NO_SESSIONS = int(TPM_ST.TPM_ST_NO_SESSIONS)
SESSIONS = int(TPM_ST.TPM_ST_SESSIONS)
_RS_PW = int(TPM_RH.TPM_RS_PW)
_RH_NULL = int(TPM_RH.TPM_RH_NULL)
_CC_PCR_EVENT = int(TPM_CC.TPM_CC_PCR_Event)
# authorizationSize 9 and one TPM_RS_PW session: empty nonce, attributes 0, empty password.
_PASSWORD_AREA = _U32.pack(9) + _U32.pack(_RS_PW) + bytes(5)
_HANDLE_AT = 10  # the first handle follows the header
_AUTH_AT = 14  # authorizationSize, after one handle
_SESSION_HANDLE_AT = 18
_PARAMS_AFTER_AUTH = _AUTH_AT + len(_PASSWORD_AREA)
_MAX_EVENT = 1024  # TPM2B_EVENT
_SWTPM_SET_LOCALITY = 0x20001000  # swtpm's in-band TPM2_CC_SET_LOCALITY, never a malformation


def _rc(name: str) -> int:
    return int(TPM_RC[name])


def error_number(code: int) -> int:
    """A response code without its handle / parameter / session number and P bit."""
    return code & 0x0BF if code & 0x080 else code


# Per class, the error numbers a TPM may answer (None: any error).  Header classes are
# also decided exactly by the model; the others it only knows must fail.
EXPECTED: dict[str, frozenset[int] | None] = {
    "bad-tag": frozenset({_rc("TPM_RC_BAD_TAG"), _rc("TPM_RC_VALUE")}),
    "size-larger": frozenset({_rc("TPM_RC_COMMAND_SIZE")}),
    "size-smaller": frozenset({_rc("TPM_RC_COMMAND_SIZE")}),
    "unknown-cc": frozenset({_rc("TPM_RC_COMMAND_CODE")}),
    "vendor-cc": frozenset({_rc("TPM_RC_COMMAND_CODE")}),
    "truncated": frozenset({_rc("TPM_RC_INSUFFICIENT")}),
    "handle-wrong-type": frozenset({_rc("TPM_RC_VALUE")}),
    "handle-out-of-range": frozenset({_rc("TPM_RC_VALUE")}),
    "oversize-tpm2b": frozenset({_rc("TPM_RC_SIZE")}),
    # Part 1 names TPM_RC_AUTHSIZE; the reference (and libtpms 0.9.2) answers TPM_RC_SIZE.
    "authsize-wrong": frozenset({_rc("TPM_RC_SIZE"), _rc("TPM_RC_AUTHSIZE")}),
    "session-not-session": frozenset({_rc("TPM_RC_VALUE")}),
    "auth-missing": frozenset({_rc("TPM_RC_AUTH_MISSING")}),
    # TPM_RC_AUTH_CONTEXT where the command allows no sessions at all; a password session
    # with no handle to authorize is TPM_RC_HANDLE + S (reference ParseSessionBuffer).
    "sessions-on-no-session": frozenset({_rc("TPM_RC_AUTH_CONTEXT"), _rc("TPM_RC_HANDLE")}),
    "random-bytes": None,
    "zero-length": None,
    "short-frame": None,
}
HEADER_KINDS = frozenset({"bad-tag", "size-larger", "size-smaller", "unknown-cc", "vendor-cc",
                          "random-bytes", "zero-length", "short-frame"})
SHORT_FRAME_KINDS = frozenset({"zero-length", "short-frame"})
KINDS = tuple(EXPECTED)


def _frame(tag: int, code: int, body: bytes, size: int | None = None) -> bytes:
    return _HDR.pack(tag, 10 + len(body) if size is None else size, code) + body


# --- typed commands to break ----------------------------------------------------------

_pcr = st.sampled_from(list(range(24)) + [_RH_NULL])
_extend = st.builds(ops.PcrExtend, pcr=_pcr, digests=digest_list)
_event = st.builds(ops.PcrEvent, pcr=_pcr, data=st.binary(max_size=32))
_reset = st.builds(ops.PcrReset, pcr=st.integers(0, 23))
_read = st.builds(ops.PcrRead, selection=pcr_selection)
_random = st.builds(ops.GetRandom, size=st.integers(0, 64))
_capability = st.builds(ops.GetCapability, capability=st.just(int(TPM_CAP.TPM_CAP_PCRS)),
                        prop=st.just(0), count=st.integers(1, 8))
_authorized = st.one_of(_extend, _event, _reset)  # one PCR handle, one password session
_no_auth = st.one_of(_read, _random, _capability)  # no handle, no authorization
_with_params = st.one_of(_extend, _event, _read, _random, _capability)


def _params_at(data: bytes) -> int:
    return _PARAMS_AFTER_AUTH if _HDR.unpack_from(data)[0] == SESSIONS else 10


def _patch(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + _U32.pack(value) + data[at + 4:]


# --- one strategy per class ------------------------------------------------------------

_BODY = st.binary(max_size=24)
_CC = st.sampled_from(sorted(_IMPLEMENTED - {_SWTPM_SET_LOCALITY}))
_TAG = st.sampled_from([NO_SESSIONS, SESSIONS])
# Built once: strategies made inside a draw are re-analysed on every call (see tpm.py).
_BAD_TAG = st.integers(0, 0xFFFF).filter(lambda t: t not in (NO_SESSIONS, SESSIONS))
_EXCESS = st.integers(1, 5000)
_TPM2B_VARIANT = st.sampled_from(["event", "event-size-only", "nonce"])
_NONCE_SIZE = st.integers(65, 1024)
_EVENT_SIZE = st.integers(_MAX_EVENT + 1, 2000)
_EVENT_SIZE_FIELD = st.integers(_MAX_EVENT + 1, 0xFFFF)
_AUTHSIZE_TOO_SMALL = st.integers(0, 8)
_COIN = st.booleans()


@st.composite
def _bad_tag(draw):
    return _frame(draw(_BAD_TAG), draw(_CC), draw(_BODY))


@st.composite
def _size_larger(draw):
    body = draw(_BODY)
    return _frame(NO_SESSIONS, draw(_CC), body, 10 + len(body) + draw(_EXCESS))


@st.composite
def _size_smaller(draw):
    body = draw(_BODY) or b"\0"
    return _frame(NO_SESSIONS, draw(_CC), body, draw(st.integers(0, 9 + len(body))))


_unknown_cc = st.builds(_frame, _TAG, st.integers(0, 0xFFFFFFFF).filter(lambda c: c not in _IMPLEMENTED),
                        _BODY)
# TPM_CC with the vendor bit (bit 29) set.
_vendor_cc = st.builds(_frame, _TAG, st.integers(0x20000000, 0x2000FFFF).filter(
    lambda c: c not in _IMPLEMENTED and c != _SWTPM_SET_LOCALITY), _BODY)


@st.composite
def _truncated(draw):
    """A valid command cut inside its parameters, commandSize matching the bytes sent."""
    data = encode_command(draw(_with_params))
    start = _params_at(data)
    cut = draw(st.integers(start, len(data) - 1))
    return _patch(data[:cut], 2, cut)


# Handles of other types where a PCR is wanted (Part 2, 7.2 handle ranges).
_WRONG_TYPE = st.one_of(
    st.integers(0x01000000, 0x01FFFFFF),  # NV index
    st.integers(0x02000000, 0x03FFFFFF),  # HMAC / policy session
    st.sampled_from([0x40000001, 0x40000009, 0x4000000A, 0x4000000B, 0x4000000C]),  # permanent
    st.integers(0x80000000, 0x81FFFFFF),  # transient / persistent object
)
_handle_wrong_type = st.builds(lambda op, handle: _patch(encode_command(op), _HANDLE_AT, handle),
                               _authorized, _WRONG_TYPE)
# PCR handles past PCR_LAST (23) up to the end of the PCR range.
_handle_out_of_range = st.builds(lambda op, handle: _patch(encode_command(op), _HANDLE_AT, handle),
                                 _authorized, st.one_of(st.integers(24, 31), st.integers(24, 0x00FFFFFF)))


@st.composite
def _oversize_tpm2b(draw):
    """A TPM2B whose size field exceeds its type's maximum: TPM2B_EVENT over 1024 bytes
    (with or without the bytes), or a session nonce over sizeof(TPMU_HA)."""
    pcr = draw(_pcr)
    variant = draw(_TPM2B_VARIANT)
    if variant == "nonce":
        nonce = draw(_NONCE_SIZE)
        session = _U32.pack(_RS_PW) + _U16.pack(nonce) + bytes(nonce) + bytes(3)
        body = _U32.pack(pcr) + _U32.pack(len(session)) + session + _U16.pack(0)
    else:
        size = draw(_EVENT_SIZE if variant == "event" else _EVENT_SIZE_FIELD)
        data = bytes(size) if variant == "event" else b""
        body = _U32.pack(pcr) + _PASSWORD_AREA + _U16.pack(size) + data
    return _frame(SESSIONS, _CC_PCR_EVENT, body)


@st.composite
def _authsize_wrong(draw):
    """authorizationSize below one session (9) or beyond the bytes that follow it."""
    data = encode_command(draw(_authorized))
    remaining = len(data) - _AUTH_AT - 4
    if draw(_COIN):
        size = draw(_AUTHSIZE_TOO_SMALL)
    else:
        size = draw(st.integers(remaining + 1, 0xFFFFFFFF))
    return _patch(data, _AUTH_AT, size)


# Session handles must be TPM_RS_PW or in the HMAC/policy session ranges (TPMI_SH_AUTH_SESSION).
_NOT_A_SESSION = st.one_of(
    st.integers(0x00000000, 0x00FFFFFF),  # PCR
    st.integers(0x01000000, 0x01FFFFFF),  # NV index
    st.sampled_from([0x40000001, 0x40000007, 0x4000000C]),  # permanent, not TPM_RS_PW
    st.integers(0x80000000, 0x81FFFFFF),  # transient / persistent object
)
_session_not_session = st.builds(
    lambda op, handle: _patch(encode_command(op), _SESSION_HANDLE_AT, handle), _authorized, _NOT_A_SESSION)


@st.composite
def _auth_missing(draw):
    """A command whose handle needs authorization, sent with tag TPM_ST_NO_SESSIONS and no area."""
    data = encode_command(draw(_authorized))
    body = data[_HANDLE_AT:_AUTH_AT] + data[_PARAMS_AFTER_AUTH:]
    return _frame(NO_SESSIONS, _HDR.unpack_from(data)[2], body)


@st.composite
def _sessions_on_no_session(draw):
    """A password session on a command with no handle to authorize."""
    data = encode_command(draw(_no_auth))
    return _frame(SESSIONS, _HDR.unpack_from(data)[2], _PASSWORD_AREA + data[10:])


def _no_valid_header(data: bytes) -> bool:
    tag, size, _ = _HDR.unpack_from(data)
    return tag not in (NO_SESSIONS, SESSIONS) or size != len(data)


_STRATEGIES = {
    "bad-tag": _bad_tag(),
    "size-larger": _size_larger(),
    "size-smaller": _size_smaller(),
    "unknown-cc": _unknown_cc,
    "vendor-cc": _vendor_cc,
    "truncated": _truncated(),
    "handle-wrong-type": _handle_wrong_type,
    "handle-out-of-range": _handle_out_of_range,
    "oversize-tpm2b": _oversize_tpm2b(),
    "authsize-wrong": _authsize_wrong(),
    "session-not-session": _session_not_session,
    "auth-missing": _auth_missing(),
    "sessions-on-no-session": _sessions_on_no_session(),
    # Random bytes of header size or more; the rare draw with a valid header is redrawn.
    "random-bytes": st.binary(min_size=10, max_size=64).filter(_no_valid_header),
    "zero-length": st.just(b""),
    "short-frame": st.binary(min_size=1, max_size=9),
}


def _raw(kind: str):
    return st.builds(lambda data, locality: ops.Raw(data=data, kind=kind, locality=locality),
                     _STRATEGIES[kind], localities)


RAW = {kind: _raw(kind) for kind in KINDS}


def malformed(short_frames: bool = True):
    """One malformed command of any class; frames shorter than a header only if ``short_frames``."""
    return st.one_of(*(RAW[k] for k in KINDS if short_frames or k not in SHORT_FRAME_KINDS))
