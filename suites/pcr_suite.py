"""PCRs, localities and the startup lifecycle against the reference model.

One rule runs a burst of TPM commands (each checked), because a Hypothesis
step costs far more than a TPM round trip; after every step every PCR of
every allocated bank is read back and compared (PCR-AGREE / PCR-INIT).
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from harness.machine import HarnessMachine, machine_test
from harness.strategies import tpm as draw
from harness.targets.base import Capability
from models import ops
from models.tcg import TPM_SU

BURST = 12
_SU = st.sampled_from([int(TPM_SU.TPM_SU_CLEAR), int(TPM_SU.TPM_SU_STATE)])


class PcrMachine(HarnessMachine):
    """Extends, events, resets and reads at localities 0-4 across every bank, with
    Startup/Shutdown, power cycles, H-CRTM/DRTM sequences and malformed commands."""

    REQUIREMENTS = ("PCR-AGREE", "PCR-LOCALITY", "PCR-INIT", "STARTUP", "RESP-WELLFORMED",
                    "ROBUST-INPUT")
    NEEDS = frozenset({Capability.LOCALITY, Capability.POWER_CYCLE})

    def __init__(self) -> None:
        super().__init__()
        self.tpm = self.new_pair()
        self.caps = self.factory.capabilities

    @initialize(hcrtm=st.one_of(st.none(), st.binary(max_size=32)),
                startup=st.one_of(st.none(), draw.startup))
    def power_on(self, hcrtm, startup):
        """Optionally an H-CRTM sequence, then (usually) Startup, as firmware does."""
        if hcrtm is not None and Capability.DRTM in self.caps:
            self.tpm.platform(ops.Drtm(hcrtm))
        self.tpm.command(startup or ops.Startup(int(TPM_SU.TPM_SU_CLEAR)))

    @rule(burst=st.lists(draw.tpm_command, min_size=1, max_size=BURST))
    def commands(self, burst):
        for op in burst:
            self.tpm.command(op)

    @rule(shutdown=st.one_of(st.none(), _SU), orderly=st.booleans(),
          startup=st.one_of(st.none(), draw.startup))
    def reboot(self, shutdown, orderly, startup):
        """TPM2_Shutdown (or none), loss of power, TPM2_Startup: Reset, Restart or Resume."""
        if shutdown is not None:
            self.tpm.command(ops.Shutdown(shutdown))
        self.tpm.platform(ops.PowerCycle(orderly))
        if startup is not None:
            self.tpm.command(startup)

    @precondition(lambda self: Capability.CRASH in self.caps)
    @rule(startup=draw.startup)
    def crash(self, startup):
        self.tpm.platform(ops.Crash())
        self.tpm.command(startup)

    @precondition(lambda self: Capability.DRTM in self.caps)
    @rule(data=st.binary(max_size=64))
    def drtm(self, data):
        self.tpm.platform(ops.Drtm(data))

    @rule(bad=st.lists(draw.malformed_command(), min_size=1, max_size=4))
    def malformed(self, bad):
        for op in bad:
            self.tpm.command(op)

    @invariant()
    def pcrs_agree(self):
        self.count_step()
        self.tpm.check_pcrs()


test_pcr_machine = machine_test(PcrMachine)
