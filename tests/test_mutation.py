"""Mutation self-check: the suites must find every bug planted in the emulator.

For each named mutant the machine that checks the mutant's requirement runs
against ``emulator?mutant=NAME`` and must fail with a Violation of exactly
that requirement ID; the unmutated emulator must pass the same runs.
"""

from __future__ import annotations

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from harness import session
from harness.emulator import MUTANTS
from harness.invariants import Violation
from harness.minimize import minimize
from harness.profiles import machine_settings
from harness.replay import replay
from harness.targets.factory import parse_target
from suites.arch2_suite import Arch2Machine
from suites.arch3_suite import Arch3Machine
from suites.handoff_suite import OrderedHandoffMachine
from suites.locality_suite import OrderedContentionMachine
from suites.nv_policy_suite import NvPolicyMachine
from suites.nv_suite import NvMachine
from suites.pcr_suite import PcrMachine
from suites.robust_suite import RobustMachine
from suites.sequence_suite import SequenceMachine

# Which machine checks which requirement (grows with the suites).
MACHINE_FOR = {rid: PcrMachine for rid in PcrMachine.REQUIREMENTS}
MACHINE_FOR["NV-DURABLE"] = NvMachine
MACHINE_FOR["NV-POLICY"] = NvPolicyMachine
# A mutant that only another machine of its requirement can reach names that machine here.
MACHINE_OF_MUTANT: dict[str, type] = {}
MACHINE_OF_MUTANT.update(dict.fromkeys(
    ("insufficient-as-size", "oversize-event-accepted", "authsize-overrun-accepted",
     "session-handle-unchecked", "password-on-no-auth-command", "handle-type-unchecked"),
    RobustMachine))
MACHINE_OF_MUTANT.update({name: Arch2Machine for name in (
    "vtpm-reset-leaks", "vtpm-extend-misrouted", "vtpm-crash-takes-all", "vtpm-crash-resumes-stale")})
MACHINE_OF_MUTANT.update({name: Arch3Machine for name in (
    "vtpm-attach-drops-last-extend", "vtpm-attach-old-volatile", "vtpm-mirror-wrong-pcr",
    "vtpm-persistent-without-disk", "vtpm-extend-needs-disk")})
# Races make the order the target took its own choice, so these kills use the ordered variants.
MACHINE_OF_MUTANT["locality-cached-per-client"] = OrderedContentionMachine
MACHINE_OF_MUTANT.update(dict.fromkeys(("first-extend-after-startup-dropped", "pcr10-extend-sha1-only",
                                        "locality-one-command-late"), OrderedHandoffMachine))
MACHINE_OF_MUTANT["vtpm-mirror-sha1-only"] = OrderedHandoffMachine
MACHINE_OF_MUTANT.update(dict.fromkeys(
    ("sequence-update-drops-block", "event-sequence-skips-bank", "sequence-survives-startup",
     "sequence-ticket-checks-last-block", "handles-capability-misses-nv-index", "transient-avail-not-updated"),
    SequenceMachine))
# Generous enough that every mutant is killed well before the budget; derandomized, so the
# result is the same on every run and CI cannot flake.
KILL_SETTINGS = settings(max_examples=400, stateful_step_count=25, derandomize=True,
                         database=None, deadline=None, print_blob=False,
                         phases=(Phase.explicit, Phase.generate, Phase.shrink))


def violations(exc: BaseException) -> list[Violation]:
    if isinstance(exc, Violation):
        return [exc]
    if isinstance(exc, BaseExceptionGroup):
        return [v for sub in exc.exceptions for v in violations(sub)]
    return []


@pytest.fixture
def target(request):
    """Point the machines at a spec for one test, then restore the run's factory."""
    previous = session.factory()

    def use(spec: str):
        session.configure(parse_target(spec))

    yield use
    session.configure(previous)


def machine_for(name: str):
    return MACHINE_OF_MUTANT.get(name) or MACHINE_FOR.get(MUTANTS[name].requirement)


# Machines whose examples are long command bursts that Hypothesis shrinks slowly (minutes per NV
# kill): their kills skip the shrink phase and are shrunk by their trace (harness.minimize), in
# well under a second.
TRACE_SHRUNK = {NvMachine}
FIND_SETTINGS = settings(KILL_SETTINGS, phases=(Phase.explicit, Phase.generate))


@pytest.mark.parametrize("name", sorted(n for n in MUTANTS if machine_for(n)))
def test_mutant_is_killed_with_its_requirement(name, target):
    mutant = MUTANTS[name]
    machine = machine_for(name)
    target(f"emulator?mutant={name}")
    with pytest.raises(BaseException) as info:
        run_state_machine_as_test(machine, settings=FIND_SETTINGS if machine in TRACE_SHRUNK else KILL_SETTINGS)
    found = violations(info.value)
    assert found, f"{name}: the run failed without a Violation: {info.value!r}"
    assert mutant.requirement in {v.requirement for v in found}, (
        f"{name} was caught as {[v.requirement for v in found]}, expected {mutant.requirement}")
    if machine in TRACE_SHRUNK:
        first = next(v for v in found if v.requirement == mutant.requirement)
        shrunk = minimize(first.trace, session.factory(), mutant.requirement)
        assert shrunk is not None, f"{name}: replaying the machine's trace does not reproduce the kill"
        assert replay({"steps": shrunk.trace}, parse_target("emulator")) is None, (
            f"{name}: the shrunk steps fail on the unmutated emulator too:\n{shrunk}")
        found = [shrunk]
    # The shrunk failure reads as TPM steps, printed for the person reading the test log.
    print(f"\n{name} ({mutant.description}) killed:\n{found[0]}")


@pytest.mark.parametrize("machine", sorted({*MACHINE_FOR.values(), *MACHINE_OF_MUTANT.values()},
                                            key=lambda m: m.__name__),
                         ids=lambda m: m.__name__)
def test_unmutated_emulator_passes(machine, target):
    target("emulator")
    run_state_machine_as_test(machine, settings=machine_settings())


def test_every_requirement_of_a_mutant_has_a_machine():
    unhandled = {n: m.requirement for n, m in MUTANTS.items() if not machine_for(n)}
    assert not unhandled, f"mutants whose requirement no machine checks yet: {unhandled}"
