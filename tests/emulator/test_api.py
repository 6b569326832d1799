"""The public face of harness.emulator: construction, misuse, identity."""

from __future__ import annotations

import pytest

from harness.emulator import Emulator

from .frames import get_capability, get_random, parameters, pcr_read, read_pcrs, startup


def test_the_default_allocates_the_four_implemented_banks():
    assert Emulator().banks == ("sha1", "sha256", "sha384", "sha512")


def test_banks_are_kept_in_implementation_order():
    assert Emulator(banks=("sha512", "sha1")).banks == ("sha1", "sha512")


@pytest.mark.parametrize("banks", [("md5",), ("sha256", "sm3_256"), ("SHA256",)])
def test_an_unknown_bank_is_a_value_error_naming_the_implemented_ones(banks):
    with pytest.raises(ValueError, match="sha1, sha256, sha384, sha512"):
        Emulator(banks=banks)


@pytest.mark.parametrize("banks", [(), ("sha1", "sha1")])
def test_no_bank_or_a_bank_twice_is_a_value_error(banks):
    with pytest.raises(ValueError):
        Emulator(banks=banks)


def test_a_single_bank_name_instead_of_a_collection_is_a_type_error():
    with pytest.raises(TypeError):
        Emulator(banks="sha256")


def test_only_allocated_banks_are_readable():
    tpm = Emulator(banks=("sha384",))
    tpm.execute(startup())
    _, _, digests = read_pcrs(tpm.execute(pcr_read([("sha256", [0]), ("sha384", [0])])))
    assert digests == [bytes(48)]


@pytest.mark.parametrize("wrap", [bytearray, memoryview])
def test_execute_accepts_bytes_like_commands(wrap):
    tpm = Emulator()
    tpm.execute(wrap(startup()))
    assert len(parameters(tpm.execute(wrap(get_random(4))))) == 6


@pytest.mark.parametrize("command", ["8001", 12, None])
def test_execute_refuses_what_is_not_bytes(command):
    with pytest.raises(TypeError):
        Emulator().execute(command)


@pytest.mark.parametrize("locality", [-1, 5, 255])
def test_execute_refuses_a_locality_outside_0_to_4(locality):
    with pytest.raises(ValueError, match="locality"):
        Emulator().execute(startup(), locality)


def test_identity():
    assert Emulator().identity() == {
        "manufacturer": "VTPH", "vendor": "vtpm-harness", "firmware": "1.0",
        "model": "vtpm-harness emulator"}


def test_identity_matches_the_manufacturer_property():
    tpm = Emulator()
    tpm.execute(startup())
    body = parameters(tpm.execute(get_capability(6, 0x105, 1)))  # TPM_PT_MANUFACTURER
    assert body[-4:].decode() == Emulator().identity()["manufacturer"]


def test_two_emulators_share_no_state():
    one, two = Emulator(), Emulator()
    one.execute(startup())
    assert two.execute(get_random(1))[6:10] == b"\0\0\1\0"  # still TPM_RC_INITIALIZE


def test_repr_names_banks_and_mutants():
    assert repr(Emulator(banks=("sha256",), mutants=frozenset({"error-size-12"}))) == (
        "Emulator(banks=('sha256',), mutants=['error-size-12'])")
