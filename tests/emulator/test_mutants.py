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

from .test_policy import POLICY_SCENARIOS
from .test_sequences import SEQUENCE_SCENARIOS
from .test_vtpm import VTPM_SCENARIOS
from .frames import (
    CC,
    NO_SESSIONS,
    SESSIONS,
    assert_rc,
    auth_area,
    frame,
    get_random,
    parameters,
    pcr_event,
    pcr_extend,
    pcr_reset,
    pcr_value,
    rc,
    rc_only,
    session,
    shutdown,
    startup,
    update_counter,
)

OK = rc_only(0)
D1, D256 = hashlib.sha1(b"a").digest(), hashlib.sha256(b"b").digest()
REQUIREMENTS = {"PCR-AGREE", "PCR-LOCALITY", "PCR-INIT", "STARTUP", "RESP-WELLFORMED", "ROBUST-INPUT",
                "NV-DURABLE", "DISK-MISSING", "DISK-ATTACH", "INSTANCE-ISOLATION", "LOC-CONTENTION",
                "IMA-REPLAY", "NV-POLICY", "HANDOFF-NOLOSS"}
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


@scenario("insufficient-as-size")
def _(clean, bug):
    both(clean, bug)
    ok, wrong = both(clean, bug, frame(NO_SESSIONS, CC["GetRandom"], b"\0"))  # bytesRequested cut
    assert_rc(ok, 0x1DA)  # TPM_RC_INSUFFICIENT + P + 1
    assert_rc(wrong, 0x1D5)


@scenario("oversize-event-accepted")
def _(clean, bug):
    both(clean, bug)
    data = bytes(1025)
    ok, wrong = both(clean, bug, pcr_event(16, data))
    assert_rc(ok, 0x1D5)  # TPM_RC_SIZE + P + 1: TPM2B_EVENT holds at most 1024 bytes
    assert pcr_value(bug, "sha256", 16) == hashlib.sha256(bytes(32) + hashlib.sha256(data).digest()).digest()


@scenario("authsize-overrun-accepted")
def _(clean, bug):
    both(clean, bug)
    overrun = struct.pack(">I", 20) + session()  # 20 bytes announced, 9 follow
    ok, wrong = both(clean, bug, pcr_reset(16, overrun))
    assert_rc(ok, 0x095)  # TPM_RC_SIZE
    assert parameters(wrong) == b""


@scenario("session-handle-unchecked")
def _(clean, bug):
    both(clean, bug)
    ok, wrong = both(clean, bug, pcr_reset(16, auth_area(session(handle=0x81000000))))
    assert_rc(ok, 0x984)  # TPM_RC_VALUE + S + 1
    assert parameters(wrong) == b""


@scenario("password-on-no-auth-command")
def _(clean, bug):
    both(clean, bug)
    ok, wrong = both(clean, bug, frame(SESSIONS, CC["GetRandom"], auth_area() + struct.pack(">H", 8)))
    assert_rc(ok, 0x98B)  # TPM_RC_HANDLE + S + 1: a password session with nothing to authorize
    assert len(parameters(wrong)) == 10


@scenario("handle-type-unchecked")
def _(clean, bug):
    both(clean, bug)
    ok, wrong = both(clean, bug, pcr_extend(0x81000010, [("sha256", D256)]))
    assert_rc(ok, 0x184)  # TPM_RC_VALUE + handle 1: a persistent object is no PCR
    assert parameters(wrong) == b""
    assert pcr_value(bug, "sha256", 16) == hashlib.sha256(bytes(32) + D256).digest()
# --- NV indices: commands built by the wire layer (an implementation apart from the emulator) ---

OWNER, NV1 = 0x40000001, 0x01000001
OWNER_RW = 0x00020002  # TPMA_NV_OWNERREAD | TPMA_NV_OWNERWRITE
ORDERLY, COUNTER, WRITEDEFINE, READ_STCLEAR = 0x04000000, 0x10, 0x2000, 0x80000000
CLEAR, STATE = 0, 1  # TPM_SU


def nv(op) -> bytes:
    from harness.wire import encode_command
    return encode_command(op)


def nv_define(attributes: int, size: int = 8) -> bytes:
    from models.ops import NvDefineSpace
    return nv(NvDefineSpace(OWNER, NV1, ALG_SHA256, attributes, size))


def nv_write(data: bytes, offset: int = 0) -> bytes:
    from models.ops import NvWrite
    return nv(NvWrite(OWNER, NV1, data, offset))


def nv_read(size: int = 8) -> bytes:
    from models.ops import NvRead
    return nv(NvRead(OWNER, NV1, size))


def nv_data(response: bytes) -> bytes:
    assert rc(response) == 0, hex(rc(response))
    return parameters(response)[2:]


ALG_SHA256 = 0x000B


@scenario("nv-write-lost-on-crash")
def _(clean, bug):
    both(clean, bug, startup())
    both(clean, bug, nv_define(OWNER_RW))
    both(clean, bug, nv_write(b"12345678"))
    for tpm in (clean, bug):
        tpm.power_on()
    both(clean, bug, startup())
    ok, wrong = both(clean, bug, nv_read())
    assert nv_data(ok) == b"12345678"
    assert_rc(wrong, 0x14A)  # TPM_RC_NV_UNINITIALIZED: the write never reached NV


@scenario("nv-range-off-by-one")
def _(clean, bug):
    both(clean, bug, startup())
    both(clean, bug, nv_define(OWNER_RW))
    ok, wrong = both(clean, bug, nv_write(b"abc", 6))
    assert_rc(ok, 0x146)  # TPM_RC_NV_RANGE
    assert rc(wrong) == 0


@scenario("nv-written-not-set")
def _(clean, bug):
    both(clean, bug, startup())
    both(clean, bug, nv_define(OWNER_RW))
    both(clean, bug, nv_write(b"12345678"))
    ok, wrong = both(clean, bug, nv_read())
    assert nv_data(ok) == b"12345678"
    assert_rc(wrong, 0x14A)


@scenario("nv-orderly-kept-across-reset")
def _(clean, bug):
    both(clean, bug, startup())
    both(clean, bug, nv_define(OWNER_RW | ORDERLY))
    both(clean, bug, nv_write(b"12345678"))
    both(clean, bug, shutdown())
    for tpm in (clean, bug):
        tpm.power_on()
    both(clean, bug, startup())
    ok, wrong = both(clean, bug, nv_read())
    assert_rc(ok, 0x14A)
    assert nv_data(wrong) == b"12345678"


@scenario("nv-counter-no-jump")
def _(clean, bug):
    from models.ops import NvIncrement
    both(clean, bug, startup())
    both(clean, bug, nv_define(OWNER_RW | ORDERLY | COUNTER))
    for _ in range(3):
        both(clean, bug, nv(NvIncrement(OWNER, NV1)))
    for tpm in (clean, bug):
        tpm.power_on()  # no TPM2_Shutdown: the RAM count is lost
    both(clean, bug, startup())
    ok, wrong = both(clean, bug, nv_read())
    assert int.from_bytes(nv_data(ok), "big") > 3
    assert int.from_bytes(nv_data(wrong), "big") == 1  # the NV copy from the first increment


@scenario("nv-readlock-kept-at-restart")
def _(clean, bug):
    from models.ops import NvReadLock
    both(clean, bug, startup())
    both(clean, bug, nv_define(OWNER_RW | READ_STCLEAR))
    both(clean, bug, nv_write(b"12345678"))
    both(clean, bug, nv(NvReadLock(OWNER, NV1)))
    both(clean, bug, shutdown(STATE))
    for tpm in (clean, bug):
        tpm.power_on()
    both(clean, bug, startup(CLEAR))  # TPM Restart
    ok, wrong = both(clean, bug, nv_read())
    assert nv_data(ok) == b"12345678"
    assert_rc(wrong, 0x148)  # TPM_RC_NV_LOCKED


@scenario("nv-writedefine-unlocked-at-reset")
def _(clean, bug):
    from models.ops import NvWriteLock
    both(clean, bug, startup())
    both(clean, bug, nv_define(OWNER_RW | WRITEDEFINE))
    both(clean, bug, nv_write(b"12345678"))
    both(clean, bug, nv(NvWriteLock(OWNER, NV1)))
    for tpm in (clean, bug):
        tpm.power_on()
    both(clean, bug, startup())
    ok, wrong = both(clean, bug, nv_write(b"x"))
    assert_rc(ok, 0x148)
    assert rc(wrong) == 0


@scenario("nv-owner-read-without-ownerread")
def _(clean, bug):
    both(clean, bug, startup())
    both(clean, bug, nv_define(0x00040002))  # AUTHREAD | OWNERWRITE
    both(clean, bug, nv_write(b"12345678"))
    ok, wrong = both(clean, bug, nv_read())
    assert_rc(ok, 0x149)  # TPM_RC_NV_AUTHORIZATION
    assert nv_data(wrong) == b"12345678"


@scenario("nv-name-without-written")
def _(clean, bug):
    from models.ops import NvReadPublic
    both(clean, bug, startup())
    both(clean, bug, nv_define(OWNER_RW))
    both(clean, bug, nv_write(b"12345678"))
    ok, wrong = both(clean, bug, nv(NvReadPublic(NV1)))
    public_ok, public_bad = parameters(ok), parameters(wrong)
    assert public_ok == public_bad[:len(public_ok) - 34] + public_ok[-34:] and public_ok != public_bad
    area = public_ok[2:2 + struct.unpack(">H", public_ok[:2])[0]]
    assert public_ok[-32:] == hashlib.sha256(area).digest()
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


@scenario("nv-orderly-state-unsaved-at-shutdown")
def _(clean, bug):
    from models.ops import NvIncrement, NvWriteLock
    both(clean, bug, startup())
    both(clean, bug, nv_define(OWNER_RW | ORDERLY | COUNTER | WRITEDEFINE))
    both(clean, bug, nv(NvIncrement(OWNER, NV1)))
    both(clean, bug, nv(NvWriteLock(OWNER, NV1)))  # in RAM only, like the reference
    both(clean, bug, shutdown())
    for tpm in (clean, bug):
        tpm.power_on()
    both(clean, bug, startup())
    ok, wrong = both(clean, bug, nv(NvIncrement(OWNER, NV1)))
    assert_rc(ok, 0x148)  # TPM_RC_NV_LOCKED: the orderly shutdown saved the lock
    assert rc(wrong) == 0


def test_every_mutant_has_a_scenario():
    assert (set(SCENARIOS) | set(VTPM_SCENARIOS) | set(POLICY_SCENARIOS) | set(SEQUENCE_SCENARIOS)
            == set(MUTANTS))


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
