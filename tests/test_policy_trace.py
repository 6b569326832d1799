"""A policy-session failure reads as TPM steps, survives the trace file, and replays: the model
follows the session handles the replayed target chooses."""

from __future__ import annotations

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from harness import session
from harness.invariants import Violation
from harness.replay import replay
from harness.targets.factory import parse_target
from harness.trace import from_json, to_json
from suites.nv_policy_suite import NvPolicyMachine

MUTANT = "policy-locality-not-enforced"


@pytest.fixture
def mutant_target():
    previous = session.factory()
    session.configure(parse_target(f"emulator?mutant={MUTANT}"))
    yield
    session.configure(previous)


def test_a_policy_finding_is_readable_and_replays_only_on_the_mutant(mutant_target):
    with pytest.raises(Violation) as info:
        run_state_machine_as_test(NvPolicyMachine, settings=settings(
            max_examples=300, stateful_step_count=25, derandomize=True, database=None, deadline=None,
            phases=(Phase.generate,), print_blob=False))
    violation = info.value
    assert violation.requirement == "NV-POLICY"
    text = "\n".join(violation.steps)
    assert "TPM2_StartAuthSession(policy, sha" in text and "TPM2_PolicyLocality(0x03" in text
    # The mutant is found through whichever sealed access comes first: a read or a rewrite.
    assert ("TPM2_NV_Read(0x014" in text or "TPM2_NV_Write(0x014" in text) and "with policy session 0x03" in text
    trace = from_json(to_json(violation.trace, target=f"emulator?mutant={MUTANT}"))
    again = replay(trace, parse_target(f"emulator?mutant={MUTANT}"))
    assert again is not None and again.requirement == "NV-POLICY"
    assert replay(trace, parse_target("emulator")) is None
