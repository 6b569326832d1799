"""NV indices (Library Part 1 "NV Memory", Part 3 31) as an executable specification.

Checks run in the order of the reference ExecCommand.c and the command actions
(NV_spt.c NvReadAccessChecks / NvWriteAccessChecks): handle existence
(TPM_RC_HANDLE + handle n), the authorization session (AUTHREAD/AUTHWRITE for
index authorization, else TPM_RC_AUTH_UNAVAILABLE; the password), then the
action's own checks.

Durability (NV-DURABLE): an index without TPMA_NV_ORDERLY is written to NV
before the command returns, so every acknowledged write survives any crash.
An orderly index may live in RAM until TPM2_Shutdown: a non-counter orderly
index is unwritten after every TPM Reset anyway (Part 2 TPMA_NV_ORDERLY), and
an orderly counter, after a Startup that follows no orderly shutdown, holds
some count at least as large as its last acknowledged value (Part 1 "NV
Counters").  That count is the TPM's choice: the model keeps only the lower
bound until a full read of the counter shows the value (``observe``).

The same holds for an orderly index's attributes (Part 2 TPMA_NV_ORDERLY: "NV
Index state is only required to be saved when the TPM performs an orderly
shutdown"): a TPMA_NV_WRITELOCKED set by TPM2_NV_WriteLock after the last
TPM2_Shutdown may be gone after the next Startup, even for a WRITEDEFINE index.
The reference keeps these attributes in RAM (NV.c NvWriteIndexAttributes writes
only the RAM copy of an orderly index; NvEntityStartup reloads that copy from
the image NvUpdateIndexOrderlyData last wrote), so libtpms drops such a lock
after a crash unless some other event saved the image first.  The model leaves
the lock open after Startup until TPM2_NV_ReadPublic shows it (``observe``).
"""

from __future__ import annotations

import hashlib

from models.ops import (ANY, ANY_ERROR, AtLeast, OneOf, Partly, NvDefineSpace, NvExtend, NvIncrement,
                        NvPublicResult, NvRead, NvReadLock, NvReadPublic, NvUndefineSpace, NvWrite, NvWriteLock, Outcome)
from models.tcg import (DIGEST_SIZE, HASHLIB_NAME, MAX_NV_BUFFER_SIZE, NV_INDEX_FIRST, NV_INDEX_LAST,
                        RC_P, RC_S, TPM_NT, TPM_RC, TPM_RH, TPMA_NV)

OWNER = int(TPM_RH.TPM_RH_OWNER)
PLATFORM = int(TPM_RH.TPM_RH_PLATFORM)

PPWRITE = int(TPMA_NV.TPMA_NV_PPWRITE)
OWNERWRITE = int(TPMA_NV.TPMA_NV_OWNERWRITE)
AUTHWRITE = int(TPMA_NV.TPMA_NV_AUTHWRITE)
POLICYWRITE = int(TPMA_NV.TPMA_NV_POLICYWRITE)
POLICY_DELETE = int(TPMA_NV.TPMA_NV_POLICY_DELETE)
WRITELOCKED = int(TPMA_NV.TPMA_NV_WRITELOCKED)
WRITEALL = int(TPMA_NV.TPMA_NV_WRITEALL)
WRITEDEFINE = int(TPMA_NV.TPMA_NV_WRITEDEFINE)
WRITE_STCLEAR = int(TPMA_NV.TPMA_NV_WRITE_STCLEAR)
PPREAD = int(TPMA_NV.TPMA_NV_PPREAD)
OWNERREAD = int(TPMA_NV.TPMA_NV_OWNERREAD)
AUTHREAD = int(TPMA_NV.TPMA_NV_AUTHREAD)
POLICYREAD = int(TPMA_NV.TPMA_NV_POLICYREAD)
NO_DA = int(TPMA_NV.TPMA_NV_NO_DA)
ORDERLY = int(TPMA_NV.TPMA_NV_ORDERLY)
CLEAR_STCLEAR = int(TPMA_NV.TPMA_NV_CLEAR_STCLEAR)
READLOCKED = int(TPMA_NV.TPMA_NV_READLOCKED)
WRITTEN = int(TPMA_NV.TPMA_NV_WRITTEN)
PLATFORMCREATE = int(TPMA_NV.TPMA_NV_PLATFORMCREATE)
READ_STCLEAR = int(TPMA_NV.TPMA_NV_READ_STCLEAR)
RESERVED = (0x3 << 8) | (0x1F << 20)  # bits 8-9 and 20-24

NT_ORDINARY = int(TPM_NT.TPM_NT_ORDINARY)
NT_COUNTER = int(TPM_NT.TPM_NT_COUNTER)
NT_BITS = int(TPM_NT.TPM_NT_BITS)
NT_EXTEND = int(TPM_NT.TPM_NT_EXTEND)
MAX_INDEX_SIZE = 2048  # MAX_NV_INDEX_SIZE of the reference; larger sizes are the TPM's choice


def nt(attributes: int) -> int:
    return attributes >> 4 & 0xF


def _rc(code: TPM_RC, handle: int = 0, parameter: int = 0, session: int = 0) -> Outcome:
    value = int(code)
    if handle:
        value |= handle << 8
    elif parameter:
        value |= RC_P | parameter << 8
    elif session:
        value |= RC_S | session << 8
    return Outcome(value)


OK = Outcome(0)
HANDLE_1 = _rc(TPM_RC.TPM_RC_HANDLE, handle=1)
HANDLE_2 = _rc(TPM_RC.TPM_RC_HANDLE, handle=2)
AUTH_UNAVAILABLE = _rc(TPM_RC.TPM_RC_AUTH_UNAVAILABLE)
BAD_AUTH_S1 = _rc(TPM_RC.TPM_RC_BAD_AUTH, session=1)
AUTH_FAIL_S1 = _rc(TPM_RC.TPM_RC_AUTH_FAIL, session=1)
NV_LOCKED = _rc(TPM_RC.TPM_RC_NV_LOCKED)
NV_AUTHORIZATION = _rc(TPM_RC.TPM_RC_NV_AUTHORIZATION)
NV_UNINITIALIZED = _rc(TPM_RC.TPM_RC_NV_UNINITIALIZED)
NV_RANGE = _rc(TPM_RC.TPM_RC_NV_RANGE)
NV_DEFINED = _rc(TPM_RC.TPM_RC_NV_DEFINED)
ATTRIBUTES = _rc(TPM_RC.TPM_RC_ATTRIBUTES)
ATTRIBUTES_H1 = _rc(TPM_RC.TPM_RC_ATTRIBUTES, handle=1)
ATTRIBUTES_H2 = _rc(TPM_RC.TPM_RC_ATTRIBUTES, handle=2)
ATTRIBUTES_P2 = _rc(TPM_RC.TPM_RC_ATTRIBUTES, parameter=2)
SIZE_P1 = _rc(TPM_RC.TPM_RC_SIZE, parameter=1)
SIZE_P2 = _rc(TPM_RC.TPM_RC_SIZE, parameter=2)
VALUE_P1 = _rc(TPM_RC.TPM_RC_VALUE, parameter=1)
VALUE_P2 = _rc(TPM_RC.TPM_RC_VALUE, parameter=2)
_ANY_ERROR = Outcome(ANY_ERROR)  # the spec fixes only that the command fails
_ANY_AUTH_ERROR = _ANY_ERROR  # a wrong owner/platform password: lockout state decides

_READS = (NvRead, NvReadLock)  # IsReadOperation: the others are writes for AUTHREAD/AUTHWRITE


def nv_public(index: int, name_alg: int, attributes: int, auth_policy: bytes, data_size: int) -> bytes:
    """TPMS_NV_PUBLIC marshalled (Part 2, 13.5)."""
    return (index.to_bytes(4, "big") + name_alg.to_bytes(2, "big") + attributes.to_bytes(4, "big")
            + len(auth_policy).to_bytes(2, "big") + auth_policy + data_size.to_bytes(2, "big"))


class Index:
    """One defined index: its public area, authValue and data (None until known)."""

    __slots__ = ("handle", "name_alg", "attributes", "auth_policy", "auth_value", "data_size",
                 "data", "floor", "unsaved_lock", "open_lock")

    def __init__(self, op: NvDefineSpace, auth_value: bytes) -> None:
        self.handle = op.index
        self.name_alg = op.name_alg
        self.attributes = op.attributes
        self.auth_policy = op.auth_policy
        self.auth_value = auth_value
        self.data_size = op.data_size
        self.data: tuple = (None,) * op.data_size  # octets; None: not written yet
        self.floor: int | None = None  # counter: only a lower bound of the value is known
        self.unsaved_lock = False  # orderly: WRITELOCKED set since the last TPM2_Shutdown
        self.open_lock = False  # WRITELOCKED may be either until NvReadPublic shows it

    def copy(self) -> "Index":
        new = Index.__new__(Index)
        for slot in Index.__slots__:
            setattr(new, slot, getattr(self, slot))
        return new

    @property
    def kind(self) -> int:
        return nt(self.attributes)

    def public(self) -> NvPublicResult | OneOf:
        if self.open_lock:
            return OneOf(self._public(self.attributes), self._public(self.attributes & ~WRITELOCKED))
        return self._public(self.attributes)

    def _public(self, attributes: int) -> NvPublicResult:
        public = nv_public(self.handle, self.name_alg, attributes, self.auth_policy, self.data_size)
        digest = hashlib.new(HASHLIB_NAME[self.name_alg], public).digest()
        return NvPublicResult(self.handle, self.name_alg, attributes, self.auth_policy,
                              self.data_size, self.name_alg.to_bytes(2, "big") + digest)


class NvState:
    """The NV indices of one TPM and the largest count any deleted counter held."""

    __slots__ = ("indices", "max_count")

    def __init__(self) -> None:
        self.indices: dict[int, Index] = {}
        self.max_count: int | None = 0  # None: only known to be some count

    def copy(self) -> "NvState":
        new = NvState.__new__(NvState)
        new.indices = {h: i.copy() for h, i in self.indices.items()}
        new.max_count = self.max_count
        return new

    # --- Startup ---------------------------------------------------------------------

    def shutdown(self) -> None:
        """TPM2_Shutdown saves the state of every orderly index."""
        for index in self.indices.values():
            index.unsaved_lock = False

    def startup(self, reset: bool, resume: bool, orderly: bool) -> None:
        """NvEntityStartup: ``orderly`` is whether a TPM2_Shutdown preceded this Startup.
        Until TPM2_NV_ReadPublic shows it, the model keeps an unsaved lock (``open_lock``);
        machines that lock orderly indices read the public areas right after Startup."""
        for index in self.indices.values():
            attributes = index.attributes
            counter = nt(attributes) == NT_COUNTER
            if counter and attributes & ORDERLY and not orderly and attributes & WRITTEN:
                index.floor = self._count(index)
            index.open_lock, index.unsaved_lock = index.open_lock or index.unsaved_lock, False
            if resume:
                continue
            attributes &= ~READLOCKED
            if not counter and (attributes & CLEAR_STCLEAR or attributes & ORDERLY and reset):
                attributes &= ~WRITTEN
                index.data = (None,) * index.data_size  # what an unwritten index holds is open
            if not attributes & WRITTEN or not attributes & WRITEDEFINE:
                attributes &= ~WRITELOCKED
                index.open_lock = False
            index.attributes = attributes

    @staticmethod
    def _count(index: Index) -> int:
        return index.floor if index.floor is not None else _value(index.data)

    def observe(self, op: NvRead | NvReadPublic, observed: Outcome) -> None:
        """A full read of a counter known only by its lower bound shows its value; the public
        area shows whether an unsaved lock survived."""
        index = self.indices.get(op.index)
        if type(op) is NvReadPublic:
            if index is not None and index.open_lock and observed.rc == 0 and type(
                    observed.value) is NvPublicResult:
                index.open_lock = False
                index.attributes &= observed.value.attributes | ~WRITELOCKED
            return
        if (index is not None and index.floor is not None and observed.rc == 0
                and op.offset == 0 and op.size == 8 and type(observed.value) is bytes):
            value = int.from_bytes(observed.value, "big")
            if value >= index.floor:
                index.floor = None
                index.data = tuple(observed.value)

    # --- commands --------------------------------------------------------------------

    def _authorize(self, op, index: Index | None, handle: int) -> Outcome | None:
        """The password session for the first handle (SessionProcess.c CheckAuthSession)."""
        if handle == OWNER or handle == PLATFORM:
            return None if op.password.rstrip(b"\0") == b"" else _ANY_AUTH_ERROR
        wanted = AUTHREAD if isinstance(op, _READS) else AUTHWRITE
        if not index.attributes & wanted:
            # libtpms 0.9 answers TPM_RC_RETRY for a DA-protected index (measured)
            return AUTH_UNAVAILABLE if index.attributes & NO_DA else _ANY_ERROR
        if op.password.rstrip(b"\0") != index.auth_value:
            return BAD_AUTH_S1 if index.attributes & NO_DA else AUTH_FAIL_S1
        return None

    def _handles(self, op) -> tuple[Index | None, Outcome | None]:
        """Handle existence for (authHandle, nvIndex), then the authorization."""
        auth, handle = op.auth, op.index
        if NV_INDEX_FIRST <= auth <= NV_INDEX_LAST and auth not in self.indices:
            return None, HANDLE_1
        index = self.indices.get(handle)
        if index is None:
            return None, HANDLE_2
        auth_index = self.indices.get(auth) if auth != handle else index
        return index, self._authorize(op, auth_index, auth)

    @staticmethod
    def _read_access(auth: int, index: Index) -> Outcome | None:
        refused = _access(auth, index, READLOCKED, OWNERREAD, PPREAD)
        if refused is None and not index.attributes & WRITTEN:
            return NV_UNINITIALIZED
        return refused

    @staticmethod
    def _write_access(auth: int, index: Index) -> Outcome | None:
        return _access(auth, index, WRITELOCKED, OWNERWRITE, PPWRITE)

    def define(self, op: NvDefineSpace) -> Outcome:
        """TPM2_NV_DefineSpace (Part 3, 31.3)."""
        if op.password.rstrip(b"\0"):
            return _ANY_AUTH_ERROR
        attributes, kind = op.attributes, nt(op.attributes)
        name_size = DIGEST_SIZE.get(op.name_alg)
        if name_size is None or attributes & RESERVED:
            return _ANY_ERROR  # unmarshalling: TPM_RC_HASH / TPM_RC_RESERVED_BITS + parameter 2
        if op.auth_policy and len(op.auth_policy) != name_size:
            return SIZE_P2
        auth_value = op.auth_value.rstrip(b"\0")
        if len(auth_value) > name_size:
            return SIZE_P1
        if kind not in (NT_ORDINARY, NT_COUNTER, NT_BITS, NT_EXTEND):
            return _ANY_ERROR  # PIN indices are optional (TPM_RC_ATTRIBUTES if not implemented)
        if kind == NT_ORDINARY:
            if op.data_size > MAX_INDEX_SIZE:
                return _ANY_ERROR
        elif kind == NT_EXTEND:
            if op.data_size != name_size:
                return SIZE_P2
        elif op.data_size != 8:
            return SIZE_P2
        if kind == NT_COUNTER and attributes & CLEAR_STCLEAR:
            return ATTRIBUTES_P2
        if attributes & (WRITTEN | WRITELOCKED | READLOCKED):
            return ATTRIBUTES_P2
        if not attributes & (OWNERREAD | PPREAD | AUTHREAD | POLICYREAD):
            return ATTRIBUTES_P2
        if not attributes & (OWNERWRITE | PPWRITE | AUTHWRITE | POLICYWRITE):
            return ATTRIBUTES_P2
        if attributes & CLEAR_STCLEAR and attributes & WRITEDEFINE:
            return ATTRIBUTES_P2
        if bool(attributes & PLATFORMCREATE) != (op.auth == PLATFORM):
            return ATTRIBUTES_H1
        if attributes & POLICY_DELETE and op.auth != PLATFORM:
            return ATTRIBUTES_P2
        if attributes & WRITEALL and op.data_size > MAX_NV_BUFFER_SIZE:
            return SIZE_P2
        if op.index in self.indices:
            return NV_DEFINED
        self.indices[op.index] = Index(op, auth_value)
        return OK

    def undefine(self, op: NvUndefineSpace) -> Outcome:
        """TPM2_NV_UndefineSpace (Part 3, 31.4)."""
        index = self.indices.get(op.index)
        if index is None:
            return HANDLE_2
        if op.password.rstrip(b"\0"):
            return _ANY_AUTH_ERROR
        if index.attributes & POLICY_DELETE:
            return ATTRIBUTES_H2
        if op.auth == OWNER and index.attributes & PLATFORMCREATE:
            return NV_AUTHORIZATION
        if index.kind == NT_COUNTER and index.attributes & WRITTEN:
            self.max_count = None if index.floor is not None or self.max_count is None else max(
                self.max_count, _value(index.data))
        del self.indices[op.index]
        return OK

    def read_public(self, op: NvReadPublic) -> Outcome:
        """TPM2_NV_ReadPublic (Part 3, 31.6): the public area and Name."""
        index = self.indices.get(op.index)
        if index is None:
            return HANDLE_1
        return Outcome(0, index.public())

    def write(self, op: NvWrite) -> Outcome:
        """TPM2_NV_Write (Part 3, 31.7)."""
        index, refused = self._handles(op)
        if refused:
            return refused
        refused = self._write_access(op.auth, index)
        if refused:
            return refused
        return self.write_data(index, op)

    @staticmethod
    def write_data(index: Index, op) -> Outcome:
        """The part of TPM2_NV_Write after authorization: type and range checks, the write."""
        if index.kind != NT_ORDINARY:
            return ATTRIBUTES
        if op.offset > index.data_size:
            return VALUE_P2
        if len(op.data) > index.data_size - op.offset:
            return NV_RANGE
        if index.attributes & WRITEALL and len(op.data) < index.data_size:
            return NV_RANGE
        index.data = index.data[:op.offset] + tuple(op.data) + index.data[op.offset + len(op.data):]
        index.attributes |= WRITTEN
        return OK

    def increment(self, op: NvIncrement) -> Outcome:
        """TPM2_NV_Increment (Part 3, 31.8): an unwritten counter starts from at least the
        largest count of any deleted counter."""
        index, refused = self._handles(op)
        if refused:
            return refused
        refused = self._write_access(op.auth, index)
        if refused:
            return refused
        if index.kind != NT_COUNTER:
            return ATTRIBUTES_H2
        if not index.attributes & WRITTEN:
            index.attributes |= WRITTEN
            index.floor = (self.max_count or 0) + 1
        elif index.floor is not None:
            index.floor += 1
        else:
            index.data = tuple(((_value(index.data) + 1) & (1 << 64) - 1).to_bytes(8, "big"))
        return OK

    def extend(self, op: NvExtend) -> Outcome:
        """TPM2_NV_Extend (Part 3, 31.9): data := H(data || input), from zeros if unwritten."""
        index, refused = self._handles(op)
        if refused:
            return refused
        refused = self._write_access(op.auth, index)
        if refused:
            return refused
        if index.kind != NT_EXTEND:
            return ATTRIBUTES_H2
        old = bytes(index.data) if index.attributes & WRITTEN else bytes(index.data_size)
        index.data = tuple(hashlib.new(HASHLIB_NAME[index.name_alg], old + op.data).digest())
        index.attributes |= WRITTEN
        return OK

    def write_lock(self, op: NvWriteLock) -> Outcome:
        """TPM2_NV_WriteLock (Part 3, 31.11): locking a locked index is no error."""
        index, refused = self._handles(op)
        if refused:
            return refused
        refused = self._write_access(op.auth, index)
        if refused is NV_AUTHORIZATION:
            return refused
        if index.open_lock:  # locked now either way, but perhaps only in RAM
            index.open_lock, index.unsaved_lock = False, True
        if refused is NV_LOCKED:
            return OK
        if not index.attributes & (WRITEDEFINE | WRITE_STCLEAR):
            return ATTRIBUTES_H2
        index.attributes |= WRITELOCKED
        index.unsaved_lock = bool(index.attributes & ORDERLY)
        return OK

    def read_lock(self, op: NvReadLock) -> Outcome:
        """TPM2_NV_ReadLock (Part 3, 31.14): an unwritten index may be read-locked."""
        index, refused = self._handles(op)
        if refused:
            return refused
        refused = self._read_access(op.auth, index)
        if refused is NV_AUTHORIZATION:
            return refused
        if refused is NV_LOCKED:
            return OK
        if not index.attributes & READ_STCLEAR:
            return ATTRIBUTES_H2
        index.attributes |= READLOCKED
        return OK

    def read(self, op: NvRead) -> Outcome:
        """TPM2_NV_Read (Part 3, 31.13)."""
        index, refused = self._handles(op)
        if refused:
            return refused
        refused = self._read_access(op.auth, index)
        if refused:
            return refused
        return self.read_data(index, op)

    @staticmethod
    def read_data(index: Index, op) -> Outcome:
        """The part of TPM2_NV_Read after authorization: range checks and the data."""
        if op.size > MAX_NV_BUFFER_SIZE:
            return VALUE_P1
        if op.offset > index.data_size:
            return VALUE_P2
        if op.size > index.data_size - op.offset:
            return NV_RANGE
        if index.floor is not None:
            if op.offset == 0 and op.size == 8:
                return Outcome(0, AtLeast(index.floor))
            return Outcome(0, ANY)
        octets = index.data[op.offset:op.offset + op.size]
        return Outcome(0, Partly(octets) if None in octets else bytes(octets))



def _value(octets: tuple) -> int:
    return int.from_bytes(bytes(octets), "big")


def _access(auth: int, index: Index, locked: int, owner: int, platform: int) -> Outcome | None:
    """The lock, then whether ``auth`` (owner, platform or the index itself) may use the index
    in this direction: the checks NV_ReadAccessChecks / NV_WriteAccessChecks share."""
    attributes = index.attributes
    if attributes & locked:
        return NV_LOCKED
    if auth == OWNER:
        allowed = attributes & owner
    elif auth == PLATFORM:
        allowed = attributes & platform
    else:
        allowed = auth == index.handle
    return None if allowed else NV_AUTHORIZATION
