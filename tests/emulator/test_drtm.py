"""_TPM_Hash_Start/Data/End: DRTM after Startup, H-CRTM before it.

Vectors from /work/shared/notes/tpm-spec.md section 4 (swtpm 0.7.1 matched);
the formulas are recomputed here with hashlib as well.
"""

from __future__ import annotations

import hashlib

import pytest

from harness.emulator import Emulator

from .frames import (
    BANKS,
    CLEAR,
    SIZE,
    STATE,
    assert_rc,
    parameters,
    pcr_extend,
    pcr_value,
    rc_only,
    shutdown,
    startup,
)

OK = rc_only(0)
DRTM_1234_SHA256 = "fca5d649bfb0c922fd330f79b20043289dafd60d01a4c4373cf28adb56c9b454"
DRTM_1234_SHA1 = "97e976e4f22cd6d24afd212085ad7a86647f2ae5"
HCRTM_CRTM_SHA256 = "aad316f5fd06d8b8bde198c7a5fe3307f672cb57e28fe68902cd2d986b3cca21"


def test_drtm_vector_for_1234(tpm):
    tpm.drtm(b"1234")
    assert pcr_value(tpm, "sha256", 17).hex() == DRTM_1234_SHA256
    assert pcr_value(tpm, "sha1", 17).hex() == DRTM_1234_SHA1


@pytest.mark.parametrize("bank", BANKS)
def test_drtm_sets_pcr17_to_h_of_zeros_and_h_data_in_every_bank(tpm, bank):
    tpm.drtm(b"late launch")
    size = SIZE[bank]
    expected = hashlib.new(bank, bytes(size) + hashlib.new(bank, b"late launch").digest()).digest()
    assert pcr_value(tpm, bank, 17) == expected


def test_drtm_resets_pcrs_18_to_22_and_leaves_the_others(tpm):
    for pcr, locality in [(18, 3), (19, 2), (20, 1), (21, 2), (22, 2), (16, 0), (23, 0), (10, 0)]:
        assert parameters(tpm.execute(pcr_extend(pcr, [("sha256", bytes(32))]), locality)) == b""
    before = {p: pcr_value(tpm, "sha256", p) for p in (10, 16, 23)}
    tpm.drtm(b"x")
    for pcr in range(18, 23):
        assert pcr_value(tpm, "sha256", pcr) == bytes(32), pcr
    assert {p: pcr_value(tpm, "sha256", p) for p in (10, 16, 23)} == before


def test_hcrtm_vector_for_crtm():
    tpm = Emulator()
    tpm.drtm(b"crtm")
    assert tpm.execute(startup(CLEAR)) == OK
    assert pcr_value(tpm, "sha256", 0).hex() == HCRTM_CRTM_SHA256
    assert pcr_value(tpm, "sha256", 17) == b"\xff" * 32


@pytest.mark.parametrize("bank", BANKS)
@pytest.mark.parametrize("locality", [0, 3])
def test_hcrtm_pcr0_is_h_of_00_04_and_h_data_whatever_the_startup_locality(bank, locality):
    tpm = Emulator(banks=(bank,))
    tpm.drtm(b"firmware")
    assert tpm.execute(startup(CLEAR), locality) == OK
    size = SIZE[bank]
    start = bytes(size - 1) + b"\x04"
    expected = hashlib.new(bank, start + hashlib.new(bank, b"firmware").digest()).digest()
    assert pcr_value(tpm, bank, 0) == expected


def test_hcrtm_is_forgotten_at_power_on():
    tpm = Emulator()
    tpm.drtm(b"crtm")
    tpm.power_on()
    assert tpm.execute(startup(CLEAR)) == OK
    assert pcr_value(tpm, "sha256", 0) == bytes(32)


def test_resume_restores_the_hcrtm_pcr0():
    tpm = Emulator()
    tpm.drtm(b"crtm")
    tpm.execute(startup(CLEAR))
    tpm.execute(shutdown(STATE))
    tpm.power_on()
    tpm.drtm(b"crtm")
    assert tpm.execute(startup(STATE)) == OK
    assert pcr_value(tpm, "sha256", 0).hex() == HCRTM_CRTM_SHA256


@pytest.mark.parametrize("before, now", [(True, False), (False, True)])
def test_resume_with_a_different_hcrtm_status_is_value_plus_parameter_1(before, now):
    tpm = Emulator()
    if before:
        tpm.drtm(b"crtm")
    tpm.execute(startup(CLEAR))
    tpm.execute(shutdown(STATE))
    tpm.power_on()
    if now:
        tpm.drtm(b"crtm")
    assert_rc(tpm.execute(startup(STATE)), 0x1C4)


def test_hcrtm_makes_the_startup_locality_count_as_0():
    # Reference TPM2_Startup: after an H-CRTM the locality is treated as 0, so a
    # Resume at locality 0 matches a saved Startup at locality 3 (swtpm 0.7.1 agrees).
    tpm = Emulator()
    tpm.drtm(b"crtm")
    assert tpm.execute(startup(CLEAR), 3) == OK
    tpm.execute(shutdown(STATE))
    tpm.power_on()
    tpm.drtm(b"crtm")
    assert tpm.execute(startup(STATE), 0) == OK


def test_drtm_accepts_a_bytearray_and_refuses_text(tpm):
    tpm.drtm(bytearray(b"1234"))
    assert pcr_value(tpm, "sha256", 17).hex() == DRTM_1234_SHA256
    with pytest.raises(TypeError):
        tpm.drtm("1234")
