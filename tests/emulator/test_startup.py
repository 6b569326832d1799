"""TPM Reset / Restart / Resume (Part 1, "TPM Operational States"; reference
StartupCommands.c) and the initial PCR values (PC Client PTP table)."""

from __future__ import annotations

import hashlib

import pytest

from harness.emulator import Emulator

from .frames import (
    BANKS,
    CC,
    CLEAR,
    NO_SESSIONS,
    SIZE,
    STATE,
    assert_rc,
    frame,
    get_random,
    parameters,
    pcr_extend,
    pcr_value,
    rc_only,
    shutdown,
    startup,
)

TPM_RC_INITIALIZE, TPM_RC_VALUE_P1, TPM_RC_LOCALITY, TPM_RC_SIZE = 0x100, 0x1C4, 0x907, 0x095
OK = rc_only(0)
D = hashlib.sha256(b"measurement").digest()


def initial(pcr: int, bank: str, locality: int = 0) -> bytes:
    """PC Client initial values: FF..FF for 17-22, else 00..00 with PCR 0's last
    byte = the startup locality."""
    size = SIZE[bank]
    if 17 <= pcr <= 22:
        return b"\xff" * size
    return bytes(size - 1) + bytes((locality if pcr == 0 else 0,))


def extend_all(tpm: Emulator, pcrs, locality: int = 3) -> None:
    for pcr in pcrs:
        assert parameters(tpm.execute(pcr_extend(pcr, [("sha256", D)]), locality)) == b""


@pytest.mark.parametrize("locality", [0, 3])
def test_tpm_reset_sets_the_initial_values(locality):
    tpm = Emulator()
    assert tpm.execute(startup(CLEAR), locality) == OK
    for bank in BANKS:
        for pcr in range(24):
            assert pcr_value(tpm, bank, pcr) == initial(pcr, bank, locality), (bank, pcr)


def test_pcr0_ends_in_03_after_startup_at_locality_3():
    tpm = Emulator()
    tpm.execute(startup(), 3)
    assert pcr_value(tpm, "sha256", 0) == bytes(31) + b"\x03"


def test_commands_keep_working_after_shutdown(tpm):
    assert tpm.execute(shutdown(CLEAR)) == OK
    assert parameters(tpm.execute(get_random(4)))
    assert parameters(tpm.execute(pcr_extend(16, [("sha256", D)]))) == b""


def test_resume_restores_pcrs_0_to_15_and_reinitialises_16_to_23(tpm):
    extend_all(tpm, [p for p in range(24) if p not in (21, 22)])  # 21, 22: locality 2 only
    saved = {p: pcr_value(tpm, "sha256", p) for p in range(24)}
    assert tpm.execute(shutdown(STATE)) == OK
    tpm.power_on()
    assert tpm.execute(startup(STATE)) == OK
    for pcr in range(16):
        assert pcr_value(tpm, "sha256", pcr) == saved[pcr]
    for pcr in range(16, 24):
        assert pcr_value(tpm, "sha256", pcr) == initial(pcr, "sha256")


def test_restart_reinitialises_every_pcr(tpm):
    extend_all(tpm, range(16))
    assert tpm.execute(shutdown(STATE)) == OK
    tpm.power_on()
    assert tpm.execute(startup(CLEAR)) == OK
    assert all(pcr_value(tpm, "sha256", p) == initial(p, "sha256") for p in range(24))


def test_reset_after_shutdown_clear_reinitialises_every_pcr(tpm):
    extend_all(tpm, range(16))
    tpm.execute(shutdown(CLEAR))
    tpm.power_on()
    assert tpm.execute(startup(CLEAR)) == OK
    assert all(pcr_value(tpm, "sha256", p) == initial(p, "sha256") for p in range(16))


@pytest.mark.parametrize("history", ["fresh", "shutdown-clear", "no-shutdown", "after-resume"])
def test_startup_state_without_a_shutdown_state_is_value_plus_parameter_1(history):
    tpm = Emulator()
    if history != "fresh":
        tpm.execute(startup())
        if history == "shutdown-clear":
            tpm.execute(shutdown(CLEAR))
        if history == "after-resume":  # a Resume consumes the saved state
            tpm.execute(shutdown(STATE))
            tpm.power_on()
            assert tpm.execute(startup(STATE)) == OK
        tpm.power_on()
    assert_rc(tpm.execute(startup(STATE)), TPM_RC_VALUE_P1)
    assert_rc(tpm.execute(get_random(1)), TPM_RC_INITIALIZE)  # still not started
    assert tpm.execute(startup(CLEAR)) == OK


@pytest.mark.parametrize("first, second", [(0, 3), (3, 0)])
def test_resume_at_another_locality_than_the_saved_startup_is_locality(first, second):
    tpm = Emulator()
    tpm.execute(startup(), first)
    tpm.execute(shutdown(STATE))
    tpm.power_on()
    assert_rc(tpm.execute(startup(STATE), second), TPM_RC_LOCALITY)
    assert tpm.execute(startup(STATE), first) == OK  # the failure changed nothing


def test_extending_a_state_saved_pcr_after_shutdown_state_cancels_the_resume(tpm):
    tpm.execute(shutdown(STATE))
    extend_all(tpm, [5], locality=0)
    tpm.power_on()
    assert_rc(tpm.execute(startup(STATE)), TPM_RC_VALUE_P1)


def test_extending_pcr_16_after_shutdown_state_keeps_the_resume(tpm):
    tpm.execute(shutdown(STATE))
    extend_all(tpm, [16], locality=0)
    tpm.power_on()
    assert tpm.execute(startup(STATE)) == OK


def test_the_saved_state_survives_several_power_cycles(tpm):
    extend_all(tpm, [7])
    value = pcr_value(tpm, "sha256", 7)
    tpm.execute(shutdown(STATE))
    for _ in range(3):
        tpm.power_on()
    assert tpm.execute(startup(STATE)) == OK
    assert pcr_value(tpm, "sha256", 7) == value


def test_power_on_without_shutdown_loses_the_pcrs(tpm):
    extend_all(tpm, [7])
    tpm.power_on()
    assert_rc(tpm.execute(pcr_extend(7, [("sha256", D)])), TPM_RC_INITIALIZE)
    assert tpm.execute(startup()) == OK
    assert pcr_value(tpm, "sha256", 7) == bytes(32)


@pytest.mark.parametrize("su", [2, 0x100, 0xFFFF])
def test_a_bad_startup_type_is_value_plus_parameter_1(su):
    command = frame(NO_SESSIONS, CC["Startup"], su.to_bytes(2, "big"))
    assert_rc(Emulator().execute(command), TPM_RC_VALUE_P1)


@pytest.mark.parametrize("su", [2, 0x8000])
def test_a_bad_shutdown_type_is_value_plus_parameter_1(tpm, su):
    assert_rc(tpm.execute(frame(NO_SESSIONS, CC["Shutdown"], su.to_bytes(2, "big"))), TPM_RC_VALUE_P1)


def test_startup_with_trailing_bytes_is_size():
    assert_rc(Emulator().execute(frame(NO_SESSIONS, CC["Startup"], b"\0\0\0")), TPM_RC_SIZE)


def test_startup_with_an_authorization_area_is_auth_context():
    body = bytes.fromhex("00000009 40000009 0000 00 0000") + b"\0\0"
    assert_rc(Emulator().execute(frame(0x8002, CC["Startup"], body)), 0x145)
