"""The TCG structures: marshal/unmarshal round trips, Part 2 byte layouts, rejections."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings, strategies as st

from harness.wire import (
    TPM2B_DIGEST, TPMT_HA, TPML_DIGEST_VALUES, TPMS_PCR_SELECTION, TPML_PCR_SELECTION,
    TPML_DIGEST, TPMS_AUTH_COMMAND, TPMS_AUTH_RESPONSE, TPMS_TAGGED_PROPERTY,
    TPML_TAGGED_TPM_PROPERTY, TPMS_TAGGED_PCR_SELECT, TPML_TAGGED_PCR_PROPERTY,
    TPMS_ALG_PROPERTY, TPML_ALG_PROPERTY, TPML_HANDLE, TPML_CC, TPML_CCA, TPML_ECC_CURVE,
    TPMS_CAPABILITY_DATA, WireError,
)
from tests.wire import strategies as S
from tests.wire.vectors import SHA1_DIGEST, unhex

STRUCTURE_TYPES = sorted(S.STRUCTURES, key=lambda cls: cls.__name__)


@pytest.mark.parametrize("cls", STRUCTURE_TYPES, ids=lambda cls: cls.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data(), prefix=st.binary(max_size=4), suffix=st.binary(max_size=4))
def test_unmarshal_inverts_marshal_at_any_offset(cls, data, prefix, suffix):
    value = data.draw(S.STRUCTURES[cls])
    encoded = value.marshal()
    assert cls.unmarshal(prefix + encoded + suffix, len(prefix)) == (value, len(prefix) + len(encoded))


@pytest.mark.parametrize("cls", STRUCTURE_TYPES, ids=lambda cls: cls.__name__)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_every_proper_prefix_of_an_encoding_is_rejected(cls, data):
    encoded = data.draw(S.STRUCTURES[cls]).marshal()
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(WireError):
        cls.unmarshal(encoded[:cut])


def _bitmap(pcrs, octets):
    """pcrSelect computed independently: PCR n is bit n % 8 of octet n // 8 (Part 2, TPMS_PCR_SELECTION)."""
    select = bytearray(octets)
    for pcr in pcrs:
        select[pcr // 8] |= 1 << (pcr % 8)
    return bytes(select)


@given(alg=S.u16, pcrs=S.pcr_numbers)
def test_pcr_selection_bitmap_layout(alg, pcrs):
    octets = 4 if pcrs and pcrs[-1] >= 24 else 3
    selection = TPMS_PCR_SELECTION.from_pcrs(alg, pcrs)
    assert selection.marshal() == struct.pack(">HB", alg, octets) + _bitmap(pcrs, octets)
    assert selection.pcrs == pcrs


@given(tag=S.u32, pcrs=S.pcr_numbers)
def test_tagged_pcr_select_names_its_pcrs(tag, pcrs):
    octets = 4 if pcrs and pcrs[-1] >= 24 else 3
    assert TPMS_TAGGED_PCR_SELECT(tag, _bitmap(pcrs, octets)).pcrs == pcrs


@given(S.selection)
def test_pcr_selection_list_converts_to_and_from_op_selection(selection):
    assert TPML_PCR_SELECTION.from_selection(selection).selection == selection


@pytest.mark.parametrize("value, hexbytes", [
    (TPM2B_DIGEST(b"\xab\xcd"), "0002 abcd"),
    (TPMT_HA(0x4, SHA1_DIGEST), "0004" + SHA1_DIGEST.hex()),
    (TPML_DIGEST_VALUES(()), "00000000"),
    (TPMS_PCR_SELECTION(0xB, b"\x01\x02\x80"), "000b 03 010280"),
    (TPML_PCR_SELECTION((TPMS_PCR_SELECTION(0x4, b"\xff"),)), "00000001 0004 01 ff"),
    (TPML_DIGEST((b"", b"\x01")), "00000002 0000 0001 01"),
    (TPMS_AUTH_COMMAND(0x40000009, b"", 0, b""), "40000009 0000 00 0000"),
    (TPMS_AUTH_RESPONSE(b"", 1, b""), "0000 01 0000"),
    (TPMS_TAGGED_PROPERTY(0x105, 0x49424D00), "00000105 49424d00"),
    (TPML_TAGGED_TPM_PROPERTY((TPMS_TAGGED_PROPERTY(0x112, 24),)), "00000001 00000112 00000018"),
    (TPMS_TAGGED_PCR_SELECT(0x0, b"\x00\x00\x01"), "00000000 03 000001"),
    (TPML_TAGGED_PCR_PROPERTY(()), "00000000"),
    (TPMS_ALG_PROPERTY(0xB, 0x4), "000b 00000004"),
    (TPML_ALG_PROPERTY((TPMS_ALG_PROPERTY(0x1, 0x9),)), "00000001 0001 00000009"),
    (TPML_HANDLE((0x81000001, 0x81010001)), "00000002 81000001 81010001"),
    (TPML_CC((0x144,)), "00000001 00000144"),
    (TPML_CCA((0x0440011F,)), "00000001 0440011f"),
    (TPML_ECC_CURVE((0x3, 0x4)), "00000002 0003 0004"),
    (TPMS_CAPABILITY_DATA(0x1, TPML_HANDLE((0x81000001,))), "00000001 00000001 81000001"),
], ids=lambda v: None if isinstance(v, str) else type(v).__name__)
def test_part2_byte_layout(value, hexbytes):
    assert value.marshal() == unhex(hexbytes)
    assert type(value).unmarshal(unhex(hexbytes)) == (value, len(unhex(hexbytes)))


@pytest.mark.parametrize("value", [
    TPM2B_DIGEST(b"\x00" * 65),
    TPMT_HA(0x4, b"\x00" * 32),
    TPMT_HA(0x12, b"\x00" * 32),
    TPML_DIGEST_VALUES((TPMT_HA(0x4, SHA1_DIGEST),) * 17),
    TPMS_PCR_SELECTION(0x4, b""),
    TPMS_PCR_SELECTION(0x4, b"\x00" * 5),
    TPMS_PCR_SELECTION(0x10000, b"\x00" * 3),
    TPML_PCR_SELECTION((TPMS_PCR_SELECTION(0x4, b"\x00" * 3),) * 17),
    TPML_DIGEST((b"",) * 9),
    TPMS_AUTH_COMMAND(0x40000009, b"", 0x100, b""),
    TPMS_AUTH_RESPONSE(b"\x00" * 65, 0, b""),
    TPMS_TAGGED_PROPERTY(-1, 0),
    TPML_TAGGED_TPM_PROPERTY((TPMS_TAGGED_PROPERTY(0, 0),) * 128),
    TPMS_TAGGED_PCR_SELECT(0, b"\x00" * 5),
    TPMS_ALG_PROPERTY(0x10000, 0),
    TPML_HANDLE((0,) * 255),
    TPML_HANDLE((1 << 32,)),
    TPML_ECC_CURVE((0x10000,)),
    TPMS_CAPABILITY_DATA(0x1, TPML_CC(())),  # HANDLES selects TPML_HANDLE
    TPMS_CAPABILITY_DATA(0x9, TPML_CC(())),
], ids=repr)
def test_marshal_rejects_values_the_structure_cannot_carry(value):
    with pytest.raises(ValueError):
        value.marshal()


@pytest.mark.parametrize("cls, hexbytes, field, offset", [
    (TPM2B_DIGEST, "0041" + "00" * 65, "TPM2B_DIGEST.size", 0),
    (TPM2B_DIGEST, "00", "TPM2B_DIGEST.size", 0),
    (TPMT_HA, "0012" + "00" * 32, "TPMT_HA.hashAlg", 0),
    (TPMT_HA, "000b" + "00" * 31, "TPMT_HA.digest", 2),
    (TPML_DIGEST_VALUES, "00000011", "TPML_DIGEST_VALUES.count", 0),
    (TPMS_PCR_SELECTION, "000b", "TPMS_PCR_SELECTION", 0),
    (TPML_PCR_SELECTION, "00000001 000b 00", "TPMS_PCR_SELECTION.sizeofSelect", 6),
    (TPML_DIGEST, "00000009", "TPML_DIGEST.count", 0),
    (TPMS_AUTH_COMMAND, "40000009 0000", "TPMS_AUTH_COMMAND.sessionAttributes", 6),
    (TPMS_AUTH_RESPONSE, "0000 00 0041" + "00" * 65, "TPMS_AUTH_RESPONSE.hmac.size", 3),
    (TPMS_TAGGED_PROPERTY, "00000105", "TPMS_TAGGED_PROPERTY", 0),
    (TPMS_TAGGED_PCR_SELECT, "00000000 05 0000000000", "TPMS_TAGGED_PCR_SELECT.sizeofSelect", 4),
    (TPML_TAGGED_PCR_PROPERTY, "00000080", "TPML_TAGGED_PCR_PROPERTY.count", 0),
    (TPMS_ALG_PROPERTY, "000b 0000", "TPMS_ALG_PROPERTY", 0),
    (TPML_ALG_PROPERTY, "000000aa", "TPML_ALG_PROPERTY.count", 0),
    (TPML_CC, "000000ff", "TPML_CC.count", 0),
    (TPML_CCA, "00000001 0000", "TPML_CCA.count", 0),
    (TPML_ECC_CURVE, "000001fd", "TPML_ECC_CURVE.count", 0),
    (TPMS_CAPABILITY_DATA, "00000100 00000000", "TPMS_CAPABILITY_DATA.capability", 0),
])
def test_unmarshal_rejects_naming_the_field(cls, hexbytes, field, offset):
    with pytest.raises(WireError) as err:
        cls.unmarshal(unhex(hexbytes))
    assert (err.value.field, err.value.offset) == (field, offset), str(err.value)


def test_unmarshal_rejects_an_offset_outside_the_data():
    with pytest.raises(ValueError):
        TPM2B_DIGEST.unmarshal(b"\x00\x00", 3)
    with pytest.raises(ValueError):
        TPM2B_DIGEST.unmarshal(b"\x00\x00", -1)


def test_unmarshal_takes_any_bytes_like():
    assert TPM2B_DIGEST.unmarshal(memoryview(b"\x00\x01\xaa")) == (TPM2B_DIGEST(b"\xaa"), 3)
