"""encode_response / decode_response: round trips, swtpm vectors, RESP-WELLFORMED rejections."""

from __future__ import annotations

import pickle
import struct

import pytest
from hypothesis import given, settings

from harness.errors import TargetError
from harness.wire import WireError, decode_response, encode_response
from models.ops import (
    ANY, ANY_ERROR, CapabilityResult, Crash, GetCapability, GetRandom, Outcome, PcrEvent,
    PcrExtend, PcrRead, PcrReadResult, PcrReset, RandomResult, Raw, Shutdown, Startup,
)
from tests.wire import strategies as S
from tests.wire.vectors import SHA1_DIGEST, SHA256_DIGEST, VECTORS, unhex

EVERY_OP = [vector[0] for vector in VECTORS.values()] + [
    Shutdown(0), PcrEvent(16, b"abc"), Raw(b"\x00" * 10)
]
EXTEND = PcrExtend(16, ((0x4, SHA1_DIGEST),))
READ = PcrRead(((0x4, (16,)), (0xB, (16,))))
PW_RESPONSE = "0000 01 0000"


def _resize(data: bytes) -> bytes:
    return data[:2] + struct.pack(">I", len(data)) + data[6:]


@settings(max_examples=500, deadline=None)
@given(S.op_and_outcome)
def test_decode_response_inverts_encode_response(op_outcome):
    op, outcome = op_outcome
    assert decode_response(op, encode_response(op, outcome)) == outcome


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_swtpm_response_decodes_to_expected_outcome(name):
    op, _, response, outcome = VECTORS[name]
    assert decode_response(op, unhex(response)) == outcome


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_encode_response_reproduces_swtpm_bytes(name):
    op, _, response, outcome = VECTORS[name]
    assert encode_response(op, outcome) == unhex(response)


@pytest.mark.parametrize("op", EVERY_OP, ids=repr)
def test_error_response_decodes_to_its_code(op):
    assert decode_response(op, unhex("8001 0000000a 00000907")) == Outcome(0x907, None)
    assert encode_response(op, Outcome(0x907)) == unhex("8001 0000000a 00000907")


@pytest.mark.parametrize("op", EVERY_OP, ids=repr)
def test_bad_tag_answer_may_carry_tpm_st_rsp_command(op):
    # Part 2, TPM_ST_RSP_COMMAND: the tag of a TPM_RC_BAD_TAG answer to an unclassifiable command.
    assert decode_response(op, unhex("00c4 0000000a 0000001e")) == Outcome(0x1E, None)


def test_pcr_event_response_carries_the_event_digests():
    digest = bytes(range(32))
    response = unhex("8002 00000039 00000000 00000026 00000001 000b") + digest + unhex(PW_RESPONSE)
    assert decode_response(PcrEvent(16, b"x"), response) == Outcome(0, ((0xB, digest),))


def test_decode_response_takes_any_bytes_like():
    op, _, response, outcome = VECTORS["PCR_Read(sha1:16, sha256:16)"]
    assert decode_response(op, bytearray(unhex(response))) == outcome
    assert decode_response(op, memoryview(unhex(response))) == outcome


def test_password_response_without_continue_session_is_accepted():
    assert decode_response(EXTEND, unhex("8002 00000013 00000000 00000000 0000 00 0000")) == Outcome(0)


def test_get_capability_more_data_and_pcr_properties():
    response = unhex("8001 00000021 00000000 01 00000007 00000002 00000000 03 000001 00000001 01 80")
    expected = CapabilityResult(True, 0x7, ((0x0, (16,)), (0x1, (7,))))
    assert decode_response(GetCapability(7, 0, 2), response) == Outcome(0, expected)


# --- RESP-WELLFORMED: each inconsistency raises WireError naming the field -------------

READ_OK = VECTORS["PCR_Read(sha1:16, sha256:16)"][2]
READ_HEAD = "8001 00000000 00000000 00000014"

MALFORMED = [
    ("short header", Startup(0), "8001 0000000a 0000", "header", 0),
    ("size field too big", Startup(0), "8001 0000000b 00000000", "responseSize", 2),
    ("size field too small", GetRandom(0), "8001 0000000a 00000000 0000", "responseSize", 2),
    ("error response with extra bytes", Startup(0), "8001 0000000c 00000101 0000", "responseSize", 2),
    ("error response with session tag", EXTEND, "8002 0000000a 00000907", "tag", 0),
    ("RSP_COMMAND tag on another error", Raw(b""), "00c4 0000000a 00000101", "tag", 0),
    ("success with unknown tag", Raw(b""), "1234 0000000a 00000000", "tag", 0),
    ("extend answered without sessions", EXTEND, "8001 0000000a 00000000", "tag", 0),
    ("read answered with sessions", READ, "8002" + READ_OK[4:], "tag", 0),
    ("startup with parameters", Startup(0), "8001 0000000c 00000000 0000", "responseSize", 10),
    ("session response without parameterSize", EXTEND, "8002 0000000c 00000000 0000", "parameterSize", 10),
    ("parameterSize beyond the response", EXTEND, "8002 00000013 00000000 00000006 0000 01 0000", "parameterSize", 10),
    ("parameters for a command without any", EXTEND, "8002 00000015 00000000 00000002 0000 0000 01 0000", "parameterSize", 10),
    ("no authorization area", PcrReset(0), "8002 0000000e 00000000 00000000", "TPMS_AUTH_RESPONSE.nonce.size", 14),
    ("nonce on a password session", EXTEND, "8002 00000014 00000000 00000000 0001 aa 01 0000", "TPMS_AUTH_RESPONSE.nonce", 14),
    ("audit attribute on a password session", EXTEND, "8002 00000013 00000000 00000000 0000 81 0000", "TPMS_AUTH_RESPONSE.sessionAttributes", 16),
    ("hmac on a password session", EXTEND, "8002 00000014 00000000 00000000 0000 01 0001 aa", "TPMS_AUTH_RESPONSE.hmac", 17),
    ("two authorization areas", EXTEND, "8002 00000018 00000000 00000000 0000 01 0000 0000 01 0000", "responseSize", 19),
    ("trailing byte after the area", EXTEND, "8002 00000014 00000000 00000000 0000 01 0000 00", "responseSize", 19),
    ("event digest of unknown algorithm", PcrEvent(0, b""), "8002 00000000 00000000 00000006 00000001 0012 0000 01 0000", "TPMT_HA.hashAlg", 18),
    ("event parameters shorter than parameterSize", PcrEvent(0, b""), "8002 00000000 00000000 00000005 00000000 00 0000 01 0000", "parameterSize", 10),
    ("read: digest count beyond 8", READ, READ_HEAD + "00000000 00000009", "TPML_DIGEST.count", 18),
    ("read: selection count beyond 16", READ, READ_HEAD + "00000011", "TPML_PCR_SELECTION.count", 14),
    ("read: sizeofSelect 0", READ, READ_HEAD + "00000001 0004 00 00000000", "TPMS_PCR_SELECTION.sizeofSelect", 20),
    ("read: sizeofSelect 5", READ, READ_HEAD + "00000001 0004 05 0000000000 00000000", "TPMS_PCR_SELECTION.sizeofSelect", 20),
    ("read: fewer digests than PCRs", READ, READ_HEAD + "00000001 0004 03 000001 00000000", "TPML_DIGEST.count", 24),
    ("read: more digests than PCRs", READ, READ_HEAD + "00000001 0004 03 000000 00000001 0000", "TPML_DIGEST.count", 24),
    ("read: digest of the wrong size", READ, READ_HEAD + "00000001 000b 03 000001 00000001 0014" + "00" * 20, "TPM2B_DIGEST.size", 28),
    ("read: digest beyond TPMU_HA", READ, READ_HEAD + "00000000 00000001 0041" + "00" * 65, "TPM2B_DIGEST.size", 22),
    ("read: digest beyond the response", READ, READ_HEAD + "00000000 00000001 0002 00", "TPM2B_DIGEST.size", 22),
    ("read: trailing byte", READ, READ_OK.replace("0000005a", "00000000", 1) + "00", "responseSize", 90),
    ("random: size beyond TPMU_HA", GetRandom(65), "8001 00000000 00000000 0041" + "00" * 65, "TPM2B_DIGEST.size", 10),
    ("random: size beyond the response", GetRandom(4), "8001 00000000 00000000 0004 0000", "TPM2B_DIGEST.size", 10),
    ("capability: moreData 2", GetCapability(6, 0, 1), "8001 00000000 00000000 02 00000006 00000000", "TPM2_GetCapability.moreData", 10),
    ("capability: missing moreData", GetCapability(6, 0, 1), "8001 00000000 00000000", "TPM2_GetCapability.moreData", 10),
    ("capability: missing capability", GetCapability(6, 0, 1), "8001 00000000 00000000 00", "TPMS_CAPABILITY_DATA.capability", 11),
    ("capability: unknown capability", GetCapability(9, 0, 1), "8001 00000000 00000000 00 00000009 00000000", "TPMS_CAPABILITY_DATA.capability", 11),
    ("capability: too many properties", GetCapability(6, 0, 1), "8001 00000000 00000000 00 00000006 00000080", "TPML_TAGGED_TPM_PROPERTY.count", 15),
    ("capability: list beyond the response", GetCapability(1, 0, 1), "8001 00000000 00000000 00 00000001 00000002 81000000", "TPML_HANDLE.count", 15),
]


@pytest.mark.parametrize("name, op, response, field, offset", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_response_raises_wire_error_naming_the_field(name, op, response, field, offset):
    data = unhex(response)
    if data[2:6] == b"\x00\x00\x00\x00":  # size left for the test to fill in
        data = _resize(data)
    with pytest.raises(WireError) as err:
        decode_response(op, data)
    assert (err.value.field, err.value.offset) == (field, offset), str(err.value)


def test_wire_error_message_names_field_and_offset():
    err = WireError("TPML_PCR_SELECTION.count", 14, "17 exceeds 16")
    assert str(err) == "TPML_PCR_SELECTION.count at offset 14: 17 exceeds 16"
    assert (err.field, err.offset) == ("TPML_PCR_SELECTION.count", 14)
    assert isinstance(err, TargetError)  # a malformed response is a finding about the target
    copy = pickle.loads(pickle.dumps(err))  # crosses pytest-xdist workers
    assert (str(copy), copy.field, copy.offset) == (str(err), err.field, err.offset)


def test_decoded_error_names_the_count_in_its_message():
    with pytest.raises(WireError, match=r"^TPML_PCR_SELECTION.count at offset 14: 17 exceeds 16$"):
        decode_response(READ, _resize(unhex(READ_HEAD + "00000011")))


# --- encode_response refuses what decode_response would reject -------------------------

@pytest.mark.parametrize("op, outcome", [
    (Raw(b""), Outcome(0)),
    (Startup(0), Outcome(ANY_ERROR)),
    (Startup(0), Outcome(0, ANY)),
    (EXTEND, Outcome(0, ())),
    (PcrEvent(0, b""), Outcome(0, None)),
    (READ, Outcome(0, PcrReadResult(0, ((0x4, (16,)),), ()))),
    (READ, Outcome(0, PcrReadResult(0, ((0x4, (16,)),), (SHA256_DIGEST,)))),
    (READ, Outcome(0, PcrReadResult(ANY, ((0x4, (16,)),), (SHA1_DIGEST,)))),
    (READ, Outcome(0, (0, (), ()))),
    (GetRandom(2), Outcome(0, RandomResult(2, b"\x00"))),
    (GetRandom(65), Outcome(0, RandomResult(65, b"\x00" * 65))),
    (GetCapability(6, 0, 1), Outcome(0, CapabilityResult(ANY, 6, ()))),
    (GetCapability(9, 0, 1), Outcome(0, CapabilityResult(False, 9, ()))),
    (GetCapability(6, 0, 1), Outcome(0, CapabilityResult(False, 6, ((0, 0),) * 128))),
], ids=repr)
def test_encode_response_rejects_what_decode_would_reject(op, outcome):
    with pytest.raises(ValueError):
        encode_response(op, outcome)


@pytest.mark.parametrize("op", [Crash(), None])
def test_response_codecs_reject_non_commands(op):
    with pytest.raises(TypeError):
        decode_response(op, unhex("8001 0000000a 00000000"))
    with pytest.raises(TypeError):
        encode_response(op, Outcome(0))
