"""NV indices across crashes, power cycles and Startup types against the reference model.

One rule runs a burst of NV commands on a few index handles; after every
step every defined index is read back (TPM2_NV_ReadPublic and a full
TPM2_NV_Read with an authorization it accepts), so a lost or stale write is
seen at the step that lost it (NV-DURABLE).  Commands are drawn as intents
and made concrete against the model's state, so index passwords are right
(or deliberately wrong) and sizes fit the index most of the time.  Every
index has TPMA_NV_NO_DA: a wrong password must not drive the TPM into
dictionary-attack lockout, which would end the run.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from harness.machine import HarnessMachine, machine_test
from harness.targets.base import Capability
from models import ops
from models.tcg import MAX_NV_BUFFER_SIZE, TPM_ALG, TPM_RH, TPM_SU, TPMA_NV

BURST = 12
HANDLES = (0x01000001, 0x01000002, 0x01000003)
OWNER, PLATFORM = int(TPM_RH.TPM_RH_OWNER), int(TPM_RH.TPM_RH_PLATFORM)
SHA256 = int(TPM_ALG.TPM_ALG_SHA256)
CLEAR, STATE = int(TPM_SU.TPM_SU_CLEAR), int(TPM_SU.TPM_SU_STATE)
A = TPMA_NV
_READ_BITS = (int(A.TPMA_NV_OWNERREAD), int(A.TPMA_NV_AUTHREAD), int(A.TPMA_NV_PPREAD))
_WRITE_BITS = (int(A.TPMA_NV_OWNERWRITE), int(A.TPMA_NV_AUTHWRITE), int(A.TPMA_NV_PPWRITE))
_FLAGS = (int(A.TPMA_NV_ORDERLY), int(A.TPMA_NV_CLEAR_STCLEAR), int(A.TPMA_NV_READ_STCLEAR),
          int(A.TPMA_NV_WRITE_STCLEAR), int(A.TPMA_NV_WRITEDEFINE), int(A.TPMA_NV_WRITEALL))
_NO_DA, _PLATFORMCREATE = int(A.TPMA_NV_NO_DA), int(A.TPMA_NV_PLATFORMCREATE)
_OWNERREAD, _PPREAD, _AUTHREAD = _READ_BITS
_NT = {"ordinary": 0x0, "counter": 0x1, "extend": 0x4}
_SIZE = {"counter": 8, "extend": 32}


def _bits(options):
    return st.lists(st.sampled_from(options), max_size=len(options)).map(lambda bits: sum(set(bits)))


_slot = st.sampled_from(HANDLES)
_who = st.sampled_from(["owner", "index", "index", "platform"])
_data = st.binary(max_size=40)
_offset = st.one_of(st.just(0), st.integers(0, 40))


@st.composite
def _define(draw):
    kind = draw(st.sampled_from(["ordinary", "ordinary", "counter", "extend"]))
    attributes = (_NT[kind] << 4 | draw(_bits(_READ_BITS)) | draw(_bits(_WRITE_BITS)) | draw(_bits(_FLAGS))
                  | _NO_DA)
    if kind == "counter" and draw(st.booleans()):  # the interesting counter: orderly, owner-usable
        attributes |= int(A.TPMA_NV_ORDERLY) | _OWNERREAD | int(A.TPMA_NV_OWNERWRITE)
    platform = draw(st.sampled_from([False, False, False, True]))
    if platform:
        attributes |= _PLATFORMCREATE
    if draw(st.integers(0, 9)) == 0:
        platform = not platform  # the wrong hierarchy for PLATFORMCREATE
    size = _SIZE.get(kind) if draw(st.integers(0, 7)) else None
    if size is None:
        size = draw(st.integers(0, 48))
    auth_value = draw(st.sampled_from([b"", b"", b"pw", b"secret\0"]))
    return ("define", draw(_slot), PLATFORM if platform else OWNER, attributes, size, auth_value)


_intent = st.one_of(
    _define(),
    st.tuples(st.just("undefine"), _slot, st.sampled_from([OWNER, OWNER, PLATFORM])),
    st.tuples(st.just("write"), _slot, _who, st.one_of(st.none(), _data), _offset, st.booleans()),
    st.tuples(st.just("write"), _slot, _who, st.one_of(st.none(), _data), _offset, st.booleans()),
    st.tuples(st.just("write_edge"), _slot, _who, st.integers(0, 4), st.integers(-1, 1)),
    st.tuples(st.just("read"), _slot, _who, st.one_of(st.none(), st.integers(0, 40)), _offset, st.booleans()),
    st.tuples(st.just("increment"), _slot, _who),
    st.tuples(st.just("increment"), _slot, _who),
    st.tuples(st.just("extend"), _slot, _who, _data),
    st.tuples(st.just("writelock"), _slot, _who),
    st.tuples(st.just("readlock"), _slot, _who),
    st.tuples(st.just("readpublic"), _slot),
)
_burst = st.lists(_intent, min_size=1, max_size=BURST)
_tail = st.lists(_intent, max_size=BURST // 2)


def realize(intent, indices: dict):
    """The op of ``intent`` against the model's indices: the right password for index
    authorization unless the intent asks for a wrong one; None sizes mean the whole index."""
    kind, handle = intent[0], intent[1]
    if kind == "define":
        _, _, auth, attributes, size, auth_value = intent
        return ops.NvDefineSpace(auth, handle, SHA256, attributes, size, auth_value=auth_value)
    if kind == "undefine":
        return ops.NvUndefineSpace(intent[2], handle)
    if kind == "readpublic":
        return ops.NvReadPublic(handle)
    index = indices.get(handle)
    who = intent[2]
    auth = {"owner": OWNER, "platform": PLATFORM}.get(who, handle)
    wrong = kind in ("write", "read") and intent[5]
    password = index.auth_value if who == "index" and index is not None else b""
    if wrong and who == "index":
        password = password + b"x"
    size = index.data_size if index is not None else 8
    if kind == "write":
        data = intent[3] if intent[3] is not None else bytes(range(size))
        return ops.NvWrite(auth, handle, data, intent[4] if intent[3] is not None else 0, password)
    if kind == "write_edge":  # data ending one octet before, at or after the end of the index
        offset = size * intent[3] // 4
        data = bytes(max(0, size - offset + intent[4]))
        return ops.NvWrite(auth, handle, data, offset, password)
    if kind == "read":
        if intent[3] is None:
            return ops.NvRead(auth, handle, min(size, MAX_NV_BUFFER_SIZE), 0, password)
        return ops.NvRead(auth, handle, intent[3], intent[4], password)
    if kind == "increment":
        return ops.NvIncrement(auth, handle, password)
    if kind == "extend":
        return ops.NvExtend(auth, handle, intent[3], password)
    if kind == "writelock":
        return ops.NvWriteLock(auth, handle, password)
    return ops.NvReadLock(auth, handle, password)


class NvMachine(HarnessMachine):
    """NV define/write/read/increment/extend/lock bursts with TPM Reset, Restart and Resume,
    power cuts and crashes drawn at any point; every index read back after every step."""

    REQUIREMENTS = ("NV-DURABLE", "RESP-WELLFORMED")

    def __init__(self) -> None:
        super().__init__()
        self.tpm = self.new_pair()
        self.caps = self.factory.capabilities

    @initialize()
    def power_on(self):
        self.tpm.command(ops.Startup(CLEAR))

    def run(self, intents):
        model = self.tpm.model
        for intent in intents:
            op = realize(intent, model.nv_indices)
            observed = self.tpm.command(op)
            if type(op) is ops.NvRead or type(op) is ops.NvReadPublic:
                model.nv_observe(op, observed)

    def start(self, su: int):
        """Startup as drawn; after a refused Resume, Startup(CLEAR) as firmware does.  Then the
        public area of each orderly index with an unsaved lock shows whether the lock survived,
        before any command depends on it."""
        self.tpm.command(ops.Startup(su))
        model = self.tpm.model
        if not model.started:
            self.tpm.command(ops.Startup(CLEAR))
        for handle, index in sorted(model.nv_indices.items()):
            if index.open_lock:
                op = ops.NvReadPublic(handle)
                model.nv_observe(op, self.tpm.command(op))

    @rule(burst=_burst)
    def commands(self, burst):
        self.run(burst)

    @precondition(lambda self: Capability.POWER_CYCLE in self.caps)
    @rule(shutdown=st.one_of(st.none(), st.sampled_from([CLEAR, STATE])), orderly=st.booleans(),
          su=st.sampled_from([CLEAR, STATE]), then=_tail)
    def reboot(self, shutdown, orderly, su, then):
        """TPM2_Shutdown (or none), loss of power, TPM2_Startup: Reset, Restart or Resume."""
        orderly = orderly or Capability.CRASH not in self.caps
        if shutdown is not None:
            self.tpm.command(ops.Shutdown(shutdown))
        self.tpm.platform(ops.PowerCycle(orderly))
        self.start(su)
        self.run(then)

    @precondition(lambda self: Capability.CRASH in self.caps)
    @rule(then=_tail)
    def crash(self, then):
        self.tpm.platform(ops.Crash())
        self.start(CLEAR)
        self.run(then)

    @invariant()
    def indices_read_back(self):
        """NvReadPublic and a full NvRead of every defined index: acknowledged data is there."""
        self.count_step()
        model = self.tpm.model
        if not model.started:
            return
        for handle, index in sorted(model.nv_indices.items()):
            self.tpm.command(ops.NvReadPublic(handle))  # start() has settled any open lock
            attributes = index.attributes
            if attributes & _OWNERREAD:
                auth, password = OWNER, b""
            elif attributes & _PPREAD:
                auth, password = PLATFORM, b""
            elif attributes & _AUTHREAD:
                auth, password = handle, index.auth_value
            else:
                continue
            op = ops.NvRead(auth, handle, min(index.data_size, MAX_NV_BUFFER_SIZE), 0, password)
            model.nv_observe(op, self.tpm.command(op))


test_nv_machine = machine_test(NvMachine)
