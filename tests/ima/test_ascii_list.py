"""The ASCII measurement list: lines written by hand after ../shared/notes/ima.md section 8
(and the kernel's ima_ascii_measurements_show), round trips binary <-> model <-> ASCII."""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.strategies.ima import TEMPLATES, ima_logs
from models.ima import ImaLogError, parse_ascii, parse_binary, serialize_ascii, serialize_binary, split_fields

HEX32 = bytes(range(32)).hex().encode()


def le_field(value: bytes) -> bytes:
    return struct.pack("<I", len(value)) + value


def test_ima_sig_line_without_signature_ends_in_a_space():
    data = le_field(b"sha256:\0" + bytes(range(32))) + le_field(b"/usr/bin/dd\0") + le_field(b"")
    digest = hashlib.sha1(data).hexdigest().encode()
    line = b"10 " + digest + b" ima-sig sha256:" + HEX32 + b" /usr/bin/dd \n"
    (entry,) = parse_ascii(line)
    assert (entry.pcr, entry.template_digest.hex().encode(), entry.template_name) == (10, digest, "ima-sig")
    assert entry.template_data == data
    assert serialize_ascii([entry]) == line


def test_single_digit_pcr_is_space_padded_like_percent_2d():
    data = le_field(b"sha1:\0" + bytes(20)) + le_field(b"/x\0")
    line = b" 9 " + hashlib.sha1(data).hexdigest().encode() + b" ima-ng sha1:" + bytes(20).hex().encode() + b" /x\n"
    (entry,) = parse_ascii(line)
    assert entry.pcr == 9 and serialize_ascii([entry]) == line


def test_signature_buffer_and_modsig_print_as_hex():
    sig = b"\x03\x02\x04\xde\xad\xbe\xef\x00\x02\x01\x02"
    data = le_field(b"sha256:\0" + bytes(range(32))) + le_field(b"/m.ko\0") + le_field(sig) \
        + le_field(b"sha256:\0" + bytes(32)) + le_field(b"\x30\x82")
    line = b"10 " + hashlib.sha1(data).hexdigest().encode() + b" ima-modsig sha256:" + HEX32 + b" /m.ko " \
        + sig.hex().encode() + b" sha256:" + bytes(32).hex().encode() + b" 3082\n"
    (entry,) = parse_ascii(line)
    assert entry.template_data == data
    assert serialize_ascii([entry]) == line


def test_legacy_ima_template_prints_a_bare_digest():
    line = b"10 " + b"ab" * 20 + b" ima " + b"01" * 20 + b" /init\n"
    (entry,) = parse_ascii(line)
    assert split_fields("ima", entry.template_data) == (b"\x01" * 20, b"/init")
    assert serialize_ascii([entry]) == line


def test_v2_digest_prints_type_algorithm_and_hex():
    line = b"10 " + b"cd" * 20 + b" ima-ngv2 ima:sha256:" + HEX32 + b" /usr/bin/true\n"
    (entry,) = parse_ascii(line)
    assert split_fields("ima-ngv2", entry.template_data)[0] == b"ima:sha256:\0" + bytes(range(32))
    assert serialize_ascii([entry]) == line


def test_names_with_spaces_from_old_kernels_parse_unambiguously():
    """Fields left of the name split from the left, right of it from the right."""
    line = b"10 " + b"ef" * 20 + b" ima-sig sha256:" + HEX32 + b" /tmp/a b c 0302\n"
    (entry,) = parse_ascii(line)
    assert split_fields("ima-sig", entry.template_data)[1:] == (b"/tmp/a b c\0", b"\x03\x02")
    assert serialize_ascii([entry]) == line


def test_big_endian_kernels_hash_big_endian_lengths():
    line = b"10 " + b"00" * 20 + b" ima-ng sha1:" + b"11" * 20 + b" /x\n"
    (entry,) = parse_ascii(line, byteorder="big")
    assert entry.template_data == struct.pack(">I", 26) + b"sha1:\0" + b"\x11" * 20 + struct.pack(">I", 3) + b"/x\0"


@given(st.sampled_from(TEMPLATES), st.sampled_from(("little", "big")), st.data())
def test_binary_ascii_binary_round_trip(template, byteorder, data):
    entries = data.draw(ima_logs(template=template, byteorder=byteorder, max_size=12))
    text = serialize_ascii(entries, byteorder=byteorder)
    assert parse_ascii(text, byteorder=byteorder) == entries
    binary = serialize_binary(entries, byteorder=byteorder)
    assert serialize_ascii(parse_binary(binary, byteorder=byteorder), byteorder=byteorder) == text
    assert serialize_binary(parse_ascii(text, byteorder=byteorder), byteorder=byteorder) == binary


def test_per_bank_ascii_list_has_bank_sized_digests():
    line = b"10 " + b"12" * 32 + b" ima-ng sha256:" + HEX32 + b" /x\n"
    (entry,) = parse_ascii(line, bank="sha256")
    assert len(entry.template_digest) == 32 and serialize_ascii([entry]) == line
    with pytest.raises(ImaLogError, match="not 40 hex digits"):
        parse_ascii(line)


LINE = b"10 " + b"ab" * 20 + b" ima-ng sha256:" + HEX32 + b" /x\n"


@pytest.mark.parametrize("text, index, offset, words", [
    (LINE[:-1], 0, 0, "no newline"),
    (LINE + LINE[:-1], 1, len(LINE), "no newline"),
    (b"010" + LINE[2:], 0, 0, "'%2d'"),
    (b"99" + LINE[2:], 0, 0, "PCR 99"),
    (LINE.replace(b"ab" * 20, b"AB" * 20), 0, 3, "lowercase hex"),
    (LINE.replace(b"ab" * 20, b"ab" * 19), 0, 3, "40 hex digits"),
    (LINE.replace(b"ima-ng", b"ima-xx"), 0, 44, "no known ASCII layout"),
    (LINE.replace(b"sha256:", b"sha256"), 0, 51, "without '<algorithm>:'"),
    (LINE.replace(b" /x", b""), 0, 51, "1 fields, the template has 2"),
    (LINE.replace(HEX32, HEX32[:-1]), 0, 58, "not hex"),
    (b"\n", 0, 0, "no space after the PCR"),
])
def test_malformed_lines_name_line_and_offset(text, index, offset, words):
    with pytest.raises(ImaLogError) as caught:
        parse_ascii(text)
    assert (caught.value.entry_index, caught.value.offset) == (index, offset), caught.value
    assert words in caught.value.message


def test_a_name_with_a_newline_cannot_be_written_as_ascii():
    (entry,) = parse_binary(serialize_binary(parse_ascii(LINE)).replace(b"/x\0", b"\nx\0"))
    with pytest.raises(ValueError, match="newline"):
        serialize_ascii([entry])


def test_ascii_takes_bytes():
    with pytest.raises(TypeError):
        parse_ascii(LINE.decode())
