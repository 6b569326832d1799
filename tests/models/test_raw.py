"""Raw command bytes: header checks, the Startup gate, decoded bodies, valid Raws refused.

Commands are built here byte by byte (Part 3 layouts, notes/swtpm.md section 5);
response codes come from the sheet and from swtpm 0.7.1 measurements.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.strategies.tpm import malformed_command
from models.ops import ANY_ERROR, Outcome, Raw, Startup
from models.tpm import PROFILES, TpmModel
from tests.models.expect import (RC_AUTH_MISSING, RC_BAD_TAG, RC_COMMAND_CODE, RC_COMMAND_SIZE,
                                 RC_INITIALIZE, RC_LOCALITY, RC_VALUE, RC_VALUE_H1, RC_VALUE_P1, SHA1)

NO_SESSIONS, SESSIONS = 0x8001, 0x8002
CC_STARTUP, CC_GET_RANDOM, CC_PCR_READ, CC_PCR_EXTEND, CC_PCR_RESET = 0x144, 0x17B, 0x17E, 0x182, 0x13D


def command(tag: int, cc: int, body: bytes = b"") -> bytes:
    return struct.pack(">HII", tag, 10 + len(body), cc) + body


def password(hmac: bytes = b"", attributes: int = 0, nonce: bytes = b"") -> bytes:
    """An authorization area with one TPM_RS_PW session (TPMS_AUTH_COMMAND)."""
    session = (struct.pack(">IH", 0x40000009, len(nonce)) + nonce + bytes([attributes])
               + struct.pack(">H", len(hmac)) + hmac)
    return struct.pack(">I", len(session)) + session


def extend_body(pcr: int, auth: bytes | None = None) -> bytes:
    auth = password() if auth is None else auth
    return struct.pack(">I", pcr) + auth + struct.pack(">IH", 1, SHA1) + b"\x11" * 20


def model(profile: str = "ptp", started: bool = True) -> TpmModel:
    m = TpmModel(PROFILES[profile])
    if started:
        m.apply(Startup(0))
    return m


def raw(data: bytes, profile: str = "ptp", started: bool = True, locality: int = 0) -> Outcome:
    m = model(profile, started)
    before = m.pcr_values()
    outcome = m.apply(Raw(data, locality=locality))
    assert m.pcr_values() == before  # a refused command changes nothing
    return outcome


@pytest.mark.parametrize("data", [b"", b"\x80", bytes(9), command(NO_SESSIONS, CC_GET_RANDOM)[:9]])
def test_fewer_than_ten_bytes_get_some_error(data):
    assert raw(data) == Outcome(ANY_ERROR)


# libtpms 0.9.2 (measured): TPM_ST constants -> BAD_TAG, other values -> VALUE.
@pytest.mark.parametrize("tag,libtpms", [
    (0x8000, RC_BAD_TAG), (0x00C4, RC_BAD_TAG), (0x8014, RC_BAD_TAG),
    (0x8003, RC_VALUE), (0x801C, RC_VALUE), (0x8029, RC_VALUE), (0x0000, RC_VALUE), (0x1234, RC_VALUE),
])
def test_bad_tags(tag, libtpms):
    data = command(tag, CC_GET_RANDOM, b"\x00\x08")
    assert raw(data, "libtpms-0.9").rc == libtpms
    assert raw(data, "ptp").rc == RC_BAD_TAG  # Part 3, 5.2 a): not a TPMI_ST_COMMAND_TAG
    assert raw(data[:-1] + b"\x00\x00", "ptp", started=False).rc == RC_BAD_TAG  # before the size check


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_command_size_must_match_and_fit(profile):
    good = command(NO_SESSIONS, CC_GET_RANDOM, b"\x00\x08")
    for size in (0, 9, 11, 13, 0xFFFFFFFF):
        bad = good[:2] + struct.pack(">I", size) + good[6:]
        assert raw(bad, profile).rc == RC_COMMAND_SIZE
    huge = command(NO_SESSIONS, CC_GET_RANDOM, b"\x00\x08" + bytes(4096 - 12 + 1))
    assert raw(huge, profile).rc == RC_COMMAND_SIZE  # 4097 bytes (measured: > 4096 -> 0x142)
    at_limit = command(NO_SESSIONS, CC_GET_RANDOM, b"\x00\x08" + bytes(4096 - 12))
    assert raw(at_limit, profile, started=False).rc == RC_INITIALIZE


@pytest.mark.parametrize("cc", [0x0, 0x11E, 0x1A0, 0x1FF, 0x20000001, 0x0001017B, 0x8000017B])
def test_codes_no_profile_implements(cc):
    for profile in PROFILES:
        for started in (False, True):
            assert raw(command(NO_SESSIONS, cc), profile, started).rc == RC_COMMAND_CODE


def test_libtpms_command_codes_measured():
    for cc in (0x123, 0x12F, 0x141, 0x179, 0x194, 0x198, 0x19A, 0x19B, 0x20000000):
        assert raw(command(NO_SESSIONS, cc), "libtpms-0.9", started=False).rc == RC_COMMAND_CODE
    for cc in (0x11F, 0x150, 0x193, 0x197):  # implemented: the Startup gate answers
        assert raw(command(NO_SESSIONS, cc), "libtpms-0.9", started=False).rc == RC_INITIALIZE
        assert raw(command(NO_SESSIONS, cc), "libtpms-0.9").rc is ANY_ERROR


def test_ptp_codes_that_may_be_unimplemented_are_open():
    assert raw(command(NO_SESSIONS, 0x150), "ptp", started=False).rc is ANY_ERROR
    assert raw(command(NO_SESSIONS, CC_GET_RANDOM, b"\x00\x08"), "ptp", started=False).rc == RC_INITIALIZE


def test_startup_gate():
    assert raw(command(NO_SESSIONS, CC_STARTUP, b"\x00\x00")).rc == RC_INITIALIZE
    assert raw(command(NO_SESSIONS, CC_STARTUP, b"\x00\x07")).rc == RC_INITIALIZE  # gate first
    assert raw(command(NO_SESSIONS, CC_STARTUP, b"\x00\x07"), started=False).rc == RC_VALUE_P1
    assert raw(command(NO_SESSIONS, CC_STARTUP, b"\x00\x00"), started=False, locality=2).rc == RC_LOCALITY
    assert raw(command(NO_SESSIONS, CC_STARTUP, b"\x00"), started=False).rc is ANY_ERROR  # measured 0x1da


@pytest.mark.parametrize("data", [
    command(NO_SESSIONS, CC_GET_RANDOM, b"\x00\x10"),
    command(NO_SESSIONS, CC_PCR_READ, struct.pack(">IHB", 1, SHA1, 3) + b"\x01\x00\x00"),
    command(NO_SESSIONS, 0x17A, struct.pack(">III", 6, 0x105, 1)),
    command(NO_SESSIONS, 0x145, b"\x00\x01"),
    command(SESSIONS, CC_PCR_EXTEND, extend_body(16)),
    command(SESSIONS, CC_PCR_EXTEND, extend_body(16, password(attributes=1))),  # continueSession
    command(SESSIONS, CC_PCR_EXTEND, extend_body(16, password(hmac=bytes(64)))),  # zeros: measured
    command(SESSIONS, CC_PCR_EXTEND, extend_body(0x40000007)),
    command(SESSIONS, CC_PCR_RESET, struct.pack(">I", 16) + password()),
    command(SESSIONS, 0x13C, struct.pack(">I", 16) + password() + b"\x00\x03abc"),
], ids=lambda d: d[6:10].hex())
def test_a_valid_command_is_refused_as_a_harness_bug(data):
    with pytest.raises(ValueError, match="valid command"):
        model().apply(Raw(data, kind="not-really-malformed"))


def test_a_valid_startup_before_startup_is_refused_too():
    with pytest.raises(ValueError):
        model(started=False).apply(Raw(command(NO_SESSIONS, CC_STARTUP, b"\x00\x00")))


def test_decoded_commands_that_fail_get_the_exact_code():
    assert raw(command(SESSIONS, CC_PCR_EXTEND, extend_body(17)), locality=0).rc == RC_LOCALITY
    assert raw(command(SESSIONS, CC_PCR_EXTEND, extend_body(24))).rc == RC_VALUE_H1
    assert raw(command(SESSIONS, CC_PCR_RESET, struct.pack(">I", 0x40000007) + password())).rc == RC_VALUE_H1
    # Measured: the handle is checked before a missing authorization.
    assert raw(command(NO_SESSIONS, CC_PCR_EXTEND, struct.pack(">II", 24, 0))).rc == RC_VALUE_H1
    assert raw(command(NO_SESSIONS, CC_PCR_EXTEND, struct.pack(">II", 16, 0))).rc == RC_AUTH_MISSING
    assert raw(command(NO_SESSIONS, CC_PCR_RESET, struct.pack(">I", 0x40000007))).rc == RC_VALUE_H1


@pytest.mark.parametrize("data", [
    command(SESSIONS, CC_GET_RANDOM, password() + b"\x00\x08"),  # measured 0x98b
    command(NO_SESSIONS, CC_GET_RANDOM, b"\x00\x08\x00"),  # trailing byte
    command(NO_SESSIONS, 0x145, b"\x00"),  # Shutdown, short
    command(NO_SESSIONS, CC_PCR_READ, struct.pack(">IHB", 1, SHA1, 4) + bytes(4)),  # sizeofSelect 4
    command(NO_SESSIONS, CC_PCR_READ, struct.pack(">IHB", 1, SHA1, 2) + bytes(2)),
    command(SESSIONS, CC_PCR_EXTEND, extend_body(16, password(attributes=0x20))),  # measured 0x982
    command(SESSIONS, CC_PCR_EXTEND, extend_body(16, password(hmac=b"\x01"))),  # measured 0x9a2
    command(SESSIONS, CC_PCR_EXTEND, extend_body(16, password(hmac=bytes(65)))),  # measured 0x995
    command(SESSIONS, CC_PCR_EXTEND, extend_body(16, password(nonce=b"n"))),  # measured 0x98f
    command(SESSIONS, CC_PCR_EXTEND, extend_body(16, password() + password()[4:])),
    command(SESSIONS, CC_PCR_EXTEND, extend_body(16) + b"\x00"),
    command(SESSIONS, CC_PCR_EXTEND, struct.pack(">I", 16) + password() + struct.pack(">IH", 1, 0x12) + bytes(32)),
    command(SESSIONS, CC_PCR_EXTEND, b"\x00\x00"),
])
def test_malformed_bodies_get_some_error(data):
    assert raw(data) == Outcome(ANY_ERROR)


@settings(max_examples=300, deadline=None)
@given(op=malformed_command(), profile=st.sampled_from(sorted(PROFILES)), started=st.booleans())
def test_the_harness_malformed_commands_are_predicted_to_fail(op, profile, started):
    outcome = raw(op.data, profile, started, op.locality)
    assert outcome.rc is ANY_ERROR or outcome.rc != 0
