"""Architecture 2: a stateless dom0 and measured domains, each with its own vTPM.

dom0 boots from a ramdisk without IMA and touches no TPM; the vTPM manager
and one vTPM per measured domain come up before any domain uses a TPM.  The
domains then run bursts of extends, resets and reads, reboot (Shutdown,
_TPM_Init, Startup) and have their vTPM crash, in an order Hypothesis draws.
After every step every vTPM's PCRs must equal its own model; a vTPM that no
step touched and that changed anyway fails INSTANCE-ISOLATION.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from harness.machine import HarnessMachine, machine_test
from harness.strategies import tpm as draw
from harness.targets.base import Capability
from harness.vtpm_checks import check_isolation
from models import ops
from models.tcg import TPM_SU

BURST = 12
MAX_DOMAINS = 3
_CLEAR, _STATE = int(TPM_SU.TPM_SU_CLEAR), int(TPM_SU.TPM_SU_STATE)
_burst = st.lists(draw.tpm_command, min_size=1, max_size=BURST)
_tail = st.lists(draw.tpm_command, max_size=BURST // 2)
_domain = st.integers(0, MAX_DOMAINS - 1)


class Arch2Machine(HarnessMachine):
    """Several measured domains, one vTPM each behind one manager; bursts, reboots and crashes
    per domain; INSTANCE-ISOLATION after every step."""

    REQUIREMENTS = ("INSTANCE-ISOLATION", "PCR-AGREE", "PCR-LOCALITY", "PCR-INIT", "STARTUP",
                    "RESP-WELLFORMED")
    NEEDS = frozenset({Capability.INSTANCES})

    @classmethod
    def skip_reason(cls, factory):
        if factory.make_vtpms is None:
            return f"target {factory.spec} has no vTPM manager (factory.vtpms)"
        return super().skip_reason(factory)

    @initialize(domains=st.integers(2, MAX_DOMAINS))
    def boot(self, domains):
        """dom0 is up with no TPM; the manager starts one vTPM per domain; each domain boots."""
        self.caps = self.factory.capabilities
        self.vtpms = self.new_vtpms({f"domU{n}": True for n in range(1, domains + 1)})
        self.names = list(self.vtpms)
        for pair in self.vtpms.values():
            pair.command(ops.Startup(_CLEAR))
        self.touched = set(self.names)

    def pick(self, domain: int):
        name = self.names[domain % len(self.names)]
        self.touched.add(name)
        return self.vtpms[name]

    def run(self, pair, burst):
        for op in burst:
            pair.command(op)

    def start(self, pair, startup):
        """The drawn Startup; if refused, Startup(CLEAR) as the domain's firmware would retry."""
        pair.command(startup)
        if not pair.model.started:
            pair.command(ops.Startup(_CLEAR))

    @rule(domain=_domain, burst=_burst)
    def measure(self, domain, burst):
        self.run(self.pick(domain), burst)

    @precondition(lambda self: Capability.POWER_CYCLE in self.caps)
    @rule(domain=_domain, shutdown=st.sampled_from([None, _CLEAR, _STATE]), startup=draw.startup,
          then=_tail)
    def reboot(self, domain, shutdown, startup, then):
        """The domain reboots: Shutdown (or none), _TPM_Init of its vTPM, Startup."""
        pair = self.pick(domain)
        if shutdown is not None:
            pair.command(ops.Shutdown(shutdown))
        pair.platform(ops.PowerCycle(orderly=True))
        self.start(pair, startup)
        self.run(pair, then)

    @precondition(lambda self: Capability.CRASH in self.caps)
    @rule(domain=_domain, startup=draw.startup, then=_tail)
    def crash(self, domain, startup, then):
        """The domain's vTPM process dies; the manager restarts it on its disk."""
        pair = self.pick(domain)
        pair.platform(ops.Crash())
        self.start(pair, startup)
        self.run(pair, then)

    @invariant()
    def isolated(self):
        self.count_step()
        check_isolation(self.vtpms, self.touched)
        self.touched = set()


test_arch2_machine = machine_test(Arch2Machine)
