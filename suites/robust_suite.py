"""Malformed input of every class, interleaved with valid commands (ROBUST-INPUT).

Each malformed command must get a well-formed error response (RESP-WELLFORMED,
checked by the driver's decoding) whose error number is one its class allows
(harness.strategies.malformed.EXPECTED); the target must keep answering and
its state stay unchanged: the valid commands around it and the PCR sweep after
every step are checked against the model, which executes nothing malformed.
"""

from __future__ import annotations

import dataclasses

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from harness.invariants import check_error_class
from harness.machine import HarnessMachine, machine_test
from harness.strategies import tpm as draw
from harness.strategies.malformed import EXPECTED, HEADER_KINDS, RAW, error_number, malformed
from harness.targets.base import Capability
from harness.trace import describe_op
from models import ops
from models.tcg import TPM_RC, TPM_SU

BURST = 6  # short bursts: a failing example shrinks fast
_BEFORE_STARTUP = frozenset({int(TPM_RC.TPM_RC_INITIALIZE)})  # the gate follows the header checks
_CLEAR = ops.Startup(int(TPM_SU.TPM_SU_CLEAR))
_bad = malformed(short_frames=False)
_mixed = st.lists(st.one_of(_bad, draw.tpm_command), min_size=1, max_size=BURST)
_valid = st.lists(draw.tpm_command, min_size=1, max_size=BURST)


class RobustMachine(HarnessMachine):
    """Every malformed-command class, mixed with valid PCR commands, power cycles and
    commands before Startup; the target must refuse each one the right way and survive."""

    REQUIREMENTS = ("ROBUST-INPUT", "RESP-WELLFORMED")

    def __init__(self) -> None:
        super().__init__()
        self.tpm = self.new_pair()
        self.caps = self.factory.capabilities
        self.localities = Capability.LOCALITY in self.caps
        # Frames shorter than a header hang swtpm's stream transport (a known finding, see
        # tests/swtpm/test_short_frames.py); only the in-process emulator takes them here.
        self.short_frames = self.factory.spec.split("?")[0] == "emulator"

    @initialize()
    def power_on(self):
        self.tpm.command(_CLEAR)

    @rule(burst=_mixed)
    def mixed(self, burst):
        """Malformed and valid commands interleaved."""
        self.run(burst)

    @rule(bad=_bad)
    def malformed_one(self, bad):
        self.run([bad])

    @rule(burst=_valid)
    def valid(self, burst):
        self.run(burst)

    @precondition(lambda self: self.short_frames)
    @rule(frames=st.lists(st.one_of(RAW["zero-length"], RAW["short-frame"]), min_size=1, max_size=3),
          then=_mixed)
    def short(self, frames, then):
        """Frames shorter than a header, then more commands: the target must still answer."""
        self.run(frames)
        self.run(then)

    @precondition(lambda self: Capability.POWER_CYCLE in self.caps)
    @rule(bad=st.lists(_bad, min_size=1, max_size=4))
    def before_startup(self, bad):
        """Malformed commands between _TPM_Init and Startup: header errors, else TPM_RC_INITIALIZE."""
        self.tpm.platform(ops.PowerCycle())
        self.run(bad)
        self.tpm.command(_CLEAR)

    def run(self, burst):
        for op in burst:
            if not self.localities:
                op = dataclasses.replace(op, locality=0)
            if type(op) is ops.Raw:
                self.malformed(op)
            else:
                self.tpm.command(op)

    def malformed(self, op: ops.Raw) -> None:
        model = self.tpm.model
        started, before = model.started, model.pcr_values()
        observed = self.tpm.command(op)
        allowed = EXPECTED[op.kind]
        if not started and op.kind not in HEADER_KINDS:
            allowed = _BEFORE_STARTUP
        if allowed is not None and error_number(observed.rc) not in allowed:
            self.tpm.report(check_error_class, describe_op(op), op.kind, observed, allowed)
        assert model.started == started and model.pcr_values() == before, \
            f"harness bug: the model changed state on {op.kind}"

    @invariant()
    def pcrs_agree(self):
        self.count_step()
        self.tpm.check_pcrs()


test_robust_machine = machine_test(RobustMachine)
