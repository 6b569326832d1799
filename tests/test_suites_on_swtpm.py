"""The PCR machine against a spawned swtpm: the CI lane of the swtpm target (issue 3)."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from harness import session
from harness.targets.factory import parse_target
from suites.pcr_suite import PcrMachine

pytestmark = [pytest.mark.swtpm,
              pytest.mark.skipif(shutil.which("swtpm") is None,
                                 reason="swtpm is not installed (Debian package swtpm)")]


@pytest.mark.parametrize("spec", ["swtpm", "swtpm?banks=sha256,sha384&transport=tcp"])
def test_the_pcr_machine_passes_on_swtpm_with_the_libtpms_profile(spec):
    previous = session.factory()
    session.configure(parse_target(spec))
    before = session.counters.snapshot()
    try:
        run_state_machine_as_test(PcrMachine, settings=settings(
            max_examples=25, stateful_step_count=20, derandomize=True, database=None, deadline=None))
    finally:
        session.configure(previous)
    examples, steps, operations = (a - b for a, b in zip(session.counters.snapshot(), before))
    assert examples >= 25 and operations > steps  # bursts: several checked commands per step
