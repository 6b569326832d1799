"""Traces: JSON round trip of every operation type, and readable steps in TPM terms."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness import trace
from harness.strategies import tpm as draw
from models import ops

any_op = st.one_of(
    draw.tpm_command, draw.malformed_command(),
    st.builds(ops.PowerCycle, orderly=st.booleans()), st.just(ops.Crash()),
    st.builds(ops.Drtm, data=st.binary(max_size=40)),
)


@given(st.lists(st.tuples(st.sampled_from(["", "ptpm", "vtpm-1"]), any_op,
                          st.one_of(st.none(), st.binary(max_size=30)),
                          st.one_of(st.none(), st.binary(max_size=30))), max_size=8))
def test_trace_json_round_trip(steps):
    steps = [(who, op, cmd, rsp if cmd is not None else None) for who, op, cmd, rsp in steps]
    text = trace.to_json(steps, target="emulator", requirement="PCR-AGREE", summary="s")
    back = trace.from_json(text)
    assert back["steps"] == steps
    assert back["target"] == "emulator" and back["requirement"] == "PCR-AGREE"


def test_readable_steps_name_the_tpm_the_locality_and_the_code():
    reset = ops.PcrReset(pcr=20, locality=0)
    response = bytes.fromhex("80010000000a00000907")
    (line,) = trace.readable([("vtpm-1", reset, b"\x80\x02", response)])
    assert line == "  1. [vtpm-1] TPM2_PCR_Reset(PCR 20) at locality 0 -> TPM_RC_LOCALITY (0x907)"


def test_readable_platform_steps_have_no_response_code():
    (line,) = trace.readable([("", ops.PowerCycle(orderly=False), None, None)])
    assert line == "  1. power cycle (power cut), _TPM_Init"
