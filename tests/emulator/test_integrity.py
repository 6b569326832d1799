"""TPM2_PCR_Extend, _Event, _Reset and _Read against digests computed here with hashlib."""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.emulator import Emulator

from .frames import (
    ALG,
    BANKS,
    CC,
    SESSIONS,
    SIZE,
    TPM_RH_NULL,
    assert_rc,
    auth_area,
    extended,
    frame,
    parameters,
    pcr_event,
    pcr_extend,
    pcr_read,
    pcr_reset,
    pcr_value,
    read_pcrs,
    rc_only,
    startup,
    update_counter,
)

PW_RESPONSE = bytes.fromhex("0000 01 0000")  # empty nonce, continueSession, empty hmac
TPM_RC_HASH_P1, TPM_RC_VALUE_P1, TPM_RC_SIZE_P1 = 0x1C3, 0x1C4, 0x1D5
TPM_RC_INSUFFICIENT_P1, TPM_RC_SIZE, TPM_RC_VALUE_H1 = 0x1DA, 0x095, 0x184


def started(banks=BANKS) -> Emulator:
    tpm = Emulator(banks=banks)
    assert tpm.execute(startup()) == rc_only(0)
    return tpm


def test_extend_then_read_is_h_of_zeros_and_digest_in_every_bank(tpm):
    digests = [(b, hashlib.new(b, b"event").digest()) for b in BANKS]
    response = tpm.execute(pcr_extend(16, digests))
    assert response == bytes.fromhex("8002 00000013 00000000 00000000") + PW_RESPONSE
    for bank, digest in digests:
        assert pcr_value(tpm, bank, 16) == hashlib.new(bank, bytes(SIZE[bank]) + digest).digest()


def test_sha256_extend_matches_the_spec_formula(tpm):
    digest = hashlib.sha256(b"kernel").digest()
    tpm.execute(pcr_extend(10, [("sha256", digest)]))
    assert pcr_value(tpm, "sha256", 10) == hashlib.sha256(b"\0" * 32 + digest).digest()
    assert pcr_value(tpm, "sha1", 10) == bytes(20)  # banks not listed are not extended


@settings(max_examples=50)
@given(st.lists(st.tuples(st.sampled_from(BANKS), st.binary(min_size=64, max_size=64)),
                min_size=1, max_size=12),
       st.integers(0, 15))
def test_a_sequence_of_extends_chains_per_bank(extends, pcr):
    tpm = started()
    expected = {b: bytes(SIZE[b]) for b in BANKS}
    for bank, raw in extends:
        digest = raw[:SIZE[bank]]
        assert parameters(tpm.execute(pcr_extend(pcr, [(bank, digest)]))) == b""
        expected[bank] = extended(expected[bank], digest, bank)
    for bank in BANKS:
        assert pcr_value(tpm, bank, pcr) == expected[bank]


def test_a_digest_for_an_unallocated_bank_is_ignored():
    tpm = started(("sha256",))
    d1, d256 = bytes(range(20)), bytes(range(32))
    assert parameters(tpm.execute(pcr_extend(16, [("sha1", d1), ("sha256", d256)]))) == b""
    assert pcr_value(tpm, "sha256", 16) == extended(bytes(32), d256, "sha256")


def test_extend_of_tpm_rh_null_succeeds_and_changes_nothing(tpm):
    before = tpm.execute(pcr_read([("sha256", list(range(8)))]))
    assert parameters(tpm.execute(pcr_extend(TPM_RH_NULL, [("sha256", bytes(32))]))) == b""
    assert tpm.execute(pcr_read([("sha256", list(range(8)))])) == before


@pytest.mark.parametrize("handle", [24, 0x100, 0x40000001, 0xFFFFFFFF])
def test_extend_of_a_handle_that_is_no_pcr_is_value_plus_handle_1(tpm, handle):
    assert_rc(tpm.execute(pcr_extend(handle, [("sha256", bytes(32))])), TPM_RC_VALUE_H1)


def test_reset_of_tpm_rh_null_is_value_plus_handle_1(tpm):
    assert_rc(tpm.execute(pcr_reset(TPM_RH_NULL)), TPM_RC_VALUE_H1)


@pytest.mark.parametrize("alg", [0x0000, 0x0001, 0x0005, 0x0010, 0x0012, 0x000E])
def test_extend_with_an_unimplemented_hash_is_hash_plus_parameter_1(tpm, alg):
    body = struct.pack(">I", 16) + auth_area() + struct.pack(">IH", 1, alg) + bytes(32)
    assert_rc(tpm.execute(frame(SESSIONS, CC["PCR_Extend"], body)), TPM_RC_HASH_P1)


def test_extend_with_more_digests_than_hash_algorithms_is_size_plus_parameter_1(tpm):
    digests = [("sha1", bytes(20))] * 5
    assert_rc(tpm.execute(pcr_extend(16, digests)), TPM_RC_SIZE_P1)


def test_extend_with_a_short_digest_is_insufficient_plus_parameter_1(tpm):
    assert_rc(tpm.execute(pcr_extend(16, [("sha256", bytes(31))])), TPM_RC_INSUFFICIENT_P1)


def test_extend_with_trailing_bytes_is_tpm_rc_size_and_changes_nothing(tpm):
    assert_rc(tpm.execute(pcr_extend(16, [("sha256", bytes(33))])), TPM_RC_SIZE)
    assert pcr_value(tpm, "sha256", 16) == bytes(32)


def test_extend_with_an_empty_list_succeeds(tpm):
    assert parameters(tpm.execute(pcr_extend(16, []))) == b""


def test_event_extends_every_bank_and_answers_every_implemented_digest():
    tpm = started(("sha1", "sha256"))
    data = b"measured event"
    body = parameters(tpm.execute(pcr_event(16, data)))
    expected = struct.pack(">I", 4) + b"".join(
        struct.pack(">H", ALG[b]) + hashlib.new(b, data).digest() for b in BANKS)
    assert body == expected
    for bank in ("sha1", "sha256"):
        digest = hashlib.new(bank, data).digest()
        assert pcr_value(tpm, bank, 16) == extended(bytes(SIZE[bank]), digest, bank)


def test_event_on_tpm_rh_null_answers_the_digests_and_extends_nothing(tpm):
    before = tpm.execute(pcr_read([("sha256", list(range(24)))]))
    counter = update_counter(tpm)
    body = parameters(tpm.execute(pcr_event(TPM_RH_NULL, b"abc")))
    assert hashlib.sha256(b"abc").digest() in body
    assert tpm.execute(pcr_read([("sha256", list(range(24)))])) == before
    assert update_counter(tpm) == counter


def test_event_data_of_1024_bytes_is_accepted_and_1025_is_size_plus_parameter_1(tpm):
    assert parameters(tpm.execute(pcr_event(16, bytes(1024))))
    assert_rc(tpm.execute(pcr_event(16, bytes(1025))), TPM_RC_SIZE_P1)


def test_event_response_carries_parameter_size_and_the_password_session(tpm):
    response = tpm.execute(pcr_event(16, b"x"))
    (param_size,) = struct.unpack_from(">I", response, 10)
    assert param_size == 4 + sum(2 + n for n in SIZE.values())
    assert response[14 + param_size:] == PW_RESPONSE
    assert struct.unpack_from(">I", response, 2)[0] == len(response)


@pytest.mark.parametrize("pcr, locality", [(16, 0), (23, 3), (20, 2), (21, 2), (22, 2)])
def test_reset_sets_zeros_in_every_bank(tpm, pcr, locality):
    assert parameters(tpm.execute(pcr_extend(pcr, [(b, bytes(SIZE[b])) for b in BANKS]), locality)) == b""
    assert pcr_value(tpm, "sha256", pcr) not in (bytes(32), b"\xff" * 32)
    assert parameters(tpm.execute(pcr_reset(pcr), locality)) == b""
    for bank in BANKS:
        assert pcr_value(tpm, bank, pcr) == bytes(SIZE[bank])


def test_read_returns_at_most_8_digests_and_clears_the_rest_from_the_selection(tpm):
    counter, selection, digests = read_pcrs(
        tpm.execute(pcr_read([("sha1", list(range(24))), ("sha256", list(range(24)))])))
    assert len(digests) == 8
    assert selection == [(ALG["sha1"], 3, 0x0000FF), (ALG["sha256"], 3, 0)]
    assert digests == [bytes(20)] * 8  # PCRs 0-7 after Startup at locality 0


def test_read_fills_across_selections_in_input_order(tpm):
    _, selection, digests = read_pcrs(
        tpm.execute(pcr_read([("sha256", [17, 3]), ("sha1", [1, 2, 5, 7, 9, 11, 13, 15])])))
    assert selection == [(ALG["sha256"], 3, (1 << 3) | (1 << 17)),
                         (ALG["sha1"], 3, sum(1 << p for p in (1, 2, 5, 7, 9, 11)))]
    assert digests[:2] == [bytes(32), b"\xff" * 32]  # ascending PCR order within a selection
    assert len(digests) == 8


def test_read_of_an_unallocated_bank_returns_an_empty_selection():
    tpm = started(("sha256",))
    _, selection, digests = read_pcrs(tpm.execute(pcr_read([("sha1", [0, 1]), ("sha256", [1])])))
    assert selection == [(ALG["sha1"], 3, 0), (ALG["sha256"], 3, 2)]
    assert digests == [bytes(32)]


def test_read_of_the_same_bank_twice_reads_it_twice(tpm):
    _, selection, digests = read_pcrs(tpm.execute(pcr_read([("sha1", [16]), ("sha1", [16])])))
    assert len(selection) == 2 and digests == [bytes(20), bytes(20)]


@pytest.mark.parametrize("size_of_select", [0, 1, 2, 4])
def test_read_with_sizeof_select_other_than_3_is_value_plus_parameter_1(tpm, size_of_select):
    body = struct.pack(">IHB", 1, ALG["sha1"], size_of_select) + bytes(size_of_select)
    assert_rc(tpm.execute(frame(0x8001, CC["PCR_Read"], body)), TPM_RC_VALUE_P1)


def test_read_of_an_unimplemented_hash_is_hash_plus_parameter_1(tpm):
    body = struct.pack(">IHB", 1, 0x0010, 3) + b"\1\0\0"
    assert_rc(tpm.execute(frame(0x8001, CC["PCR_Read"], body)), TPM_RC_HASH_P1)


def test_read_of_five_selections_is_size_plus_parameter_1(tpm):
    assert_rc(tpm.execute(pcr_read([("sha1", [0])] * 5)), TPM_RC_SIZE_P1)


def test_update_counter_counts_each_bank_extended_and_each_reset(tpm):
    start = update_counter(tpm)
    tpm.execute(pcr_extend(16, [("sha1", bytes(20)), ("sha256", bytes(32))]))
    assert update_counter(tpm) == start + 2
    tpm.execute(pcr_event(16, b"x"))  # four allocated banks
    assert update_counter(tpm) == start + 6
    tpm.execute(pcr_reset(16))  # one change, whatever the number of banks
    assert update_counter(tpm) == start + 7


@pytest.mark.parametrize("pcr", [20, 21, 22])
def test_update_counter_ignores_the_tcb_group_pcr_20_to_22(tpm, pcr):
    start = update_counter(tpm)
    tpm.execute(pcr_extend(pcr, [(b, bytes(SIZE[b])) for b in BANKS]), 2)
    tpm.execute(pcr_reset(pcr), 2)
    assert update_counter(tpm) == start


def test_update_counter_is_not_changed_by_a_refused_extend(tpm):
    start = update_counter(tpm)
    assert_rc(tpm.execute(pcr_extend(17, [("sha256", bytes(32))]), 0), 0x907)
    assert update_counter(tpm) == start


# Truncated parameter areas: TPM_RC_INSUFFICIENT + parameter 1 (0x1da) wherever
# the bytes run out (each also measured on swtpm 0.7.1).
@pytest.mark.parametrize("params", ["", "00000001", "000000010004", "00000001000403", "0000000100040301"])
def test_a_truncated_pcr_selection_is_insufficient_plus_parameter_1(tpm, params):
    assert_rc(tpm.execute(frame(0x8001, CC["PCR_Read"], bytes.fromhex(params))), TPM_RC_INSUFFICIENT_P1)


@pytest.mark.parametrize("params", ["", "000000", "00000001", "0000000100", "000000010004"])
def test_a_truncated_digest_list_is_insufficient_plus_parameter_1(tpm, params):
    command = frame(SESSIONS, CC["PCR_Extend"], struct.pack(">I", 16) + auth_area() + bytes.fromhex(params))
    assert_rc(tpm.execute(command), TPM_RC_INSUFFICIENT_P1)


@pytest.mark.parametrize("params", ["", "00", "00056162"])
def test_truncated_event_data_is_insufficient_plus_parameter_1(tpm, params):
    command = frame(SESSIONS, CC["PCR_Event"], struct.pack(">I", 16) + auth_area() + bytes.fromhex(params))
    assert_rc(tpm.execute(command), TPM_RC_INSUFFICIENT_P1)


def test_a_truncated_handle_area_is_insufficient_plus_handle_1(tpm):
    assert_rc(tpm.execute(frame(SESSIONS, CC["PCR_Extend"], b"\0\0")), 0x19A)
