"""Shrinking a finding by its trace (harness.minimize): the steps that do not matter go, the
violation of the same requirement stays, and a trace that does not reproduce gives None."""

from __future__ import annotations

import pytest

from harness.invariants import Violation
from harness.machine import make_pair
from harness.minimize import minimize
from harness.replay import replay
from harness.targets.factory import parse_target
from models import ops

OWNER, NV1, NV2 = 0x40000001, 0x01000001, 0x01000002
SHA256, OWNER_RW = 0x000B, 0x00020002
ORDERLY, COUNTER, WRITEDEFINE = 0x04000000, 0x10, 0x2000


def noisy_history_then_bug(pair) -> None:
    """PCR and NV traffic, a crash, then a write one octet past the end of an 8-octet index."""
    pair.command(ops.Startup(0))
    pair.command(ops.NvDefineSpace(OWNER, NV2, SHA256, OWNER_RW, 4))
    for n in range(5):
        pair.command(ops.PcrExtend(16, ((SHA256, bytes([n]) * 32),)))
        pair.command(ops.NvWrite(OWNER, NV2, bytes([n])))
    pair.platform(ops.Crash())
    pair.command(ops.Startup(0))
    pair.command(ops.NvDefineSpace(OWNER, NV1, SHA256, OWNER_RW, 8))
    pair.command(ops.NvRead(OWNER, NV2, 4))
    pair.command(ops.NvWrite(OWNER, NV1, b"xy", 7))


def found_on(spec: str) -> Violation:
    pair = make_pair(parse_target(spec))
    try:
        with pytest.raises(Violation) as info:
            noisy_history_then_bug(pair)
    finally:
        pair.target.close()
    return info.value


def test_only_the_steps_the_bug_needs_remain():
    spec = "emulator?mutant=nv-range-off-by-one"
    found = found_on(spec)
    shrunk = minimize(found.trace, parse_target(spec), found.requirement)
    assert shrunk.requirement == found.requirement == "NV-DURABLE"
    assert [type(step[1]) for step in shrunk.trace] == [ops.Startup, ops.NvDefineSpace, ops.NvWrite]
    assert shrunk.trace[-1][1] == ops.NvWrite(OWNER, NV1, b"xy", 7)
    assert "NvWrite" in shrunk.steps[-1] and len(shrunk.steps) == 3


def test_a_trace_that_does_not_reproduce_gives_none():
    found = found_on("emulator?mutant=nv-range-off-by-one")
    assert minimize(found.trace, parse_target("emulator"), found.requirement) is None
    assert minimize(found.trace, parse_target("emulator?mutant=nv-range-off-by-one"), "PCR-AGREE") is None


def test_replay_learns_from_read_public_whether_a_crash_kept_an_unsaved_lock():
    """On the emulator (as on libtpms) a crash drops a lock set since the last save; the trace
    replays clean only because the replay lets NvReadPublic settle what the spec leaves open."""
    pair = make_pair(parse_target("emulator"))
    try:
        pair.command(ops.Startup(0))
        pair.command(ops.NvDefineSpace(OWNER, NV1, SHA256, OWNER_RW | ORDERLY | COUNTER | WRITEDEFINE, 8))
        pair.command(ops.NvIncrement(OWNER, NV1))
        pair.command(ops.NvWriteLock(OWNER, NV1))
        pair.platform(ops.Crash())
        pair.command(ops.Startup(0))
        pair.model.nv_observe(ops.NvReadPublic(NV1), pair.command(ops.NvReadPublic(NV1)))
        assert pair.command(ops.NvIncrement(OWNER, NV1)).rc == 0  # the lock went with the crash
    finally:
        pair.target.close()
    assert replay({"steps": pair.steps}, parse_target("emulator")) is None
