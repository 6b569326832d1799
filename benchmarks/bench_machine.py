"""Throughput of the PCR machine, as ratios against baselines from the same run.

    python -m benchmarks.bench_machine [--target SPEC] [--examples N]

Prints: checked TPM operations per second through the machine; Hypothesis
steps per second of the machine and of a no-op machine (the framework's own
cost); the checked path alone on seeded bursts; and the raw command rate of
the target on the same command mix (encoded once, sent with no model and no
checks) -- the ceiling the harness is measured against.
"""

from __future__ import annotations

import argparse
import time

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, rule,
                                 run_state_machine_as_test)

from harness import session
from harness.machine import HarnessMachine, make_pair
from harness.strategies.seeded import seeded_commands
from harness.targets.factory import parse_target
from harness.wire import encode_command
from models import ops
from models.tcg import TPM_SU
from suites.pcr_suite import PcrMachine


class NoOpMachine(RuleBasedStateMachine):
    """The same shape of machine with nothing behind it: Hypothesis's cost per step."""

    @rule(burst=st.lists(st.integers(0, 23), min_size=1, max_size=12))
    def commands(self, burst):
        pass

    @invariant()
    def nothing(self):
        session.counters.steps += 1


class SeededMachine(HarnessMachine):
    """Only seeded bursts and the PCR sweep: the machines' rate when steps carry many commands."""

    def __init__(self) -> None:
        super().__init__()
        self.tpm = self.new_pair()

    @initialize()
    def power_on(self):
        self.tpm.command(ops.Startup(int(TPM_SU.TPM_SU_CLEAR)))

    @rule(seed=st.integers(0, 2**32 - 1))
    def seeded(self, seed):
        for op in seeded_commands(seed, 64):
            self.tpm.command(op)
        if not self.tpm.model.started:
            self.tpm.command(ops.Startup(int(TPM_SU.TPM_SU_CLEAR)))

    @invariant()
    def pcrs_agree(self):
        self.count_step()
        self.tpm.check_pcrs()


def _bench_settings(examples: int) -> settings:
    return settings(max_examples=examples, stateful_step_count=25, derandomize=True,
                    database=None, deadline=None, print_blob=False)


def timed_machine(machine, examples: int) -> tuple[float, tuple[int, int, int]]:
    before = session.counters.snapshot()
    start = time.perf_counter()
    run_state_machine_as_test(machine, settings=_bench_settings(examples))
    elapsed = time.perf_counter() - start
    after = session.counters.snapshot()
    return elapsed, tuple(a - b for a, b in zip(after, before))


def raw_rate(spec: str, seconds: float = 1.0) -> float:
    """Commands/s of the checked path's own command mix (seeded bursts), encoded beforehand and
    sent with no model, no decoding and no checks: the baseline the harness is measured against."""
    target = parse_target(spec).create()
    startup = encode_command(ops.Startup(int(TPM_SU.TPM_SU_CLEAR)))
    bursts = [[(encode_command(op), op.locality) for op in seeded_commands(seed, 64)] for seed in range(50)]
    try:
        target.transmit(startup, 0)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for burst in bursts:
                for command, locality in burst:
                    target.transmit(command, locality)
                target.transmit(startup, 0)  # a burst may have shut down; as the checked path does
                n += len(burst) + 1
        return n / (time.perf_counter() - start)
    finally:
        target.close()


def checked_rate(spec: str, seconds: float = 1.0) -> float:
    """Commands/s through the full checked path (model, encode, transmit, decode, compare,
    a PCR sweep every 64 commands) on seeded bursts: the ceiling of the machines' rate."""
    pair = make_pair(parse_target(spec))
    try:
        pair.command(ops.Startup(int(TPM_SU.TPM_SU_CLEAR)))
        seed, start = 0, time.perf_counter()
        before = pair.commands
        while time.perf_counter() - start < seconds:
            for op in seeded_commands(seed, 64):
                pair.command(op)
            pair.check_pcrs()
            if not pair.model.started:
                pair.command(ops.Startup(int(TPM_SU.TPM_SU_CLEAR)))
            seed += 1
        return (pair.commands - before) / (time.perf_counter() - start)
    finally:
        pair.target.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="emulator")
    parser.add_argument("--examples", type=int, default=60)
    args = parser.parse_args()
    session.configure(parse_target(args.target))

    noop_time, (_, noop_steps, _) = timed_machine(NoOpMachine, args.examples)
    machine_time, (_, steps, operations) = timed_machine(PcrMachine, args.examples)
    seeded_time, (_, seeded_steps, seeded_ops) = timed_machine(SeededMachine, args.examples)
    raw = raw_rate(args.target)
    checked = checked_rate(args.target)

    print(f"target: {args.target}, {args.examples} examples x up to 25 steps, derandomized")
    print(f"no-op machine           : {noop_steps / noop_time:10.0f} steps/s")
    print(f"PCR machine             : {steps / machine_time:10.0f} steps/s "
          f"({operations / max(steps, 1):.1f} checked TPM operations per step)")
    print(f"checked TPM operations  : {operations / machine_time:10.0f} ops/s")
    print(f"seeded-burst machine    : {seeded_ops / seeded_time:10.0f} checked ops/s "
          f"({seeded_ops / max(seeded_steps, 1):.1f} per step)")
    print(f"raw target round trips  : {raw:10.0f} commands/s (same command mix, no model, no checks)")
    print(f"checked path, no draws  : {checked:10.0f} commands/s (seeded bursts; ratio to raw {checked / raw:.2f})")
    print(f"ratios: checked ops/s per no-op step/s = {operations / machine_time / (noop_steps / noop_time):.2f}; "
          f"checked ops/s / raw = {operations / machine_time / raw:.2f}; "
          f"seeded-burst machine / raw = {seeded_ops / seeded_time / raw:.2f}")


if __name__ == "__main__":
    main()
