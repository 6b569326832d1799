"""PCR-sealed NV indices read (and written) through real policy sessions, across extends,
resets and reboots.

An index is sealed to the current values of a drawn PCR selection (TPM2_PolicyPCR,
optionally TPM2_PolicyLocality): its authPolicy is computed here with hashlib from
Part 3's formulas and, when drawn, also on the TPM with a trial session, whose
PolicyGetDigest must give the same digest.  Reads go through policy sessions that
stay open across steps (continueSession), are restarted, flushed, and lost at power
cycles and crashes.  Every command is checked against the model; on top of that the
machine checks NV-POLICY with its own oracle: the data is released (or a write accepted:
TPMA_NV_POLICYWRITE, same policy) iff the selected PCRs held their sealed values at
PolicyPCR, no PCR that counts in pcrUpdateCounter changed between PolicyPCR and the
access, and the access ran at a permitted locality.
"""

from __future__ import annotations

import hashlib

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from harness.invariants import Violation
from harness.machine import HarnessMachine, machine_test
from harness.policy import start_session
from harness.targets.base import Capability
from models import ops
from models.tcg import HASHLIB_NAME, TPM_ALG, TPM_CC, TPM_RH, TPM_SE, TPM_SU, TPMA_NV

BURST = 6
SLOTS = (0x01400001, 0x01400002)
OWNER = int(TPM_RH.TPM_RH_OWNER)
SHA1, SHA256 = int(TPM_ALG.TPM_ALG_SHA1), int(TPM_ALG.TPM_ALG_SHA256)
CLEAR, STATE = int(TPM_SU.TPM_SU_CLEAR), int(TPM_SU.TPM_SU_STATE)
POLICY, TRIAL = int(TPM_SE.TPM_SE_POLICY), int(TPM_SE.TPM_SE_TRIAL)
SEALED = int(TPMA_NV.TPMA_NV_POLICYREAD | TPMA_NV.TPMA_NV_POLICYWRITE | TPMA_NV.TPMA_NV_OWNERWRITE
              | TPMA_NV.TPMA_NV_NO_DA)
CC_POLICY_PCR = int(TPM_CC.TPM_CC_PolicyPCR).to_bytes(4, "big")
CC_POLICY_LOCALITY = int(TPM_CC.TPM_CC_PolicyLocality).to_bytes(4, "big")
# PCRs worth sealing to: static (reset by reboots), debug/application (reset at 0-3), dynamic
# OS (reset at locality 2).
_PCRS = st.sampled_from([0, 7, 10, 16, 20, 21, 23])
_selection = st.lists(st.tuples(st.sampled_from([SHA1, SHA256]), st.lists(_PCRS, min_size=1, max_size=3)),
                      min_size=1, max_size=2, unique_by=lambda entry: entry[0]).map(
    lambda entries: tuple((alg, tuple(sorted(set(pcrs)))) for alg, pcrs in entries))
_localities = st.one_of(st.none(), st.sampled_from([0x01, 0x04, 0x05, 0x0F, 0x1F]))
_locality = st.sampled_from([0, 0, 1, 2, 3])
_change = st.tuples(st.sampled_from(["extend", "reset"]), _PCRS, _locality, st.binary(min_size=1, max_size=4))
_read = st.fixed_dictionaries({
    "slot": st.sampled_from(SLOTS), "new_session": st.booleans(), "hash": st.sampled_from([SHA256, SHA256, SHA1]),
    "detour": st.booleans(), "between": st.one_of(st.none(), st.none(), st.none(), _change), "locality": _locality,
    "continue_session": st.booleans(), "reuse": st.integers(0, 2), "trial": st.integers(0, 5).map(lambda n: n == 0),
    "rewrite": st.one_of(st.none(), st.none(), st.binary(min_size=1, max_size=4))})


def marshal_selection(selection) -> bytes:
    """TPML_PCR_SELECTION, sizeofSelect 3 (Part 2, 10.6.2), written here from the spec."""
    out = len(selection).to_bytes(4, "big")
    for alg, pcrs in selection:
        out += alg.to_bytes(2, "big") + b"\x03" + sum(1 << p for p in set(pcrs)).to_bytes(3, "little")
    return out


def policy_digest(alg: int, selection, values: dict, localities: int | None) -> bytes:
    """authPolicy of PolicyPCR(selection at ``values``) [+ PolicyLocality] by Part 3's formulas."""
    h = lambda data: hashlib.new(HASHLIB_NAME[alg], data).digest()  # noqa: E731
    composite = b"".join(values[(bank, pcr)] for bank, pcrs in selection for pcr in sorted(set(pcrs))
                         if (bank, pcr) in values)
    digest = h(bytes(hashlib.new(HASHLIB_NAME[alg]).digest_size) + CC_POLICY_PCR
               + marshal_selection(selection) + h(composite))
    if localities is not None:
        digest = h(digest + CC_POLICY_LOCALITY + bytes((localities,)))
    return digest


class Sealed:
    """What the machine sealed: selection, sealed PCR values, locality mask, name hash, data."""

    __slots__ = ("selection", "values", "localities", "alg", "data")

    def __init__(self, selection, values, localities, alg, data) -> None:
        self.selection, self.values, self.localities, self.alg, self.data = selection, values, localities, alg, data


class NvPolicyMachine(HarnessMachine):
    """PolicyPCR/PolicyLocality-sealed NV indices read through policy sessions while PCRs are
    extended and reset at their localities, across Startup(STATE/CLEAR), power cuts and crashes."""

    REQUIREMENTS = ("NV-POLICY", "PCR-AGREE", "RESP-WELLFORMED")

    def __init__(self) -> None:
        super().__init__()
        self.tpm = self.new_pair()
        self.caps = self.factory.capabilities
        self.localities = Capability.LOCALITY in self.caps
        self.sealed: dict[int, Sealed] = {}
        self.sessions: dict[int, int] = {}  # open policy sessions: handle -> authHash, oldest first

    # --- helpers -----------------------------------------------------------------------

    def at(self, locality: int) -> int:
        return locality if self.localities else 0

    def values(self, selection) -> dict:
        model = self.tpm.model
        banks = set(model.banks)
        return {(alg, pcr): model.pcr(alg, pcr) for alg, pcrs in selection if alg in banks for pcr in pcrs}

    def counted(self, pcr: int) -> bool:
        return pcr not in self.tpm.model.profile.no_increment

    def change(self, change) -> bool:
        """Extend or reset a PCR as drawn; True when it changed a PCR that pcrUpdateCounter counts."""
        kind, pcr, locality, data = change
        if kind == "extend":
            digests = tuple((alg, hashlib.new(HASHLIB_NAME[alg], data).digest()) for alg in self.tpm.model.banks)
            op = ops.PcrExtend(pcr, digests, self.at(locality))
        else:
            op = ops.PcrReset(pcr, self.at(locality))
        return self.tpm.command(op).rc == 0 and self.counted(pcr)

    def session(self, kind: int, alg: int) -> int | None:
        handle = start_session(self.tpm, ops.StartAuthSession(kind, alg))
        if handle is not None and kind == POLICY:
            self.sessions[handle] = alg
        return handle

    def lost(self) -> None:
        self.sessions.clear()

    def fail(self, summary: str) -> None:
        def check() -> None:
            raise Violation("NV-POLICY", summary)
        self.tpm.report(check)

    # --- rules -------------------------------------------------------------------------

    @initialize()
    def power_on(self):
        self.tpm.command(ops.Startup(CLEAR))

    @rule(slot=st.sampled_from(SLOTS), selection=_selection, localities=_localities,
          alg=st.sampled_from([SHA256, SHA256, SHA1]), trial=st.booleans(), data=st.binary(min_size=1, max_size=16),
          reads=st.lists(_read, max_size=3))
    def seal(self, slot, selection, localities, alg, trial, data, reads):
        """(Re)define ``slot`` sealed to the current values of ``selection``, then read it as
        drawn; the policy from hashlib, and when drawn also computed by the TPM in a trial session."""
        values = self.values(selection)
        policy = policy_digest(alg, selection, values, localities)
        if trial:
            handle = self.session(TRIAL, alg)
            if handle is not None:
                self.tpm.command(ops.PolicyPCR(handle, selection))
                if localities is not None:
                    self.tpm.command(ops.PolicyLocality(handle, localities))
                computed = self.tpm.command(ops.PolicyGetDigest(handle)).value
                if computed != policy:
                    self.fail(f"a trial session computed {computed.hex()}, Part 3's formula gives {policy.hex()}")
                self.tpm.command(ops.FlushContext(handle))
        if slot in self.tpm.model.nv_indices:
            self.tpm.command(ops.NvUndefineSpace(OWNER, slot))
        self.tpm.command(ops.NvDefineSpace(OWNER, slot, alg, SEALED, len(data), auth_policy=policy))
        self.tpm.command(ops.NvWrite(OWNER, slot, data))
        self.sealed[slot] = Sealed(selection, values, localities, alg, data)
        for read in reads:
            self.read(slot, read, self.sealed[slot])

    @rule(reads=st.lists(_read, min_size=1, max_size=BURST))
    def unseal(self, reads):
        """Policy sessions satisfy the sealed policies (or not, as the PCRs are) and read."""
        for read in reads:
            sealed = self.sealed.get(read["slot"])
            if sealed is None:
                continue
            self.read(read["slot"], read, sealed)

    def read(self, slot: int, read, sealed: Sealed) -> None:
        """One read of ``slot`` through a new or reused policy session, checked by the
        machine's own oracle besides the model."""
        handle = None
        if read["trial"]:  # a trial session computes the right digest but may not authorize
            handle = self.session(TRIAL, sealed.alg)
            if handle is None:
                return
        elif self.sessions and not read["new_session"]:
            handle = list(self.sessions)[read["reuse"] % len(self.sessions)]
            self.tpm.command(ops.PolicyRestart(handle))
        if handle is None:
            handle = self.session(POLICY, read["hash"])
        if handle is None:
            return  # no free session slot: the model checked TPM_RC_SESSION_MEMORY
        if read["detour"]:  # a wrong policy first, then PolicyRestart
            self.tpm.command(ops.PolicyLocality(handle, 0x1F))
            self.tpm.command(ops.PolicyRestart(handle))
        at_policy = self.values(sealed.selection)
        self.tpm.command(ops.PolicyPCR(handle, sealed.selection))
        if sealed.localities is not None:
            self.tpm.command(ops.PolicyLocality(handle, sealed.localities))
        moved = read["between"] is not None and self.change(read["between"])
        locality = self.at(read["locality"])
        keep = read["continue_session"]
        if read["rewrite"] is not None:  # TPMA_NV_POLICYWRITE: the same policy authorizes a write
            data = (read["rewrite"] * len(sealed.data))[:len(sealed.data)]
            op = ops.NvPolicyWrite(slot, data, handle, continue_session=keep, locality=locality)
        else:
            op = ops.NvPolicyRead(slot, len(sealed.data), handle, continue_session=keep, locality=locality)
        observed = self.tpm.command(op)
        released = observed.rc == 0
        should = (not read["trial"] and at_policy == sealed.values and not moved and self.sessions[handle] == sealed.alg
                  and (sealed.localities is None or bool(sealed.localities >> locality & 1)))
        if released != should:
            self.fail(f"sealed index {'opened' if released else 'kept shut'} although the PCRs "
                      f"{'did not match' if not should else 'matched'} (read at locality {locality})")
        if released and type(op) is ops.NvPolicyWrite:
            sealed.data = op.data
        elif released and observed.value != sealed.data:
            self.fail(f"released {observed.value.hex()}, sealed {sealed.data.hex()}")
        if read["trial"]:
            self.tpm.command(ops.FlushContext(handle))
        elif released and not keep:
            del self.sessions[handle]
        elif released:
            self.tpm.command(ops.PolicyGetDigest(handle))  # reset by its use: all zeros

    @rule(changes=st.lists(_change, min_size=1, max_size=BURST))
    def pcrs(self, changes):
        """Extends and resets at drawn localities (refusals checked by the model)."""
        for change in changes:
            self.change(change)

    @precondition(lambda self: self.sessions)
    @rule(which=st.integers(0, 2), digest=st.booleans())
    def flush(self, which, digest):
        handle = list(self.sessions)[which % len(self.sessions)]
        del self.sessions[handle]
        if digest:
            self.tpm.command(ops.PolicyGetDigest(handle))
        self.tpm.command(ops.FlushContext(handle))
        self.tpm.command(ops.PolicyGetDigest(handle))  # TPM_RC_REFERENCE_H0 now

    @precondition(lambda self: Capability.POWER_CYCLE in self.caps)
    @rule(shutdown=st.one_of(st.none(), st.sampled_from([CLEAR, STATE])), orderly=st.booleans(),
          su=st.sampled_from([CLEAR, STATE]))
    def reboot(self, shutdown, orderly, su):
        """TPM2_Shutdown (or none), power loss, TPM2_Startup: every session is gone."""
        orderly = orderly or Capability.CRASH not in self.caps
        if shutdown is not None:
            self.tpm.command(ops.Shutdown(shutdown))
        self.tpm.platform(ops.PowerCycle(orderly))
        self.lost()
        self.tpm.command(ops.Startup(su))
        if not self.tpm.model.started:
            self.tpm.command(ops.Startup(CLEAR))

    @precondition(lambda self: Capability.CRASH in self.caps)
    @rule()
    def crash(self):
        self.tpm.platform(ops.Crash())
        self.lost()
        self.tpm.command(ops.Startup(CLEAR))

    @invariant()
    def pcrs_agree(self):
        self.count_step()
        self.tpm.check_pcrs()


test_nv_policy_machine = machine_test(NvPolicyMachine)
