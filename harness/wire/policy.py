"""Command and response bytes of policy sessions (Library Part 3, 11.1, 23, 28.4) and of
TPM2_NV_Read / TPM2_NV_Write authorized by a policy session.

StartAuthSession is sent unsalted and unbound (tpmKey = bind = TPM_RH_NULL, empty
encryptedSalt, symmetric TPM_ALG_NULL).  The policy commands carry no authorization area.
NV_Read / NV_Write through a policy session carry one TPMS_AUTH_COMMAND with the session handle, a
nonceCaller, continueSession as asked and an empty hmac (no PolicyAuthValue/PolicyPassword);
its response's TPMS_AUTH_RESPONSE holds a fresh nonceTPM, the attributes and an empty hmac.
Importing this module registers the encoders and decoders, as harness.wire.nv does.
"""

from __future__ import annotations

import struct

from harness.wire import commands, fields, responses
from harness.wire.commands import CONTINUE_SESSION, HEADER, HEADER_SIZE, NO_SESSIONS, SESSIONS
from harness.wire.errors import WireError
from models.ops import (FlushContext, NvPolicyRead, NvPolicyWrite, Outcome, PolicyGetDigest, PolicyLocality, PolicyPCR,
                        PolicyRestart, SessionStarted, StartAuthSession)
from models.tcg import MAX_NV_BUFFER_SIZE, TPM_ALG, TPM_CC, TPM_RH

_NULL = int(TPM_RH.TPM_RH_NULL)
_ALG_NULL = int(TPM_ALG.TPM_ALG_NULL)
_DIGEST_MAX = 64  # sizeof(TPMU_HA): TPM2B_DIGEST and TPM2B_NONCE
_HANDLE = struct.Struct(">HIII")
_U8 = struct.Struct(">B")
_U16X2 = struct.Struct(">HH")

CC_START_AUTH_SESSION = int(TPM_CC.TPM_CC_StartAuthSession)
CC_POLICY_PCR = int(TPM_CC.TPM_CC_PolicyPCR)
CC_POLICY_LOCALITY = int(TPM_CC.TPM_CC_PolicyLocality)
CC_POLICY_GET_DIGEST = int(TPM_CC.TPM_CC_PolicyGetDigest)
CC_POLICY_RESTART = int(TPM_CC.TPM_CC_PolicyRestart)
CC_FLUSH_CONTEXT = int(TPM_CC.TPM_CC_FlushContext)
CC_NV_READ = int(TPM_CC.TPM_CC_NV_Read)
CC_NV_WRITE = int(TPM_CC.TPM_CC_NV_Write)


def _command(code: int, body: bytes, tag: int = NO_SESSIONS) -> bytes:
    return HEADER.pack(tag, HEADER_SIZE + len(body), code) + body


def _encode_start(op: StartAuthSession) -> bytes:
    body = (struct.pack(">II", _NULL, _NULL) + fields.write_tpm2b(op.nonce_caller, "TPM2B_NONCE", _DIGEST_MAX)
            + fields.write_tpm2b(b"", "TPM2B_ENCRYPTED_SECRET", 0) + _U8.pack(op.session_type)
            + struct.pack(">HH", _ALG_NULL, op.auth_hash))
    return _command(CC_START_AUTH_SESSION, body)


def _encode_policy_pcr(op: PolicyPCR) -> bytes:
    body = (fields.U32.pack(op.session) + fields.write_tpm2b(op.pcr_digest, "TPM2B_DIGEST", _DIGEST_MAX)
            + fields.write_pcr_selection(op.selection))
    return _command(CC_POLICY_PCR, body)


def _encode_policy_locality(op: PolicyLocality) -> bytes:
    return _command(CC_POLICY_LOCALITY, fields.U32.pack(op.session) + _U8.pack(op.localities))


def _handle_only(code: int):
    def encode(op) -> bytes:
        return _HANDLE.pack(NO_SESSIONS, 14, code, op.session)
    return encode


def _encode_flush(op: FlushContext) -> bytes:
    return _HANDLE.pack(NO_SESSIONS, 14, CC_FLUSH_CONTEXT, op.handle)


def _policy_area(op) -> bytes:
    """The index as authHandle and nvIndex, then the one policy session."""
    auth = fields.write_auth_command(op.session, op.nonce_caller,
                                     CONTINUE_SESSION if op.continue_session else 0, b"")
    return struct.pack(">II", op.index, op.index) + fields.U32.pack(len(auth)) + auth


def _encode_nv_policy_read(op: NvPolicyRead) -> bytes:
    return _command(CC_NV_READ, _policy_area(op) + _U16X2.pack(op.size, op.offset), SESSIONS)


def _encode_nv_policy_write(op: NvPolicyWrite) -> bytes:
    params = fields.write_tpm2b(op.data, "TPM2B_MAX_NV_BUFFER", MAX_NV_BUFFER_SIZE) + struct.pack(">H", op.offset)
    return _command(CC_NV_WRITE, _policy_area(op) + params, SESSIONS)


# --- responses -------------------------------------------------------------------------


def _decode_start(op, data: bytes, tag: int, end: int) -> Outcome:
    responses._expect_success_tag(tag, NO_SESSIONS, "TPM2_StartAuthSession")
    handle, off = fields.read_u32(data, HEADER_SIZE, end, "TPM2_StartAuthSession.sessionHandle")
    nonce, off = fields.read_tpm2b(data, off, end, "TPM2B_NONCE", _DIGEST_MAX)
    responses._expect_end(off, end, "the TPM2_StartAuthSession parameters")
    return Outcome(0, SessionStarted(handle, nonce))


def _decode_get_digest(op, data: bytes, tag: int, end: int) -> Outcome:
    responses._expect_success_tag(tag, NO_SESSIONS, "TPM2_PolicyGetDigest")
    digest, off = fields.read_tpm2b(data, HEADER_SIZE, end, "TPM2B_DIGEST", _DIGEST_MAX)
    responses._expect_end(off, end, "the TPM2_PolicyGetDigest parameters")
    return Outcome(0, digest)


def _decode_nv_policy_read(op: NvPolicyRead, data: bytes, tag: int, end: int) -> Outcome:
    params_end = responses._parameter_area(data, tag, end, "TPM2_NV_Read")
    value, off = fields.read_tpm2b(data, HEADER_SIZE + 4, params_end, "TPM2B_MAX_NV_BUFFER", MAX_NV_BUFFER_SIZE)
    responses._expect_parameters_end(off, params_end, "TPM2_NV_Read")
    _check_policy_response(op, data, params_end, end)
    return Outcome(0, value)


def _decode_nv_policy_write(op: NvPolicyWrite, data: bytes, tag: int, end: int) -> Outcome:
    params_end = responses._parameter_area(data, tag, end, "TPM2_NV_Write")
    responses._expect_parameters_end(HEADER_SIZE + 4, params_end, "TPM2_NV_Write")
    _check_policy_response(op, data, params_end, end)
    return Outcome(0)


def _check_policy_response(op, data: bytes, params_end: int, end: int) -> None:
    """The TPMS_AUTH_RESPONSE of the one policy session: a fresh nonceTPM, the command's
    continueSession, an empty hmac."""
    (nonce, attributes, hmac), stop = fields.read_auth_response(data, params_end, end)
    if not nonce:
        raise WireError("TPMS_AUTH_RESPONSE.nonce", params_end, "empty; a policy session answers a fresh nonceTPM")
    wanted = CONTINUE_SESSION if op.continue_session else 0
    if attributes != wanted:
        raise WireError("TPMS_AUTH_RESPONSE.sessionAttributes", params_end + 2 + len(nonce),
                        f"{attributes:#04x}, the command's were {wanted:#04x}")
    if hmac:
        raise WireError("TPMS_AUTH_RESPONSE.hmac", stop - len(hmac) - 2,
                        f"{len(hmac)} bytes; a policy session without PolicyAuthValue has none")
    responses._expect_end(stop, end, "the authorization area of the one session")


def _encode_start_response(op, value: SessionStarted) -> bytes:
    responses._expect_value(value, SessionStarted, "TPM2_StartAuthSession")
    params = fields.U32.pack(value.handle) + fields.write_tpm2b(value.nonce_tpm, "TPM2B_NONCE", _DIGEST_MAX)
    return HEADER.pack(NO_SESSIONS, HEADER_SIZE + len(params), 0) + params


def _encode_get_digest_response(op, value: bytes) -> bytes:
    responses._expect_value(value, bytes, "TPM2_PolicyGetDigest")
    params = fields.write_tpm2b(value, "TPM2B_DIGEST", _DIGEST_MAX)
    return HEADER.pack(NO_SESSIONS, HEADER_SIZE + len(params), 0) + params


_NO_PARAMS = {PolicyPCR: "TPM2_PolicyPCR", PolicyLocality: "TPM2_PolicyLocality",
              PolicyRestart: "TPM2_PolicyRestart", FlushContext: "TPM2_FlushContext"}

commands._ENCODERS.update({
    StartAuthSession: _encode_start,
    PolicyPCR: _encode_policy_pcr,
    PolicyLocality: _encode_policy_locality,
    PolicyGetDigest: _handle_only(CC_POLICY_GET_DIGEST),
    PolicyRestart: _handle_only(CC_POLICY_RESTART),
    FlushContext: _encode_flush,
    NvPolicyRead: _encode_nv_policy_read,
    NvPolicyWrite: _encode_nv_policy_write,
})
responses._DECODERS.update({kind: responses._decode_no_params(name) for kind, name in _NO_PARAMS.items()})
responses._DECODERS.update({StartAuthSession: _decode_start, PolicyGetDigest: _decode_get_digest,
                            NvPolicyRead: _decode_nv_policy_read, NvPolicyWrite: _decode_nv_policy_write})
responses._ENCODERS.update({kind: responses._encode_no_params for kind in _NO_PARAMS})
responses._ENCODERS.update({StartAuthSession: _encode_start_response,
                            PolicyGetDigest: _encode_get_digest_response})
