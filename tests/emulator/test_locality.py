"""Extend/event/reset permissions per PCR and locality: the PC Client table as
measured on swtpm 0.7.1 / libtpms 0.9.2 (/work/shared/notes/swtpm.md, section 4)."""

from __future__ import annotations

import hashlib

import pytest

from harness.emulator import Emulator

from .frames import (
    assert_rc,
    get_capability,
    get_random,
    parameters,
    pcr_event,
    pcr_extend,
    pcr_read,
    pcr_reset,
    pcr_value,
    rc_only,
    startup,
)

TPM_RC_LOCALITY = 0x907
# PCR -> (extend at localities 0-4, reset at localities 0-4); o = SUCCESS, L = TPM_RC_LOCALITY.
MEASURED = {
    **{pcr: ("ooooo", "LLLLL") for pcr in range(16)},
    16: ("ooooo", "ooooL"),
    17: ("LLooo", "LLLLL"),
    18: ("LLooo", "LLLLL"),
    19: ("LLooL", "LLLLL"),
    20: ("LoooL", "LLoLL"),
    21: ("LLoLL", "LLoLL"),
    22: ("LLoLL", "LLoLL"),
    23: ("ooooo", "ooooL"),
}
INITIAL = {pcr: b"\xff" * 32 if 17 <= pcr <= 22 else bytes(32) for pcr in range(24)}
DIGEST = hashlib.sha256(b"locality").digest()


def fresh() -> Emulator:
    tpm = Emulator()
    assert tpm.execute(startup()) == rc_only(0)
    return tpm


@pytest.mark.parametrize("pcr", range(24))
@pytest.mark.parametrize("locality", range(5))
def test_extend_follows_the_measured_table(pcr, locality):
    tpm = fresh()
    response = tpm.execute(pcr_extend(pcr, [("sha256", DIGEST)]), locality)
    if MEASURED[pcr][0][locality] == "o":
        assert parameters(response) == b""
        assert pcr_value(tpm, "sha256", pcr) == hashlib.sha256(INITIAL[pcr] + DIGEST).digest()
    else:
        assert_rc(response, TPM_RC_LOCALITY)
        assert pcr_value(tpm, "sha256", pcr) == INITIAL[pcr]


@pytest.mark.parametrize("pcr", range(24))
@pytest.mark.parametrize("locality", range(5))
def test_event_uses_the_extend_permissions(pcr, locality):
    tpm = fresh()
    response = tpm.execute(pcr_event(pcr, b"event"), locality)
    if MEASURED[pcr][0][locality] == "o":
        assert parameters(response)
        expected = hashlib.sha256(INITIAL[pcr] + hashlib.sha256(b"event").digest()).digest()
        assert pcr_value(tpm, "sha256", pcr) == expected
    else:
        assert_rc(response, TPM_RC_LOCALITY)
        assert pcr_value(tpm, "sha256", pcr) == INITIAL[pcr]


@pytest.mark.parametrize("pcr", range(24))
@pytest.mark.parametrize("locality", range(5))
def test_reset_follows_the_measured_table(pcr, locality):
    tpm = fresh()
    response = tpm.execute(pcr_reset(pcr), locality)
    if MEASURED[pcr][1][locality] == "o":
        assert parameters(response) == b""
        assert pcr_value(tpm, "sha256", pcr) == bytes(32)
    else:
        assert_rc(response, TPM_RC_LOCALITY)
        assert pcr_value(tpm, "sha256", pcr) == INITIAL[pcr]


def test_reset_is_refused_at_locality_4_for_every_pcr():
    tpm = fresh()
    for pcr in range(24):
        assert_rc(tpm.execute(pcr_reset(pcr), 4), TPM_RC_LOCALITY)


@pytest.mark.parametrize("locality", [1, 2, 4])
def test_startup_outside_locality_0_and_3_is_locality_and_leaves_the_tpm_not_started(locality):
    tpm = Emulator()
    assert_rc(tpm.execute(startup(), locality), TPM_RC_LOCALITY)
    assert_rc(tpm.execute(get_random(1)), 0x100)
    assert tpm.execute(startup(), 0) == rc_only(0)


@pytest.mark.parametrize("locality", range(5))
def test_reads_random_and_capabilities_work_at_every_locality(tpm, locality):
    assert parameters(tpm.execute(get_random(8), locality))
    assert parameters(tpm.execute(pcr_read([("sha1", [0])]), locality))
    assert parameters(tpm.execute(get_capability(6, 0x100, 1), locality))


def test_locality_outside_0_to_4_is_a_usage_error(tpm):
    with pytest.raises(ValueError, match="locality"):
        tpm.execute(get_random(8), 5)
