"""Seeded bursts: deterministic, and spread like the drawn commands they stand in for."""

from __future__ import annotations

import dataclasses
from collections import Counter

from harness.strategies.seeded import seeded_commands
from harness.wire import decode_command, encode_command
from models import ops


def test_the_same_seed_gives_the_same_commands_and_a_prefix_for_a_smaller_count():
    assert seeded_commands(7, 50) == seeded_commands(7, 50)
    assert seeded_commands(7, 20) == seeded_commands(7, 50)[:20]
    assert seeded_commands(7, 50) != seeded_commands(8, 50)


def test_every_seeded_command_is_encodable_and_round_trips():
    for op in seeded_commands(1, 2000):
        assert decode_command(encode_command(op)) == dataclasses.replace(op, locality=0)


def test_seeded_commands_hit_every_locality_and_mostly_the_locality_gated_pcrs():
    commands = seeded_commands(3, 5000)
    kinds = Counter(type(op) for op in commands)
    assert kinds[ops.PcrExtend] > kinds[ops.Startup] * 3 and kinds[ops.PcrReset] > kinds[ops.Shutdown] * 3
    assert {op.locality for op in commands} == {0, 1, 2, 3, 4}
    resets = [op.pcr for op in commands if type(op) is ops.PcrReset]
    assert sum(16 <= p <= 23 for p in resets) > len(resets) / 2
