"""Hash and event sequences interleaved with PCR commands, NV defines, reboots and crashes.

One rule runs a burst of commands drawn as intents and made concrete against the model's
open sequences, so handles and passwords are right (or deliberately wrong or stale).  Several
sequences are open at once, up to the TPM's object slots and beyond (TPM_RC_OBJECT_MEMORY).
SequenceComplete digests are compared with the model's hashlib digests; event sequences
extend PCRs, which the sweep after every step reads back (PCR-AGREE).  GetCapability draws
(open sequence handles, NV index handles, and the variable properties that count them) check
state-dependent answers after sequence starts and NV defines/undefines.  Wrong sequence
passwords are safe: sequence objects answer TPM_RC_BAD_AUTH without dictionary-attack effects.
"""

from __future__ import annotations

import hashlib

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from harness.machine import HarnessMachine, machine_test
from harness.targets.base import Capability
from models import ops
from models.tcg import HASHLIB_NAME, TPM_ALG, TPM_CAP, TPM_PT, TPM_RH, TPM_SU, TPMA_NV

BURST = 16
CLEAR, STATE = int(TPM_SU.TPM_SU_CLEAR), int(TPM_SU.TPM_SU_STATE)
NULL = int(TPM_RH.TPM_RH_NULL)
OWNER = int(TPM_RH.TPM_RH_OWNER)
_HIERARCHIES = (NULL, NULL, OWNER, int(TPM_RH.TPM_RH_ENDORSEMENT), int(TPM_RH.TPM_RH_PLATFORM),
                int(TPM_RH.TPM_RS_PW))  # the last is no hierarchy: TPM_RC_VALUE
_ALGS = tuple(int(a) for a in (TPM_ALG.TPM_ALG_SHA1, TPM_ALG.TPM_ALG_SHA256, TPM_ALG.TPM_ALG_SHA384,
                               TPM_ALG.TPM_ALG_SHA512, TPM_ALG.TPM_ALG_NULL, TPM_ALG.TPM_ALG_NULL))
_AUTHS = (b"", b"", b"seq", b"pw\0")
# PCRs an event sequence may end in: NULL, resettable debug/application PCRs, a state-saved one,
# and 17/20 whose extend localities differ (PCR-LOCALITY refusals).
_PCRS = (NULL, 16, 16, 23, 10, 17, 20)
_NV = (0x01000001, 0x01000002)
_NV_ORDINARY = int(TPMA_NV.TPMA_NV_OWNERREAD | TPMA_NV.TPMA_NV_OWNERWRITE | TPMA_NV.TPMA_NV_NO_DA)
_NV_COUNTER = _NV_ORDINARY | 0x10  # TPM_NT_COUNTER << 4
_SHA256 = int(TPM_ALG.TPM_ALG_SHA256)
_HANDLES = int(TPM_CAP.TPM_CAP_HANDLES)
_PROPERTIES = int(TPM_CAP.TPM_CAP_TPM_PROPERTIES)
_CAPABILITY_DRAWS = (
    (_HANDLES, 0x80000000, 8), (_HANDLES, 0x80000000, 1), (_HANDLES, 0x80000001, 2),
    (_HANDLES, 0x01000000, 8), (_HANDLES, 0x01000002, 1), (_HANDLES, 0x00000014, 8),
    (_PROPERTIES, int(TPM_PT.TPM_PT_HR_TRANSIENT_AVAIL), 1),
    (_PROPERTIES, int(TPM_PT.TPM_PT_HR_NV_INDEX), 1),
    (_PROPERTIES, int(TPM_PT.TPM_PT_HR_NV_INDEX), 9),  # through TPM_PT_NV_COUNTERS
    (_PROPERTIES, int(TPM_PT.TPM_PT_NV_COUNTERS), 1),
)

_data = st.one_of(st.binary(min_size=4, max_size=24), st.binary(min_size=4, max_size=24), st.binary(max_size=3),
                  st.binary(max_size=8).map(lambda b: b"\xffTCG" + b))
_OVERSIZE = b"\x5a" * 1025  # beyond MAX_DIGEST_BUFFER: TPM_RC_SIZE + parameter 1
_which = st.integers(0, 9)
_wrong = st.integers(0, 9).map(lambda n: n == 0)
_intent = st.one_of(
    st.tuples(st.just("start"), st.sampled_from(_ALGS), st.sampled_from(_AUTHS)),
    st.tuples(st.just("start"), st.sampled_from(_ALGS), st.sampled_from(_AUTHS)),
    st.tuples(st.just("update"), _which, _data, _wrong),
    st.tuples(st.just("update"), _which, _data, _wrong),
    st.tuples(st.just("update"), _which, st.just(_OVERSIZE), _wrong),
    st.tuples(st.just("complete"), _which, _data, st.sampled_from(_HIERARCHIES), _wrong),
    st.tuples(st.just("event_complete"), st.sampled_from(_PCRS), _which, _data, st.integers(0, 3), _wrong),
    st.tuples(st.just("extend"), st.sampled_from((16, 23, 10)), st.binary(max_size=8)),
    st.tuples(st.just("event"), st.sampled_from((16, 23, NULL)), st.binary(max_size=8)),
    st.tuples(st.just("reset"), st.sampled_from((16, 23))),
    st.tuples(st.just("define"), st.sampled_from(_NV), st.booleans()),
    st.tuples(st.just("undefine"), st.sampled_from(_NV)),
    st.tuples(st.just("capability"), st.sampled_from(_CAPABILITY_DRAWS)),
)
_burst = st.lists(_intent, min_size=1, max_size=BURST)
_tail = st.lists(_intent, max_size=BURST // 2)


def realize(intent, model):
    """The op of ``intent`` against the model's open sequences: ``which`` picks one of them,
    or (8 and 9, or none open) a handle with no sequence: stale, never used, or beyond the slots."""
    kind = intent[0]
    if kind == "start":
        return ops.HashSequenceStart(intent[2], intent[1])
    if kind == "extend":
        return ops.PcrExtend(intent[1], tuple((alg, hashlib.new(HASHLIB_NAME[alg], intent[2]).digest())
                                              for alg in model.banks))
    if kind == "event":
        return ops.PcrEvent(intent[1], intent[2])
    if kind == "reset":
        return ops.PcrReset(intent[1])
    if kind == "define":
        return ops.NvDefineSpace(OWNER, intent[1], _SHA256, _NV_COUNTER if intent[2] else _NV_ORDINARY, 8)
    if kind == "undefine":
        return ops.NvUndefineSpace(OWNER, intent[1])
    if kind == "capability":
        return ops.GetCapability(*intent[1])
    which = intent[2] if kind == "event_complete" else intent[1]
    sequences = model.sequences
    handles = sorted(sequences)
    if which < 8 and handles:
        handle = handles[which % len(handles)]
        password = sequences[handle].auth
    else:
        handle = 0x80000000 + which % 4  # 0x80000003 lies beyond three slots
        password = b""
    if intent[-1]:
        password += b"x"
    if kind == "update":
        return ops.SequenceUpdate(handle, intent[2], password)
    if kind == "complete":
        return ops.SequenceComplete(handle, intent[2], intent[3], password)
    return ops.EventSequenceComplete(intent[1], handle, intent[3], password, locality=intent[4])


class SequenceMachine(HarnessMachine):
    """Hash and event sequences, several open at once, with PCR extends/events/resets, NV
    defines, GetCapability, DRTM, TPM Reset/Restart/Resume, power cuts and crashes."""

    REQUIREMENTS = ("PCR-AGREE", "PCR-LOCALITY", "PCR-INIT", "RESP-WELLFORMED")

    def __init__(self) -> None:
        super().__init__()
        self.tpm = self.new_pair()
        self.caps = self.factory.capabilities
        self.localities = Capability.LOCALITY in self.caps

    @initialize()
    def power_on(self):
        self.tpm.command(ops.Startup(CLEAR))

    def run(self, intents):
        model = self.tpm.model
        for intent in intents:
            op = realize(intent, model)
            if not self.localities and getattr(op, "locality", 0):
                op = ops.EventSequenceComplete(op.pcr, op.handle, op.data, op.password)
            self.tpm.command(op)

    @rule(burst=_burst)
    def commands(self, burst):
        self.run(burst)

    @precondition(lambda self: Capability.POWER_CYCLE in self.caps)
    @rule(shutdown=st.one_of(st.none(), st.sampled_from([CLEAR, STATE])), su=st.sampled_from([CLEAR, STATE]),
          then=_tail)
    def reboot(self, shutdown, su, then):
        """TPM2_Shutdown (or none), _TPM_Init, TPM2_Startup: every sequence is gone after it."""
        if shutdown is not None:
            self.tpm.command(ops.Shutdown(shutdown))
        self.tpm.platform(ops.PowerCycle(True))
        self.tpm.command(ops.Startup(su))
        if not self.tpm.model.started:
            self.tpm.command(ops.Startup(CLEAR))
        self.run(then)

    @precondition(lambda self: Capability.CRASH in self.caps)
    @rule(then=_tail)
    def crash(self, then):
        self.tpm.platform(ops.Crash())
        self.tpm.command(ops.Startup(CLEAR))
        self.run(then)

    @precondition(lambda self: Capability.DRTM in self.caps)
    @rule(data=st.binary(max_size=16), then=_tail)
    def drtm(self, data, then):
        """A DRTM sequence takes an object slot: with every slot taken the first sequence goes."""
        self.tpm.platform(ops.Drtm(data))
        self.run(then)

    @invariant()
    def pcrs_agree(self):
        self.count_step()
        self.tpm.check_pcrs()


test_sequence_machine = machine_test(SequenceMachine)
