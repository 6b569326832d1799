"""Command bytes for the TPM commands of ``models.ops`` (Library Part 3), and back.

Every command starts with the header tag, commandSize, commandCode (Part 1,
"Command/Response Header Fields").  PCR_Extend, PCR_Event and PCR_Reset
authorize their pcrHandle, so they carry tag TPM_ST_SESSIONS and one password
session with an empty password (Part 1, "Password Authorizations"): the PCR
authValues are empty unless changed, and PCR_SetAuthValue is not in the
vocabulary.  Locality is not in the bytes; the target sends it beside them.

``decode_command`` inverts ``encode_command`` for readable traces, replay and
servers.  It accepts what a client may legitimately vary without changing the
operation (sessionAttributes continueSession, ignored for password sessions)
and rejects anything the operation cannot represent.
"""

from __future__ import annotations

import struct

from harness.wire import fields, limits
from harness.wire.errors import WireError
from models.ops import (
    GetCapability, GetRandom, PcrEvent, PcrExtend, PcrRead, PcrReset, Raw, Shutdown, Startup,
)
from models.tcg import TPM_CC, TPM_RH, TPM_ST

HEADER = struct.Struct(">HII")  # tag, commandSize/responseSize, commandCode/responseCode
HEADER_SIZE = HEADER.size
_HEADER_U16 = struct.Struct(">HIIH")
_HEADER_U32X3 = struct.Struct(">HIIIII")
_HEADER_HANDLE = struct.Struct(">HIII")

NO_SESSIONS = int(TPM_ST.TPM_ST_NO_SESSIONS)
SESSIONS = int(TPM_ST.TPM_ST_SESSIONS)
TPM_RS_PW = int(TPM_RH.TPM_RS_PW)
CONTINUE_SESSION = 0x01  # TPMA_SESSION bit 0

CC_STARTUP = int(TPM_CC.TPM_CC_Startup)
CC_SHUTDOWN = int(TPM_CC.TPM_CC_Shutdown)
CC_PCR_EXTEND = int(TPM_CC.TPM_CC_PCR_Extend)
CC_PCR_EVENT = int(TPM_CC.TPM_CC_PCR_Event)
CC_PCR_RESET = int(TPM_CC.TPM_CC_PCR_Reset)
CC_PCR_READ = int(TPM_CC.TPM_CC_PCR_Read)
CC_GET_RANDOM = int(TPM_CC.TPM_CC_GetRandom)
CC_GET_CAPABILITY = int(TPM_CC.TPM_CC_GetCapability)

# authorizationSize and the one TPMS_AUTH_COMMAND: TPM_RS_PW, empty nonce, attributes 0, empty hmac.
_PASSWORD = fields.write_auth_command(TPM_RS_PW, b"", 0, b"")
_PASSWORD_AREA = fields.U32.pack(len(_PASSWORD)) + _PASSWORD
_SESSION_OVERHEAD = HEADER_SIZE + 4 + len(_PASSWORD_AREA)  # header, handle, authorization area


def parse_header(data: bytes) -> tuple[int, int, int]:
    """(tag, size, code) of a command or response."""
    if len(data) < HEADER_SIZE:
        raise fields.short("header", 0, HEADER_SIZE, len(data))
    return HEADER.unpack_from(data)


# --- encoding --------------------------------------------------------------------


def _with_password(code: int, handle: int, params: bytes) -> bytes:
    size = _SESSION_OVERHEAD + len(params)
    return _HEADER_HANDLE.pack(SESSIONS, size, code, handle) + _PASSWORD_AREA + params


def _encode_startup(op: Startup) -> bytes:
    return _HEADER_U16.pack(NO_SESSIONS, 12, CC_STARTUP, op.su)


def _encode_shutdown(op: Shutdown) -> bytes:
    return _HEADER_U16.pack(NO_SESSIONS, 12, CC_SHUTDOWN, op.su)


def _encode_pcr_extend(op: PcrExtend) -> bytes:
    return _with_password(CC_PCR_EXTEND, op.pcr, fields.write_digest_values(op.digests))


def _encode_pcr_event(op: PcrEvent) -> bytes:
    return _with_password(CC_PCR_EVENT, op.pcr, fields.write_tpm2b(op.data, "TPM2B_EVENT", limits.MAX_EVENT_DATA))


def _encode_pcr_reset(op: PcrReset) -> bytes:
    return _with_password(CC_PCR_RESET, op.pcr, b"")


def _encode_pcr_read(op: PcrRead) -> bytes:
    params = fields.write_pcr_selection(op.selection)
    return HEADER.pack(NO_SESSIONS, HEADER_SIZE + len(params), CC_PCR_READ) + params


def _encode_get_random(op: GetRandom) -> bytes:
    return _HEADER_U16.pack(NO_SESSIONS, 12, CC_GET_RANDOM, op.size)


def _encode_get_capability(op: GetCapability) -> bytes:
    return _HEADER_U32X3.pack(NO_SESSIONS, 22, CC_GET_CAPABILITY, op.capability, op.prop, op.count)


def _encode_raw(op: Raw) -> bytes:
    return op.data


_ENCODERS = {
    Startup: _encode_startup,
    Shutdown: _encode_shutdown,
    PcrExtend: _encode_pcr_extend,
    PcrEvent: _encode_pcr_event,
    PcrReset: _encode_pcr_reset,
    PcrRead: _encode_pcr_read,
    GetRandom: _encode_get_random,
    GetCapability: _encode_get_capability,
    Raw: _encode_raw,
}


def encode_command(op) -> bytes:
    """The command bytes for a TPM command op; ``Raw(data)`` gives ``data`` unchanged.

    An op whose values the command cannot carry (a digest of the wrong size,
    a PCR above 31, a number wider than its field) raises ``ValueError``: use
    ``Raw`` to send malformed commands.
    """
    encoder = _ENCODERS.get(type(op))
    if encoder is None:
        raise TypeError(f"encode_command takes a TPM command op, not {type(op).__name__}")
    try:
        return encoder(op)
    except struct.error as exc:
        raise ValueError(f"cannot encode {op!r}: {exc}") from None


# --- decoding ----------------------------------------------------------------------


def _expect_tag(tag: int, expected: int, command: str) -> None:
    if tag != expected:
        raise WireError("tag", 0, f"{tag:#06x}, {command} is sent with {expected:#06x}")


def _expect_end(off: int, end: int, command: str) -> None:
    if off != end:
        raise WireError("commandSize", off, f"{end - off} bytes after the last parameter of {command}")


def _read_password_area(data: bytes, end: int, command: str) -> int:
    """Check the authorization area after the one handle; return where the parameters start."""
    size, start = fields.read_u32(data, 14, end, "authorizationSize")
    area_end = start + size
    if area_end > end:
        raise WireError("authorizationSize", 14, f"{size} but {end - start} bytes follow")
    (handle, nonce, attributes, hmac), off = fields.read_auth_command(data, start, area_end)
    if off != area_end:
        raise WireError("authorizationSize", 14, f"{size}: the wire layer decodes exactly one session ({off - start} bytes)")
    if handle != TPM_RS_PW:
        raise WireError("TPMS_AUTH_COMMAND.sessionHandle", start, f"{handle:#010x}, only password authorization (TPM_RS_PW) is decoded")
    if nonce:
        raise WireError("TPMS_AUTH_COMMAND.nonce", start + 4, "a password session has an empty nonce")
    if attributes & ~CONTINUE_SESSION:
        raise WireError("TPMS_AUTH_COMMAND.sessionAttributes", start + 6, f"{attributes:#04x} on a password session")
    if hmac:
        raise WireError("TPMS_AUTH_COMMAND.hmac", start + 7, f"{command} with a non-empty password is not an op of the vocabulary")
    return area_end


def _decode_startup(data: bytes, tag: int, end: int) -> Startup:
    _expect_tag(tag, NO_SESSIONS, "TPM2_Startup")
    su, off = fields.read_u16(data, HEADER_SIZE, end, "TPM2_Startup.startupType")
    _expect_end(off, end, "TPM2_Startup")
    return Startup(su)


def _decode_shutdown(data: bytes, tag: int, end: int) -> Shutdown:
    _expect_tag(tag, NO_SESSIONS, "TPM2_Shutdown")
    su, off = fields.read_u16(data, HEADER_SIZE, end, "TPM2_Shutdown.shutdownType")
    _expect_end(off, end, "TPM2_Shutdown")
    return Shutdown(su)


def _pcr_handle_and_password(data: bytes, tag: int, end: int, command: str) -> tuple[int, int]:
    _expect_tag(tag, SESSIONS, command)
    pcr, _ = fields.read_u32(data, HEADER_SIZE, end, f"{command}.pcrHandle")
    return pcr, _read_password_area(data, end, command)


def _decode_pcr_extend(data: bytes, tag: int, end: int) -> PcrExtend:
    pcr, off = _pcr_handle_and_password(data, tag, end, "TPM2_PCR_Extend")
    digests, off = fields.read_digest_values(data, off, end)
    _expect_end(off, end, "TPM2_PCR_Extend")
    return PcrExtend(pcr, digests)


def _decode_pcr_event(data: bytes, tag: int, end: int) -> PcrEvent:
    pcr, off = _pcr_handle_and_password(data, tag, end, "TPM2_PCR_Event")
    event, off = fields.read_tpm2b(data, off, end, "TPM2B_EVENT", limits.MAX_EVENT_DATA)
    _expect_end(off, end, "TPM2_PCR_Event")
    return PcrEvent(pcr, event)


def _decode_pcr_reset(data: bytes, tag: int, end: int) -> PcrReset:
    pcr, off = _pcr_handle_and_password(data, tag, end, "TPM2_PCR_Reset")
    _expect_end(off, end, "TPM2_PCR_Reset")
    return PcrReset(pcr)


def _decode_pcr_read(data: bytes, tag: int, end: int) -> PcrRead:
    _expect_tag(tag, NO_SESSIONS, "TPM2_PCR_Read")
    entries, off = fields.read_pcr_selection(data, HEADER_SIZE, end)
    _expect_end(off, end, "TPM2_PCR_Read")
    return PcrRead(fields.selection_of(entries))


def _decode_get_random(data: bytes, tag: int, end: int) -> GetRandom:
    _expect_tag(tag, NO_SESSIONS, "TPM2_GetRandom")
    size, off = fields.read_u16(data, HEADER_SIZE, end, "TPM2_GetRandom.bytesRequested")
    _expect_end(off, end, "TPM2_GetRandom")
    return GetRandom(size)


def _decode_get_capability(data: bytes, tag: int, end: int) -> GetCapability:
    _expect_tag(tag, NO_SESSIONS, "TPM2_GetCapability")
    capability, off = fields.read_u32(data, HEADER_SIZE, end, "TPM2_GetCapability.capability")
    prop, off = fields.read_u32(data, off, end, "TPM2_GetCapability.property")
    count, off = fields.read_u32(data, off, end, "TPM2_GetCapability.propertyCount")
    _expect_end(off, end, "TPM2_GetCapability")
    return GetCapability(capability, prop, count)


_DECODERS = {
    CC_STARTUP: _decode_startup,
    CC_SHUTDOWN: _decode_shutdown,
    CC_PCR_EXTEND: _decode_pcr_extend,
    CC_PCR_EVENT: _decode_pcr_event,
    CC_PCR_RESET: _decode_pcr_reset,
    CC_PCR_READ: _decode_pcr_read,
    CC_GET_RANDOM: _decode_get_random,
    CC_GET_CAPABILITY: _decode_get_capability,
}


def decode_command(data: bytes):
    """The op (locality 0) whose ``encode_command`` gives ``data``; WireError if none does."""
    if type(data) is not bytes:
        data = bytes(data)
    tag, size, code = parse_header(data)
    end = len(data)
    if size != end:
        raise WireError("commandSize", 2, f"{size} but {end} bytes")
    decoder = _DECODERS.get(code)
    if decoder is None:
        raise WireError("commandCode", 6, f"{code:#x} is not a command the wire layer decodes")
    return decoder(data, tag, end)
