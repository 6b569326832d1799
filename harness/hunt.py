"""``vtpm-harness hunt``: run the machines for a time budget, stop at the first finding.

Workers (processes) cycle through every machine of the suites with the
``hunt`` profile, in short chunks so the budget is honoured; each reports its
counters after every chunk.  The first finding is shrunk by Hypothesis in the
worker that found it, then the others are stopped, the readable steps are
printed, and the trace and evidence are written.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import pkgutil
import queue
import sys
import time

from hypothesis import Verbosity, settings
from hypothesis.stateful import run_state_machine_as_test

from harness import session
from harness.errors import UsageError
from harness.invariants import REQUIREMENTS, Violation
from harness.machine import MACHINES
from harness.targets.factory import parse_target
from harness.trace import to_json

CHUNK = 10  # examples per run_state_machine_as_test call: the budget's granularity
PROGRESS_EVERY = 5.0  # seconds between plain progress lines when not on a terminal


def all_machines() -> list:
    """Every machine of the suites package (importing a suite module registers its machines)."""
    import suites

    for info in pkgutil.iter_modules(suites.__path__):
        importlib.import_module(f"suites.{info.name}")
    return list(MACHINES)


def _worker(number: int, spec: str, swtpm_binary: str | None, results, example_db: str | None) -> None:
    """Hunt until stopped; put ("progress", counters) and at most one ("finding", dict).

    Every chunk starts with Hypothesis's reuse phase, so failures saved in the
    example database (by any worker, or another machine through Redis) run first."""
    from harness.example_db import example_database

    factory = parse_target(spec, swtpm_binary)
    session.configure(factory)
    machines = [m for m in all_machines() if m.skip_reason(factory) is None]
    extra = {"database": example_database(example_db)} if example_db else {}
    chunk = settings(settings.get_profile("hunt"), max_examples=CHUNK, verbosity=Verbosity.quiet, **extra)
    turn = number
    while True:
        machine = machines[turn % len(machines)]
        turn += 1
        try:
            run_state_machine_as_test(machine, settings=chunk)
        except Exception as exc:  # noqa: BLE001 - reported to the parent, never lost
            violation = exc if isinstance(exc, Violation) else None
            if violation is None:
                results.put(("error", f"{machine.__name__}: {type(exc).__name__}: {exc}"))
                return
            results.put(("finding", {
                "requirement": violation.requirement, "summary": violation.summary,
                "steps": violation.steps, "machine": machine.__name__,
                "trace": to_json(violation.trace or [], target=spec, requirement=violation.requirement,
                                 summary=violation.summary)}))
            results.put(("progress", number, session.counters.snapshot()))
            return
        results.put(("progress", number, session.counters.snapshot()))


class Progress:
    """Live progress: one rewritten line on a terminal, plain lines every few seconds otherwise."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last = 0.0

    def show(self, elapsed: float, totals: tuple[int, int, int], findings: int, final=False) -> None:
        now = time.monotonic()
        if not (final or self.tty or now - self.last >= PROGRESS_EVERY):
            return
        self.last = now
        examples, steps, operations = totals
        line = (f"hunt: {elapsed:6.1f}s  examples {examples}  steps {steps}  "
                f"{operations / max(elapsed, 1e-9):8.0f} TPM ops/s  findings {findings}")
        if self.tty and not final:
            self.stream.write("\r" + line)
        else:
            self.stream.write(("\r" if self.tty else "") + line + "\n")
        self.stream.flush()


def hunt(spec: str, budget: float, workers: int, swtpm_binary: str | None = None,
         example_db: str | None = None):
    """Returns (finding dict or None, totals (examples, steps, operations), elapsed seconds)."""
    context = mp.get_context("spawn")
    results = context.Queue()
    procs = [context.Process(target=_worker, args=(n, spec, swtpm_binary, results, example_db), daemon=True)
             for n in range(workers)]
    for proc in procs:
        proc.start()
    per_worker = {n: (0, 0, 0) for n in range(workers)}
    finding = None
    progress = Progress()
    start = time.monotonic()
    try:
        while finding is None and time.monotonic() - start < budget:
            try:
                message = results.get(timeout=0.2)
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    break
                message = None
            if message and message[0] == "progress":
                per_worker[message[1]] = message[2]
            elif message and message[0] == "error":
                raise UsageError(f"harness error, not a finding: {message[1].splitlines()[0]}")
            elif message:
                finding = message[1]
            totals = tuple(sum(c[i] for c in per_worker.values()) for i in range(3))
            progress.show(time.monotonic() - start, totals, int(finding is not None))
    finally:
        for proc in procs:
            proc.kill()
            proc.join()
    elapsed = time.monotonic() - start
    totals = tuple(sum(c[i] for c in per_worker.values()) for i in range(3))
    progress.show(elapsed, totals, int(finding is not None), final=True)
    return finding, totals, elapsed


def hunted_requirements(spec: str) -> tuple[str, ...]:
    factory = parse_target(spec)
    return tuple(sorted({r for m in all_machines() if m.skip_reason(factory) is None
                         for r in m.REQUIREMENTS} & set(REQUIREMENTS)))
