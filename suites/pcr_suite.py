"""PCRs, localities and the startup lifecycle against the reference model.

One rule runs a burst of TPM commands (each checked), because a Hypothesis
step costs far more than a TPM round trip; after every step every PCR of
every allocated bank is read back and compared (PCR-AGREE / PCR-INIT).
"""

from __future__ import annotations

import dataclasses

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from harness.machine import HarnessMachine, machine_test
from harness.strategies import tpm as draw
from harness.strategies.seeded import seeded_commands
from harness.targets.base import Capability
from models import ops
from models.tcg import TPM_SU

BURST = 16
SEEDED_BURST = 64
_burst = st.lists(draw.tpm_command, min_size=1, max_size=BURST)
_tail = st.lists(draw.tpm_command, max_size=BURST // 2)  # commands after a platform event
_SU = st.sampled_from([int(TPM_SU.TPM_SU_CLEAR), int(TPM_SU.TPM_SU_STATE)])


class PcrMachine(HarnessMachine):
    """Extends, events, resets and reads at localities 0-4 across every bank, with
    Startup/Shutdown, power cycles, H-CRTM/DRTM sequences and malformed commands."""

    REQUIREMENTS = ("PCR-AGREE", "PCR-LOCALITY", "PCR-INIT", "STARTUP", "RESP-WELLFORMED",
                    "ROBUST-INPUT")
    # Rules needing a control the target lacks are switched off by their preconditions; a target
    # without localities (a character device) gets every command at locality 0, a TIS locality 4 at 3.

    def __init__(self) -> None:
        super().__init__()
        self.tpm = self.new_pair()
        self.caps = self.factory.capabilities
        # The highest locality the target honours: 4, 3 through a TIS (4 is the hardware's), else 0.
        self.top_locality = 4 if Capability.LOCALITY in self.caps else 3 if Capability.LOCALITY_0_3 in self.caps else 0

    @initialize(hcrtm=st.one_of(st.none(), st.binary(max_size=32)),
                startup=st.one_of(st.none(), draw.startup))
    def power_on(self, hcrtm, startup):
        """Optionally an H-CRTM sequence, then (usually) Startup, as firmware does."""
        if hcrtm is not None and Capability.DRTM in self.caps:
            self.tpm.platform(ops.Drtm(hcrtm))
        self.start(startup or ops.Startup(int(TPM_SU.TPM_SU_CLEAR)))

    def start(self, startup):
        """Send the drawn Startup; if the TPM refused it, retry Startup(CLEAR) at locality 0 as
        firmware does, so refusals are checked and the following steps still reach a started TPM."""
        self.run([startup])
        if not self.tpm.model.started:
            self.tpm.command(ops.Startup(int(TPM_SU.TPM_SU_CLEAR)))

    @rule(burst=_burst)
    def commands(self, burst):
        self.run(burst)

    @rule(seed=st.integers(0, 2**32 - 1), count=st.integers(1, SEEDED_BURST))
    def seeded(self, seed, count):
        """Many commands for one draw: the cheap way to check thousands of operations."""
        self.run(seeded_commands(seed, count))

    def run(self, burst):
        top = self.top_locality
        if top < 4:
            burst = [op if op.locality <= top else dataclasses.replace(op, locality=top) for op in burst]
        for op in burst:
            self.tpm.command(op)

    @precondition(lambda self: Capability.POWER_CYCLE in self.caps)
    @rule(shutdown=st.one_of(st.none(), _SU), orderly=st.booleans(),
          startup=draw.startup, stay_off=st.sampled_from([False] * 5 + [True]), then=_tail)
    def reboot(self, shutdown, orderly, startup, stay_off, then):
        """TPM2_Shutdown (or none), loss of power, TPM2_Startup: Reset, Restart or Resume.

        A power cut (not orderly) needs a target whose process the harness controls."""
        orderly = orderly or Capability.CRASH not in self.caps
        if shutdown is not None:
            self.tpm.command(ops.Shutdown(shutdown))
        self.tpm.platform(ops.PowerCycle(orderly))
        if not stay_off:  # otherwise stay before Startup, where everything gets TPM_RC_INITIALIZE
            self.start(startup)
        self.run(then)

    @precondition(lambda self: Capability.CRASH in self.caps)
    @rule(startup=draw.startup, then=_tail)
    def crash(self, startup, then):
        self.tpm.platform(ops.Crash())
        self.start(startup)
        self.run(then)

    @precondition(lambda self: Capability.DRTM in self.caps)
    @rule(data=st.binary(max_size=64), then=_tail)
    def drtm(self, data, then):
        self.tpm.platform(ops.Drtm(data))
        self.run(then)

    @rule(bad=st.lists(draw.malformed_command(), min_size=1, max_size=2), then=_tail)
    def malformed(self, bad, then):
        if Capability.TIS_REGISTERS in self.caps:
            # A FIFO frames a command by its header's commandSize (Expect): bytes whose size
            # field disagrees with their length cannot be sent through a TIS at all.
            bad = [op for op in bad if len(op.data) >= 10 and int.from_bytes(op.data[2:6], "big") == len(op.data)]
        self.run(bad)
        self.run(then)

    @invariant()
    def pcrs_agree(self):
        self.count_step()
        self.tpm.check_pcrs()


test_pcr_machine = machine_test(PcrMachine)
