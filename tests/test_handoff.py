"""The architecture-1 machine's checks on a fixed handoff, and evmctl as an independent verifier
of the PCR10 values that real TPMs (swtpm, the emulator) hold after it."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from harness import session
from harness.invariants import Violation
from harness.targets.factory import parse_target
from models.ima import PER_BANK, StartMode, Verdict, digest_field, measure, name_field
from suites import handoff_suite
from suites.handoff_suite import HandoffMachine
from tests.ima.test_evmctl_interop import EVMCTL, EXPECTED, evmctl_measurement

needs_swtpm = pytest.mark.skipif(shutil.which("swtpm") is None,
                                 reason="swtpm is not installed (Debian package swtpm)")
SPECS = ["emulator", pytest.param("swtpm", marks=needs_swtpm)]


def event(n: int):
    return measure("ima-ng", [digest_field("sha256", bytes([n]) * 32), name_field(b"/usr/bin/tool%d" % n)])


@pytest.fixture
def handoff():
    """A machine that ran: 3 events on the pTPM, vTPM start (REPLAY, or MIRROR of PCR10 and PCR 0),
    2 more on the pTPM, switch, 2 on the vTPM."""
    previous = session.factory()
    machines = []

    def run(spec: str, mode: StartMode = StartMode.REPLAY) -> HandoffMachine:
        session.configure(parse_target(spec))
        machine = HandoffMachine()
        machines.append(machine)
        machine.clients()
        machine.measure([(event(0), None), (event(1), None), (event(2), None)])
        machine.start_vtpm(mode, {0})
        machine.measure([(event(3), None), (event(4), None)])
        machine.switch()
        machine.measure([(event(5), None), (event(6), None)])
        machine.log_explains_pcrs()
        return machine
    yield run
    for machine in machines:
        machine.teardown()
    session.configure(previous)


@pytest.mark.skipif(EVMCTL is None, reason="evmctl not installed (Debian package ima-evm-utils)")
@pytest.mark.parametrize("spec", SPECS)
def test_evmctl_verifies_both_tpms_after_the_handoff(spec, handoff):
    machine = handoff(spec)
    assert machine.split == 5
    banks = ("sha1", "sha256")  # the banks evmctl knows
    ptpm, vtpm = machine.pcr10(machine.ptpm), machine.pcr10(machine.vtpm)
    quote = {"pTPM": {b: {10: ptpm[b]} for b in banks}, "vTPM": {b: {10: vtpm[b]} for b in banks}}
    for entries, who in ((machine.log[:5], "pTPM"), (machine.log, "vTPM")):
        result = evmctl_measurement(entries, quote[who])
        assert result.returncode == 0, f"{who}: {result.stdout[-1000:]}{result.stderr[-1000:]}"
        assert EXPECTED[PER_BANK] in result.stdout + result.stderr
    # The vTPM started from zero and got the pTPM's entries replayed: the later ones alone fail.
    assert evmctl_measurement(machine.log[5:], quote["vTPM"]).returncode != 0


@pytest.mark.skipif(EVMCTL is None, reason="evmctl not installed (Debian package ima-evm-utils)")
def test_evmctl_verifies_both_tpms_after_a_mirror_handoff(handoff):
    """MIRROR (emulator only: swtpm cannot start with copied PCRs): the vTPM began with the pTPM's
    PCR10 after 3 entries, so its chain is those 3 and the 2 after the switch.  evmctl knows no
    mirror point and replays from zero; it verifies the vTPM given that chain, i.e. the log
    without the 2 entries measured between the vTPM's start and the switch (pTPM only)."""
    machine = handoff("emulator", StartMode.MIRROR)
    assert machine.mode is StartMode.MIRROR and machine.mirrored_entries == 3 and machine.split == 5
    banks = ("sha1", "sha256")
    ptpm, vtpm = machine.pcr10(machine.ptpm), machine.pcr10(machine.vtpm)
    quote = {"pTPM": {b: {10: ptpm[b]} for b in banks}, "vTPM": {b: {10: vtpm[b]} for b in banks}}
    log = machine.log
    for entries, who in ((log[:5], "pTPM"), (log[:3] + log[5:], "vTPM")):
        result = evmctl_measurement(entries, quote[who])
        assert result.returncode == 0, f"{who}: {result.stdout[-1000:]}{result.stderr[-1000:]}"
        assert EXPECTED[PER_BANK] in result.stdout + result.stderr
    for entries in (log, log[5:]):  # the window went to the pTPM only; the copy is not from zero
        assert evmctl_measurement(entries, quote["vTPM"]).returncode != 0


@pytest.mark.parametrize("kind", ["drop", "duplicate", "reorder", "move across the split"])
def test_the_verifier_rejects_altered_logs_of_a_mirror_handoff(kind, handoff):
    """Every alteration at every position: the tamper rule reports any that verifies."""
    machine = handoff("emulator", StartMode.MIRROR)
    for where in range(len(machine.log)):
        machine.tamper(kind, where)


def test_an_entry_logged_again_after_a_mirror_is_another_honest_history(handoff):
    """Mirror after 3 entries, 2 pTPM-only entries, switch at 5, 2 on the vTPM: the vTPM's chain
    is entries 0-2, 5, 6.  The log with entry 2 again right after the split has the same PCR10s
    as an honest history (entry 2 measured into each TPM, the mirror taken after 2 entries): the
    verifier accepts it, and the tamper rule must not count it as an alteration (found by hunt).
    Repeating a pTPM-only entry there is an alteration."""
    machine = handoff("emulator", StartMode.MIRROR)
    log = machine.log
    again = log[:5] + [log[2]] + log[5:]
    assert machine.another_mirror_history(again)
    assert not machine.another_mirror_history(log[:5] + [log[3]] + log[5:])
    verdict = handoff_suite.verify_split(again, machine.pcr10(machine.ptpm), machine.pcr10(machine.vtpm),
                                         StartMode.MIRROR, model=PER_BANK)
    assert verdict.ok and verdict.trailing == 0 and (verdict.split, verdict.mirrored) == (5, 2)


@pytest.mark.parametrize("kind", ["drop", "duplicate", "reorder", "move across the split"])
def test_a_verifier_that_accepts_altered_logs_is_reported(kind, handoff, monkeypatch):
    machine = handoff("emulator")
    monkeypatch.setattr(handoff_suite, "verify_split",
                        lambda entries, *a, **k: Verdict(True, "anything goes", len(entries), 0, {}, 5))
    with pytest.raises(Violation) as found:
        machine.tamper(kind, 3)
    assert found.value.requirement == "HANDOFF-VERIFIABLE" and kind in str(found.value)


def test_the_honest_history_must_verify(handoff, monkeypatch):
    machine = handoff("emulator")
    monkeypatch.setattr(handoff_suite, "verify_split", lambda *a, **k: Verdict(False, "nothing goes"))
    with pytest.raises(Violation) as found:
        machine.log_explains_pcrs()
    assert found.value.requirement == "HANDOFF-VERIFIABLE"


def test_a_split_in_the_wrong_place_is_a_loss(handoff, monkeypatch):
    machine = handoff("emulator")
    real = handoff_suite.verify_split
    monkeypatch.setattr(handoff_suite, "verify_split",
                        lambda *a, **k: dataclasses.replace(real(*a, **k), split=4))
    with pytest.raises(Violation) as found:
        machine.log_explains_pcrs()
    assert found.value.requirement == "HANDOFF-NOLOSS"


def test_an_extend_into_the_wrong_tpm_breaks_the_replay(handoff):
    """dom0 extends an event into the pTPM after the switch: the vTPM's PCR10 misses it."""
    machine = handoff("emulator")
    entry = event(7)
    machine.log.append(entry)
    machine.ptpm.command(machine.extend(entry))
    with pytest.raises(Violation) as found:
        machine.log_explains_pcrs()
    assert found.value.requirement == "IMA-REPLAY"
