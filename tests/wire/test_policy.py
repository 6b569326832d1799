"""Policy-session commands and responses on the wire, against bytes written from Part 3's layouts
and responses captured from swtpm 0.7.1."""

from __future__ import annotations

import pytest

from harness.wire import WireError, decode_response, encode_command, encode_response
from models import ops

SESSION = 0x03000000


def test_command_bytes():
    assert encode_command(ops.StartAuthSession(1, 0x000B, b"\x11" * 16)).hex() == (
        "8001" "0000002b" "00000176" "40000007" "40000007" "0010" + "11" * 16 + "0000" "01" "0010" "000b")
    assert encode_command(ops.PolicyPCR(SESSION, ((0x000B, (0, 1)),))).hex() == (
        "8001" "0000001a" "0000017f" "03000000" "0000" "00000001" "000b" "03" "030000")
    assert encode_command(ops.PolicyLocality(SESSION, 0x04)).hex() == "80010000000f0000016f0300000004"
    assert encode_command(ops.PolicyGetDigest(SESSION)).hex() == "80010000000e0000018903000000"
    assert encode_command(ops.PolicyRestart(SESSION)).hex() == "80010000000e0000018003000000"
    assert encode_command(ops.FlushContext(0x80000001)).hex() == "80010000000e0000016580000001"
    assert encode_command(ops.NvPolicyRead(0x01400001, 8, SESSION, continue_session=False)).hex() == (
        "8002" "00000033" "0000014e" "01400001" "01400001" "00000019" "03000000" "0010" + "a5" * 16
        + "00" "0000" "0008" "0000")


def test_responses_measured_on_swtpm():
    started = bytes.fromhex("800100000020000000000300000100" "10" "0e66182873a8084988bbaa842adc9ff6")
    assert decode_response(ops.StartAuthSession(1, 0x000B), started) == ops.Outcome(
        0, ops.SessionStarted(0x03000001, bytes.fromhex("0e66182873a8084988bbaa842adc9ff6")))
    read = bytes.fromhex("80020000002d000000000000000a000873656372657421210010"
                         "8b84850da9bbdf7983f7abcb225433ff010000")
    assert decode_response(ops.NvPolicyRead(0x01500010, 8, SESSION), read) == ops.Outcome(0, b"secret!!")
    with pytest.raises(WireError, match="sessionAttributes"):
        decode_response(ops.NvPolicyRead(0x01500010, 8, SESSION, continue_session=False), read)
    no_nonce = bytes.fromhex("80020000001d000000000000000a0008736563726574212100000100" "00")
    with pytest.raises(WireError):
        decode_response(ops.NvPolicyRead(0x01500010, 8, SESSION), no_nonce)
    digest = bytes(range(32))
    response = encode_response(ops.PolicyGetDigest(SESSION), ops.Outcome(0, digest))
    assert response.hex() == "80010000002c000000000020" + digest.hex()
    assert decode_response(ops.PolicyGetDigest(SESSION), response) == ops.Outcome(0, digest)
    assert decode_response(ops.PolicyPCR(SESSION, ()), bytes.fromhex("80010000000a00000000")) == ops.Outcome(0)
