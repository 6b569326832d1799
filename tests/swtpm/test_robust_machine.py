"""The ROBUST-INPUT machine against a spawned swtpm: every malformed class but the
short frames (tests/swtpm/test_short_frames.py), mixed with valid commands."""

from __future__ import annotations

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from harness import session
from harness.targets.factory import parse_target
from suites.robust_suite import RobustMachine
from tests.swtpm.tpm import SWTPM

pytestmark = SWTPM


def test_the_robust_machine_passes_on_swtpm():
    previous = session.factory()
    session.configure(parse_target("swtpm"))
    before = session.counters.snapshot()
    try:
        run_state_machine_as_test(RobustMachine, settings=settings(
            max_examples=20, stateful_step_count=20, derandomize=True, database=None, deadline=None))
    finally:
        session.configure(previous)
    examples, steps, operations = (a - b for a, b in zip(session.counters.snapshot(), before))
    assert examples >= 20 and operations > steps
