"""Arbitrary and mutated bytes into both parsers: ImaLogError or a list, nothing else.

Whatever a parser accepts it must write back byte for byte: the parsers take
only canonical encodings, so an accepted input is one the model fully holds.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.strategies.ima import TEMPLATES, ima_logs
from models.ima import ImaLogError, parse_ascii, parse_binary, serialize_ascii, serialize_binary

BYTEORDERS = st.sampled_from(("little", "big"))


@st.composite
def mutations(draw, valid: bytes) -> bytes:
    """``valid`` with a few byte-level edits: flips, overwrites, deletions, insertions, a cut."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(("flip", "set", "delete", "insert", "cut")))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.sampled_from((0, 0xFF, 0x20, 0x0A, 0x3A, draw(st.integers(0, 255)))))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at:]
    return bytes(data)


def parses_canonically_or_refuses(parse, serialize, data: bytes, byteorder: str) -> None:
    try:
        entries = parse(data, byteorder=byteorder)
    except ImaLogError as exc:
        assert 0 <= exc.offset <= len(data) and exc.entry_index >= 0
        return
    assert serialize(entries, byteorder=byteorder) == data


def _mutated_binary(data, byteorder):
    entries = data.draw(ima_logs(template=data.draw(st.sampled_from(TEMPLATES)), byteorder=byteorder, max_size=6))
    return data.draw(mutations(serialize_binary(entries, byteorder=byteorder)))


def _mutated_ascii(data, byteorder):
    entries = data.draw(ima_logs(template=data.draw(st.sampled_from(TEMPLATES)), byteorder=byteorder, max_size=6))
    return data.draw(mutations(serialize_ascii(entries, byteorder=byteorder)))


@given(st.binary(max_size=400), BYTEORDERS)
def test_arbitrary_bytes_into_the_binary_parser(data, byteorder):
    parses_canonically_or_refuses(parse_binary, serialize_binary, data, byteorder)


@given(st.binary(max_size=400), BYTEORDERS)
def test_arbitrary_bytes_into_the_ascii_parser(data, byteorder):
    parses_canonically_or_refuses(parse_ascii, serialize_ascii, data, byteorder)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data(), BYTEORDERS)
def test_mutated_lists_into_the_binary_parser(data, byteorder):
    parses_canonically_or_refuses(parse_binary, serialize_binary, _mutated_binary(data, byteorder), byteorder)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data(), BYTEORDERS)
def test_mutated_lists_into_the_ascii_parser(data, byteorder):
    parses_canonically_or_refuses(parse_ascii, serialize_ascii, _mutated_ascii(data, byteorder), byteorder)


FUZZ = settings(max_examples=10_000, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.slow
@FUZZ
@given(st.data(), BYTEORDERS)
def test_fuzz_binary_parser(data, byteorder):
    raw = data.draw(st.one_of(st.binary(max_size=2000), st.just(None)))
    parses_canonically_or_refuses(parse_binary, serialize_binary,
                                  raw if raw is not None else _mutated_binary(data, byteorder), byteorder)


@pytest.mark.slow
@FUZZ
@given(st.data(), BYTEORDERS)
def test_fuzz_ascii_parser(data, byteorder):
    raw = data.draw(st.one_of(st.binary(max_size=2000), st.just(None)))
    parses_canonically_or_refuses(parse_ascii, serialize_ascii,
                                  raw if raw is not None else _mutated_ascii(data, byteorder), byteorder)
