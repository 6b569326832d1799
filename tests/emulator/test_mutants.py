"""Each planted bug changes the bytes in the way its description says.

Every scenario runs on an unmutated emulator (the spec behaviour) and on one
with only that mutant, and asserts both outcomes; a mutant without a scenario
fails test_every_mutant_has_a_scenario.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable

import pytest

from harness.contention import Scheduler
from harness.emulator import MUTANTS, Emulator, Mutant
from harness.targets.emulator import EmulatorTarget

from .frames import (
    CC,
    NO_SESSIONS,
    assert_rc,
    frame,
    get_random,
    parameters,
    pcr_event,
    pcr_extend,
    pcr_reset,
    pcr_value,
    rc,
    rc_only,
    shutdown,
    startup,
    update_counter,
)

OK = rc_only(0)
D1, D256 = hashlib.sha1(b"a").digest(), hashlib.sha256(b"b").digest()
REQUIREMENTS = {"PCR-AGREE", "PCR-LOCALITY", "PCR-INIT", "STARTUP", "RESP-WELLFORMED", "ROBUST-INPUT"}
REQUIREMENTS |= {"LOC-CONTENTION", "IMA-REPLAY"}
SCENARIOS: dict[str, Callable[[Emulator, Emulator], None]] = {}


def scenario(name: str):
    def register(check):
        SCENARIOS[name] = check
        return check
    return register


def both(clean: Emulator, bug: Emulator, command: bytes = startup(), locality: int = 0):
    return clean.execute(command, locality), bug.execute(command, locality)


@scenario("extend-skips-last-bank")
def _(clean, bug):
    both(clean, bug)
    both(clean, bug, pcr_extend(16, [("sha1", D1), ("sha256", D256)]))
    for tpm in (clean, bug):
        assert pcr_value(tpm, "sha1", 16) == hashlib.sha1(bytes(20) + D1).digest()
    assert pcr_value(clean, "sha256", 16) == hashlib.sha256(bytes(32) + D256).digest()
    assert pcr_value(bug, "sha256", 16) == bytes(32)


@scenario("extend-operand-order")
def _(clean, bug):
    both(clean, bug)
    both(clean, bug, pcr_extend(16, [("sha256", D256)]))
    assert pcr_value(clean, "sha256", 16) == hashlib.sha256(bytes(32) + D256).digest()
    assert pcr_value(bug, "sha256", 16) == hashlib.sha256(D256 + bytes(32)).digest()


@scenario("update-counter-skips-sha256")
def _(clean, bug):
    both(clean, bug)
    before = update_counter(clean), update_counter(bug)
    both(clean, bug, pcr_extend(16, [("sha1", D1), ("sha256", D256)]))
    assert update_counter(clean) - before[0] == 2
    assert update_counter(bug) - before[1] == 1


@scenario("reset-pcr20-at-locality0")
def _(clean, bug):
    both(clean, bug)
    ok, wrong = both(clean, bug, pcr_reset(20), 0)
    assert_rc(ok, 0x907)
    assert parameters(wrong) == b"" and pcr_value(bug, "sha256", 20) == bytes(32)


@scenario("extend-pcr17-at-locality0")
def _(clean, bug):
    both(clean, bug)
    ok, wrong = both(clean, bug, pcr_extend(17, [("sha256", D256)]), 0)
    assert_rc(ok, 0x907)
    assert parameters(wrong) == b""
    assert pcr_value(bug, "sha256", 17) == hashlib.sha256(b"\xff" * 32 + D256).digest()


@scenario("event-ignores-locality")
def _(clean, bug):
    both(clean, bug)
    ok, wrong = both(clean, bug, pcr_event(17, b"e"), 0)
    assert_rc(ok, 0x907)
    assert parameters(wrong) and pcr_value(bug, "sha256", 17) != b"\xff" * 32
    assert_rc(bug.execute(pcr_extend(17, [("sha256", D256)]), 0), 0x907)  # extend still checks


@scenario("reset-at-locality4")
def _(clean, bug):
    both(clean, bug)
    ok, wrong = both(clean, bug, pcr_reset(17), 4)
    assert_rc(ok, 0x907)
    assert parameters(wrong) == b"" and pcr_value(bug, "sha256", 17) == bytes(32)


@scenario("second-startup-accepted")
def _(clean, bug):
    both(clean, bug)
    both(clean, bug, pcr_extend(16, [("sha256", D256)]))
    ok, wrong = both(clean, bug)
    assert_rc(ok, 0x100)
    assert wrong == OK and pcr_value(bug, "sha256", 16) == bytes(32)


@scenario("no-startup-gate")
def _(clean, bug):
    ok, wrong = both(clean, bug, get_random(8))
    assert_rc(ok, 0x100)
    assert len(parameters(wrong)) == 10


@scenario("resume-restores-all-pcrs")
def _(clean, bug):
    both(clean, bug)
    both(clean, bug, pcr_extend(16, [("sha256", D256)]))
    both(clean, bug, shutdown(1))
    clean.power_on()
    bug.power_on()
    assert both(clean, bug, startup(1)) == (OK, OK)
    assert pcr_value(clean, "sha256", 16) == bytes(32)
    assert pcr_value(bug, "sha256", 16) == hashlib.sha256(bytes(32) + D256).digest()


@scenario("resume-without-shutdown-state")
def _(clean, bug):
    ok, wrong = both(clean, bug, startup(1))
    assert_rc(ok, 0x1C4)
    assert wrong == OK and pcr_value(bug, "sha256", 17) == b"\xff" * 32


@scenario("extend-keeps-orderly")
def _(clean, bug):
    both(clean, bug)
    both(clean, bug, shutdown(1))
    both(clean, bug, pcr_extend(5, [("sha256", D256)]))
    clean.power_on()
    bug.power_on()
    ok, wrong = both(clean, bug, startup(1))
    assert_rc(ok, 0x1C4)
    assert wrong == OK and pcr_value(bug, "sha256", 5) == bytes(32)  # the stale saved value


@scenario("pcr0-ignores-startup-locality")
def _(clean, bug):
    both(clean, bug, startup(), 3)
    assert pcr_value(clean, "sha256", 0) == bytes(31) + b"\x03"
    assert pcr_value(bug, "sha256", 0) == bytes(32)


@scenario("drtm-pcrs-init-zero")
def _(clean, bug):
    both(clean, bug)
    for pcr in range(17, 23):
        assert pcr_value(clean, "sha256", pcr) == b"\xff" * 32
        assert pcr_value(bug, "sha256", pcr) == bytes(32)


@scenario("drtm-keeps-pcr18")
def _(clean, bug):
    both(clean, bug)
    both(clean, bug, pcr_extend(18, [("sha256", D256)]), 3)
    clean.drtm(b"x")
    bug.drtm(b"x")
    assert pcr_value(clean, "sha256", 18) == bytes(32)
    assert pcr_value(bug, "sha256", 18) == hashlib.sha256(b"\xff" * 32 + D256).digest()
    assert pcr_value(bug, "sha256", 19) == bytes(32)  # the other DRTM PCRs are still reset


@scenario("hcrtm-pcr0-overwritten")
def _(clean, bug):
    clean.drtm(b"crtm")
    bug.drtm(b"crtm")
    both(clean, bug)
    expected = hashlib.sha256(bytes(31) + b"\x04" + hashlib.sha256(b"crtm").digest()).digest()
    assert pcr_value(clean, "sha256", 0) == expected
    assert pcr_value(bug, "sha256", 0) == bytes(32)


@scenario("oversize-command-accepted")
def _(clean, bug):
    both(clean, bug)
    command = bytearray(get_random(8))
    struct.pack_into(">I", command, 2, len(command) + 5)
    ok, wrong = both(clean, bug, bytes(command))
    assert_rc(ok, 0x142)
    assert rc(wrong) == 0 and len(parameters(wrong)) == 10


@scenario("unknown-command-success")
def _(clean, bug):
    both(clean, bug)
    ok, wrong = both(clean, bug, frame(NO_SESSIONS, 0x199))
    assert_rc(ok, 0x143)
    assert wrong == OK


@scenario("error-size-12")
def _(clean, bug):
    ok, wrong = both(clean, bug, get_random(8))  # not started: TPM_RC_INITIALIZE
    assert ok == bytes.fromhex("8001 0000000a 00000100")
    assert wrong == bytes.fromhex("8001 0000000c 00000100")


@scenario("error-tag-sessions")
def _(clean, bug):
    ok, wrong = both(clean, bug, frame(NO_SESSIONS, CC["Startup"], b"\0\7"))
    assert ok == bytes.fromhex("8001 0000000a 000001c4")
    assert wrong == bytes.fromhex("8002 0000000a 000001c4")


@scenario("locality-cached-per-client")
def _(clean, bug):
    """The manager's thread (locality 2) resets PCR 20, another client (the test's thread)
    sends a command at locality 1, the manager resets PCR 20 again: the bug runs it at 1.
    The bug sits in the target's front end, so both sides are emulator targets."""
    results = {}
    targets = {"clean": EmulatorTarget(), "bug": EmulatorTarget(mutants=frozenset({"locality-cached-per-client"}))}
    for name, tpm in targets.items():
        tpm.transmit(startup())
        manager = Scheduler(tpm, [2])
        try:
            first = manager.step([(0, pcr_reset(20))])[0]
            tpm.transmit(get_random(1), 1)
            results[name] = (first, manager.step([(0, pcr_reset(20))])[0])
        finally:
            manager.close()
    assert [rc(r) for r in results["clean"]] == [0, 0]
    assert [rc(r) for r in results["bug"]] == [0, 0x907]


@scenario("first-extend-after-startup-dropped")
def _(clean, bug):
    both(clean, bug)
    both(clean, bug, pcr_extend(10, [("sha256", D256)]))
    both(clean, bug, pcr_extend(10, [("sha256", D256)]))
    once = hashlib.sha256(bytes(32) + D256).digest()
    assert pcr_value(clean, "sha256", 10) == hashlib.sha256(once + D256).digest()
    assert pcr_value(bug, "sha256", 10) == once


@scenario("pcr10-extend-sha1-only")
def _(clean, bug):
    both(clean, bug)
    for pcr in (10, 11):
        both(clean, bug, pcr_extend(pcr, [("sha1", D1), ("sha256", D256)]))
    for tpm in (clean, bug):
        assert pcr_value(tpm, "sha1", 10) == hashlib.sha1(bytes(20) + D1).digest()
        assert pcr_value(tpm, "sha256", 11) == hashlib.sha256(bytes(32) + D256).digest()
    assert pcr_value(clean, "sha256", 10) == hashlib.sha256(bytes(32) + D256).digest()
    assert pcr_value(bug, "sha256", 10) == bytes(32)


@scenario("locality-one-command-late")
def _(clean, bug):
    both(clean, bug)
    assert [rc(r) for r in both(clean, bug, pcr_reset(20), 2)] == [0, 0x907]  # ran at 0
    assert [rc(r) for r in both(clean, bug, pcr_reset(20), 0)] == [0x907, 0]  # ran at 2


def test_every_mutant_has_a_scenario():
    assert set(SCENARIOS) == set(MUTANTS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_mutant_changes_behaviour_as_described(name):
    SCENARIOS[name](Emulator(), Emulator(mutants=frozenset({name})))


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_each_mutant_names_its_requirement_and_describes_one_bug(name):
    mutant = MUTANTS[name]
    assert isinstance(mutant, Mutant) and mutant.name == name
    assert mutant.requirement in REQUIREMENTS
    assert mutant.description and "\n" not in mutant.description


def test_there_are_at_least_ten_mutants_over_every_requirement():
    assert len(MUTANTS) >= 10
    assert {m.requirement for m in MUTANTS.values()} == REQUIREMENTS


def test_an_unknown_mutant_is_a_value_error_naming_the_valid_ones():
    with pytest.raises(ValueError, match="no-such-bug") as info:
        Emulator(mutants=frozenset({"no-such-bug"}))
    assert "extend-operand-order" in str(info.value)


def test_a_single_name_instead_of_a_collection_is_a_type_error():
    with pytest.raises(TypeError):
        Emulator(mutants="extend-operand-order")


def test_mutants_are_named_in_the_identity():
    assert "mutants" not in Emulator().identity()
    assert Emulator(mutants=frozenset({"error-size-12"})).identity()["mutants"] == ["error-size-12"]
