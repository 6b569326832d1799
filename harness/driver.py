"""Lockstep driving of one reference model and one target: the hot path.

Every operation goes to the model (expected outcome) and, as bytes, to the
target (observed outcome); the two are compared and the step is appended to
the trace.  Machines declare rules; this module does the driving, comparing
and recording for all of them.
"""

from __future__ import annotations

from harness.errors import TargetError
from harness.invariants import (Violation, check_pcr_agree, check_resp_wellformed,
                                check_robust_input, classify_outcome, compare_pcr_read)
from harness.trace import Step, describe_op, readable
from harness.wire import WireError, decode_response, encode_command
from models.ops import (ANY, AttachDisk, Crash, DetachDisk, Drtm, MirrorPcrs, Outcome, PcrEvent,
                        PcrExtend, PcrRead, PcrReset, PowerCycle, Raw, Startup, outcome_matches)
from models.ops import EventSequenceComplete, HashSequenceStart
from models.tcg import ALG_BY_NAME, PCR_COUNT

ALG_NAME = {int(alg): name for name, alg in ALG_BY_NAME.items()}

_PCR_CHANGERS = (PcrExtend, PcrEvent, PcrReset, EventSequenceComplete)
_KEEP_PCRS = frozenset({AttachDisk, DetachDisk, MirrorPcrs})  # platform ops that leave PCRs as they are
_ALL_PCRS = frozenset(range(PCR_COUNT))
_DRTM_PCRS = frozenset(range(17, 23))
STEPS_SHOWN = 40  # readable steps in a failure message; the trace file has them all


class Checked:
    """A model and a target in lockstep; every command checked, every step traced.

    ``steps`` may be shared between several Checked pairs (pTPM and vTPMs) so
    the trace shows their interleaving; ``instance`` names this pair in it.
    """

    def __init__(self, target, model, *, instance: str = "", steps: list[Step] | None = None) -> None:
        self.target = target
        self.model = model
        self.instance = instance
        self.steps: list[Step] = [] if steps is None else steps
        self.commands = 0  # TPM commands sent and checked
        self._apply = model.apply
        self._untouched = set(_ALL_PCRS)  # PCRs unchanged since their (re)initialisation
        self._counter: tuple[int, int, int] | None = None  # (epoch, model increments, observed)
        self._sweep = [(op, encode_command(op)) for op in _sweep_ops(model.banks)]

    # --- TPM commands -------------------------------------------------------------

    def command(self, op) -> Outcome:
        """Send one command to both sides; raise Violation when they disagree."""
        expected = self._apply(op)
        cmd = encode_command(op)
        observed = self._exchange(op, cmd, expected)
        if not outcome_matches(expected, observed):
            self._fail(classify_outcome, op, self._what(op), expected, observed)
        if observed.rc == 0:
            kind = type(op)
            if kind in _PCR_CHANGERS:
                self._untouched.discard(op.pcr)
            elif kind is Startup:
                self._reinitialised(_ALL_PCRS)
            elif kind is HashSequenceStart:
                self.model.sequence_adopt(observed.value)  # the TPM chose the handle
        return observed

    def _exchange(self, op, cmd: bytes, expected: Outcome) -> Outcome:
        self.commands += 1
        try:
            # Looked up per call: a target may rebind transmit when it restarts (swtpm after a crash).
            rsp = self.target.transmit(cmd, op.locality)
        except TargetError as exc:
            self.steps.append((self.instance, op, cmd, None))
            problem = f"{type(exc).__name__}: {exc}"
            if isinstance(op, Raw):
                self._fail(check_robust_input, op, expected, None, self._what(op), problem)
            self._fail(check_resp_wellformed, self._what(op), f"no response ({problem})")
        self.steps.append((self.instance, op, cmd, rsp))
        try:
            return decode_response(op, rsp)
        except WireError as exc:
            self._fail(check_resp_wellformed, self._what(op), f"{exc} in {rsp[:64].hex()}")

    # --- platform operations ------------------------------------------------------

    def platform(self, op) -> None:
        """Power cycle, crash or DRTM on both sides."""
        self._apply(op)
        self.steps.append((self.instance, op, None, None))
        try:
            if type(op) is PowerCycle:
                self.target.power_cycle(op.orderly)
            elif type(op) is Crash:
                self.target.crash()
            elif type(op) is Drtm:
                self.target.drtm(op.data)
            elif type(op) is AttachDisk:
                self.target.attach_disk()
            elif type(op) is DetachDisk:
                self.target.detach_disk()
            elif type(op) is MirrorPcrs:
                self.target.mirror_pcrs({ALG_NAME[alg]: pcrs for alg, pcrs in op.as_dict().items()})
            else:
                raise TypeError(f"not a platform operation: {op!r}")
        except TargetError as exc:
            self._fail(check_resp_wellformed, describe_op(op), f"the target failed: {exc}")
        if type(op) in _KEEP_PCRS:
            return  # PCRs and pcrUpdateCounter go on as they were
        if type(op) is Drtm and self.model.started:
            self._reinitialised(_DRTM_PCRS)
        else:
            self._reinitialised(_ALL_PCRS)

    # --- the PCR sweep (PCR-AGREE / PCR-INIT after every step) --------------------

    def check_pcrs(self) -> None:
        """Read every PCR of every allocated bank and compare with the model."""
        if not self.model.started:
            return
        values = self.model.pcr_values()
        counters = set()
        for op, cmd in self._sweep:
            observed = self._exchange(op, cmd, _SWEEP_EXPECTED)
            if observed.rc != 0 or observed.value.selection != op.selection:
                self._fail(classify_outcome, op, self._what(op), Outcome(0, "the full selection"),
                           Outcome(observed.rc, observed.value and observed.value.selection))
            self._fail(compare_pcr_read, observed.value, values, self._untouched)
            counters.add(observed.value.update_counter)
        self._check_counter(counters)

    def _check_counter(self, counters: set[int]) -> None:
        if len(counters) != 1:
            self._fail(check_pcr_agree,
                       f"pcrUpdateCounter changed between reads with nothing extended: {sorted(counters)}")
        (observed,) = counters
        epoch, increments = self.model.counter_epoch, self.model.counter_increments
        if self._counter is not None and self._counter[0] == epoch:
            _, last_increments, last_observed = self._counter
            want = (increments - last_increments) & 0xFFFFFFFF
            got = (observed - last_observed) & 0xFFFFFFFF
            if got != want:
                self._fail(check_pcr_agree,
                           f"pcrUpdateCounter advanced by {got} since the last sweep; the model counts {want}")
        self._counter = (epoch, increments, observed)

    def adopt(self, model, changed=()) -> None:
        """Continue from ``model``, a copy that followed the order the target actually took,
        in which the PCRs ``changed`` were extended or reset."""
        self.model = model
        self._apply = model.apply
        self._untouched.difference_update(changed)

    # --- bookkeeping and failure reporting ----------------------------------------

    def _reinitialised(self, pcrs: frozenset[int]) -> None:
        self._untouched |= pcrs
        self._counter = None

    def _what(self, op) -> str:
        who = f"[{self.instance}] " if self.instance else ""
        return f"{who}{describe_op(op)}"

    def report(self, check, *args) -> None:
        """A suite's own check of harness.invariants, reported with the steps like the driver's."""
        self._fail(check, *args)

    def _fail(self, check, *args) -> None:
        """Run a check of harness.invariants; its Violation leaves with the steps that led to it."""
        try:
            check(*args)
        except Violation as violation:
            raise violation.with_steps(readable(self.steps[-STEPS_SHOWN:]), list(self.steps)) from None


_SWEEP_EXPECTED = Outcome(0, ANY)


def _sweep_ops(banks) -> list[PcrRead]:
    """PCR_Read commands covering every PCR of every bank, 8 digests each (TPML_DIGEST limit)."""
    return [PcrRead(selection=((int(alg), tuple(range(first, first + 8))),))
            for alg in banks for first in range(0, PCR_COUNT, 8)]
