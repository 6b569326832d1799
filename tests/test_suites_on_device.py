"""The PCR machine on a device target (swtpm chardev on SOCK_SEQPACKET: /dev/tpm0 semantics).

A character device has no localities and no power control: the machine sends every
command at locality 0 and switches its reboot, crash and DRTM rules off.
"""

from __future__ import annotations

import dataclasses
import shutil

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from harness import session
from harness.invariants import Violation
from harness.targets.factory import parse_target
from suites.pcr_suite import PcrMachine

pytestmark = [pytest.mark.swtpm,
              pytest.mark.skipif(shutil.which("swtpm") is None,
                                 reason="swtpm is not installed (Debian package swtpm)")]
SMALL = settings(max_examples=20, stateful_step_count=15, derandomize=True, database=None, deadline=None)


def run_on(spec: str) -> tuple[int, int, int]:
    previous = session.factory()
    session.configure(parse_target(spec))
    before = session.counters.snapshot()
    try:
        run_state_machine_as_test(PcrMachine, settings=SMALL)
    finally:
        session.configure(previous)
    return tuple(a - b for a, b in zip(session.counters.snapshot(), before))


def test_the_pcr_machine_passes_on_a_character_device():
    examples, steps, operations = run_on("swtpm+chardev")
    assert examples >= 20 and operations > steps


def test_on_a_device_every_command_goes_at_locality_0_and_still_finds_a_locality_bug():
    # PCR 17 may not be extended at locality 0: a mutant emulator that allows it, offered with
    # no capabilities at all (as a character device is), is still caught, at locality 0.
    previous = session.factory()
    mutant = parse_target("emulator?mutant=extend-pcr17-at-locality0")
    session.configure(dataclasses.replace(mutant, capabilities=frozenset()))
    try:
        with pytest.raises(Violation, match=r"\[PCR-LOCALITY\].* at locality 0"):
            run_state_machine_as_test(PcrMachine, settings=settings(SMALL, max_examples=200))
    finally:
        session.configure(previous)
