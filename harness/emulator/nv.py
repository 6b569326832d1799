"""NV indices: TPM2_NV_DefineSpace ... TPM2_NV_ReadLock (Part 3, 31).

The index table lives in ``NvStore``, the emulator's NV: it survives
power_on().  What a real TPM keeps in RAM is kept apart and dropped by
power_on(): the counts of orderly counters (written to NV only when their low
byte wraps and at TPM2_Shutdown, as the reference does with
MAX_ORDERLY_COUNT).  After a Startup that no TPM2_Shutdown preceded, an
orderly counter resumes at its NV copy + MAX_ORDERLY_COUNT + 1, which is
beyond any count it reached.  Checks follow the reference NV_spt.c
(NvReadAccessChecks / NvWriteAccessChecks) and the command actions.

The attributes of an orderly index live in RAM too (reference NV.c: "The
attributes of an orderly index are maintained in RAM memory in order to reduce
the number of NV writes"; NvWriteIndexAttributes writes only the RAM copy).
Their NV image is rewritten, for all orderly indices at once, when an orderly
index is defined or deleted, when an orderly counter is first written or its
low byte wraps, and at TPM2_Shutdown; power_on() reloads it.  So a write lock
set after the last save is lost with the power (Part 2 TPMA_NV_ORDERLY: "NV
Index state is only required to be saved when the TPM performs an orderly
shutdown").
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .codes import (
    MAX_DIGEST,
    MAX_NV_BUFFER_SIZE,
    MAX_NV_INDEX_SIZE,
    MAX_ORDERLY_COUNT,
    NV_INDEX_COUNT,
    NV_INDEX_FIRST,
    NV_INDEX_LAST,
    RC_1,
    RC_2,
    RC_P,
    TPM_CC_NV_DefineSpace,
    TPM_CC_NV_Extend,
    TPM_CC_NV_Increment,
    TPM_CC_NV_Read,
    TPM_CC_NV_ReadLock,
    TPM_CC_NV_ReadPublic,
    TPM_CC_NV_UndefineSpace,
    TPM_CC_NV_Write,
    TPM_CC_NV_WriteLock,
    TPM_NT_BITS,
    TPM_NT_COUNTER,
    TPM_NT_EXTEND,
    TPM_NT_ORDINARY,
    TPM_RC_ATTRIBUTES,
    TPM_RC_AUTH_UNAVAILABLE,
    TPM_RC_HANDLE,
    TPM_RC_HASH,
    TPM_RC_INSUFFICIENT,
    TPM_RC_NV_AUTHORIZATION,
    TPM_RC_NV_DEFINED,
    TPM_RC_NV_LOCKED,
    TPM_RC_NV_RANGE,
    TPM_RC_NV_SPACE,
    TPM_RC_NV_UNINITIALIZED,
    TPM_RC_RESERVED_BITS,
    TPM_RC_SIZE,
    TPM_RC_VALUE,
    TPM_RH_OWNER,
    TPM_RH_PLATFORM,
    TPMA_NV_AUTHREAD,
    TPMA_NV_AUTHWRITE,
    TPMA_NV_CLEAR_STCLEAR,
    TPMA_NV_ORDERLY,
    TPMA_NV_OWNERREAD,
    TPMA_NV_OWNERWRITE,
    TPMA_NV_PLATFORMCREATE,
    TPMA_NV_POLICY_DELETE,
    TPMA_NV_POLICYREAD,
    TPMA_NV_POLICYWRITE,
    TPMA_NV_PPREAD,
    TPMA_NV_PPWRITE,
    TPMA_NV_READ_STCLEAR,
    TPMA_NV_READLOCKED,
    TPMA_NV_RESERVED,
    TPMA_NV_WRITE_STCLEAR,
    TPMA_NV_WRITEALL,
    TPMA_NV_WRITEDEFINE,
    TPMA_NV_WRITELOCKED,
    TPMA_NV_WRITTEN,
    TPMA_NV_TPM_NT_SHIFT,
)
from .command import CommandSpec
from .marshal import U16, CommandError, take_tpm2b, take_u16
from .pcr import IMPLEMENTED

if TYPE_CHECKING:
    from .emulator import Emulator

_HASHES = {h.alg: h.new for h in IMPLEMENTED}
_SIZES = {h.alg: h.size for h in IMPLEMENTED}
_PUBLIC_HEAD = struct.Struct(">IHI")
_INSUFFICIENT = lambda n: TPM_RC_INSUFFICIENT | RC_P | n << 8  # noqa: E731
_P2_ATTRIBUTES = TPM_RC_ATTRIBUTES | RC_P | RC_2
_P2_SIZE = TPM_RC_SIZE | RC_P | RC_2


def _kind(attrs: int) -> int:
    return attrs >> TPMA_NV_TPM_NT_SHIFT & 0xF


class NvIndex:
    __slots__ = ("handle", "name_alg", "attrs", "policy", "auth", "size", "data")

    def public_area(self, name_without_written: bool = False) -> bytes:
        attrs = self.attrs & ~TPMA_NV_WRITTEN if name_without_written else self.attrs
        return (_PUBLIC_HEAD.pack(self.handle, self.name_alg, attrs) + U16.pack(len(self.policy))
                + self.policy + U16.pack(self.size))


class NvStore:
    """The emulator's NV indices (persistent) and the RAM counts of orderly counters."""

    def __init__(self, mutants: frozenset[str]) -> None:
        self.indices: dict[int, NvIndex] = {}
        self.max_count = 0  # largest count of a deleted counter (reference NvReadMaxCount)
        self.ram_counts: dict[int, int] = {}  # orderly counters: the count in RAM
        self.orderly_image: dict[int, int] = {}  # orderly indices: attributes as last saved to NV
        self.unsaved: dict[int, tuple[bytes, int]] = {}  # planted bug: writes not yet in NV
        self.bug_range = "nv-range-off-by-one" in mutants
        self.bug_no_written = "nv-written-not-set" in mutants
        self.bug_orderly_kept = "nv-orderly-kept-across-reset" in mutants
        self.bug_no_jump = "nv-counter-no-jump" in mutants
        self.bug_ram_writes = "nv-write-lost-on-crash" in mutants
        self.bug_readlock_kept = "nv-readlock-kept-at-restart" in mutants
        self.bug_writedefine_unlocked = "nv-writedefine-unlocked-at-reset" in mutants
        self.bug_ownerread = "nv-owner-read-without-ownerread" in mutants
        self.bug_name = "nv-name-without-written" in mutants
        self.bug_shutdown_unsaved = "nv-orderly-state-unsaved-at-shutdown" in mutants

    # --- platform and startup -------------------------------------------------------

    def power_on(self) -> None:
        """RAM is gone: orderly attributes reload from their NV image, orderly counts from NV
        at the next Startup."""
        self.ram_counts.clear()
        for handle, attrs in self.orderly_image.items():
            self.indices[handle].attrs = attrs
        for handle, (data, attrs) in self.unsaved.items():
            index = self.indices.get(handle)
            if index is not None:
                index.data, index.attrs = data, attrs
        self.unsaved.clear()

    def shutdown(self) -> None:
        """TPM2_Shutdown writes the RAM-held orderly data to NV."""
        for handle, count in self.ram_counts.items():
            self.indices[handle].data = count.to_bytes(8, "big")
        if not self.bug_shutdown_unsaved:
            self.save_orderly()
        self.unsaved.clear()

    def save_orderly(self) -> None:
        """Write the attributes of every orderly index to NV (reference NvUpdateIndexOrderlyData)."""
        self.orderly_image = {handle: index.attrs for handle, index in self.indices.items()
                              if index.attrs & TPMA_NV_ORDERLY}

    def startup(self, su_state: bool, restart_or_resume: bool, orderly: bool) -> None:
        """NvEntityStartup for TPM Reset (neither flag), Restart or Resume (su_state)."""
        self.ram_counts.clear()
        for handle, index in self.indices.items():
            attrs = index.attrs
            counter = _kind(attrs) == TPM_NT_COUNTER
            if counter and attrs & TPMA_NV_ORDERLY and attrs & TPMA_NV_WRITTEN:
                count = int.from_bytes(index.data, "big")
                if not orderly and not self.bug_no_jump:
                    count += MAX_ORDERLY_COUNT + 1
                    index.data = count.to_bytes(8, "big")  # the jump itself reaches NV
                self.ram_counts[handle] = count
            if su_state:
                continue
            if not self.bug_readlock_kept:
                attrs &= ~TPMA_NV_READLOCKED
            if not counter and (attrs & TPMA_NV_CLEAR_STCLEAR or (
                    attrs & TPMA_NV_ORDERLY and not restart_or_resume and not self.bug_orderly_kept)):
                attrs &= ~TPMA_NV_WRITTEN
            keep_lock = attrs & TPMA_NV_WRITTEN and attrs & TPMA_NV_WRITEDEFINE
            if not keep_lock or self.bug_writedefine_unlocked:
                attrs &= ~TPMA_NV_WRITELOCKED
            index.attrs = attrs

    # --- helpers ----------------------------------------------------------------------

    def authorize(self, handles: tuple[int, ...], access: str):
        """The authValue lookup for the session check of an NV command (``access``: "read",
        "write" or "provision"): handle existence (TPM_RC_HANDLE + handle n) comes first,
        then whether an index's authValue may authorize this access (AUTHREAD/AUTHWRITE)."""
        self.check_handles(handles)
        first = self.indices.get(handles[0])
        if first is None:
            return _empty_auth
        if not first.attrs & (TPMA_NV_AUTHREAD if access == "read" else TPMA_NV_AUTHWRITE):
            raise CommandError(TPM_RC_AUTH_UNAVAILABLE)
        return lambda handle: first.auth

    def check_handles(self, handles: tuple[int, ...]) -> None:
        """Every NV index handle of the command is defined, else TPM_RC_HANDLE + handle n."""
        for number, handle in enumerate(handles, 1):
            if NV_INDEX_FIRST <= handle <= NV_INDEX_LAST and handle not in self.indices:
                raise CommandError(TPM_RC_HANDLE | number << 8)

    def count(self, index: NvIndex) -> int:
        if index.handle in self.ram_counts:
            return self.ram_counts[index.handle]
        return int.from_bytes(index.data, "big")

    def store(self, index: NvIndex, data: bytes) -> None:
        """Write index data to NV (an orderly counter only when its low byte wraps)."""
        if self.bug_ram_writes and not index.attrs & TPMA_NV_ORDERLY and index.handle not in self.unsaved:
            self.unsaved[index.handle] = (index.data, index.attrs)
        index.data = data
        if not self.bug_no_written:
            index.attrs |= TPMA_NV_WRITTEN


def _empty_auth(handle: int) -> bytes:
    return b""


def _read_denied(auth: int, index: NvIndex, store: NvStore) -> int:
    attrs = index.attrs
    if attrs & TPMA_NV_READLOCKED:
        return TPM_RC_NV_LOCKED
    if auth == TPM_RH_OWNER:
        if not attrs & TPMA_NV_OWNERREAD and not store.bug_ownerread:
            return TPM_RC_NV_AUTHORIZATION
    elif auth == TPM_RH_PLATFORM:
        if not attrs & TPMA_NV_PPREAD:
            return TPM_RC_NV_AUTHORIZATION
    elif auth != index.handle:
        return TPM_RC_NV_AUTHORIZATION
    if not attrs & TPMA_NV_WRITTEN:
        return TPM_RC_NV_UNINITIALIZED
    return 0


def _write_denied(auth: int, index: NvIndex) -> int:
    attrs = index.attrs
    if attrs & TPMA_NV_WRITELOCKED:
        return TPM_RC_NV_LOCKED
    if auth == TPM_RH_OWNER:
        if not attrs & TPMA_NV_OWNERWRITE:
            return TPM_RC_NV_AUTHORIZATION
    elif auth == TPM_RH_PLATFORM:
        if not attrs & TPMA_NV_PPWRITE:
            return TPM_RC_NV_AUTHORIZATION
    elif auth != index.handle:
        return TPM_RC_NV_AUTHORIZATION
    return 0


def _end(cmd: bytes, pos: int) -> None:
    if pos != len(cmd):
        raise CommandError(TPM_RC_SIZE)


def _writable(emu: Emulator, handles: tuple[int, ...]) -> NvIndex:
    index = emu.nv.indices[handles[1]]
    denied = _write_denied(handles[0], index)
    if denied:
        raise CommandError(denied)
    return index


# --- handlers -------------------------------------------------------------------------


def define_space(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    auth, pos = take_tpm2b(cmd, pos, len(cmd), MAX_DIGEST, _INSUFFICIENT(1), TPM_RC_SIZE | RC_P | RC_1)
    public, pos = take_tpm2b(cmd, pos, len(cmd), 0xFFFF, _INSUFFICIENT(2), _P2_SIZE)
    _end(cmd, pos)
    if len(public) < _PUBLIC_HEAD.size:
        raise CommandError(_INSUFFICIENT(2))
    handle, name_alg, attrs = _PUBLIC_HEAD.unpack_from(public)
    if not NV_INDEX_FIRST <= handle <= NV_INDEX_LAST:
        raise CommandError(TPM_RC_VALUE | RC_P | RC_2)
    if name_alg not in _SIZES:
        raise CommandError(TPM_RC_HASH | RC_P | RC_2)
    if attrs & TPMA_NV_RESERVED:
        raise CommandError(TPM_RC_RESERVED_BITS | RC_P | RC_2)
    policy, at = take_tpm2b(public, _PUBLIC_HEAD.size, len(public), MAX_DIGEST, _INSUFFICIENT(2), _P2_SIZE)
    size, at = take_u16(public, at, _INSUFFICIENT(2))
    if at != len(public):
        raise CommandError(_P2_SIZE)
    digest_size = _SIZES[name_alg]
    if policy and len(policy) != digest_size:
        raise CommandError(_P2_SIZE)
    auth = auth.rstrip(b"\0")
    if len(auth) > digest_size:
        raise CommandError(TPM_RC_SIZE | RC_P | RC_1)
    kind = _kind(attrs)
    if kind not in (TPM_NT_ORDINARY, TPM_NT_COUNTER, TPM_NT_BITS, TPM_NT_EXTEND):
        raise CommandError(_P2_ATTRIBUTES)
    wanted = {TPM_NT_ORDINARY: None, TPM_NT_EXTEND: digest_size}.get(kind, 8)
    if (size > MAX_NV_INDEX_SIZE) if wanted is None else size != wanted:
        raise CommandError(_P2_SIZE)
    platform = handles[0] == TPM_RH_PLATFORM
    problems = (
        kind == TPM_NT_COUNTER and attrs & TPMA_NV_CLEAR_STCLEAR,
        attrs & (TPMA_NV_WRITTEN | TPMA_NV_WRITELOCKED | TPMA_NV_READLOCKED),
        not attrs & (TPMA_NV_OWNERREAD | TPMA_NV_PPREAD | TPMA_NV_AUTHREAD | TPMA_NV_POLICYREAD),
        not attrs & (TPMA_NV_OWNERWRITE | TPMA_NV_PPWRITE | TPMA_NV_AUTHWRITE | TPMA_NV_POLICYWRITE),
        attrs & TPMA_NV_CLEAR_STCLEAR and attrs & TPMA_NV_WRITEDEFINE,
    )
    if any(problems):
        raise CommandError(_P2_ATTRIBUTES)
    if bool(attrs & TPMA_NV_PLATFORMCREATE) != platform:
        raise CommandError(TPM_RC_ATTRIBUTES | RC_1)
    if attrs & TPMA_NV_POLICY_DELETE and not platform:
        raise CommandError(_P2_ATTRIBUTES)
    if attrs & TPMA_NV_WRITEALL and size > MAX_NV_BUFFER_SIZE:
        raise CommandError(_P2_SIZE)
    store = emu.nv
    if handle in store.indices:
        raise CommandError(TPM_RC_NV_DEFINED)
    if len(store.indices) >= NV_INDEX_COUNT:
        raise CommandError(TPM_RC_NV_SPACE)
    index = NvIndex()
    index.handle, index.name_alg, index.attrs, index.policy = handle, name_alg, attrs, policy
    index.auth, index.size, index.data = auth, size, b"\xff" * size  # erased flash reads 0xFF
    store.indices[handle] = index
    if attrs & TPMA_NV_ORDERLY:
        store.save_orderly()
    return b""


def undefine_space(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    _end(cmd, pos)
    store = emu.nv
    index = store.indices[handles[1]]
    if index.attrs & TPMA_NV_POLICY_DELETE:
        raise CommandError(TPM_RC_ATTRIBUTES | RC_2)
    if handles[0] == TPM_RH_OWNER and index.attrs & TPMA_NV_PLATFORMCREATE:
        raise CommandError(TPM_RC_NV_AUTHORIZATION)
    if _kind(index.attrs) == TPM_NT_COUNTER and index.attrs & TPMA_NV_WRITTEN:
        store.max_count = max(store.max_count, store.count(index))
    del store.indices[index.handle]
    store.ram_counts.pop(index.handle, None)
    store.unsaved.pop(index.handle, None)
    if index.attrs & TPMA_NV_ORDERLY:
        store.save_orderly()
    return b""


def read_public(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    _end(cmd, pos)
    store = emu.nv
    index = store.indices.get(handles[0])
    if index is None:
        raise CommandError(TPM_RC_HANDLE | RC_1)
    public = index.public_area()
    hashed = index.public_area(name_without_written=store.bug_name)
    name = index.name_alg.to_bytes(2, "big") + _HASHES[index.name_alg](hashed).digest()
    return U16.pack(len(public)) + public + U16.pack(len(name)) + name


def write(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    data, pos = take_tpm2b(cmd, pos, len(cmd), MAX_NV_BUFFER_SIZE, _INSUFFICIENT(1), TPM_RC_SIZE | RC_P | RC_1)
    offset, pos = take_u16(cmd, pos, _INSUFFICIENT(2))
    _end(cmd, pos)
    index = _writable(emu, handles)
    if _kind(index.attrs) != TPM_NT_ORDINARY:
        raise CommandError(TPM_RC_ATTRIBUTES)
    if offset > index.size:
        raise CommandError(TPM_RC_VALUE | RC_P | RC_2)
    room = index.size - offset + (1 if emu.nv.bug_range else 0)
    if len(data) > room:
        raise CommandError(TPM_RC_NV_RANGE)
    if index.attrs & TPMA_NV_WRITEALL and len(data) < index.size:
        raise CommandError(TPM_RC_NV_RANGE)
    new = (index.data[:offset] + data + index.data[offset + len(data):])[:index.size]
    emu.nv.store(index, new)
    return b""


def increment(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    _end(cmd, pos)
    index = _writable(emu, handles)
    if _kind(index.attrs) != TPM_NT_COUNTER:
        raise CommandError(TPM_RC_ATTRIBUTES | RC_2)
    store = emu.nv
    count = (store.count(index) if index.attrs & TPMA_NV_WRITTEN else store.max_count) + 1
    count &= (1 << 64) - 1
    if index.attrs & TPMA_NV_ORDERLY:
        store.ram_counts[index.handle] = count
        if count & MAX_ORDERLY_COUNT == 0 or not index.attrs & TPMA_NV_WRITTEN:
            store.store(index, count.to_bytes(8, "big"))
            store.save_orderly()
    else:
        store.store(index, count.to_bytes(8, "big"))
    return b""


def extend(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    data, pos = take_tpm2b(cmd, pos, len(cmd), MAX_NV_BUFFER_SIZE, _INSUFFICIENT(1), TPM_RC_SIZE | RC_P | RC_1)
    _end(cmd, pos)
    index = _writable(emu, handles)
    if _kind(index.attrs) != TPM_NT_EXTEND:
        raise CommandError(TPM_RC_ATTRIBUTES | RC_2)
    old = index.data if index.attrs & TPMA_NV_WRITTEN else bytes(index.size)
    emu.nv.store(index, _HASHES[index.name_alg](old + data).digest())
    return b""


def write_lock(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    _end(cmd, pos)
    index = emu.nv.indices[handles[1]]
    denied = _write_denied(handles[0], index)
    if denied == TPM_RC_NV_AUTHORIZATION:
        raise CommandError(denied)
    if denied:  # already locked
        return b""
    if not index.attrs & (TPMA_NV_WRITEDEFINE | TPMA_NV_WRITE_STCLEAR):
        raise CommandError(TPM_RC_ATTRIBUTES | RC_2)
    index.attrs |= TPMA_NV_WRITELOCKED
    return b""


def read_lock(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    _end(cmd, pos)
    store = emu.nv
    index = store.indices[handles[1]]
    denied = _read_denied(handles[0], index, store)
    if denied == TPM_RC_NV_AUTHORIZATION:
        raise CommandError(denied)
    if denied == TPM_RC_NV_LOCKED:
        return b""
    if not index.attrs & TPMA_NV_READ_STCLEAR:
        raise CommandError(TPM_RC_ATTRIBUTES | RC_2)
    index.attrs |= TPMA_NV_READLOCKED
    return b""


def read(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    size, pos = take_u16(cmd, pos, _INSUFFICIENT(1))
    offset, pos = take_u16(cmd, pos, _INSUFFICIENT(2))
    _end(cmd, pos)
    store = emu.nv
    index = store.indices[handles[1]]
    denied = _read_denied(handles[0], index, store)
    if denied:
        raise CommandError(denied)
    if size > MAX_NV_BUFFER_SIZE:
        raise CommandError(TPM_RC_VALUE | RC_P | RC_1)
    if offset > index.size:
        raise CommandError(TPM_RC_VALUE | RC_P | RC_2)
    if size > index.size - offset:
        raise CommandError(TPM_RC_NV_RANGE)
    data = index.data
    if index.handle in store.ram_counts:
        data = store.ram_counts[index.handle].to_bytes(8, "big")
    return U16.pack(size) + data[offset:offset + size]


# --- handle checks (TPMI_* unmarshalling) ------------------------------------------------


def _is_provision(handle: int) -> bool:
    return handle == TPM_RH_OWNER or handle == TPM_RH_PLATFORM


def _is_nv_index(handle: int) -> bool:
    return NV_INDEX_FIRST <= handle <= NV_INDEX_LAST


def _is_nv_auth(handle: int) -> bool:
    return _is_provision(handle) or _is_nv_index(handle)


def _spec(code: int, name: str, handler, access: str) -> CommandSpec:
    return CommandSpec(code, name, (_is_nv_auth, _is_nv_index), 1, True, handler, nv_access=access)


COMMANDS = (
    CommandSpec(TPM_CC_NV_DefineSpace, "TPM2_NV_DefineSpace", (_is_provision,), 1, True, define_space,
                nv_access="provision"),
    CommandSpec(TPM_CC_NV_UndefineSpace, "TPM2_NV_UndefineSpace", (_is_provision, _is_nv_index), 1, True,
                undefine_space, nv_access="provision"),
    CommandSpec(TPM_CC_NV_ReadPublic, "TPM2_NV_ReadPublic", (_is_nv_index,), 0, True, read_public),
    _spec(TPM_CC_NV_Write, "TPM2_NV_Write", write, "write"),
    _spec(TPM_CC_NV_Read, "TPM2_NV_Read", read, "read"),
    _spec(TPM_CC_NV_Increment, "TPM2_NV_Increment", increment, "write"),
    _spec(TPM_CC_NV_Extend, "TPM2_NV_Extend", extend, "write"),
    _spec(TPM_CC_NV_WriteLock, "TPM2_NV_WriteLock", write_lock, "write"),
    _spec(TPM_CC_NV_ReadLock, "TPM2_NV_ReadLock", read_lock, "read"),
)
