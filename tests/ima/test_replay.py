"""IMA-REPLAY: template hashes, per-bank extends, violations and boot_aggregate, each
against hashlib written out in the test (../shared/notes/ima.md sections 4-7)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.strategies.ima import bank_sets, ima_logs
from models.ima import (
    LEGACY_PADDED_SHA1,
    PADDED_SHA1,
    PER_BANK,
    boot_aggregate,
    boot_aggregate_bank,
    digest_field,
    extend_digests,
    hash_input,
    measure,
    name_field,
    pcr_values,
    replay,
    template_hash,
    violation,
)
from models.tcg import TPM_ALG
from tests.ima.independent import MODELS, chain, extend_sequence

pytestmark = pytest.mark.requirements("IMA-REPLAY")

FILE = measure("ima-ng", [digest_field("sha256", bytes(range(32))), name_field(b"/usr/bin/dd")])


def test_measured_entry_logs_the_sha1_of_its_template_data():
    assert FILE.template_digest == hashlib.sha1(FILE.template_data).digest()
    assert template_hash(FILE, "sha256") == hashlib.sha256(FILE.template_data).digest()


def test_ima_template_hashes_the_digest_and_the_name_padded_to_256():
    entry = measure("ima", [b"\x01" * 20, b"/init"])
    expected = hashlib.sha1(b"\x01" * 20 + b"/init" + bytes(251)).digest()
    assert hash_input(entry) == b"\x01" * 20 + b"/init" + bytes(251)
    assert entry.template_digest == expected


@pytest.mark.parametrize("bank, size", [("sha1", 20), ("sha256", 32), ("sha384", 48), ("sha512", 64)])
def test_one_entry_per_bank_and_model(bank, size):
    own = hashlib.new(bank, FILE.template_data).digest()
    padded = hashlib.sha1(FILE.template_data).digest() + bytes(size - 20)
    assert replay([FILE], bank, PER_BANK) == hashlib.new(bank, bytes(size) + own).digest()
    assert replay([FILE], bank, PADDED_SHA1) == hashlib.new(bank, bytes(size) + padded).digest()


@pytest.mark.parametrize("bank, size", [("sha1", 20), ("sha256", 32), ("sha512", 64)])
def test_violations_extend_ff_of_the_bank_size_in_both_models(bank, size):
    broken = violation("ima-sig", b"/tmp/log")
    assert broken.is_violation and broken.template_digest == bytes(20)
    expected = hashlib.new(bank, bytes(size) + b"\xff" * size).digest()
    assert replay([broken], bank, PER_BANK) == replay([broken], bank, PADDED_SHA1) == expected


@pytest.mark.parametrize("bank, size", [("sha256", 32), ("sha384", 48)])
def test_pre_5_8_kernels_pad_ff_x_20_into_other_banks(bank, size):
    broken = violation("ima-ng", b"/tmp/log")
    padded_ff = b"\xff" * 20 + bytes(size - 20)
    assert replay([broken], bank, LEGACY_PADDED_SHA1) == hashlib.new(bank, bytes(size) + padded_ff).digest()
    assert replay([FILE], bank, LEGACY_PADDED_SHA1) == replay([FILE], bank, PADDED_SHA1)
    assert replay([broken], "sha1", LEGACY_PADDED_SHA1) == replay([broken], "sha1", PER_BANK)


def test_entries_for_other_pcrs_leave_pcr10_alone():
    other = measure("ima-ng", [digest_field("sha256", bytes(32)), name_field(b"/etc/x")], pcr=11)
    assert extend_digests([other, FILE], "sha1", PER_BANK) == [None, hashlib.sha1(FILE.template_data).digest()]
    assert replay([other, FILE], "sha1", PER_BANK) == replay([FILE], "sha1", PER_BANK)
    assert replay([other], "sha1", PER_BANK, pcr=11) == \
        hashlib.sha1(bytes(20) + hashlib.sha1(other.template_data).digest()).digest()


def test_replay_continues_from_a_start_value():
    start = bytes(range(32))
    assert replay([FILE], "sha256", PER_BANK, start=start) == \
        hashlib.sha256(start + hashlib.sha256(FILE.template_data).digest()).digest()
    values = pcr_values([None, b"\x01" * 32], "sha256", start)
    assert values == [start, start, hashlib.sha256(start + b"\x01" * 32).digest()]


def test_tcg_algorithm_ids_name_the_same_banks():
    assert replay([FILE], TPM_ALG.TPM_ALG_SHA256, PER_BANK) == replay([FILE], "sha256", PER_BANK)


@given(st.data(), bank_sets)
def test_replay_matches_an_independent_computation(data, banks):
    entries = data.draw(ima_logs(banks=banks, max_size=15))
    for bank in banks:
        for model in MODELS:
            assert replay(entries, bank, model) == chain(extend_sequence(entries, bank, model), bank)


def test_misuse_fails_early():
    with pytest.raises(ValueError, match="extend model"):
        replay([FILE], "sha256", "per bank")
    with pytest.raises(ValueError, match="unknown PCR bank"):
        replay([FILE], "sm3_256", PER_BANK)
    with pytest.raises(ValueError, match="start value of 20 bytes"):
        replay([FILE], "sha256", PER_BANK, start=bytes(20))


# --- boot_aggregate ---------------------------------------------------------

PCRS_SHA256 = [bytes([i]) * 32 for i in range(24)]


def test_sha1_boot_aggregate_covers_pcr0_to_7():
    pcrs = [bytes([i]) * 20 for i in range(10)]
    assert boot_aggregate(pcrs, "sha1") == hashlib.sha1(b"".join(pcrs[:8])).digest()


def test_other_banks_cover_pcr0_to_9():
    assert boot_aggregate(PCRS_SHA256, "sha256") == hashlib.sha256(b"".join(PCRS_SHA256[:10])).digest()


@pytest.mark.parametrize("banks, ima_hash, expected", [
    (("sha1", "sha256"), "sha256", "sha256"),
    (("sha1", "sha256", "sha512"), "sha512", "sha512"),
    (("sha1", "sha256"), "sha384", "sha256"),
    (("sha1",), "sha256", "sha1"),
    (("sha384",), "sha256", None),
    ((), "sha256", None),
])
def test_bank_choice_follows_the_kernel(banks, ima_hash, expected):
    assert boot_aggregate_bank(banks, ima_hash) == expected


def test_boot_aggregate_checks_its_input():
    with pytest.raises(ValueError, match="PCR0-PCR9"):
        boot_aggregate(PCRS_SHA256[:8], "sha256")
    with pytest.raises(ValueError, match="PCR3 has 20 bytes"):
        boot_aggregate(PCRS_SHA256[:3] + [bytes(20)] + PCRS_SHA256[4:], "sha256")
