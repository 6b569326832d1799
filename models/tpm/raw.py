"""Raw command bytes: the header checks, and the bodies that are modelled commands.

Part 3, 5.2 (Command Header Validation) and the reference ExecCommand.c fix the
order: tag, commandSize, commandCode, then the Startup gate, then handles,
sessions and parameters.  The header decides the response code exactly; past
it, a body that is a well-formed modelled command is decoded back into its
operation (the model then answers as for that operation), anything else only
has to fail.
"""

from __future__ import annotations

import struct

from models.ops import (ANY_ERROR, GetCapability, GetRandom, PcrEvent, PcrExtend, PcrRead,
                        PcrReset, Shutdown, Startup)
from models.tcg import DIGEST_SIZE, TPM_CC, TPM_HEADER_SIZE, TPM_RH, TPM_ST
from models.tpm import rc
from models.tpm.attributes import PCR_COUNT
from models.tpm.profile import Profile

HEADER = struct.Struct(">HII")  # tag, commandSize, commandCode
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_TPMS_AUTH_COMMAND_HEAD = struct.Struct(">IHBH")  # password session: handle, nonce, attributes, hmac size
_TPMS_PCR_SELECTION = struct.Struct(">HB3s")  # hash, sizeofSelect (always 3 here), pcrSelect

NO_SESSIONS = int(TPM_ST.TPM_ST_NO_SESSIONS)
SESSIONS = int(TPM_ST.TPM_ST_SESSIONS)
_RH_NULL = int(TPM_RH.TPM_RH_NULL)
_RS_PW = int(TPM_RH.TPM_RS_PW)
_PCR_SELECT_SIZE = 3  # PCR_SELECT_MIN = PCR_SELECT_MAX for 24 PCRs
_CONTINUE_SESSION = 0x01  # the only TPMA_SESSION bit a password session may carry

CC_STARTUP = int(TPM_CC.TPM_CC_Startup)
_CC_SHUTDOWN = int(TPM_CC.TPM_CC_Shutdown)
_CC_EXTEND = int(TPM_CC.TPM_CC_PCR_Extend)
_CC_EVENT = int(TPM_CC.TPM_CC_PCR_Event)
_CC_RESET = int(TPM_CC.TPM_CC_PCR_Reset)
_CC_READ = int(TPM_CC.TPM_CC_PCR_Read)
_CC_RANDOM = int(TPM_CC.TPM_CC_GetRandom)
_CC_CAPABILITY = int(TPM_CC.TPM_CC_GetCapability)


def header_error(profile: Profile, data: bytes):
    """The response code the command header fixes, or None when the header passes.

    Fewer than 10 bytes cannot carry a header: the TPM answers with some error
    (ANY_ERROR).  A tag that is no command tag is TPM_RC_BAD_TAG, or
    TPM_RC_VALUE where the implementation first unmarshals it as a TPM_ST and
    it is none (``profile.tpm_st_values``).
    """
    if len(data) < TPM_HEADER_SIZE:
        return ANY_ERROR
    tag, size, code = HEADER.unpack_from(data)
    if tag != NO_SESSIONS and tag != SESSIONS:
        if profile.tpm_st_values is None or tag in profile.tpm_st_values:
            return rc.BAD_TAG
        return rc.VALUE
    if size != len(data) or size > profile.max_command_size:
        return rc.COMMAND_SIZE
    if code not in profile.command_codes:
        return rc.COMMAND_CODE
    return None


def decode_command(profile: Profile, tag: int, code: int, body: bytes, locality: int):
    """A modelled command's body (after the header) as its operation.

    Returns the operation when the body is exactly what the encoder of that
    operation could send (one password session with the empty password for
    the PCR commands), a response code when the handle area already decides
    it, and None for any other malformation (the TPM must fail it somehow).
    """
    if code in (_CC_EXTEND, _CC_EVENT, _CC_RESET):
        return _decode_authorized(profile, tag, code, body, locality)
    if tag != NO_SESSIONS:
        return None  # no handle needs authorization: a session area is an error
    if code == CC_STARTUP or code == _CC_SHUTDOWN:
        if len(body) != 2:
            return None
        (su,) = _U16.unpack(body)
        return (Startup if code == CC_STARTUP else Shutdown)(su=su, locality=locality)
    if code == _CC_READ:
        selection = _tpml_pcr_selection(body)
        return None if selection is None else PcrRead(selection=selection, locality=locality)
    if code == _CC_RANDOM:
        return GetRandom(size=_U16.unpack(body)[0], locality=locality) if len(body) == 2 else None
    if code == _CC_CAPABILITY:
        if len(body) != 12:
            return None
        capability, prop, count = struct.unpack(">III", body)
        return GetCapability(capability=capability, prop=prop, count=count, locality=locality)
    raise ValueError(f"command code {code:#x} is not one the model executes")


def _decode_authorized(profile: Profile, tag: int, code: int, body: bytes, locality: int):
    """PCR_Extend / PCR_Event / PCR_Reset: handle, authorization area, parameters."""
    if len(body) < 4:
        return None
    (handle,) = _U32.unpack_from(body)
    if not (handle < PCR_COUNT or (handle == _RH_NULL and code != _CC_RESET)):
        return rc.VALUE_HANDLE_1  # TPMI_DH_PCR(+) unmarshalling, before the sessions
    if tag == NO_SESSIONS:
        return rc.AUTH_MISSING  # ExecCommand.c CheckAuthNoSession
    params = _after_password_session(body[4:], profile.max_digest)
    if params is None:
        return None
    if code == _CC_RESET:
        return PcrReset(pcr=handle, locality=locality) if not params else None
    if code == _CC_EVENT:
        if len(params) < 2 or _U16.unpack_from(params)[0] != len(params) - 2:
            return None
        return PcrEvent(pcr=handle, data=params[2:], locality=locality)
    digests = _tpml_digest_values(params)
    return None if digests is None else PcrExtend(pcr=handle, digests=digests, locality=locality)


def _after_password_session(area: bytes, max_hmac: int) -> bytes | None:
    """The parameters after an authorization area of one TPM_RS_PW session whose
    password equals the PCRs' empty authValue, or None.

    Trailing zero bytes of a password are ignored (Part 4, SessionProcess.c
    CheckPWAuthSession strips them before comparing), so an hmac of zero bytes
    up to sizeof(TPMU_HA) is the empty password too (measured on libtpms 0.9.2).
    """
    if len(area) < 4:
        return None
    (auth_size,) = _U32.unpack_from(area)
    if auth_size < _TPMS_AUTH_COMMAND_HEAD.size or 4 + auth_size > len(area):
        return None
    handle, nonce_size, attributes, hmac_size = _TPMS_AUTH_COMMAND_HEAD.unpack_from(area, 4)
    hmac = area[4 + _TPMS_AUTH_COMMAND_HEAD.size:4 + auth_size]
    if (handle != _RS_PW or nonce_size != 0 or attributes & ~_CONTINUE_SESSION
            or hmac_size != len(hmac) or hmac_size > max_hmac or any(hmac)):
        return None
    return area[4 + auth_size:]


def _tpml_digest_values(params: bytes):
    """TPML_DIGEST_VALUES as ((hashAlg, digest), ...), or None when malformed."""
    if len(params) < 4:
        return None
    (count,) = _U32.unpack_from(params)
    digests, pos = [], 4
    for _ in range(count):
        if pos + 2 > len(params):
            return None
        (alg,) = _U16.unpack_from(params, pos)
        size = DIGEST_SIZE.get(alg)
        if size is None or pos + 2 + size > len(params):
            return None
        digests.append((alg, params[pos + 2:pos + 2 + size]))
        pos += 2 + size
    return tuple(digests) if pos == len(params) else None


def _tpml_pcr_selection(params: bytes):
    """TPML_PCR_SELECTION as ((hashAlg, (pcr, ...)), ...), or None when malformed."""
    if len(params) < 4:
        return None
    (count,) = _U32.unpack_from(params)
    if len(params) != 4 + count * _TPMS_PCR_SELECTION.size:
        return None
    selection = []
    for alg, size, select in _TPMS_PCR_SELECTION.iter_unpack(params[4:]):
        if size != _PCR_SELECT_SIZE:
            return None  # TPM_RC_VALUE: sizeofSelect must be PCR_SELECT_MIN..PCR_SELECT_MAX
        bits = int.from_bytes(select, "little")
        selection.append((alg, tuple(pcr for pcr in range(PCR_COUNT) if bits >> pcr & 1)))
    return tuple(selection)
