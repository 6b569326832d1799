"""The machines against a spawned swtpm: the CI lane of the swtpm target (issues 3 and 4).

Small budgets: `tox -e swtpm` runs every suite on swtpm under the ci profile."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from harness import session
from harness.targets.factory import parse_target
from suites.nv_policy_suite import NvPolicyMachine
from suites.nv_suite import NvMachine
from suites.pcr_suite import PcrMachine
from suites.sequence_suite import SequenceMachine

pytestmark = [pytest.mark.swtpm,
              pytest.mark.skipif(shutil.which("swtpm") is None,
                                 reason="swtpm is not installed (Debian package swtpm)")]


def run_on(spec: str, machine, examples: int, steps: int) -> tuple[int, int, int]:
    """Run ``machine`` against ``spec`` (derandomized); the examples, steps and operations it ran."""
    previous = session.factory()
    session.configure(parse_target(spec))
    before = session.counters.snapshot()
    try:
        run_state_machine_as_test(machine, settings=settings(
            max_examples=examples, stateful_step_count=steps, derandomize=True, database=None, deadline=None))
    finally:
        session.configure(previous)
    return tuple(a - b for a, b in zip(session.counters.snapshot(), before))


@pytest.mark.parametrize("spec", ["swtpm", "swtpm?banks=sha256,sha384&transport=tcp"])
def test_the_pcr_machine_passes_on_swtpm_with_the_libtpms_profile(spec):
    examples, steps, operations = run_on(spec, PcrMachine, 25, 20)
    assert examples >= 25 and operations > steps  # bursts: several checked commands per step


@pytest.mark.parametrize("machine", [NvMachine, NvPolicyMachine, SequenceMachine], ids=lambda m: m.__name__)
def test_the_nv_policy_and_sequence_machines_pass_on_swtpm(machine):
    examples, steps, operations = run_on("swtpm", machine, 10, 12)
    assert examples >= 10 and operations >= steps
