"""encode_command / decode_command / parse_header: round trips, swtpm vectors, rejections."""

from __future__ import annotations

import dataclasses
import struct

import pytest
from hypothesis import given, settings, strategies as st

from harness.wire import WireError, decode_command, encode_command, parse_header
from models.ops import (
    Crash, Drtm, GetCapability, GetRandom, PcrEvent, PcrExtend, PcrRead, PcrReset, PowerCycle,
    Startup,
)
from tests.wire import strategies as S
from tests.wire.vectors import SHA1_DIGEST, VECTORS, unhex

PW_AREA = "00000009 40000009 0000 00 0000"


@settings(max_examples=400, deadline=None)
@given(S.command_ops)
def test_decode_command_inverts_encode_command(op):
    assert decode_command(encode_command(op)) == dataclasses.replace(op, locality=0)


@given(S.command_ops)
def test_command_header_size_field_equals_length(op):
    data = encode_command(op)
    tag, size, _ = struct.unpack(">HII", data[:10])
    assert size == len(data)
    assert tag == (0x8002 if isinstance(op, (PcrExtend, PcrEvent, PcrReset)) else 0x8001)


@given(S.raw)
def test_raw_bytes_are_sent_unchanged(op):
    assert encode_command(op) == op.data


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_command_bytes_equal_swtpm_vector(name):
    op, command, _, _ = VECTORS[name]
    assert encode_command(op) == unhex(command)


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_swtpm_vector_decodes_to_its_op(name):
    op, command, _, _ = VECTORS[name]
    assert decode_command(unhex(command)) == op


def test_locality_is_not_in_the_bytes():
    assert encode_command(PcrReset(20, locality=2)) == encode_command(PcrReset(20))


def test_pcr_event_encoding():
    expected = unhex("8002 00000022 0000013c 0000000a" + PW_AREA + "0005") + b"hello"
    assert encode_command(PcrEvent(10, b"hello")) == expected


def test_pcr_select_grows_to_four_octets_only_for_pcr_24_and_above():
    assert encode_command(PcrRead(((0xB, (23,)),)))[10:] == unhex("00000001 000b 03 000080")
    assert encode_command(PcrRead(((0xB, (0, 24)),)))[10:] == unhex("00000001 000b 04 01000001")
    assert encode_command(PcrRead(((0xB, ()),)))[10:] == unhex("00000001 000b 03 000000")


def test_parse_header():
    assert parse_header(unhex("8001 0000000a 00000907")) == (0x8001, 10, 0x907)
    with pytest.raises(WireError) as err:
        parse_header(unhex("8001 0000000a 0000"))
    assert (err.value.field, err.value.offset) == ("header", 0)


# --- encode refuses what the command cannot carry -----------------------------------

@pytest.mark.parametrize("op", [
    PcrExtend(0, ((0x4, b"\x00" * 19),)),  # digest shorter than SHA-1's
    PcrExtend(0, ((0x12, b"\x00" * 32),)),  # SM3_256: digest size unknown to the wire layer
    PcrExtend(0, ((0x4, SHA1_DIGEST),) * 17),  # beyond HASH_COUNT_MAX
    PcrExtend(-1, ()),
    PcrExtend(1 << 32, ()),
    PcrEvent(0, b"\x00" * 1025),  # TPM2B_EVENT holds at most 1024
    PcrRead(((0x4, (3, 2)),)),  # not ascending
    PcrRead(((0x4, (2, 2)),)),  # duplicate
    PcrRead(((0x4, (32,)),)),  # beyond PCR_SELECT_MAX octets
    PcrRead(((0x4, (-1,)),)),
    PcrRead(((0x10000, (0,)),)),
    PcrRead(((0x4, ()),) * 17),
    Startup(0x10000),
    GetRandom(-1),
    GetCapability(0, 0, 1 << 32),
], ids=repr)
def test_encode_rejects_values_the_command_cannot_carry(op):
    with pytest.raises(ValueError):
        encode_command(op)


@pytest.mark.parametrize("op", [
    PowerCycle(), Crash(), Drtm(b"x"), b"\x80\x01",
    PcrRead(((0x4, [1, 2]),)),  # PCR numbers must be a (hashable) tuple
], ids=repr)
def test_encode_rejects_non_commands(op):
    with pytest.raises(TypeError):
        encode_command(op)


# --- decode_command rejects, naming the field ----------------------------------------

def _resize(data: bytes) -> bytes:
    return data[:2] + struct.pack(">I", len(data)) + data[6:]


@pytest.mark.parametrize("data, field, offset", [
    (unhex("8001 0000000c 00000144"), "commandSize", 2),
    (unhex("8001 0000000c 00000144 000000"), "commandSize", 2),
    (_resize(unhex("8001 0000000c 00000144 000000")), "commandSize", 12),
    (unhex("8001 0000000a 00000999"), "commandCode", 6),
    (unhex("8002 0000000c 00000144 0000"), "tag", 0),
    (unhex("8001 0000001b 0000013d 00000010" + PW_AREA), "tag", 0),
    (unhex("8001 0000000b 00000144 00"), "TPM2_Startup.startupType", 10),
    (_resize(unhex("8002 0000001b 0000013d 00000010 0000000a 40000009 0000 00 0000 00")), "authorizationSize", 14),
    (unhex("8002 0000001b 0000013d 00000010 00000020 40000009 0000 00 0000"), "authorizationSize", 14),
    (unhex("8002 0000001b 0000013d 00000010 00000009 02000000 0000 00 0000"), "TPMS_AUTH_COMMAND.sessionHandle", 18),
    (_resize(unhex("8002 0000001b 0000013d 00000010 0000000a 40000009 0001 aa 00 0000")), "TPMS_AUTH_COMMAND.nonce", 22),
    (unhex("8002 0000001b 0000013d 00000010 00000009 40000009 0000 20 0000"), "TPMS_AUTH_COMMAND.sessionAttributes", 24),
    (_resize(unhex("8002 0000001b 0000013d 00000010 0000000b 40000009 0000 00 0002 6869")), "TPMS_AUTH_COMMAND.hmac", 25),
    (_resize(unhex("8002 00000000 0000013d 00000010 00000012" + PW_AREA[8:] + PW_AREA[8:])), "authorizationSize", 14),
    (_resize(unhex("8002 00000000 0000013c 00000010" + PW_AREA + "0401") + b"\x00" * 1025), "TPM2B_EVENT.size", 27),
    (_resize(unhex("8002 00000000 00000182 00000010" + PW_AREA + "00000001 0012") + b"\x00" * 32), "TPMT_HA.hashAlg", 31),
    (_resize(unhex("8002 00000000 00000182 00000010" + PW_AREA + "00000011")), "TPML_DIGEST_VALUES.count", 27),
    (_resize(unhex("8001 00000000 0000017e 00000001 000b 00")), "TPMS_PCR_SELECTION.sizeofSelect", 16),
    (_resize(unhex("8001 00000000 0000017e 00000001 000b 05 0000000000")), "TPMS_PCR_SELECTION.sizeofSelect", 16),
    (_resize(unhex("8001 00000000 0000017e 00000001 000b 03 0000")), "TPMS_PCR_SELECTION.sizeofSelect", 16),
])
def test_decode_command_rejects_naming_the_field(data, field, offset):
    with pytest.raises(WireError) as err:
        decode_command(data)
    assert (err.value.field, err.value.offset) == (field, offset), str(err.value)


def test_decode_command_accepts_continue_session_on_the_password():
    data = unhex("8002 0000001b 0000013d 00000010 00000009 40000009 0000 01 0000")
    assert decode_command(data) == PcrReset(16)


def test_decode_command_takes_any_bytes_like():
    op, command, _, _ = VECTORS["PCR_Extend(16, sha1+sha256)"]
    assert decode_command(bytearray(unhex(command))) == op


def test_decode_command_accepts_short_pcr_select():
    # sizeofSelect 1 is legal on the wire; the op keeps only the PCR numbers.
    data = unhex("8001 00000012 0000017e 00000001 0004 01 81")
    assert decode_command(data) == PcrRead(((0x4, (0, 7)),))


@given(st.binary(max_size=9))
def test_decode_command_of_less_than_a_header(data):
    with pytest.raises(WireError) as err:
        decode_command(data)
    assert err.value.field == "header"
