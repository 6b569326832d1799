"""verify_binary (one pass over the bytes) against the independent chains, and its promise:
always the verdict of verify(parse_binary(...)), reasons, bad entries and errors included."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from harness.strategies.ima import ima_histories
from models.ima import (
    PADDED_SHA1,
    PER_BANK,
    ImaLogError,
    digest_field,
    iter_binary,
    measure,
    name_field,
    parse_binary,
    serialize_binary,
    verify,
    verify_binary,
    violation,
)
from tests.ima.independent import chain, extend_sequence, history_quote

pytestmark = pytest.mark.requirements("IMA-REPLAY")

LOG = [measure("ima-sig", [digest_field("sha256", bytes([i]) * 32), name_field(b"/usr/bin/f%d" % i), b""])
       for i in range(5)]
LOG.insert(2, violation("ima-sig", b"/var/log/open-writer"))


def quote(entries, models=None):
    models = models or {"sha1": PER_BANK, "sha256": PER_BANK}
    return {bank: chain(extend_sequence(entries, bank, model), bank) for bank, model in models.items()}


def both(data: bytes, pcrs, **options):
    """(verify_binary's outcome, verify's on parse_binary's list): a Verdict or the ImaLogError's text."""
    outcomes = []
    for check in (lambda: verify_binary(data, pcrs, **options), lambda: verify(parse_binary(data), pcrs, **options)):
        try:
            outcomes.append(check())
        except ImaLogError as exc:
            outcomes.append(str(exc))
    return outcomes


def test_a_list_with_a_violation_and_trailing_entries_is_verified_in_one_pass():
    verdict = verify_binary(serialize_binary(LOG), quote(LOG[:4]))
    assert verdict.ok and (verdict.matched_prefix, verdict.trailing) == (4, 2)
    assert verdict.models == {"sha1": PER_BANK, "sha256": PER_BANK}


def test_every_logged_digest_is_checked_even_after_the_matched_prefix():
    forged = LOG[5]._replace(template_data=LOG[5].template_data.replace(b"/usr/bin/f4", b"/usr/bin/f9"))
    verdict = verify_binary(serialize_binary(LOG[:5] + [forged]), quote(LOG[:4]))
    assert not verdict.ok and verdict.bad_entry == 5 and "entry 5" in verdict.reason


def test_a_padded_bank_is_found_after_the_preferred_model_fails():
    pcrs = quote(LOG, {"sha1": PER_BANK, "sha256": PADDED_SHA1})
    verdict = verify_binary(serialize_binary(LOG), pcrs)
    assert verdict.ok and verdict.models == {"sha1": PER_BANK, "sha256": PADDED_SHA1}
    assert not verify_binary(serialize_binary(LOG), pcrs, model=PER_BANK).ok


def test_a_per_bank_list_and_a_big_endian_list():
    sha256_list = [e._replace(template_digest=hashlib.sha256(e.template_data).digest()) if any(e.template_digest)
                   else e._replace(template_digest=bytes(32)) for e in LOG]
    data = serialize_binary(sha256_list, bank="sha256")
    assert verify_binary(data, quote(LOG), log_bank="sha256").ok
    big = [measure("ima-ng", [digest_field("sha1", bytes(20)), name_field(b"/bin/sh")], byteorder="big")]
    assert verify_binary(serialize_binary(big, byteorder="big"), quote(big), byteorder="big").ok


def test_a_malformed_list_raises_what_parse_binary_raises():
    data = serialize_binary(LOG)[:-3]
    with pytest.raises(ImaLogError) as one_pass:
        verify_binary(data, quote(LOG))
    with pytest.raises(ImaLogError) as parsed:
        parse_binary(data)
    assert str(one_pass.value) == str(parsed.value) and "entry 5" in str(one_pass.value)


def test_misuse_fails_before_the_list_is_read():
    with pytest.raises(ValueError, match="20 bytes"):
        verify_binary(b"not a list", {"sha1": b"short"})
    with pytest.raises(TypeError, match="bytes"):
        iter_binary("not bytes")
    with pytest.raises(ValueError):
        iter_binary(b"", byteorder="middle")


@given(history=ima_histories(), data=st.data())
def test_always_the_verdict_of_verify_on_the_parsed_list(history, data):
    entries = list(history.entries)
    pcrs = history_quote(history)
    raw = serialize_binary(entries)
    change = data.draw(st.sampled_from(("none", "edit", "edit entry", "other quote", "cut", "model")))
    options = {}
    checked = [i for i, e in enumerate(entries) if any(e.template_digest)]
    if change == "edit entry" and checked:  # a file digest changed, its template digest not: often a trailing one
        at = data.draw(st.sampled_from(checked[-3:] + checked[:1]))
        entries[at] = _file_digest_flipped(entries[at])
        raw = serialize_binary(entries)
    elif change == "edit":
        at = data.draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([raw[at] ^ data.draw(st.integers(1, 255))]) + raw[at + 1:]
    elif change == "other quote":
        bank = data.draw(st.sampled_from(sorted(pcrs)))
        pcrs = {**pcrs, bank: hashlib.new(bank, pcrs[bank]).digest()}
    elif change == "cut":
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    elif change == "model":
        options["model"] = data.draw(st.sampled_from((PER_BANK, PADDED_SHA1)))
    note(f"{change} {options}")
    one_pass, composed = both(raw, pcrs, **options)
    assert one_pass == composed
    if change == "none":
        assert one_pass.ok and one_pass.matched_prefix + one_pass.trailing == len(entries)


def _file_digest_flipped(entry):
    """The entry with the last byte of its file digest (the first field) changed."""
    data = entry.template_data
    at = 0 if entry.template_name == "ima" else 4 + int.from_bytes(data[:4], "little") - 1
    return entry._replace(template_data=data[:at] + bytes([data[at] ^ 1]) + data[at + 1:])


@given(history=ima_histories())
def test_iter_binary_yields_the_parsed_entries(history):
    raw = serialize_binary(list(history.entries))
    assert list(iter_binary(raw)) == list(history.entries)
