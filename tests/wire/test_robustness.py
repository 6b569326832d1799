"""Every decoder, fed arbitrary or mutated bytes, returns a value or raises WireError.

Any other exception (IndexError, struct.error, ValueError...) would turn a
malformed response into a harness crash instead of a RESP-WELLFORMED finding.
Whatever a decoder accepts must also be something the encoders can write
back, so accepted values are re-encoded and decoded again.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings, strategies as st

from harness.wire import WireError, decode_command, decode_response, encode_command, encode_response, parse_header
from models.ops import Raw
from tests.wire import strategies as S
from tests.wire.vectors import VECTORS, unhex

OP_STRATEGIES = {
    "Startup": S.startup, "Shutdown": S.shutdown, "PcrExtend": S.pcr_extend, "PcrEvent": S.pcr_event,
    "PcrReset": S.pcr_reset, "PcrRead": S.pcr_read, "GetRandom": S.get_random,
    "GetCapability": S.get_capability, "Raw": S.raw,
}
STRUCTURES = {cls.__name__: cls for cls in S.STRUCTURES}


def _decoded_or_none(decode, data: bytes):
    try:
        return decode(data)
    except WireError:
        return None


def _check_response(op, data: bytes) -> None:
    outcome = _decoded_or_none(lambda d: decode_response(op, d), data)
    if outcome is not None and not (type(op) is Raw and outcome.rc == 0):
        assert decode_response(op, encode_response(op, outcome)) == outcome


def _check_command(data: bytes) -> None:
    op = _decoded_or_none(decode_command, data)
    if op is not None:
        assert decode_command(encode_command(op)) == op


def _check_structure(cls, data: bytes) -> None:
    decoded = _decoded_or_none(cls.unmarshal, data)
    if decoded is not None:
        value, end = decoded
        assert value.marshal() == data[:end]


@st.composite
def mutations(draw, valid: bytes) -> bytes:
    """``valid`` with 1-3 edits; half the time the header size field is made to match again."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "truncate", "extend", "insert", "delete", "word"]))
        if kind == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "extend":
            data += draw(st.binary(min_size=1, max_size=8))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 4))]
        elif kind == "word" and at + 4 <= len(data):
            word = draw(st.sampled_from([0, 1, 0xFF, 0xFFFF, 0x10000, 0xFFFFFFFF, len(data), len(data) + 1]))
            data[at:at + 4] = (word & 0xFFFFFFFF).to_bytes(4, "big")
    if len(data) >= 6 and draw(st.booleans()):
        data[2:6] = struct.pack(">I", len(data))
    return bytes(data)


@st.composite
def framed_bodies(draw) -> bytes:
    """A header whose size field is right, with a random tag, code and body."""
    body = draw(st.binary(max_size=120))
    tag = draw(st.sampled_from([0x8001, 0x8002, 0x00C4, 0x0000]))
    code = draw(st.sampled_from([0, 0, 0x1E, 0x907]))
    return struct.pack(">HII", tag, 10 + len(body), code) + body


garbage = st.one_of(st.binary(max_size=200), framed_bodies())


def _fuzz_response(data, name: str) -> None:
    op = data.draw(OP_STRATEGIES[name])
    _check_response(op, data.draw(garbage))
    valid = encode_response(op, data.draw(S.outcomes_for(op)))
    _check_response(op, data.draw(mutations(valid)))


def _fuzz_command(data) -> None:
    _check_command(data.draw(garbage))
    _check_command(data.draw(mutations(encode_command(data.draw(S.command_ops)))))


def _fuzz_structure(data, name: str) -> None:
    cls = STRUCTURES[name]
    _check_structure(cls, data.draw(st.binary(max_size=120)))
    _check_structure(cls, data.draw(mutations(data.draw(S.STRUCTURES[cls]).marshal())))


@pytest.mark.parametrize("name", sorted(OP_STRATEGIES))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_decode_response_on_garbage_and_mutations(name, data):
    _fuzz_response(data, name)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_decode_command_on_garbage_and_mutations(data):
    _fuzz_command(data)


@settings(max_examples=200, deadline=None)
@given(garbage)
def test_parse_header_on_garbage(data):
    header = _decoded_or_none(parse_header, data)
    assert header is None or header == struct.unpack(">HII", data[:10])


@pytest.mark.parametrize("name", sorted(STRUCTURES))
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_unmarshal_on_garbage_and_mutations(name, data):
    _fuzz_structure(data, name)


@pytest.mark.slow
@settings(deadline=None)  # as many examples as the active profile gives (tox -e fuzz: certify)
@given(data=st.data())
def test_long_fuzz_of_every_decoder(data):
    kind = data.draw(st.sampled_from(["response", "command", "structure"]))
    if kind == "response":
        _fuzz_response(data, data.draw(st.sampled_from(sorted(OP_STRATEGIES))))
    elif kind == "command":
        _fuzz_command(data)
    else:
        _fuzz_structure(data, data.draw(st.sampled_from(sorted(STRUCTURES))))


def _single_edits(valid: bytes):
    """Every truncation and every one-byte corruption, with the size field as is and made to match."""
    variants = [valid[:cut] for cut in range(len(valid))]
    for at in range(len(valid)):
        for mask in (0x01, 0x80, 0xFF):
            edited = bytearray(valid)
            edited[at] ^= mask
            variants.append(bytes(edited))
            if len(edited) >= 6 and at >= 6:
                edited[2:6] = struct.pack(">I", len(edited))
                variants.append(bytes(edited))
    return variants


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_every_single_edit_of_a_swtpm_vector(name):
    op, command, response, _ = VECTORS[name]
    for variant in _single_edits(unhex(command)):
        _check_command(variant)
    for variant in _single_edits(unhex(response)):
        _check_response(op, variant)
