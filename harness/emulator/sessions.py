"""The authorization area of a command and of its response (Part 1, 19.6-19.8).

Password authorization (TPM_RS_PW) is checked here.  Policy sessions live in
policy.py and authorize NV commands only; here an HMAC or policy session
handle is answered TPM_RC_REFERENCE_S0 + n, as the reference does for a
session that is not loaded.  Checks and their order follow the reference
ExecCommand.c / SessionProcess.c (RetrieveSessionData, ParseSessionBuffer,
CheckPWAuthSession); the codes were measured on libtpms 0.9.2.
"""

from __future__ import annotations

from collections.abc import Callable

from .codes import (
    HMAC_SESSION_FIRST,
    HMAC_SESSION_LAST,
    MAX_DIGEST,
    MAX_SESSION_NUM,
    POLICY_SESSION_FIRST,
    POLICY_SESSION_LAST,
    RC_S,
    TPM_RC_ATTRIBUTES,
    TPM_RC_AUTH_CONTEXT,
    TPM_RC_AUTH_MISSING,
    TPM_RC_BAD_AUTH,
    TPM_RC_HANDLE,
    TPM_RC_INSUFFICIENT,
    TPM_RC_NONCE,
    TPM_RC_REFERENCE_S0,
    TPM_RC_RESERVED_BITS,
    TPM_RC_SIZE,
    TPM_RC_VALUE,
    TPM_RS_PW,
    TPMA_SESSION_AUDIT,
    TPMA_SESSION_AUDIT_EXCLUSIVE,
    TPMA_SESSION_AUDIT_RESET,
    TPMA_SESSION_CONTINUE_SESSION,
    TPMA_SESSION_DECRYPT,
    TPMA_SESSION_ENCRYPT,
    TPMA_SESSION_RESERVED,
)
from .marshal import U32, CommandError, take_tpm2b, take_u32

# A password session authorizes; it cannot audit or carry parameter encryption.
_PW_FORBIDDEN = (
    TPMA_SESSION_AUDIT
    | TPMA_SESSION_ENCRYPT
    | TPMA_SESSION_DECRYPT
    | TPMA_SESSION_AUDIT_EXCLUSIVE
    | TPMA_SESSION_AUDIT_RESET
)
_MIN_SESSION = 9  # TPMS_AUTH_COMMAND with empty nonce and hmac
# The area nearly every command carries: authorizationSize 9 and one password
# session with empty nonce and password, continueSession 0 or 1 -> its response.
_EMPTY_PASSWORD_AREAS = {
    U32.pack(_MIN_SESSION) + U32.pack(TPM_RS_PW) + bytes((0, 0, attrs, 0, 0)): bytes(
        (0, 0, attrs | TPMA_SESSION_CONTINUE_SESSION, 0, 0)
    )
    for attrs in (0, TPMA_SESSION_CONTINUE_SESSION)
}


def parse_authorization(
    cmd: bytes,
    pos: int,
    handles: tuple[int, ...],
    auth_count: int,
    sessions_allowed: bool,
    auth_value: Callable[[int], bytes],
) -> tuple[int, bytes]:
    """Check the authorization area at ``pos`` (tag TPM_ST_SESSIONS).

    ``auth_count``: how many leading handles need authorization (Part 3
    "Auth Index"); ``auth_value(handle)``: that entity's authValue without
    trailing zeros.  Returns the position of the first parameter and the
    response's authorization area; raises CommandError otherwise.
    """
    # Fast path, same result as the full parse: one empty password for one
    # entity whose authValue is empty.
    response = _EMPTY_PASSWORD_AREAS.get(cmd[pos : pos + 13])
    if response is not None and auth_count == 1 and sessions_allowed and not auth_value(handles[0]):
        return pos + 13, response
    return parse_sessions(cmd, pos, handles, auth_count, sessions_allowed, auth_value)


def parse_sessions(
    cmd: bytes,
    pos: int,
    handles: tuple[int, ...],
    auth_count: int,
    sessions_allowed: bool,
    auth_value: Callable[[int], bytes],
) -> tuple[int, bytes]:
    """The full parse behind parse_authorization (same arguments and result)."""
    auth_size, pos = take_u32(cmd, pos, TPM_RC_INSUFFICIENT)
    if auth_size < _MIN_SESSION or auth_size > len(cmd) - pos:
        raise CommandError(TPM_RC_SIZE)
    if not sessions_allowed:
        raise CommandError(TPM_RC_AUTH_CONTEXT)
    end = pos + auth_size
    passwords: list[bytes] = []
    attributes: list[int] = []
    while pos < end:
        number = len(passwords) + 1
        at = RC_S | (number << 8)
        if number > MAX_SESSION_NUM:
            raise CommandError(TPM_RC_SIZE | at)
        if pos + 4 > end:
            raise CommandError(TPM_RC_INSUFFICIENT | at)
        handle = U32.unpack_from(cmd, pos)[0]
        pos += 4
        if handle != TPM_RS_PW and not (
            HMAC_SESSION_FIRST <= handle <= HMAC_SESSION_LAST
            or POLICY_SESSION_FIRST <= handle <= POLICY_SESSION_LAST
        ):
            raise CommandError(TPM_RC_VALUE | at)
        nonce, pos = take_tpm2b(
            cmd, pos, end, MAX_DIGEST, TPM_RC_INSUFFICIENT | at, TPM_RC_SIZE | at
        )
        if pos >= end:
            raise CommandError(TPM_RC_INSUFFICIENT | at)
        attrs = cmd[pos]
        pos += 1
        if attrs & TPMA_SESSION_RESERVED:
            raise CommandError(TPM_RC_RESERVED_BITS | at)
        password, pos = take_tpm2b(
            cmd, pos, end, MAX_DIGEST, TPM_RC_INSUFFICIENT | at, TPM_RC_SIZE | at
        )
        if handle != TPM_RS_PW:
            raise CommandError(TPM_RC_REFERENCE_S0 + number - 1)
        if attrs & _PW_FORBIDDEN:
            raise CommandError(TPM_RC_ATTRIBUTES | at)
        if nonce:
            raise CommandError(TPM_RC_NONCE | at)
        passwords.append(password)
        attributes.append(attrs)
    if auth_count > len(passwords):
        raise CommandError(TPM_RC_AUTH_MISSING)
    for index, password in enumerate(passwords):
        at = RC_S | ((index + 1) << 8)
        if index >= auth_count:
            raise CommandError(TPM_RC_HANDLE | at)  # a password session must authorize
        # PCRs are exempt from dictionary-attack protection (reference
        # IsDAExempted), so a wrong password is TPM_RC_BAD_AUTH ("authorization
        # failure without DA implications", Part 2 6.6.3), not TPM_RC_AUTH_FAIL.
        if password.rstrip(b"\0") != auth_value(handles[index]):
            raise CommandError(TPM_RC_BAD_AUTH | at)
    # Response: empty nonce, attributes with continueSession, empty hmac
    # (reference BuildResponseSession sets continueSession on password sessions).
    response = b"".join(
        bytes((0, 0, a | TPMA_SESSION_CONTINUE_SESSION, 0, 0)) for a in attributes
    )
    return pos, response
