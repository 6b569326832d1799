"""Shrinking a finding by its trace: cheap where Hypothesis's shrinker is slow.

A machine whose examples are long bursts of commands (NvMachine) is costly to
shrink through Hypothesis: every attempt re-runs the rules, their draws and
the read-back of every index after each step.  The trace of the failing
example already holds every command in order, and replaying a trace
(harness.replay) against a fresh target and model takes milliseconds.  So a
finding is shrunk here by deleting steps, in halving chunks as in delta
debugging, and keeping each deletion after which the replay still violates
the same requirement.  The result is a short trace whose readable steps show
the bug; replaying it stays the reproducer.
"""

from __future__ import annotations

from harness.invariants import Violation
from harness.replay import replay
from harness.targets.factory import TargetFactory


def minimize(steps: list, factory: TargetFactory, requirement: str) -> Violation | None:
    """The Violation of ``requirement`` from the shortest subsequence of ``steps`` found by
    chunked deletion (None when ``steps`` itself does not reproduce it)."""

    def fails(candidate: list) -> Violation | None:
        violation = replay({"steps": candidate}, factory)
        return violation if violation is not None and violation.requirement == requirement else None

    best = fails(list(steps))
    if best is None:
        return None
    current = list(best.trace)  # nothing after the failing step matters
    chunk = max(1, len(current) // 2)
    while True:
        removed, start = False, 0
        while start < len(current):
            found = fails(current[:start] + current[start + chunk:])
            if found is None:
                start += chunk
            else:
                best, current, removed = found, list(found.trace), True
        if chunk == 1 and not removed:
            return best
        chunk = max(1, chunk // 2)
