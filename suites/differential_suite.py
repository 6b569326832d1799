"""Differential: the run's target and the built-in emulator, same operations, whole responses.

The PCR machine checks what the reference model can predict; this machine
checks the rest of every response byte for byte against a second,
independent implementation (harness/emulator, profile "ptp"), driven with
the same operation stream (harness/strategies/tpm.py) and the same platform
events.  A response that does not parse is RESP-WELLFORMED; any other
difference is PCR-AGREE.

Bytes not compared, and why:

- GetRandom: the random bytes (Part 3, 16.1: only their number is specified).
  The size field and the length are compared.
- PCR_Read: pcrUpdateCounter's absolute value (Part 3, 22.4: implementation
  state, and the initial count depends on the banks set up).  Its change
  between two reads is compared instead, whenever both profiles count the
  same number of increments over that span.
- GetCapability(TPM_PROPERTIES): values the profile leaves to the
  implementation (manufacturer, vendor strings, firmware, dates, live
  counts: ANY in models/tpm/profile.py); tags, moreData and fixed values
  are compared.
- Profile differences (models/tpm/profile.py, "ptp" vs the target's profile,
  e.g. "libtpms-0.9"): wherever the two profiles' models predict different
  outcomes for an operation, that response is only checked to parse.  This
  covers the pcrUpdateCounter doNotIncrement sets (libtpms: 16, 21-23; PTP:
  20-22), the code for a non-command tag (libtpms: TPM_RC_VALUE for a tag
  that is not a TPM_ST constant, TPM_RC_BAD_TAG for one that is), the TPM
  property lists (libtpms has 0x100-0x12E, PTP through 0x12C and open), and
  the command codes implemented (a code one implements and the other not).
- Where either profile's model expects "any error" (ANY_ERROR: the spec
  fixes no code), both responses must be errors; the codes are not compared.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from harness import session
from harness.errors import TargetError
from harness.invariants import Violation, route
from harness.machine import HarnessMachine, machine_test
from harness.strategies import tpm as draw
from harness.targets.base import Capability
from harness.targets.emulator import EmulatorTarget
from harness.trace import describe_op, readable
from harness.wire import WireError, decode_response, encode_command
from models import ops
from models.ops import ANY, ANY_ERROR
from models.tcg import ALG_BY_NAME, PCR_COUNT, TPM_CAP, TPM_SU
from models.tpm import PROFILES, TpmModel

BURST = 16
STEPS_SHOWN = 40
_burst = st.lists(draw.tpm_command, min_size=1, max_size=BURST)
_tail = st.lists(draw.tpm_command, max_size=BURST // 2)
_SU = st.sampled_from([int(TPM_SU.TPM_SU_CLEAR), int(TPM_SU.TPM_SU_STATE)])
_TPM_PROPERTIES = int(TPM_CAP.TPM_CAP_TPM_PROPERTIES)
_COUNTER = slice(10, 14)  # pcrUpdateCounter in a PCR_Read response without sessions
_THEIRS, _OURS = "target", "emulator"


class DifferentialMachine(HarnessMachine):
    """The run's target beside the built-in emulator: extends, events, resets, reads,
    random, capabilities, Startup/Shutdown, power cycles, DRTM and malformed commands."""

    REQUIREMENTS = ("PCR-AGREE", "RESP-WELLFORMED")
    NEEDS = frozenset({Capability.LOCALITY, Capability.POWER_CYCLE})

    def __init__(self) -> None:
        super().__init__()
        factory = self.factory
        banks = tuple(int(ALG_BY_NAME[b]) for b in factory.banks)
        self.caps = factory.capabilities
        self.theirs = factory.create()
        try:
            self.ours = EmulatorTarget(banks=factory.banks)
        except BaseException:
            self.theirs.close()
            raise
        # The two profiles' models say where the implementations may legitimately differ.
        self.model_theirs = TpmModel(PROFILES[factory.profile], banks=banks)
        self.model_ours = TpmModel(PROFILES[EmulatorTarget.profile], banks=banks)
        self.sweep = [(op, encode_command(op)) for op in (
            ops.PcrRead(selection=((alg, tuple(range(first, first + 8))),))
            for alg in banks for first in range(0, PCR_COUNT, 8))]
        self.commands_sent = 0
        self._counters = None  # at the last PCR_Read: (epoch, increments) per model, counter per side

    @classmethod
    def skip_reason(cls, factory) -> str | None:
        scheme, _, query = factory.spec.partition("?")
        if scheme == "emulator" and not parse_qs(query).get("mutant"):
            return "the run's target is the built-in emulator: nothing to compare it with"
        return super().skip_reason(factory)

    def teardown(self) -> None:
        session.counters.operations += self.commands_sent
        self.theirs.close()
        self.ours.close()

    # --- rules -------------------------------------------------------------------

    @initialize(startup=st.one_of(st.none(), draw.startup))
    def power_on(self, startup):
        self.command(startup or ops.Startup(int(TPM_SU.TPM_SU_CLEAR)))
        if not self.model_ours.started:
            self.command(ops.Startup(int(TPM_SU.TPM_SU_CLEAR)))

    @rule(burst=_burst)
    def commands(self, burst):
        for op in burst:
            self.command(op)

    @rule(shutdown=st.one_of(st.none(), _SU), power_cut=st.booleans(), startup=draw.startup, then=_tail)
    def reboot(self, shutdown, power_cut, startup, then):
        """TPM2_Shutdown (or none), power cycle (a cut only where the target can crash), Startup."""
        if shutdown is not None:
            self.command(ops.Shutdown(shutdown))
        self.platform(ops.PowerCycle(not (power_cut and Capability.CRASH in self.caps)))
        self.power_on(startup)
        self.commands(then)

    @precondition(lambda self: Capability.DRTM in self.caps)
    @rule(data=st.binary(max_size=64), then=_tail)
    def drtm(self, data, then):
        self.platform(ops.Drtm(data))
        self.commands(then)

    @rule(bad=st.lists(draw.malformed_command(), min_size=1, max_size=2), then=_tail)
    def malformed(self, bad, then):
        self.commands(bad)
        self.commands(then)

    @invariant()
    def pcrs_agree(self):
        self.count_step()
        if self.model_ours.started and self.model_theirs.started:
            for op, cmd in self.sweep:
                self.exchange(op, cmd)

    # --- driving both sides ------------------------------------------------------

    def command(self, op) -> None:
        self.exchange(op, encode_command(op))

    def platform(self, op) -> None:
        self.model_theirs.apply(op)
        self.model_ours.apply(op)
        self.steps.append(("", op, None, None))
        for target in (self.theirs, self.ours):
            try:
                if type(op) is ops.PowerCycle:
                    target.power_cycle(op.orderly)
                else:
                    target.drtm(op.data)
            except TargetError as exc:
                self._fail("RESP-WELLFORMED", f"{describe_op(op)}: the target failed: {exc}")
        self._counters = None

    def exchange(self, op, cmd: bytes) -> None:
        expected_theirs = self.model_theirs.apply(op)
        expected_ours = self.model_ours.apply(op)
        self.commands_sent += 2
        try:
            theirs = self.theirs.transmit(cmd, op.locality)
        except TargetError as exc:
            self.steps.append((_THEIRS, op, cmd, None))
            self._fail("RESP-WELLFORMED", f"[{_THEIRS}] {describe_op(op)}: no response ({type(exc).__name__}: {exc})")
        self.steps.append((_THEIRS, op, cmd, theirs))
        ours = self.ours.transmit(cmd, op.locality)
        self.steps.append((_OURS, op, cmd, ours))
        outcome_theirs = self._decode(op, theirs, _THEIRS)
        outcome_ours = self._decode(op, ours, _OURS)
        if expected_theirs != expected_ours:
            return  # the profiles differ here: both parsed, nothing more is fixed
        if expected_ours.rc is ANY_ERROR or expected_theirs.rc is ANY_ERROR:
            if outcome_theirs.rc == 0 or outcome_ours.rc == 0:
                self._differ(op, theirs, ours, "one side accepted a command the spec says must fail")
            return
        kind = type(op)
        if kind is ops.GetRandom and outcome_theirs.rc == 0 == outcome_ours.rc:
            same = theirs[:12] == ours[:12] and len(theirs) == len(ours)
        elif kind is ops.PcrRead and outcome_theirs.rc == 0 == outcome_ours.rc:
            same = theirs[:10] == ours[:10] and theirs[14:] == ours[14:]
            if same:
                self._check_counter(op, outcome_theirs.value.update_counter, outcome_ours.value.update_counter)
        elif kind is ops.GetCapability and op.capability == _TPM_PROPERTIES and outcome_ours.rc == 0:
            same = outcome_theirs.rc == 0 and _properties_agree(
                expected_ours.value, outcome_theirs.value, outcome_ours.value)
        else:
            same = theirs == ours
        if not same:
            self._differ(op, theirs, ours, "the responses differ")

    def _check_counter(self, op, counter_theirs: int, counter_ours: int) -> None:
        """pcrUpdateCounter deltas agree wherever both profiles count the same increments."""
        now = ((self.model_theirs.counter_epoch, self.model_theirs.counter_increments),
               (self.model_ours.counter_epoch, self.model_ours.counter_increments),
               counter_theirs, counter_ours)
        last, self._counters = self._counters, now
        if last is None or last[0][0] != now[0][0] or last[1][0] != now[1][0]:
            return  # a new epoch (Startup, power cycle, DRTM): absolute values are open
        if now[0][1] - last[0][1] != now[1][1] - last[1][1]:
            return  # the profiles count different increments (doNotIncrement sets)
        delta_theirs = (counter_theirs - last[2]) & 0xFFFFFFFF
        delta_ours = (counter_ours - last[3]) & 0xFFFFFFFF
        if delta_theirs != delta_ours:
            self._fail("PCR-AGREE", f"{describe_op(op)}: pcrUpdateCounter advanced by {delta_theirs} on the "
                                    f"target and by {delta_ours} on the emulator since the last read")

    # --- findings ----------------------------------------------------------------

    def _decode(self, op, response: bytes, side: str) -> ops.Outcome:
        try:
            return decode_response(op, response)
        except WireError as exc:
            self._fail("RESP-WELLFORMED", f"[{side}] {describe_op(op)}: malformed response: "
                                          f"{exc} in {response[:64].hex()}")

    def _differ(self, op, theirs: bytes, ours: bytes, what: str) -> None:
        rcs = (int.from_bytes(theirs[6:10], "big"), int.from_bytes(ours[6:10], "big"))
        self._fail(route(op, rcs), f"{describe_op(op)}: {what}: target {theirs[:80].hex()} "
                                   f"emulator {ours[:80].hex()}")

    def _fail(self, requirement: str, summary: str):
        raise Violation(requirement, summary).with_steps(readable(self.steps[-STEPS_SHOWN:]), list(self.steps))


def _properties_agree(expected, theirs, ours) -> bool:
    """Tags, moreData and the values the profile fixes agree; ANY values are the implementation's."""
    if theirs.more_data != ours.more_data or len(theirs.data) != len(ours.data):
        return False
    fixed = dict(expected.data) if expected is not None else {}
    for (tag_t, value_t), (tag_o, value_o) in zip(theirs.data, ours.data):
        if tag_t != tag_o or (fixed.get(tag_o, ANY) is not ANY and value_t != value_o):
            return False
    return True


test_differential_machine = machine_test(DifferentialMachine)
