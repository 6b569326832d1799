"""The binary measurement list: layouts built by hand from ../shared/notes/ima.md section 2-3,
exact round trips for every template and byte order, and precise errors."""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.strategies.ima import TEMPLATES, ima_logs
from models.ima import ImaEntry, ImaLogError, parse_binary, serialize_binary, split_fields

DIGEST = bytes(range(32))


def le32(n: int) -> bytes:
    return struct.pack("<I", n)


def field(value: bytes, pack=le32) -> bytes:
    return pack(len(value)) + value


def binary_entry(template: bytes, template_data: bytes, pcr: int = 10, digest: bytes | None = None,
                 pack=le32) -> bytes:
    digest = hashlib.sha1(template_data).digest() if digest is None else digest
    return pack(pcr) + digest + pack(len(template)) + template + pack(len(template_data)) + template_data


D_NG = b"sha256:\0" + DIGEST
N_NG = b"/usr/bin/dd\0"


def test_ima_ng_entry_fields_and_digest():
    data = field(D_NG) + field(N_NG)
    raw = binary_entry(b"ima-ng", data)
    (entry,) = parse_binary(raw)
    assert entry == ImaEntry(10, hashlib.sha1(data).digest(), "ima-ng", data)
    assert split_fields("ima-ng", entry.template_data) == (D_NG, N_NG)
    assert serialize_binary([entry]) == raw


@pytest.mark.parametrize("template, extra", [
    (b"ima-sig", [b""]),
    (b"ima-sig", [b"\x03\x02\x04\x01\x02\x03\x04\x00\x02\xaa\xbb"]),
    (b"ima-buf", [b"root=/dev/vda1 ro"]),
    (b"ima-modsig", [b"", b"", b""]),
    (b"ima-modsig", [b"", b"sha256:\0" + DIGEST, b"\x30\x82\x01\x00"]),
])
def test_ng_family_entries_round_trip(template, extra):
    data = field(D_NG) + field(N_NG) + b"".join(field(v) for v in extra)
    raw = binary_entry(template, data)
    (entry,) = parse_binary(raw)
    assert split_fields(template.decode(), entry.template_data) == (D_NG, N_NG, *extra)
    assert serialize_binary([entry]) == raw


@pytest.mark.parametrize("template, extra", [(b"ima-ngv2", []), (b"ima-sigv2", [b""])])
def test_v2_digest_field_carries_type_and_algorithm(template, extra):
    d_ngv2 = b"verity:sha256:\0" + DIGEST
    data = field(d_ngv2) + field(N_NG) + b"".join(field(v) for v in extra)
    raw = binary_entry(template, data)
    (entry,) = parse_binary(raw)
    assert split_fields(template.decode(), entry.template_data)[0] == d_ngv2
    assert serialize_binary([entry]) == raw


def test_legacy_ima_template_has_no_data_length_and_a_bare_name():
    """ima: digest(20) | u32 strlen | name without NUL; the template hash pads the name to 256."""
    file_digest = bytes(range(20))
    raw = le32(10) + hashlib.sha1(file_digest + b"/init".ljust(256, b"\0")).digest() + le32(3) + b"ima" \
        + file_digest + le32(5) + b"/init"
    (entry,) = parse_binary(raw)
    assert entry.template_name == "ima"
    assert split_fields("ima", entry.template_data) == (file_digest, b"/init")
    assert serialize_binary([entry]) == raw


def test_templates_may_alternate_within_a_list():
    """Each entry names its template; the parser's fast path for a repeated template must
    not carry one template's layout over to the next."""
    ng = binary_entry(b"ima-ng", field(D_NG) + field(N_NG))
    ima = le32(10) + bytes(20) + le32(3) + b"ima" + bytes(20) + le32(2) + b"/x"
    sig = binary_entry(b"ima-sig", field(b"sha1:\0" + bytes(20)) + field(N_NG) + field(b"\x03"))
    raw = ng + ng + ima + ng + sig + ng + sig
    assert [e.template_name for e in parse_binary(raw)] == ["ima-ng"] * 2 + ["ima", "ima-ng", "ima-sig",
                                                                             "ima-ng", "ima-sig"]
    assert serialize_binary(parse_binary(raw)) == raw


def test_a_cached_digest_prefix_does_not_excuse_a_short_field():
    """After "sha256:" NUL was seen, a 3-byte "sha" field must still be refused."""
    raw = binary_entry(b"ima-ng", field(D_NG) + field(N_NG)) + binary_entry(b"ima-ng", field(b"sha") + field(N_NG))
    with pytest.raises(ImaLogError, match="without the NUL"):
        parse_binary(raw)


def test_big_endian_lists_round_trip():
    be32 = struct.Struct(">I").pack
    data = field(D_NG, be32) + field(N_NG, be32) + field(b"", be32)
    raw = binary_entry(b"ima-sig", data, pack=be32)
    (entry,) = parse_binary(raw, byteorder="big")
    assert entry.template_data == data and entry.pcr == 10
    assert split_fields("ima-sig", entry.template_data, "big") == (D_NG, N_NG, b"")
    assert serialize_binary([entry], byteorder="big") == raw
    with pytest.raises(ImaLogError):
        parse_binary(raw)  # read as little-endian, the lengths are absurd


def test_per_bank_list_carries_bank_sized_digests():
    data = field(D_NG) + field(N_NG)
    raw = binary_entry(b"ima-ng", data, digest=hashlib.sha256(data).digest())
    (entry,) = parse_binary(raw, bank="sha256")
    assert entry.template_digest == hashlib.sha256(data).digest()
    assert serialize_binary([entry], bank="sha256") == raw
    with pytest.raises(ImaLogError):
        parse_binary(raw)  # a 32-byte digest misread as 20 bytes


def test_unknown_templates_are_framed_like_the_others():
    data = field(D_NG) + field(N_NG) + field(b"\x00\x00\x00\x00")
    raw = binary_entry(b"d-ng|n-ng|iuid", data)
    (entry,) = parse_binary(raw)
    assert entry.template_name == "d-ng|n-ng|iuid" and serialize_binary([entry]) == raw


@given(st.sampled_from(TEMPLATES), st.sampled_from(("little", "big")), st.data())
def test_generated_lists_round_trip_exactly(template, byteorder, data):
    entries = data.draw(ima_logs(template=template, byteorder=byteorder, max_size=12))
    raw = serialize_binary(entries, byteorder=byteorder)
    assert parse_binary(raw, byteorder=byteorder) == entries
    assert serialize_binary(parse_binary(raw, byteorder=byteorder), byteorder=byteorder) == raw


GOOD = binary_entry(b"ima-ng", field(D_NG) + field(N_NG))


@pytest.mark.parametrize("raw, index, offset, words", [
    (GOOD[:20], 0, 0, "truncated entry header"),
    (GOOD + GOOD[:-1], 1, len(GOOD) + 34, "template data length 60 runs past the end"),
    (le32(64) + GOOD[4:], 0, 0, "PCR 64"),
    (GOOD[:24] + le32(0) + GOOD[28:], 0, 28, "template name length 0"),
    (GOOD[:24] + le32(6) + b"ima ng" + GOOD[34:], 0, 28, "not printable ASCII"),
    (binary_entry(b"ima-ng", field(b"sha256\0" + DIGEST) + field(N_NG)), 0, 42, "d-ng prefix"),
    (binary_entry(b"ima-ng", field(b"sha256:" + b"\x11" * 32) + field(N_NG)), 0, 42, "without the NUL"),
    (binary_entry(b"ima-ng", field(D_NG) + field(b"/usr/bin/dd")), 0, 86, "does not end in NUL"),
    (binary_entry(b"ima-ng", field(D_NG) + field(b"/usr\0bin\0")), 0, 86, "name contains NUL"),
    (binary_entry(b"ima-ng", field(D_NG) + field(N_NG) + b"\0"), 0, 98, "1 bytes after the last"),
    (binary_entry(b"ima-sig", field(D_NG) + field(N_NG)), 0, 99, "field 2: missing length"),
    (binary_entry(b"ima-ng", field(D_NG) + le32(99) + N_NG), 0, 82, "field 1: length 99 runs past"),
    (le32(10) + bytes(20) + le32(3) + b"ima" + bytes(20) + le32(256) + b"x" * 256, 0, 51, "exceeds 255"),
])
def test_malformed_lists_name_entry_and_offset(raw, index, offset, words):
    with pytest.raises(ImaLogError) as caught:
        parse_binary(raw)
    assert (caught.value.entry_index, caught.value.offset) == (index, offset), caught.value
    assert words in caught.value.message
    assert str(caught.value).startswith(f"entry {index} at byte {offset}: ")


def test_misuse_fails_early():
    with pytest.raises(ValueError, match="byteorder"):
        parse_binary(GOOD, byteorder="native")
    with pytest.raises(ValueError, match="unknown PCR bank"):
        parse_binary(GOOD, bank="sha3")
    with pytest.raises(TypeError):
        parse_binary(GOOD.hex())
    (entry,) = parse_binary(GOOD)
    with pytest.raises(ValueError, match="20-byte digest in a 32-byte list"):
        serialize_binary([entry], bank="sha256")
