"""Command and response bytes of the NV storage commands (Library Part 3, 31).

Every NV command but TPM2_NV_ReadPublic authorizes its first handle with one
password session whose hmac is the op's ``password``.  Importing this module
registers the NV encoders and decoders with :mod:`harness.wire.commands` and
:mod:`harness.wire.responses` (kept apart so the PCR path stays as it was).
"""

from __future__ import annotations

import struct

from harness.wire import commands, fields, responses
from harness.wire.commands import HEADER, HEADER_SIZE, NO_SESSIONS, SESSIONS, TPM_RS_PW
from harness.wire.errors import WireError
from models.ops import (NvDefineSpace, NvExtend, NvIncrement, NvPublicResult, NvRead, NvReadLock,
                        NvReadPublic, NvUndefineSpace, NvWrite, NvWriteLock, Outcome)
from models.tcg import MAX_NV_BUFFER_SIZE, TPM_CC

_NV_PUBLIC_HEAD = struct.Struct(">IHI")  # nvIndex, nameAlg, attributes
_U16 = struct.Struct(">H")
_U16X2 = struct.Struct(">HH")
_NAME_MAX = 2 + 64  # TPM2B_NAME: sizeof(TPMU_NAME) = hashAlg + the largest digest
_AUTH_MAX = 64  # TPM2B_AUTH: sizeof(TPMU_HA)

CC_NV_DEFINE_SPACE = int(TPM_CC.TPM_CC_NV_DefineSpace)
CC_NV_UNDEFINE_SPACE = int(TPM_CC.TPM_CC_NV_UndefineSpace)
CC_NV_READ_PUBLIC = int(TPM_CC.TPM_CC_NV_ReadPublic)
CC_NV_WRITE = int(TPM_CC.TPM_CC_NV_Write)
CC_NV_READ = int(TPM_CC.TPM_CC_NV_Read)
CC_NV_INCREMENT = int(TPM_CC.TPM_CC_NV_Increment)
CC_NV_EXTEND = int(TPM_CC.TPM_CC_NV_Extend)
CC_NV_WRITE_LOCK = int(TPM_CC.TPM_CC_NV_WriteLock)
CC_NV_READ_LOCK = int(TPM_CC.TPM_CC_NV_ReadLock)


def nv_public(index: int, name_alg: int, attributes: int, auth_policy: bytes, data_size: int) -> bytes:
    """TPMS_NV_PUBLIC, the bytes an index's Name hashes."""
    return (_NV_PUBLIC_HEAD.pack(index, name_alg, attributes)
            + fields.write_tpm2b(auth_policy, "TPM2B_DIGEST", 64) + _U16.pack(data_size))


def _authorized(code: int, handles: tuple[int, ...], password: bytes, params: bytes) -> bytes:
    auth = fields.write_auth_command(TPM_RS_PW, b"", 0, password)
    area = fields.U32.pack(len(auth)) + auth
    body = struct.pack(">" + "I" * len(handles), *handles) + area + params
    return HEADER.pack(SESSIONS, HEADER_SIZE + len(body), code) + body


def _encode_define(op: NvDefineSpace) -> bytes:
    public = nv_public(op.index, op.name_alg, op.attributes, op.auth_policy, op.data_size)
    params = (fields.write_tpm2b(op.auth_value, "TPM2B_AUTH", _AUTH_MAX)
              + fields.write_tpm2b(public, "TPM2B_NV_PUBLIC", 0xFFFF))
    return _authorized(CC_NV_DEFINE_SPACE, (op.auth,), op.password, params)


def _encode_undefine(op: NvUndefineSpace) -> bytes:
    return _authorized(CC_NV_UNDEFINE_SPACE, (op.auth, op.index), op.password, b"")


def _encode_read_public(op: NvReadPublic) -> bytes:
    return struct.pack(">HIII", NO_SESSIONS, 14, CC_NV_READ_PUBLIC, op.index)


def _encode_write(op: NvWrite) -> bytes:
    params = fields.write_tpm2b(op.data, "TPM2B_MAX_NV_BUFFER", MAX_NV_BUFFER_SIZE) + _U16.pack(op.offset)
    return _authorized(CC_NV_WRITE, (op.auth, op.index), op.password, params)


def _encode_read(op: NvRead) -> bytes:
    return _authorized(CC_NV_READ, (op.auth, op.index), op.password, _U16X2.pack(op.size, op.offset))


def _encode_extend(op: NvExtend) -> bytes:
    params = fields.write_tpm2b(op.data, "TPM2B_MAX_NV_BUFFER", MAX_NV_BUFFER_SIZE)
    return _authorized(CC_NV_EXTEND, (op.auth, op.index), op.password, params)


def _no_params(code: int):
    def encode(op) -> bytes:
        return _authorized(code, (op.auth, op.index), op.password, b"")
    return encode


# --- responses -------------------------------------------------------------------------


def _decode_read(op, data: bytes, tag: int, end: int) -> Outcome:
    params_end = responses._parameter_area(data, tag, end, "TPM2_NV_Read")
    value, off = fields.read_tpm2b(data, HEADER_SIZE + 4, params_end, "TPM2B_MAX_NV_BUFFER", MAX_NV_BUFFER_SIZE)
    responses._expect_parameters_end(off, params_end, "TPM2_NV_Read")
    responses._check_password_response(data, params_end, end)
    return Outcome(0, value)


def _decode_read_public(op, data: bytes, tag: int, end: int) -> Outcome:
    responses._expect_success_tag(tag, NO_SESSIONS, "TPM2_NV_ReadPublic")
    public, off = fields.read_tpm2b(data, HEADER_SIZE, end, "TPM2B_NV_PUBLIC", 0xFFFF)
    name, off = fields.read_tpm2b(data, off, end, "TPM2B_NAME", _NAME_MAX)
    responses._expect_end(off, end, "the TPM2_NV_ReadPublic parameters")
    inner_end = len(public)
    if inner_end < _NV_PUBLIC_HEAD.size:
        raise fields.short("TPMS_NV_PUBLIC", HEADER_SIZE + 2, _NV_PUBLIC_HEAD.size, inner_end)
    index, name_alg, attributes = _NV_PUBLIC_HEAD.unpack_from(public)
    policy, at = fields.read_tpm2b(public, _NV_PUBLIC_HEAD.size, inner_end, "TPMS_NV_PUBLIC.authPolicy", 64)
    data_size, at = fields.read_u16(public, at, inner_end, "TPMS_NV_PUBLIC.dataSize")
    if at != inner_end:
        raise WireError("TPM2B_NV_PUBLIC.size", HEADER_SIZE, f"{inner_end - at} bytes after TPMS_NV_PUBLIC")
    return Outcome(0, NvPublicResult(index, name_alg, attributes, policy, data_size, name))


def _encode_read_response(op, value) -> bytes:
    responses._expect_value(value, bytes, "TPM2_NV_Read")
    return responses._with_password(fields.write_tpm2b(value, "TPM2B_MAX_NV_BUFFER", MAX_NV_BUFFER_SIZE))


def _encode_read_public_response(op, value: NvPublicResult) -> bytes:
    responses._expect_value(value, NvPublicResult, "TPM2_NV_ReadPublic")
    public = nv_public(value.index, value.name_alg, value.attributes, value.auth_policy, value.data_size)
    params = fields.write_tpm2b(public, "TPM2B_NV_PUBLIC", 0xFFFF) + fields.write_tpm2b(value.name, "TPM2B_NAME", _NAME_MAX)
    return HEADER.pack(NO_SESSIONS, HEADER_SIZE + len(params), 0) + params


_AUTHORIZED_NO_PARAMS = {
    NvDefineSpace: "TPM2_NV_DefineSpace", NvUndefineSpace: "TPM2_NV_UndefineSpace",
    NvWrite: "TPM2_NV_Write", NvIncrement: "TPM2_NV_Increment", NvExtend: "TPM2_NV_Extend",
    NvWriteLock: "TPM2_NV_WriteLock", NvReadLock: "TPM2_NV_ReadLock",
}

commands._ENCODERS.update({
    NvDefineSpace: _encode_define,
    NvUndefineSpace: _encode_undefine,
    NvReadPublic: _encode_read_public,
    NvWrite: _encode_write,
    NvRead: _encode_read,
    NvIncrement: _no_params(CC_NV_INCREMENT),
    NvExtend: _encode_extend,
    NvWriteLock: _no_params(CC_NV_WRITE_LOCK),
    NvReadLock: _no_params(CC_NV_READ_LOCK),
})
responses._DECODERS.update({kind: responses._decode_authorized_no_params(name)
                            for kind, name in _AUTHORIZED_NO_PARAMS.items()})
responses._DECODERS.update({NvRead: _decode_read, NvReadPublic: _decode_read_public})
responses._ENCODERS.update({kind: responses._encode_authorized_no_params for kind in _AUTHORIZED_NO_PARAMS})
responses._ENCODERS.update({NvRead: _encode_read_response, NvReadPublic: _encode_read_public_response})
