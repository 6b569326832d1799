"""The run's configuration and counters, shared by machines, plugin and CLI.

Hypothesis instantiates machines without arguments, so the target factory
they use is set here once per run (by the pytest plugin or a benchmark).
The counters are what evidence reports as examples, steps and operations.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.targets.factory import TargetFactory, parse_target


@dataclass
class Counters:
    examples: int = 0  # machine instances run
    steps: int = 0  # rules executed
    operations: int = 0  # TPM commands sent to a target and checked
    shrinks: int = 0  # successful shrinks Hypothesis made of failing examples

    def snapshot(self) -> tuple[int, int, int]:
        return (self.examples, self.steps, self.operations)


counters = Counters()
_factory: TargetFactory | None = None


def configure(factory: TargetFactory) -> None:
    global _factory
    _factory = factory


def factory() -> TargetFactory:
    """The run's target factory (the built-in emulator when nothing was configured)."""
    global _factory
    if _factory is None:
        _factory = parse_target("emulator")
    return _factory
