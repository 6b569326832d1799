"""The verifier's rules one by one; PCR values come from tests/ima/independent.py (hashlib)."""

from __future__ import annotations

import hashlib

import pytest

from models.ima import PADDED_SHA1, PER_BANK, StartMode, digest_field, measure, name_field, violation, verify, \
    verify_split
from tests.ima.independent import chain, extend_sequence

pytestmark = pytest.mark.requirements("IMA-REPLAY", "HANDOFF-VERIFIABLE")


def files(count: int, pcr: int = 10, start: int = 0):
    return [measure("ima-sig", [digest_field("sha256", bytes([i]) * 32), name_field(b"/usr/bin/f%d" % i), b""],
                    pcr=pcr) for i in range(start, start + count)]


LOG = files(6)


def quote(entries, banks=("sha1", "sha256"), model=PER_BANK, start=None):
    """PCR10 per bank after ``entries`` (independently computed)."""
    value = {}
    for bank in banks:
        begin = None if start is None else start[bank]
        value[bank] = chain(extend_sequence(entries, bank, PER_BANK if bank == "sha1" else model), bank, begin)
    return value


def test_a_list_running_ahead_is_verified_with_its_trailing_entries():
    verdict = verify(LOG, quote(LOG[:4]))
    assert verdict.ok and (verdict.matched_prefix, verdict.trailing) == (4, 2)
    assert verdict.models == {"sha1": PER_BANK, "sha256": PER_BANK}
    assert "2 entries trailing" in verdict.reason


def test_a_list_behind_the_pcr_is_not_verified():
    verdict = verify(LOG[:3], quote(LOG[:4]))
    assert not verdict.ok and (verdict.matched_prefix, verdict.trailing) == (0, 0)
    assert "matches no prefix" in verdict.reason


def test_entries_for_other_pcrs_after_the_match_count_as_matched():
    entries = LOG[:3] + files(2, pcr=11, start=20) + LOG[3:]
    verdict = verify(entries, quote(LOG[:3]))
    assert verdict.ok and verdict.matched_prefix == 5 and verdict.trailing == 3


def test_an_edited_entry_is_named_even_when_it_trails():
    forged = LOG[5]._replace(template_data=LOG[5].template_data.replace(b"/usr/bin/f5", b"/usr/bin/f6"))
    verdict = verify(LOG[:5] + [forged], quote(LOG[:4]))
    assert not verdict.ok and verdict.bad_entry == 5
    assert "entry 5" in verdict.reason and "not the SHA-1 of its template data" in verdict.reason


def test_violations_are_replayed_as_ff_and_need_no_digest_check():
    entries = [LOG[0], violation("ima-sig", b"/var/log/x"), LOG[1]]
    expected = {bank: chain([hashlib.new(bank, entries[0].template_data).digest(), b"\xff" * size,
                             hashlib.new(bank, entries[2].template_data).digest()], bank)
                for bank, size in (("sha1", 20), ("sha256", 32))}
    assert verify(entries, expected).ok


def test_all_banks_of_one_quote_must_match_the_same_prefix():
    mixed = {"sha1": quote(LOG[:3])["sha1"], "sha256": quote(LOG[:4])["sha256"]}
    verdict = verify(LOG, mixed)
    assert not verdict.ok and "different prefixes" in verdict.reason
    # And every bank must match: a right sha256 value does not carry a wrong sha1 one
    # (evmctl 1.4 accepts this when sha256 matches at the last entry).
    wrong_sha1 = {"sha1": b"\x01" * 20, "sha256": quote(LOG)["sha256"]}
    assert not verify(LOG, wrong_sha1).ok


def test_the_padded_model_is_detected_per_bank():
    value = quote(LOG, banks=("sha1", "sha256", "sha384"), model=PADDED_SHA1)
    verdict = verify(LOG, value)
    assert verdict.ok and verdict.models == {"sha1": PER_BANK, "sha256": PADDED_SHA1, "sha384": PADDED_SHA1}
    assert not verify(LOG, value, model=PER_BANK).ok
    assert verify(LOG, value, model={"sha256": PADDED_SHA1, "sha384": PADDED_SHA1}).ok


def test_a_bank_cannot_switch_models_mid_list():
    sequence = extend_sequence(LOG[:3], "sha256", PER_BANK) + extend_sequence(LOG[3:], "sha256", PADDED_SHA1)
    assert not verify(LOG, {"sha256": chain(sequence, "sha256")}).ok


def test_an_empty_list_matches_only_a_zero_pcr():
    assert verify([], {"sha256": bytes(32)}).ok
    assert not verify([], {"sha256": b"\x01" * 32}).ok


def test_a_per_bank_list_checks_its_bank_digests_and_fixes_the_model():
    per_bank = [e._replace(template_digest=hashlib.sha256(e.template_data).digest()) for e in LOG]
    assert verify(per_bank, quote(LOG, banks=("sha256",)), log_bank="sha256").ok
    # The list says sha256 was extended with its own hash: a padded-SHA-1 PCR cannot match.
    assert not verify(per_bank, quote(LOG, banks=("sha256",), model=PADDED_SHA1), log_bank="sha256").ok
    mixed = per_bank[:2] + [LOG[2]._replace(template_digest=hashlib.sha1(LOG[2].template_data).digest()
                                            + bytes(12))] + per_bank[3:]
    verdict = verify(mixed, quote(LOG, banks=("sha256",)), log_bank="sha256")
    assert not verdict.ok and verdict.bad_entry == 2


@pytest.mark.parametrize("bad_quote, words", [
    ({}, "non-empty mapping"),
    ({"sha256": bytes(20)}, "must be 32 bytes"),
    ({"md5": bytes(16)}, "unknown PCR bank"),
])
def test_misuse_fails_early(bad_quote, words):
    with pytest.raises(ValueError, match=words):
        verify(LOG, bad_quote)


# --- split histories -------------------------------------------------------

def test_mirror_window_entries_are_in_the_ptpm_only():
    """pTPM holds 0-3; the vTPM copied the pTPM after 2 entries (2, 3 happened during the switch)
    and then received 4 and 5."""
    ptpm = quote(LOG[:4])
    vtpm = quote(LOG[4:], start=quote(LOG[:2]))
    verdict = verify_split(LOG, ptpm, vtpm, StartMode.MIRROR)
    assert verdict.ok and (verdict.split, verdict.mirrored, verdict.matched_prefix) == (4, 2, 6)
    # A replay start means the vTPM got everything the pTPM held: the window is lost.
    assert not verify_split(LOG, ptpm, vtpm, StartMode.REPLAY).ok


def test_a_mirror_explains_every_entry_when_one_repeats_after_the_split():
    """The vTPM copied the pTPM after 3 entries; entry 3 went to the pTPM only, then the same
    measurement twice to the vTPM.  A mirror after 4 entries explains the vTPM too, but with
    one entry trailing; the true mirror point explains all of them and is the answer."""
    log = LOG[:4] + [LOG[3], LOG[3]]
    ptpm, vtpm = quote(log[:4]), quote(log[4:], start=quote(log[:3]))
    verdict = verify_split(log, ptpm, vtpm, StartMode.MIRROR)
    assert verdict.ok and (verdict.split, verdict.mirrored, verdict.trailing) == (4, 3, 0)


def test_replay_start_holds_the_whole_prefix():
    ptpm, vtpm = quote(LOG[:3]), quote(LOG[:5])
    verdict = verify_split(LOG, ptpm, vtpm, StartMode.REPLAY)
    assert verdict.ok and (verdict.split, verdict.matched_prefix, verdict.trailing) == (3, 5, 1)
    assert verdict.mirrored is None


def test_a_ptpm_that_never_saw_an_entry_is_all_zero():
    verdict = verify_split(LOG, quote([]), quote(LOG), StartMode.REPLAY)
    assert verdict.ok and verdict.split == 0


def test_the_vtpm_may_have_banks_the_ptpm_quote_lacks():
    ptpm = quote(LOG[:3], banks=("sha1",))
    vtpm = quote(LOG[3:], banks=("sha256",), start=quote(LOG[:3], banks=("sha256",)))
    assert verify_split(LOG, ptpm, vtpm, StartMode.MIRROR).ok


def test_a_bank_uses_one_model_on_both_tpms():
    ptpm = quote(LOG[:3], banks=("sha256",))
    vtpm = quote(LOG[3:], banks=("sha256",), model=PADDED_SHA1, start=ptpm)
    assert not verify_split(LOG, ptpm, vtpm, StartMode.MIRROR).ok


def test_a_ptpm_value_outside_the_list_is_not_verified():
    verdict = verify_split(LOG, {"sha1": b"\x01" * 20}, quote(LOG), StartMode.MIRROR)
    assert not verdict.ok and "pTPM" in verdict.reason


def test_split_misuse_fails_early():
    with pytest.raises(ValueError, match="StartMode"):
        verify_split(LOG, quote(LOG[:1]), quote(LOG), "mirror")
    with pytest.raises(ValueError, match="vTPM quote"):
        verify_split(LOG, quote(LOG[:1]), {"sha1": bytes(3)}, StartMode.MIRROR)
