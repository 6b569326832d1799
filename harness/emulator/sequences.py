"""Hash and event sequences: TPM2_HashSequenceStart, _SequenceUpdate, _SequenceComplete,
TPM2_EventSequenceComplete (Part 3, 17.3-17.6), and the transient object slots they occupy.

A sequence object takes one of MAX_LOADED_OBJECTS slots; its handle is TRANSIENT_FIRST + slot
(as in the reference Object.c).  A hash sequence keeps one hashlib object, an event sequence
one per implemented algorithm.  Every slot is emptied by _TPM_Init and TPM2_Startup;
``Slots.flush`` is the entry for TPM2_FlushContext.  SequenceComplete's ticket is an HMAC,
with the sequence's hash, over TPM_ST_HASHCHECK || digest keyed by the hierarchy's proof value.
"""

from __future__ import annotations

import hmac
import os
from typing import TYPE_CHECKING

from .codes import (
    HASH_COUNT,
    INPUT_BUFFER,
    MAX_DIGEST,
    MAX_LOADED_OBJECTS,
    PERSISTENT_FIRST,
    PERSISTENT_LAST,
    RC_1,
    RC_2,
    RC_P,
    TPM_ALG_NULL,
    TPM_CC_EventSequenceComplete,
    TPM_CC_HashSequenceStart,
    TPM_CC_SequenceComplete,
    TPM_CC_SequenceUpdate,
    TPM_GENERATED_VALUE,
    TPM_RC_HANDLE,
    TPM_RC_HASH,
    TPM_RC_INSUFFICIENT,
    TPM_RC_LOCALITY,
    TPM_RC_MODE,
    TPM_RC_OBJECT_MEMORY,
    TPM_RC_REFERENCE_H0,
    TPM_RC_SIZE,
    TPM_RC_VALUE,
    TPM_RH_ENDORSEMENT,
    TPM_RH_NULL,
    TPM_RH_OWNER,
    TPM_RH_PLATFORM,
    TPM_ST_HASHCHECK,
    TRANSIENT_FIRST,
)
from .command import CommandSpec
from .integrity import _note_change as note_change
from .integrity import is_pcr_or_null
from .marshal import U16, U32, CommandError, take_tpm2b, take_u16, take_u32
from .pcr import BY_ALG as _BY_ALG
from .pcr import IMPLEMENTED

if TYPE_CHECKING:
    from .emulator import Emulator

_HIERARCHIES = (TPM_RH_OWNER, TPM_RH_ENDORSEMENT, TPM_RH_PLATFORM, TPM_RH_NULL)
_SIZE_P1 = TPM_RC_SIZE | RC_P | RC_1
_INSUFFICIENT_P1 = TPM_RC_INSUFFICIENT | RC_P | RC_1


class _Sequence:
    __slots__ = ("alg", "auth", "states", "blocks", "safe")

    def __init__(self, alg: int, auth: bytes) -> None:
        self.alg = alg  # TPM_ALG_NULL: an event sequence
        self.auth = auth.rstrip(b"\0")
        hashes = IMPLEMENTED if alg == TPM_ALG_NULL else (_BY_ALG[alg],)
        self.states = [(h.alg, h.new()) for h in hashes]
        self.blocks = 0
        self.safe = False  # the first block allows a ticket (Ticket.c TicketIsSafe)

    def __deepcopy__(self, memo) -> "_Sequence":
        """hashlib states do not pickle; the vTPM manager checkpoints emulators with deepcopy."""
        new = _Sequence.__new__(_Sequence)
        new.alg, new.auth, new.blocks, new.safe = self.alg, self.auth, self.blocks, self.safe
        new.states = [(alg, state.copy()) for alg, state in self.states]
        return new


def _safe(block: bytes) -> bool:
    return len(block) >= len(TPM_GENERATED_VALUE) and not block.startswith(TPM_GENERATED_VALUE)


class Slots:
    """The transient object slots; only sequence objects exist in this emulator."""

    def __init__(self, mutants: frozenset[str]) -> None:
        self.objects: list[_Sequence | None] = [None] * MAX_LOADED_OBJECTS
        self._proof = {h: os.urandom(MAX_DIGEST) for h in _HIERARCHIES}
        self.bug_drops_block = "sequence-update-drops-block" in mutants
        self.bug_skips_bank = "event-sequence-skips-bank" in mutants
        self.bug_survives_startup = "sequence-survives-startup" in mutants
        self.bug_ticket_last_block = "sequence-ticket-checks-last-block" in mutants

    def handles(self) -> list[int]:
        """The handles of loaded objects, ascending (TPM_CAP_HANDLES, TPM_HT_TRANSIENT)."""
        return [TRANSIENT_FIRST + slot for slot, obj in enumerate(self.objects) if obj is not None]

    def available(self) -> int:
        return self.objects.count(None)

    def clear(self) -> None:
        """_TPM_Init or TPM2_Startup: every transient object is gone."""
        if self.bug_survives_startup:
            return
        self.objects = [None] * MAX_LOADED_OBJECTS

    def flush(self, handle: int) -> bool:
        """Flush the object at ``handle`` (TPM2_FlushContext); False if none is loaded there."""
        slot = handle - TRANSIENT_FIRST
        if not 0 <= slot < MAX_LOADED_OBJECTS or self.objects[slot] is None:
            return False
        self.objects[slot] = None
        return True

    def evict_for_drtm(self) -> None:
        """_TPM_Hash_Start takes a slot for its event sequence; with none free the first
        loaded object is flushed (reference _TPM_Hash_Start)."""
        if None not in self.objects:
            self.objects[0] = None

    def authorize(self, emu: Emulator, handles: tuple[int, ...]):
        """Load status of the object handles (Entity.c EntityGetLoadStatus), then the
        authValue lookup for the password sessions: a sequence's auth, a PCR's empty one."""
        for number, handle in enumerate(handles):
            if handle >> 24 == TRANSIENT_FIRST >> 24:
                if self.objects[handle - TRANSIENT_FIRST] is None:
                    raise CommandError(TPM_RC_REFERENCE_H0 + number)
            elif PERSISTENT_FIRST <= handle <= PERSISTENT_LAST:  # loaded into a free slot first
                raise CommandError(TPM_RC_HANDLE | (number + 1) << 8 if None in self.objects
                                   else TPM_RC_OBJECT_MEMORY)
        objects = self.objects
        return lambda handle: (objects[handle - TRANSIENT_FIRST].auth
                               if handle >> 24 == TRANSIENT_FIRST >> 24 else b"")

    def get(self, handle: int) -> _Sequence:
        return self.objects[handle - TRANSIENT_FIRST]


def is_object(handle: int) -> bool:
    """TPMI_DH_OBJECT: a transient handle of a slot, or a persistent handle."""
    return (TRANSIENT_FIRST <= handle < TRANSIENT_FIRST + MAX_LOADED_OBJECTS
            or PERSISTENT_FIRST <= handle <= PERSISTENT_LAST)


def _buffer(cmd: bytes, pos: int) -> tuple[bytes, int]:
    return take_tpm2b(cmd, pos, len(cmd), INPUT_BUFFER, _INSUFFICIENT_P1, _SIZE_P1)


def _end(cmd: bytes, pos: int) -> None:
    if pos != len(cmd):
        raise CommandError(TPM_RC_SIZE)


def _update(slots: Slots, sequence: _Sequence, data: bytes) -> None:
    if sequence.blocks == 0:
        sequence.safe = _safe(data)
    elif slots.bug_drops_block:
        data = b""
    sequence.blocks += 1
    for _, state in sequence.states:
        state.update(data)


# --- handlers ---------------------------------------------------------------------------


def hash_sequence_start(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    auth, pos = take_tpm2b(cmd, pos, len(cmd), MAX_DIGEST, _INSUFFICIENT_P1, _SIZE_P1)
    alg, pos = take_u16(cmd, pos, TPM_RC_INSUFFICIENT | RC_P | RC_2)
    if alg != TPM_ALG_NULL and alg not in _BY_ALG:
        raise CommandError(TPM_RC_HASH | RC_P | RC_2)
    _end(cmd, pos)
    objects = emu.sequences.objects
    if None not in objects:
        raise CommandError(TPM_RC_OBJECT_MEMORY)
    slot = objects.index(None)
    objects[slot] = _Sequence(alg, auth)
    return U32.pack(TRANSIENT_FIRST + slot)


def sequence_update(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    data, pos = _buffer(cmd, pos)
    _end(cmd, pos)
    slots = emu.sequences
    _update(slots, slots.get(handles[0]), data)
    return b""


def sequence_complete(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    data, pos = _buffer(cmd, pos)
    hierarchy, pos = take_u32(cmd, pos, TPM_RC_INSUFFICIENT | RC_P | RC_2)
    if hierarchy not in _HIERARCHIES:
        raise CommandError(TPM_RC_VALUE | RC_P | RC_2)
    _end(cmd, pos)
    slots = emu.sequences
    sequence = slots.get(handles[0])
    if sequence.alg == TPM_ALG_NULL:
        raise CommandError(TPM_RC_MODE | RC_1)
    first = sequence.blocks == 0 or slots.bug_ticket_last_block
    _update(slots, sequence, data)
    if first:
        sequence.safe = _safe(data)
    ((alg, state),) = sequence.states
    digest = state.digest()
    ticket = b""
    if hierarchy != TPM_RH_NULL and sequence.safe:
        ticket = hmac.new(slots._proof[hierarchy], U16.pack(TPM_ST_HASHCHECK) + digest,
                          _BY_ALG[alg].name).digest()
    else:
        hierarchy = TPM_RH_NULL
    slots.flush(handles[0])
    return (U16.pack(len(digest)) + digest
            + U16.pack(TPM_ST_HASHCHECK) + U32.pack(hierarchy) + U16.pack(len(ticket)) + ticket)


def event_sequence_complete(emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int) -> bytes:
    data, pos = _buffer(cmd, pos)
    _end(cmd, pos)
    pcr, handle = handles
    slots = emu.sequences
    sequence = slots.get(handle)
    if sequence.alg != TPM_ALG_NULL:
        raise CommandError(TPM_RC_MODE | RC_2)
    extend = None
    if pcr != TPM_RH_NULL:
        if not emu.extend_masks[pcr] >> locality & 1:
            raise CommandError(TPM_RC_LOCALITY)
        note_change(emu, pcr)
        extend = emu.pcrs.extend
    skipped = list(emu.pcrs.by_alg)[-1] if slots.bug_skips_bank else None
    out = [U32.pack(HASH_COUNT)]
    for alg, state in sequence.states:
        state.update(data)
        digest = state.digest()
        out.append(U16.pack(alg) + digest)
        if extend is not None and alg != skipped:
            extend(pcr, alg, digest)
    slots.flush(handle)
    return b"".join(out)


def _authorize(emu: Emulator, handles: tuple[int, ...]):
    return emu.sequences.authorize(emu, handles)


COMMANDS = (
    CommandSpec(TPM_CC_HashSequenceStart, "TPM2_HashSequenceStart", (), 0, True, hash_sequence_start),
    CommandSpec(TPM_CC_SequenceUpdate, "TPM2_SequenceUpdate", (is_object,), 1, True, sequence_update,
                authorize=_authorize),
    CommandSpec(TPM_CC_SequenceComplete, "TPM2_SequenceComplete", (is_object,), 1, True, sequence_complete,
                authorize=_authorize),
    CommandSpec(TPM_CC_EventSequenceComplete, "TPM2_EventSequenceComplete", (is_pcr_or_null, is_object), 2,
                True, event_sequence_complete, authorize=_authorize),
)
