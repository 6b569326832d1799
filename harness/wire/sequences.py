"""Command and response bytes of the hash and event sequence commands (Library Part 3, 17).

TPM2_HashSequenceStart has no authorization and returns the new sequence's handle in the
response's handle area.  TPM2_SequenceUpdate and TPM2_SequenceComplete authorize the
sequence with one password session, TPM2_EventSequenceComplete the PCR (empty password)
and the sequence with two.  Buffers up to twice MAX_DIGEST_BUFFER can be encoded, so the
TPM's own TPM_RC_SIZE for an oversize TPM2B_MAX_BUFFER can be tried with typed ops.
Importing this module registers the encoders and decoders with :mod:`harness.wire.commands`
and :mod:`harness.wire.responses`.
"""

from __future__ import annotations

import struct

from harness.wire import commands, fields, limits, responses
from harness.wire.commands import HEADER, HEADER_SIZE, NO_SESSIONS, SESSIONS, TPM_RS_PW
from harness.wire.errors import WireError
from models.ops import (EventSequenceComplete, HashCheckTicket, HashSequenceStart, Outcome,
                        SequenceComplete, SequenceResult, SequenceUpdate)
from models.tcg import TPM_CC

CC_HASH_SEQUENCE_START = int(TPM_CC.TPM_CC_HashSequenceStart)
CC_SEQUENCE_UPDATE = int(TPM_CC.TPM_CC_SequenceUpdate)
CC_SEQUENCE_COMPLETE = int(TPM_CC.TPM_CC_SequenceComplete)
CC_EVENT_SEQUENCE_COMPLETE = int(TPM_CC.TPM_CC_EventSequenceComplete)
ENCODABLE_BUFFER = 2048  # bytes of a TPM2B_MAX_BUFFER the encoder writes (the TPM takes 1024)
_AUTH_MAX = 64  # TPM2B_AUTH: sizeof(TPMU_HA)
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_TICKET_HEAD = struct.Struct(">HI")  # TPMT_TK_HASHCHECK tag, hierarchy


def _authorized(code: int, handles: tuple[int, ...], passwords: tuple[bytes, ...], params: bytes) -> bytes:
    area = b"".join(fields.write_auth_command(TPM_RS_PW, b"", 0, p) for p in passwords)
    body = struct.pack(">" + "I" * len(handles), *handles) + _U32.pack(len(area)) + area + params
    return HEADER.pack(SESSIONS, HEADER_SIZE + len(body), code) + body


def _buffer(data: bytes) -> bytes:
    return fields.write_tpm2b(data, "TPM2B_MAX_BUFFER", ENCODABLE_BUFFER)


def _encode_start(op: HashSequenceStart) -> bytes:
    params = fields.write_tpm2b(op.auth, "TPM2B_AUTH", _AUTH_MAX) + _U16.pack(op.hash_alg)
    return HEADER.pack(NO_SESSIONS, HEADER_SIZE + len(params), CC_HASH_SEQUENCE_START) + params


def _encode_update(op: SequenceUpdate) -> bytes:
    return _authorized(CC_SEQUENCE_UPDATE, (op.handle,), (op.password,), _buffer(op.data))


def _encode_complete(op: SequenceComplete) -> bytes:
    params = _buffer(op.data) + _U32.pack(op.hierarchy)
    return _authorized(CC_SEQUENCE_COMPLETE, (op.handle,), (op.password,), params)


def _encode_event_complete(op: EventSequenceComplete) -> bytes:
    return _authorized(CC_EVENT_SEQUENCE_COMPLETE, (op.pcr, op.handle), (b"", op.password),
                       _buffer(op.data))


# --- responses -------------------------------------------------------------------------


def _check_password_responses(data: bytes, off: int, end: int, sessions: int) -> None:
    for _ in range(sessions - 1):
        (nonce, attributes, hmac), off = fields.read_auth_response(data, off, end)
        if nonce or hmac or attributes & ~commands.CONTINUE_SESSION:
            raise WireError("TPMS_AUTH_RESPONSE", off, "not the response of a password session")
    responses._check_password_response(data, off, end)


def _decode_start(op, data: bytes, tag: int, end: int) -> Outcome:
    responses._expect_success_tag(tag, NO_SESSIONS, "TPM2_HashSequenceStart")
    handle, off = fields.read_u32(data, HEADER_SIZE, end, "TPM2_HashSequenceStart.sequenceHandle")
    responses._expect_end(off, end, "the sequence handle")
    return Outcome(0, handle)


def _decode_complete(op, data: bytes, tag: int, end: int) -> Outcome:
    params_end = responses._parameter_area(data, tag, end, "TPM2_SequenceComplete")
    digest, off = fields.read_tpm2b(data, HEADER_SIZE + 4, params_end, "TPM2B_DIGEST", limits.TPMU_HA_SIZE)
    if off + _TICKET_HEAD.size > params_end:
        raise fields.short("TPMT_TK_HASHCHECK", off, _TICKET_HEAD.size, params_end)
    ticket_tag, hierarchy = _TICKET_HEAD.unpack_from(data, off)
    ticket, off = fields.read_tpm2b(data, off + _TICKET_HEAD.size, params_end,
                                    "TPMT_TK_HASHCHECK.digest", limits.TPMU_HA_SIZE)
    responses._expect_parameters_end(off, params_end, "TPM2_SequenceComplete")
    responses._check_password_response(data, params_end, end)
    return Outcome(0, SequenceResult(digest, HashCheckTicket(ticket_tag, hierarchy, ticket)))


def _decode_event_complete(op, data: bytes, tag: int, end: int) -> Outcome:
    params_end = responses._parameter_area(data, tag, end, "TPM2_EventSequenceComplete")
    digests, off = fields.read_digest_values(data, HEADER_SIZE + 4, params_end)
    responses._expect_parameters_end(off, params_end, "TPM2_EventSequenceComplete")
    _check_password_responses(data, params_end, end, 2)
    return Outcome(0, digests)


def _encode_start_response(op, value) -> bytes:
    responses._expect_value(value, int, "TPM2_HashSequenceStart")
    return HEADER.pack(NO_SESSIONS, HEADER_SIZE + 4, 0) + _U32.pack(value)


def _encode_complete_response(op, value: SequenceResult) -> bytes:
    responses._expect_value(value, SequenceResult, "TPM2_SequenceComplete")
    ticket = value.ticket
    params = (fields.write_tpm2b(value.digest, "TPM2B_DIGEST", limits.TPMU_HA_SIZE)
              + _TICKET_HEAD.pack(ticket.tag, ticket.hierarchy)
              + fields.write_tpm2b(ticket.digest, "TPMT_TK_HASHCHECK.digest", limits.TPMU_HA_SIZE))
    return responses._with_password(params)


def _encode_event_complete_response(op, value) -> bytes:
    responses._expect_value(value, tuple, "TPM2_EventSequenceComplete")
    params = fields.write_digest_values(value)
    password = fields.write_auth_response(b"", commands.CONTINUE_SESSION, b"")
    size = HEADER_SIZE + 4 + len(params) + 2 * len(password)
    return HEADER.pack(SESSIONS, size, 0) + _U32.pack(len(params)) + params + 2 * password


commands._ENCODERS.update({
    HashSequenceStart: _encode_start,
    SequenceUpdate: _encode_update,
    SequenceComplete: _encode_complete,
    EventSequenceComplete: _encode_event_complete,
})
responses._DECODERS.update({
    HashSequenceStart: _decode_start,
    SequenceUpdate: responses._decode_authorized_no_params("TPM2_SequenceUpdate"),
    SequenceComplete: _decode_complete,
    EventSequenceComplete: _decode_event_complete,
})
responses._ENCODERS.update({
    HashSequenceStart: _encode_start_response,
    SequenceUpdate: responses._encode_authorized_no_params,
    SequenceComplete: _encode_complete_response,
    EventSequenceComplete: _encode_event_complete_response,
})
