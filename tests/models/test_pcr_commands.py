"""PCR_Extend, PCR_Event, PCR_Reset, PCR_Read, GetRandom and the DRTM sequence.

Expected values are hashlib computations written here, the sheet's DRTM
vectors, and response codes from the sheet (some measured on swtpm 0.7.1 when
these tests were written: noted where so).
"""

from __future__ import annotations

import pytest

from models.ops import (ANY, Drtm, GetRandom, Outcome, PcrEvent, PcrExtend, PcrRead, PcrReadResult,
                        PcrReset, RandomResult, Startup, outcome_matches)
from models.tpm import PROFILES, TpmModel
from tests.models.expect import (ALGS, RC_HASH_P1, RC_LOCALITY, RC_SIZE_P1, RC_VALUE_H1, RH_NULL,
                                 SHA1, SHA256, SHA384, SHA512, SIZES, extended, h, ones, zeros)


def started(profile: str = "ptp", banks=ALGS) -> TpmModel:
    model = TpmModel(PROFILES[profile], banks=banks)
    assert model.apply(Startup(0)).rc == 0
    return model


def digest(alg: int, byte: int) -> bytes:
    return bytes([byte]) * SIZES[alg]


# --- PCR_Extend ------------------------------------------------------------------------

def test_extend_hashes_old_value_and_digest_per_bank():
    model = started()
    digests = tuple((alg, digest(alg, 0x30 + i)) for i, alg in enumerate(ALGS))
    assert model.apply(PcrExtend(23, digests)) == Outcome(0)
    for alg, d in digests:
        assert model.pcr(alg, 23) == extended(alg, zeros(alg), d)
    assert model.apply(PcrExtend(23, digests[1:2])).rc == 0
    assert model.pcr(SHA256, 23) == extended(SHA256, extended(SHA256, zeros(SHA256), digests[1][1]),
                                             digests[1][1])
    assert model.pcr(SHA1, 23) == extended(SHA1, zeros(SHA1), digests[0][1])


def test_extend_of_a_drtm_pcr_starts_from_ff():
    model = started()
    assert model.apply(PcrExtend(17, ((SHA384, digest(SHA384, 1)),), locality=2)).rc == 0
    assert model.pcr(SHA384, 17) == extended(SHA384, ones(SHA384), digest(SHA384, 1))


def test_the_same_bank_listed_twice_is_extended_twice():
    model = started()
    d = digest(SHA1, 7)
    model.apply(PcrExtend(16, ((SHA1, d), (SHA1, d))))
    assert model.pcr(SHA1, 16) == extended(SHA1, extended(SHA1, zeros(SHA1), d), d)
    assert model.counter_increments == 2


def test_digests_for_unallocated_banks_are_ignored():
    model = started(banks=(SHA256,))
    increments = model.counter_increments
    assert model.apply(PcrExtend(16, ((SHA1, digest(SHA1, 1)), (SHA256, digest(SHA256, 2))))).rc == 0
    assert model.pcr(SHA256, 16) == extended(SHA256, zeros(SHA256), digest(SHA256, 2))
    assert model.counter_increments - increments == 1
    assert set(model.pcr_values()) == {(SHA256, pcr) for pcr in range(24)}
    with pytest.raises(ValueError):
        model.pcr(SHA1, 16)


@pytest.mark.parametrize("locality", range(5))
def test_extend_of_the_null_handle_succeeds_and_changes_nothing(locality):
    model = started()
    before = model.pcr_values()
    assert model.apply(PcrExtend(RH_NULL, ((SHA1, digest(SHA1, 9)),), locality)).rc == 0
    assert model.pcr_values() == before and model.counter_increments == 0


@pytest.mark.parametrize("handle", [24, 31, 0x40000001, 0x81000000, 0xFFFFFFFF])
def test_extend_of_a_non_pcr_handle_is_value_handle_1_at_any_locality(handle):
    for locality in range(5):
        assert started().apply(PcrExtend(handle, (), locality)).rc == RC_VALUE_H1


@pytest.mark.parametrize("alg", [0x0012, 0x0001, 0x0010, 0x1234])  # SM3, RSA, NULL, unknown
def test_extend_with_an_unimplemented_hash_is_hash_parameter_1(alg):
    model = started()
    before = model.pcr_values()
    # Unmarshalling fails before the locality check (measured: PCR 17 at locality 0 -> 0x1c3).
    op = PcrExtend(17, ((SHA1, digest(SHA1, 1)), (alg, b"\x00" * 32)), locality=0)
    assert model.apply(op).rc == RC_HASH_P1
    assert model.pcr_values() == before


def test_extend_with_more_digests_than_hash_algorithms_is_size_parameter_1():
    model = started()
    op = PcrExtend(16, tuple((SHA1, digest(SHA1, i)) for i in range(5)))
    assert model.apply(op).rc == RC_SIZE_P1  # measured: count 5 -> 0x1d5, count 4 -> success
    assert model.apply(PcrExtend(16, op.digests[:4])).rc == 0


def test_extend_with_no_digest_succeeds_without_counting():
    model = started()
    assert model.apply(PcrExtend(16, ())).rc == 0
    assert model.pcr(SHA256, 16) == zeros(SHA256) and model.counter_increments == 0


@pytest.mark.parametrize("op", [
    PcrExtend(16, ((SHA256, b"\x00" * 31),)),
    PcrExtend(16, ((SHA1, b"\x00" * 32),)),
    PcrExtend(16, ((0x10000, b""),)),
    PcrExtend(-1, ()),
    PcrExtend(1 << 32, ()),
    PcrExtend(16, (), locality=5),
    PcrExtend(16, (), locality=-1),
], ids=str)
def test_extend_that_cannot_be_encoded_is_a_harness_error(op):
    for model in (TpmModel(), started()):
        with pytest.raises(ValueError):
            model.apply(op)


# --- PCR_Event -------------------------------------------------------------------------

def test_event_extends_every_allocated_bank_and_returns_every_implemented_digest():
    model = started(banks=(SHA1, SHA512))
    outcome = model.apply(PcrEvent(16, b"event data"))
    assert outcome == Outcome(0, tuple((alg, h(alg, b"event data")) for alg in ALGS))
    for alg in (SHA1, SHA512):
        assert model.pcr(alg, 16) == extended(alg, zeros(alg), h(alg, b"event data"))
    assert model.counter_increments == 2


def test_event_on_null_returns_digests_and_changes_nothing_at_any_locality():
    model = started()
    before = model.pcr_values()
    outcome = model.apply(PcrEvent(RH_NULL, b"abc", locality=1))
    assert outcome.rc == 0 and dict(outcome.value)[SHA1] == bytes.fromhex(
        "a9993e364706816aba3e25717850c26c9cd0d89d")  # FIPS 180 "abc"; measured on swtpm too
    assert model.pcr_values() == before


def test_event_data_limits():
    model = started()
    assert model.apply(PcrEvent(16, b"a" * 1024)).rc == 0
    assert model.apply(PcrEvent(16, b"a" * 1025)).rc == RC_SIZE_P1
    assert model.apply(PcrEvent(17, b"a" * 1025)).rc == RC_SIZE_P1  # before the locality check
    assert model.apply(PcrEvent(17, b"a")).rc == RC_LOCALITY
    assert model.apply(PcrEvent(24, b"a")).rc == RC_VALUE_H1
    with pytest.raises(ValueError):
        model.apply(PcrEvent(16, b"a" * 0x10000))


# --- PCR_Reset -------------------------------------------------------------------------

def test_reset_zeroes_every_bank():
    model = started()
    model.apply(PcrExtend(20, tuple((alg, digest(alg, 1)) for alg in ALGS), locality=1))
    assert model.apply(PcrReset(20, locality=2)).rc == 0
    assert all(model.pcr(alg, 20) == zeros(alg) for alg in ALGS)


def test_reset_of_the_null_handle_is_not_a_pcr():
    assert started().apply(PcrReset(RH_NULL)).rc == RC_VALUE_H1


def test_reset_is_refused_at_locality_4_even_where_the_mask_has_it():
    model = started()
    for pcr in (17, 18, 19, 20, 21, 22):  # reset masks 0x10 / 0x14 include locality 4
        assert model.apply(PcrReset(pcr, locality=4)).rc == RC_LOCALITY
        assert all(model.pcr(alg, pcr) == ones(alg) for alg in ALGS)


# --- PCR_Read --------------------------------------------------------------------------

def test_read_returns_at_most_eight_digests_and_says_which():
    model = started()
    for pcr in range(24):
        model.apply(PcrEvent(pcr, bytes([pcr]), locality=2 if pcr != 20 else 1))
    everything = tuple(range(24))
    outcome = model.apply(PcrRead(((SHA1, everything), (SHA256, everything))))
    # notes/swtpm.md: 24 PCRs x 2 banks -> sha1 0-7, selectionOut says which.
    assert outcome.value.selection == ((SHA1, tuple(range(8))), (SHA256, ()))
    assert outcome.value.digests == tuple(model.pcr(SHA1, p) for p in range(8))
    assert outcome.value.update_counter is ANY


def test_read_fills_across_selections_in_input_order():
    model = started()
    outcome = model.apply(PcrRead(((SHA512, (23, 0, 5)), (SHA1, (1, 2, 3, 4, 17, 9, 10)))))
    assert outcome.value.selection == ((SHA512, (0, 5, 23)), (SHA1, (1, 2, 3, 4, 9)))
    assert outcome.value.digests == (zeros(SHA512), zeros(SHA512), zeros(SHA512)) + (zeros(SHA1),) * 5


def test_read_of_an_unallocated_bank_returns_an_empty_selection():
    model = started(banks=(SHA256,))
    outcome = model.apply(PcrRead(((SHA1, (0, 1)), (SHA256, (1,)))))
    assert outcome == Outcome(0, PcrReadResult(ANY, ((SHA1, ()), (SHA256, (1,))), (zeros(SHA256),)))
    assert outcome_matches(outcome, Outcome(0, PcrReadResult(20, ((SHA1, ()), (SHA256, (1,))),
                                                             (zeros(SHA256),))))


def test_read_errors():
    model = started()
    assert model.apply(PcrRead(((SHA1, (0,)),) * 5)).rc == RC_SIZE_P1
    assert model.apply(PcrRead(((SHA1, (0,)),) * 4)).value.digests == (zeros(SHA1),) * 4  # measured
    assert model.apply(PcrRead(((SHA1, (0,)), (0x0012, (0,))))).rc == RC_HASH_P1
    assert model.apply(PcrRead(())) == Outcome(0, PcrReadResult(ANY, (), ()))
    for bad in (24, -1):
        with pytest.raises(ValueError):
            model.apply(PcrRead(((SHA1, (bad,)),)))


# --- GetRandom -------------------------------------------------------------------------

@pytest.mark.parametrize("asked,got", [(0, 0), (1, 1), (64, 64), (65, 64), (0xFFFF, 64)])
def test_get_random_returns_at_most_64_bytes(asked, got):
    assert started().apply(GetRandom(asked)) == Outcome(0, RandomResult(got, ANY))


# --- DRTM ------------------------------------------------------------------------------

def test_drtm_vectors_of_the_sheet():
    model = started()
    model.apply(PcrExtend(16, ((SHA256, digest(SHA256, 3)),)))
    model.apply(PcrExtend(20, ((SHA256, digest(SHA256, 3)),), locality=1))
    pcr16 = model.pcr(SHA256, 16)
    assert model.apply(Drtm(b"1234")) == Outcome(0)
    assert model.pcr(SHA256, 17) == bytes.fromhex(
        "fca5d649bfb0c922fd330f79b20043289dafd60d01a4c4373cf28adb56c9b454")
    assert model.pcr(SHA1, 17) == bytes.fromhex("97e976e4f22cd6d24afd212085ad7a86647f2ae5")
    for alg in ALGS:
        assert model.pcr(alg, 17) == h(alg, zeros(alg) + h(alg, b"1234"))
        for pcr in range(18, 23):
            assert model.pcr(alg, pcr) == zeros(alg)
        assert model.pcr(alg, 23) == zeros(alg)
    assert model.pcr(SHA256, 16) == pcr16


def test_drtm_abc_vector_measured_on_swtpm():
    model = started()
    model.apply(Drtm(b"abc"))
    assert model.pcr(SHA1, 17).hex() == "ccd5bd41458de644ac34a2478b58ff819bef5acf"
    assert model.pcr(SHA256, 17).hex() == "589f9ffed4c477966bfb8d41f37895b08c69047df8f911d6f3b57fbe08faee8d"


def test_platform_operations_succeed_before_and_after_startup():
    model = TpmModel()
    assert model.apply(Drtm(b"")) == Outcome(0)
    model.apply(Startup(0))
    assert model.apply(Drtm(b"")) == Outcome(0)
    with pytest.raises(TypeError):
        model.apply("PcrExtend")
