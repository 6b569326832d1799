"""The base of every machine, and how a machine becomes a pytest test.

Machines only declare rules and invariants (see suites/); making targets and
models, driving them in lockstep, counting and closing are done here once.
"""

from __future__ import annotations

import pytest
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test
from hypothesis.statistics import collector

from harness import session
from harness.profiles import machine_settings
from harness.driver import Checked
from harness.targets.base import Capability
from harness.targets.factory import TargetFactory
from models.tcg import ALG_BY_NAME
from models.tpm import PROFILES, TpmModel
from models.vtpm import VtpmModel


def make_pair(factory: TargetFactory, instance: str = "", steps: list | None = None) -> Checked:
    """A fresh target of ``factory`` and a fresh model of its profile and banks, in lockstep."""
    target = factory.create()
    try:
        model = TpmModel(PROFILES[factory.profile],
                         banks=tuple(int(ALG_BY_NAME[b]) for b in factory.banks))
    except BaseException:
        target.close()
        raise
    return Checked(target, model, instance=instance, steps=steps)


class HarnessMachine(RuleBasedStateMachine):
    """Owns the targets of one example and closes them whatever happens."""

    REQUIREMENTS: tuple[str, ...] = ()  # requirement IDs this machine checks
    NEEDS: frozenset[Capability] = frozenset()  # controls the target must offer

    def __init__(self) -> None:
        super().__init__()
        self.factory = session.factory()
        self.steps = []  # one trace for every pair of this example
        self._pairs: list[Checked] = []
        session.counters.examples += 1

    def new_pair(self, instance: str = "") -> Checked:
        """A fresh target and a fresh model of the same profile and banks, in lockstep."""
        pair = make_pair(self.factory, instance, self.steps)
        self._pairs.append(pair)
        return pair

    def new_vtpms(self, disks: dict[str, bool]) -> dict[str, Checked]:
        """Several vTPMs of one manager (``factory.vtpms``), each in lockstep with a
        models.vtpm model; ``disks[name]``: that vTPM's disk is there at start."""
        targets = self.factory.vtpms(disks)
        pairs = {}
        try:
            profile = PROFILES[self.factory.profile]
            banks = tuple(int(ALG_BY_NAME[b]) for b in self.factory.banks)
            for name, target in targets.items():
                model = VtpmModel(TpmModel(profile, banks=banks), disk=disks[name],
                                  without_disk=getattr(target, "without_disk", "persistent"))
                pairs[name] = Checked(target, model, instance=name, steps=self.steps)
        finally:
            self._pairs.extend(pairs.values())
            for name, target in targets.items():
                if name not in pairs:
                    target.close()
        return pairs

    def count_step(self) -> None:
        session.counters.steps += 1

    def teardown(self) -> None:
        for pair in self._pairs:
            session.counters.operations += pair.commands
            pair.target.close()
        self._pairs.clear()

    @classmethod
    def skip_reason(cls, factory: TargetFactory) -> str | None:
        missing = sorted(c.value for c in cls.NEEDS - factory.capabilities)
        if missing:
            return f"target {factory.spec} lacks {', '.join(missing)}"
        return None


def _counting_shrinks(previous):
    """A Hypothesis statistics callback adding the run's successful shrinks to the counters,
    then passing the statistics on (to Hypothesis's own --hypothesis-show-statistics)."""

    def note(stats: dict) -> None:
        session.counters.shrinks += stats.get("shrink-phase", {}).get("shrinks-successful", 0)
        if previous is not None:
            previous(stats)

    return note


MACHINES: list[type[HarnessMachine]] = []  # every machine made into a test, for hunt


def machine_test(machine: type[HarnessMachine]):
    """A pytest test that runs ``machine`` under the active Hypothesis profile.

    It is skipped (and evidence says not-applicable) when the target lacks a
    control the machine needs; it carries the machine's requirement IDs.
    """

    @pytest.mark.requirements(*machine.REQUIREMENTS)
    def test() -> None:
        reason = machine.skip_reason(session.factory())
        if reason:
            pytest.skip(reason)
        with collector.with_value(_counting_shrinks(collector.value)):
            run_state_machine_as_test(machine, settings=machine_settings())

    MACHINES.append(machine)
    test.__name__ = f"test_{machine.__name__}"
    test.__doc__ = machine.__doc__
    return test
