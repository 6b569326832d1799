"""Header checks and the Startup gate, in their order (Part 3, 5; reference ExecCommand.c)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.emulator import Emulator

from .frames import (
    CC,
    NO_SESSIONS,
    assert_rc,
    frame,
    get_capability,
    get_random,
    pcr_event,
    pcr_extend,
    pcr_read,
    pcr_reset,
    rc_only,
    shutdown,
    startup,
)

TPM_RC_INITIALIZE, TPM_RC_COMMAND_SIZE, TPM_RC_COMMAND_CODE = 0x100, 0x142, 0x143
TPM_RC_BAD_TAG, TPM_RC_VALUE, TPM_RC_INSUFFICIENT = 0x01E, 0x084, 0x09A

EVERY_COMMAND = {
    "Shutdown": shutdown(), "PCR_Extend": pcr_extend(16, [("sha256", bytes(32))]),
    "PCR_Event": pcr_event(16, b"x"), "PCR_Reset": pcr_reset(16),
    "PCR_Read": pcr_read([("sha256", [0])]), "GetRandom": get_random(8),
    "GetCapability": get_capability(6, 0x100, 1),
}


def with_tag(command: bytes, tag: int) -> bytes:
    return struct.pack(">H", tag) + command[2:]


@given(st.integers(0, 0xFFFF).filter(lambda t: t not in (0x8001, 0x8002)))
def test_a_tag_other_than_the_two_command_tags_is_bad_tag(tag):
    # Part 3, 5.2 a) and the reference TPMI_ST_COMMAND_TAG_Unmarshal (TPM_ST is not
    # range-checked there).  libtpms differs: 0x0000 or 0x1234 -> TPM_RC_VALUE.
    assert_rc(Emulator().execute(with_tag(get_random(8), tag)), TPM_RC_BAD_TAG)


def test_the_tag_is_checked_before_the_size(tpm):
    assert_rc(tpm.execute(with_tag(get_random(8), 0x1234) + b"junk"), TPM_RC_BAD_TAG)


@pytest.mark.parametrize("delta", [-1, 1, 100])
def test_a_command_size_other_than_the_bytes_received_is_command_size(tpm, delta):
    command = bytearray(get_random(8))
    struct.pack_into(">I", command, 2, len(command) + delta)
    assert_rc(tpm.execute(bytes(command)), TPM_RC_COMMAND_SIZE)


def test_a_command_over_4096_bytes_is_command_size_even_when_consistent(tpm):
    body = struct.pack(">I", 16) + bytes(4100)
    assert_rc(tpm.execute(frame(NO_SESSIONS, CC["PCR_Extend"], body)), TPM_RC_COMMAND_SIZE)


def test_an_unimplemented_command_code_is_command_code(tpm):
    assert_rc(tpm.execute(frame(NO_SESSIONS, 0x199, b"\0\0")), TPM_RC_COMMAND_CODE)


def test_the_command_code_is_checked_before_the_startup_gate():
    assert_rc(Emulator().execute(frame(NO_SESSIONS, 0x199)), TPM_RC_COMMAND_CODE)


@pytest.mark.parametrize("data, code", [
    (b"", TPM_RC_INSUFFICIENT),
    (b"\x80", TPM_RC_INSUFFICIENT),
    (b"\x12\x34\0\0", TPM_RC_BAD_TAG),  # the tag is judged as soon as 2 bytes are there
    (b"\x80\x01\0\0\0", TPM_RC_INSUFFICIENT),  # no whole commandSize
    (b"\x80\x01\0\0\0\x0a\0\0\x01", TPM_RC_COMMAND_SIZE),  # says 10, 9 received
    (b"\x80\x01\0\0\0\x09\0\0\x01", TPM_RC_INSUFFICIENT),  # consistent, no command code
])
def test_fewer_than_10_bytes_get_an_error_response(data, code):
    assert_rc(Emulator().execute(data), code)


@pytest.mark.parametrize("name", sorted(EVERY_COMMAND))
def test_every_command_before_startup_is_tpm_rc_initialize(name):
    assert_rc(Emulator().execute(EVERY_COMMAND[name]), TPM_RC_INITIALIZE)


@pytest.mark.parametrize("locality", range(5))
def test_nothing_but_startup_runs_before_startup_at_any_locality(locality):
    tpm = Emulator()
    for command in EVERY_COMMAND.values():
        assert_rc(tpm.execute(command, locality), TPM_RC_INITIALIZE)
    assert tpm.execute(startup()) == rc_only(0)


def test_a_second_startup_is_tpm_rc_initialize(tpm):
    assert_rc(tpm.execute(startup()), TPM_RC_INITIALIZE)
    assert_rc(tpm.execute(startup(1)), TPM_RC_INITIALIZE)


def test_the_startup_gate_comes_before_parameter_checks():
    # A malformed Shutdown (bad TPM_SU) before Startup is still TPM_RC_INITIALIZE.
    assert_rc(Emulator().execute(frame(NO_SESSIONS, CC["Shutdown"], b"\0\7")), TPM_RC_INITIALIZE)
