"""The locality-contention machine: it finds swtpm's locality race when arbitration is off,
and real racing clients get their own localities on plain swtpm and on the emulator."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from harness import session
from harness.contention import Scheduler
from harness.invariants import Violation
from harness.targets.emulator import EmulatorTarget
from harness.targets.factory import parse_target
from models import ops
from models.tcg import TPM_ALG
from suites.locality_suite import ContentionMachine

needs_swtpm = pytest.mark.skipif(shutil.which("swtpm") is None,
                                 reason="swtpm is not installed (Debian package swtpm)")
# The manager (locality 2) resets PCR 20, which only localities 2 and 4 may, while dom0
# (locality 0) reads it at the same moment.
RACE = [(1, ops.PcrReset(20)), (0, ops.PcrRead(((int(TPM_ALG.TPM_ALG_SHA256), (20,)),)))]
RACES = 2000  # the unlocked swtpm loses the race within ~50 on this machine


@pytest.fixture
def target():
    previous = session.factory()
    yield lambda spec: session.configure(parse_target(spec))
    session.configure(previous)


def races(spec: str, target, count: int) -> Violation | None:
    """Race RACE ``count`` times through the machine; the first Violation, or None."""
    target(spec)
    machine = ContentionMachine()
    try:
        machine.clients([0, 2])
        for _ in range(count):
            machine.run(RACE)
        machine.pcrs_agree()
    except Violation as violation:
        return violation
    finally:
        machine.teardown()
    return None


@needs_swtpm
def test_the_machine_finds_the_race_of_swtpm_without_arbitration(target):
    found = races("swtpm?locality=unlocked", target, RACES)
    assert found is not None, f"{RACES} races without a command at the wrong locality"
    assert found.requirement == "LOC-CONTENTION"
    assert "TPM2_PCR_Reset(PCR 20) at locality 2: returned TPM_RC_LOCALITY" in str(found)


@pytest.mark.parametrize("spec", ["emulator", pytest.param("swtpm", marks=needs_swtpm)])
def test_racing_clients_keep_their_localities(spec, target):
    assert races(spec, target, 300) is None


@pytest.mark.parametrize("spec", ["emulator", pytest.param("swtpm", marks=needs_swtpm)])
def test_the_machine_passes(spec, target):
    target(spec)
    run_state_machine_as_test(ContentionMachine, settings=settings(
        max_examples=20, stateful_step_count=10, derandomize=True, database=None, deadline=None))


def test_every_client_gets_its_own_answer():
    """Each thread's answer is the response to the command it sent (GetRandom sizes differ)."""
    tpm = EmulatorTarget()
    tpm.transmit(bytes.fromhex("80010000000c000001440000"))
    scheduler = Scheduler(tpm, [0, 2, 3])
    try:
        for _ in range(50):
            sends = [(n, bytes.fromhex("80010000000c0000017b") + (n + 1).to_bytes(2, "big"))
                     for n in range(3)]
            answers = scheduler.step(sends)
            assert [len(a) for a in answers] == [12 + n + 1 for n in range(3)]
    finally:
        scheduler.close()
