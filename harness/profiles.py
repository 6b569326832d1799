"""Hypothesis profiles: ``ci`` (small, reproducible), ``certify`` (large), ``hunt`` (unbounded).

Deadlines are off everywhere: a TPM round trip's time is the target's
business, and hangs are caught by the targets' own I/O timeouts.  Machine
examples cost ~100x a plain property example, so machines run
``MACHINE_SHARE`` of the profile's examples.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

MACHINE_SHARE = 0.5
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
# No "explain" phase: on a stateful failure it replays the run many times over, costing
# more than finding and shrinking together, and a TPM trace already explains itself.
_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)

# Every profile is built on Hypothesis's plain defaults: under a CI environment variable
# Hypothesis makes its own CI settings the default (derandomized, no database), which would
# otherwise leak into certify and hunt and make every hunting chunk replay the same examples.
_BASE = settings.get_profile("default")

settings.register_profile(
    "ci", parent=_BASE, max_examples=200, stateful_step_count=25, deadline=None, derandomize=True,
    database=None, suppress_health_check=_QUIET, print_blob=True, phases=_PHASES)
settings.register_profile(
    "certify", parent=_BASE, derandomize=False, max_examples=10_000, stateful_step_count=50, deadline=None,
    suppress_health_check=_QUIET, print_blob=True, phases=_PHASES)
settings.register_profile(
    "hunt", parent=_BASE, derandomize=False, max_examples=100_000_000, stateful_step_count=60, deadline=None,
    suppress_health_check=_QUIET, print_blob=True, phases=_PHASES)

PROFILES = ("ci", "certify", "hunt")


def machine_settings() -> settings:
    """The active profile with the machines' share of its examples."""
    base = settings.default
    return settings(base, max_examples=max(5, int(base.max_examples * MACHINE_SHARE)))
