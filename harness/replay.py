"""``vtpm-harness replay TRACE --target SPEC``: does the same divergence appear?

A trace's operations are re-executed, in order and per TPM instance, against
any target with a fresh reference model beside it, through the same driver
the machines use.  What a vendor attaches to a bug report, and how a fix is
shown to work.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import UsageError
from harness.invariants import Violation
from harness.machine import make_pair
from harness.policy import start_session
from harness.targets.factory import TargetFactory
from harness.trace import from_json
from models.ops import NvRead, NvReadPublic, StartAuthSession

# Responses that show the model what the TPM chose where the spec leaves it open (an orderly
# counter's count or an orderly index's lock after a disorderly shutdown), as NvMachine does.
_OBSERVED = (NvRead, NvReadPublic)


def load_trace(path: str) -> dict:
    try:
        return from_json(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"cannot read trace {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path} is not a vtpm-harness trace: {exc}") from None


def replay(trace: dict, factory: TargetFactory) -> Violation | None:
    """Re-execute every step; the first Violation, or None when all agree with the model."""
    pairs, steps = {}, []
    try:
        for instance, op, command, _response in trace["steps"]:
            pair = pairs.get(instance)
            if pair is None:
                pair = pairs[instance] = make_pair(factory, instance, steps)
            if command is None:
                pair.platform(op)
            elif isinstance(op, StartAuthSession):
                start_session(pair, op)  # the model follows the handle the target chooses now
            elif type(op) in _OBSERVED:
                pair.model.nv_observe(op, pair.command(op))
            else:
                pair.command(op)
        for pair in pairs.values():
            pair.check_pcrs()
    except Violation as violation:
        return violation
    finally:
        for pair in pairs.values():
            pair.target.close()
    return None
