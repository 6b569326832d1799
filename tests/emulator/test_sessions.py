"""The authorization area: password sessions and malformed areas.

Every expected code below was measured on swtpm 0.7.1 / libtpms 0.9.2 with
equivalent commands (a probe run while writing the emulator) and agrees with
the reference ExecCommand.c / SessionProcess.c.
"""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.emulator import Emulator
from harness.emulator.marshal import CommandError
from harness.emulator.sessions import parse_authorization, parse_sessions

from .frames import (
    CC,
    NO_SESSIONS,
    SESSIONS,
    assert_rc,
    auth_area,
    digest_values,
    frame,
    parameters,
    pcr_extend,
    pcr_value,
    session,
)

D = [("sha1", bytes(range(20)))]
PW_RESPONSE = bytes.fromhex("0000 01 0000")


def extend16(area: bytes) -> bytes:
    return frame(SESSIONS, CC["PCR_Extend"], struct.pack(">I", 16) + area + digest_values(D))


MEASURED = {
    "authSize 8": (extend16(struct.pack(">I", 8) + session()), 0x095),
    "authSize beyond the command": (extend16(struct.pack(">I", 1000) + session()), 0x095),
    "handle not a session": (extend16(auth_area(session(handle=0x12345678))), 0x984),
    "handle after the HMAC range": (extend16(auth_area(session(handle=0x02000040))), 0x984),
    "HMAC session not loaded": (extend16(auth_area(session(handle=0x02000000))), 0x918),
    "policy session not loaded": (extend16(auth_area(session(handle=0x0300003F))), 0x918),
    "password with a nonce": (extend16(auth_area(session(nonce=b"ab"))), 0x98F),
    "password with decrypt": (extend16(auth_area(session(attrs=0x20))), 0x982),
    "password with audit": (extend16(auth_area(session(attrs=0x80))), 0x982),
    "password with auditReset": (extend16(auth_area(session(attrs=0x04))), 0x982),
    "reserved attribute bits": (extend16(auth_area(session(attrs=0x08))), 0x9A1),
    "reserved bits before attributes": (extend16(auth_area(session(attrs=0x98))), 0x9A1),
    "nonce before attributes": (extend16(auth_area(session(nonce=b"a", attrs=0x20))), 0x982),
    "wrong password": (extend16(auth_area(session(hmac=b"x"))), 0x9A2),
    "password of 64 bytes": (extend16(auth_area(session(hmac=b"a" * 64))), 0x9A2),
    "password of 65 bytes": (extend16(auth_area(session(hmac=b"a" * 65))), 0x995),
    "nonce of 65 bytes": (extend16(auth_area(session(nonce=b"a" * 65))), 0x995),
    "a second password session": (extend16(auth_area(session(), session())), 0xA8B),
    "four sessions": (extend16(auth_area(*[session()] * 4)), 0xC95),
    "area ends before the attributes": (extend16(struct.pack(">I", 9) + struct.pack(">IH", 0x40000009, 3)
                                                + b"abc"), 0x99A),
    "one byte too many in the area": (extend16(struct.pack(">I", 10) + session() + b"\0"), 0xA9A),
    "no area (tag 0x8001)": (frame(NO_SESSIONS, CC["PCR_Extend"],
                                   struct.pack(">I", 16) + digest_values(D)), 0x125),
    "tag 0x8001 on TPM_RH_NULL": (frame(NO_SESSIONS, CC["PCR_Extend"],
                                        struct.pack(">I", 0x40000007) + digest_values(D)), 0x125),
    "password on GetRandom": (frame(SESSIONS, CC["GetRandom"], auth_area() + b"\0\x10"), 0x98B),
    "password on PCR_Read": (frame(SESSIONS, CC["PCR_Read"], auth_area() + bytes(4)), 0x98B),
    "password on Shutdown": (frame(SESSIONS, CC["Shutdown"], auth_area() + b"\0\0"), 0x98B),
    "tag 0x8002 without area": (frame(SESSIONS, CC["GetRandom"], b"\0\x10"), 0x09A),
    "HMAC session on GetRandom": (frame(SESSIONS, CC["GetRandom"],
                                        auth_area(session(handle=0x02000000, attrs=0x40))
                                        + b"\0\x10"), 0x918),
    "handle error before the area": (frame(NO_SESSIONS, CC["PCR_Extend"], struct.pack(">I", 24)),
                                     0x184),
}


@pytest.mark.parametrize("case", sorted(MEASURED))
def test_malformed_or_refused_authorization_gets_the_measured_code(tpm, case):
    command, code = MEASURED[case]
    assert_rc(tpm.execute(command), code)
    assert pcr_value(tpm, "sha1", 16) == bytes(20)


def test_a_wrong_password_for_a_pcr_is_bad_auth_not_auth_fail(tpm):
    # PCRs are DA-exempt: TPM_RC_BAD_AUTH + session 1 (0x9a2), as libtpms answers.
    assert_rc(tpm.execute(pcr_extend(16, D, auth_area(session(hmac=b"secret")))), 0x9A2)


@pytest.mark.parametrize("password", [b"\0", b"\0\0\0\0"])
def test_a_password_of_zero_bytes_equals_the_empty_auth_value(tpm, password):
    response = tpm.execute(pcr_extend(16, D, auth_area(session(hmac=password))))
    assert parameters(response) == b"" and response.endswith(PW_RESPONSE)


@pytest.mark.parametrize("attrs", [0x00, 0x01])
def test_the_response_session_has_continue_session_set(tpm, attrs):
    response = tpm.execute(pcr_extend(16, D, auth_area(session(attrs=attrs))))
    assert response == bytes.fromhex("8002 00000013 00000000 00000000") + PW_RESPONSE


def test_the_authorization_check_comes_before_the_parameters(tpm):
    bad_alg = struct.pack(">IH", 1, 0x99) + bytes(20)
    command = frame(SESSIONS, CC["PCR_Extend"],
                    struct.pack(">I", 16) + auth_area(session(hmac=b"x")) + bad_alg)
    assert_rc(tpm.execute(command), 0x9A2)


def test_the_authorization_check_comes_before_the_locality(tpm):
    assert_rc(tpm.execute(pcr_extend(17, D, auth_area(session(hmac=b"x")))), 0x9A2)


@given(attrs=st.sampled_from([0, 1]), handle=st.sampled_from([0, 16, 23, 0x40000007]),
       count=st.sampled_from([0, 1, 2]), allowed=st.booleans())
def test_the_fast_path_answers_as_the_full_parse(attrs, handle, count, allowed):
    command = (struct.pack(">HII", SESSIONS, 0, 0x182) + struct.pack(">I", handle)
               + auth_area(session(attrs=attrs)) + digest_values(D))
    args = (command, 14, (handle,), count, allowed, lambda h: b"")
    outcomes = []
    for parse in (parse_authorization, parse_sessions):
        try:
            outcomes.append(parse(*args))
        except CommandError as error:
            outcomes.append(("error", error.rc))
    assert outcomes[0] == outcomes[1]


def test_an_extend_with_the_password_area_changes_the_pcr(tpm):
    digest = hashlib.sha1(b"x").digest()
    assert parameters(tpm.execute(pcr_extend(16, [("sha1", digest)]))) == b""
    assert pcr_value(tpm, "sha1", 16) == hashlib.sha1(bytes(20) + digest).digest()


def test_an_emulator_with_no_started_state_still_checks_sessions_after_the_gate():
    assert_rc(Emulator().execute(extend16(struct.pack(">I", 8) + session())), 0x100)
