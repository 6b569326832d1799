"""Architecture 3: a domain builder starts the vTPM manager, a vTPM for the hardware domain
and the hardware domain, which measures (IMA) into that vTPM before its disk is there.

Boot order: 1 the domain builder, 2 xenstore, 3 the vTPM manager, 4 the vTPM for the hardware
domain (with its disk, or without it: the disk is late or missing; optionally with hardware
PCRs 0-7 mirrored), 5 the hardware domain boots and measures into PCR 10.  From then on the
order is not fixed and Hypothesis draws it: more measurements, 6 the disk attached (late, or
never), the disk lost, reboots of the hardware domain (Shutdown, _TPM_Init, Startup) and
crashes of its vTPM (the manager restarts it and replays the IMA log into it).  Steps 1-3 and
7 (manager unpaused) touch no TPM.  Step 9, the sealed-key use: the hardware domain's disk key
lives in an NV index sealed with TPM2_PolicyPCR to drawn PCRs (the mirrored firmware PCRs, PCR
10) and is read through a policy session (NV-POLICY: released iff those PCRs still hold the
sealed values).

Checked after every step: the vTPM's PCRs against its model (PCR-AGREE, PCR-INIT), the IMA log
replayed with models/ima against the vTPM's PCR 10 in every bank (IMA-REPLAY); at each step:
refusals of NV writes (Shutdown, NV define/write/undefine) without the disk (DISK-MISSING) and, right after an attach, every PCR
(DISK-ATTACH); at each use of the sealed key whether it was released (NV-POLICY).
"""

from __future__ import annotations

import hashlib

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from harness import vtpm_checks
from harness.invariants import Violation
from harness.machine import HarnessMachine, machine_test
from harness.policy import start_session
from harness.strategies import tpm as draw
from harness.targets.base import Capability
from models import ops
from models.ima import PER_BANK, digest_field, measure, name_field, replay, template_hash
from models.tcg import ALG_BY_NAME, DIGEST_SIZE, TPM_RH, TPM_SU, TPMA_NV
from models.vtpm import ATTACHED
from suites.nv_policy_suite import policy_digest

IMA_PCR = 10
_CLEAR, _STATE = int(TPM_SU.TPM_SU_CLEAR), int(TPM_SU.TPM_SU_STATE)
_files = st.lists(st.tuples(st.binary(min_size=1, max_size=24).filter(lambda p: b"\0" not in p),
                            st.binary(max_size=16)), min_size=1, max_size=6)
_OWNER = int(TPM_RH.TPM_RH_OWNER)
_SECRET_INDEX = 0x01500000  # an NV index holding the hardware domain's disk key, sealed to PCRs
_SECRET_ATTRIBUTES = int(TPMA_NV.TPMA_NV_OWNERWRITE | TPMA_NV.TPMA_NV_POLICYREAD | TPMA_NV.TPMA_NV_NO_DA)
_SEALED_TO = st.sampled_from([(0, 1, 2, 3, 4, 5, 6, 7), (0, 7), (7, IMA_PCR), (IMA_PCR,)])
_POLICY_SESSION = 0x01  # TPM_SE_POLICY
_SHA256 = int(ALG_BY_NAME["sha256"])
_mirror = st.dictionaries(st.integers(0, 7), st.binary(min_size=64, max_size=64), max_size=4)


class Arch3Machine(HarnessMachine):
    """Domain builder boot (steps 1-9) with the hardware domain's vTPM disk present, late, missing
    or lost, crashes anywhere; DISK-MISSING, DISK-ATTACH, IMA-REPLAY."""

    REQUIREMENTS = ("DISK-MISSING", "DISK-ATTACH", "IMA-REPLAY", "NV-POLICY", "PCR-AGREE", "PCR-INIT",
                    "STARTUP", "RESP-WELLFORMED")
    NEEDS = frozenset({Capability.INSTANCES, Capability.DISK})

    @classmethod
    def skip_reason(cls, factory):
        if factory.make_vtpms is None:
            return f"target {factory.spec} has no vTPM manager (factory.vtpms)"
        return super().skip_reason(factory)

    @initialize(disk=st.sampled_from(["present", "late", "missing"]), mirror=_mirror, files=_files)
    def boot(self, disk, mirror, files):
        """Steps 1-5: builder, xenstore, manager, the hardware domain's vTPM, its boot."""
        self.caps = self.factory.capabilities
        self.plan = disk
        self.hw = self.new_vtpms({"hwdom-vtpm": disk == "present"})["hwdom-vtpm"]
        self.banks = self.hw.model.banks
        if mirror and Capability.MIRROR in self.caps:
            self.hw.platform(ops.MirrorPcrs(tuple(
                (alg, tuple((pcr, value[:DIGEST_SIZE[alg]]) for pcr, value in sorted(mirror.items())))
                for alg in self.banks)))
        self.log = []  # the hardware domain's IMA measurement list
        self.sealed = None  # (selection, values, authPolicy, data) of the sealed disk key
        self.command(ops.Startup(_CLEAR))
        self.measure(files)

    def command(self, op):
        return vtpm_checks.command(self.hw, op)

    @rule(files=_files)
    def measure(self, files):
        """The hardware domain's IMA measures files into PCR 10 of its vTPM, every bank."""
        for path, content in files:
            entry = measure("ima-ng", [digest_field("sha256", hashlib.sha256(content).digest()),
                                       name_field(path)])
            extend = ops.PcrExtend(IMA_PCR, tuple((alg, template_hash(entry, _NAME[alg])) for alg in self.banks))
            if self.command(extend).rc == 0:
                self.log.append(entry)

    @rule(secret=st.binary(min_size=32, max_size=32), pcrs=_SEALED_TO, reseal=st.booleans(),
          undefine=st.booleans())
    def keep_secret(self, secret, pcrs, reseal, undefine):
        """The hardware domain seals its disk key to PCRs (define with the PolicyPCR digest of
        their current values, write), uses it, maybe undefines it: the NV writes are refused
        without the disk (DISK-MISSING)."""
        if reseal and _SECRET_INDEX in self.hw.model.nv_indices:
            self.command(ops.NvUndefineSpace(_OWNER, _SECRET_INDEX))
        if _SECRET_INDEX not in self.hw.model.nv_indices:
            selection = ((_SHA256, pcrs),)
            values = {(_SHA256, pcr): self.hw.model.pcr(_SHA256, pcr) for pcr in pcrs}
            policy = policy_digest(_SHA256, selection, values, None)
            if self.command(ops.NvDefineSpace(_OWNER, _SECRET_INDEX, _SHA256, _SECRET_ATTRIBUTES, 32,
                                              auth_policy=policy)).rc == 0:
                self.sealed = (selection, values, policy, None)
        if self.command(ops.NvWrite(_OWNER, _SECRET_INDEX, secret)).rc == 0 and self.sealed is not None:
            self.sealed = self.sealed[:3] + (secret,)
        self.use_sealed_key()
        if undefine:
            self.command(ops.NvUndefineSpace(_OWNER, _SECRET_INDEX))

    @rule()
    def use_sealed_key(self):
        """Step 9: the key is read through a policy session satisfied with TPM2_PolicyPCR; it must
        be released iff the sealed PCRs still hold the values it was sealed to (NV-POLICY)."""
        index = self.hw.model.nv_indices.get(_SECRET_INDEX)
        if not self.hw.model.started or index is None:
            return
        if self.sealed is None or index.auth_policy != self.sealed[2]:
            self.sealed = None  # an index the disk brought: its policy is not this machine's
            return
        selection, values, _, secret = self.sealed
        handle = start_session(self.hw, ops.StartAuthSession(_POLICY_SESSION, _SHA256))
        if handle is None:
            return
        self.command(ops.PolicyPCR(handle, selection))
        observed = self.command(ops.NvPolicyRead(_SECRET_INDEX, 32, handle, continue_session=False))
        if observed.rc != 0:
            self.command(ops.FlushContext(handle))
        should = secret is not None and all(self.hw.model.pcr(alg, pcr) == value
                                            for (alg, pcr), value in values.items())
        if (observed.rc == 0) != should or observed.rc == 0 and observed.value != secret:
            self.hw.report(_sealed_key_violation, f"[{self.hw.instance}] the sealed disk key was "
                           f"{'released' if observed.rc == 0 else 'withheld'} with PCRs "
                           f"{'not ' if not should else ''}as sealed")

    @precondition(lambda self: self.plan != "missing" and self.hw.model.disk != ATTACHED)
    @rule()
    def attach_disk(self):
        """Step 6: the manager attaches the disk, late; no extend made before may be lost.
        A vTPM that could not start without it (xen profile) starts now, with the domain."""
        vtpm_checks.attach_disk(self.hw)
        if not self.hw.model.started:
            self.command(ops.Startup(_CLEAR))
            self.log = []

    @precondition(lambda self: self.hw.model.disk == ATTACHED
                  and getattr(self.hw.target, "can_lose_disk", False))
    @rule()
    def lose_disk(self):
        self.hw.platform(ops.DetachDisk())

    @precondition(lambda self: Capability.POWER_CYCLE in self.caps)
    @rule(shutdown=st.sampled_from([None, _CLEAR, _STATE]), resume=st.booleans())
    def reboot(self, shutdown, resume):
        """The hardware domain reboots (or suspends and resumes): Shutdown needs the disk."""
        if shutdown is not None:
            self.command(ops.Shutdown(shutdown))
        self.hw.platform(ops.PowerCycle(orderly=True))
        if resume:
            self.command(ops.Startup(_STATE))
        if not self.hw.model.tpm.started:  # a new boot: a new IMA log
            self.command(ops.Startup(_CLEAR))
            self.log = []

    @precondition(lambda self: Capability.CRASH in self.caps)
    @rule(then=st.lists(draw.pcr_read, max_size=2))
    def crash(self, then):
        """The vTPM dies; the manager restarts it and replays the IMA log into PCR 10."""
        self.hw.platform(ops.Crash())
        self.command(ops.Startup(_CLEAR))
        for entry in self.log:
            self.command(ops.PcrExtend(IMA_PCR, tuple((alg, template_hash(entry, _NAME[alg]))
                                                      for alg in self.banks)))
        for op in then:
            self.command(op)

    @invariant()
    def agree(self):
        self.count_step()
        self.hw.check_pcrs()
        if not self.hw.model.started:
            return
        read = self.command(ops.PcrRead(tuple((alg, (IMA_PCR,)) for alg in self.banks)))
        differences = []
        for (alg, _), value in zip(read.value.selection, read.value.digests):
            want = replay(self.log, _NAME[alg], PER_BANK, pcr=IMA_PCR)
            if value != want:
                differences.append(f"{_NAME[alg]}: vTPM {value.hex()[:16]}, log {want.hex()[:16]}")
        if differences:
            self.hw._fail(vtpm_checks.check_ima_replay, f"[{self.hw.instance}] {len(self.log)} entries",
                          differences)


_NAME = {int(alg): name for name, alg in ALG_BY_NAME.items()}


def _sealed_key_violation(summary: str) -> None:
    raise Violation("NV-POLICY", summary)

test_arch3_machine = machine_test(Arch3Machine)
