"""Hash and event sequences (Part 3, 17.3-17.6; reference HashSequenceStart.c, SequenceUpdate.c,
SequenceComplete.c, EventSequenceComplete.c, Object.c) as pure state.

A sequence object occupies one of ``slots`` transient object slots (reference/libtpms
MAX_LOADED_OBJECTS); the TPM chooses its handle, the model adopts the one the target returns.
Digests are computed with hashlib over the data the model kept.  The check order is the
reference's: Startup gate, handle unmarshalling (TPM_RC_VALUE + handle n), load status
(TPM_RC_REFERENCE_H0 + n - 1 for an unloaded transient handle, TPM_RC_HANDLE for a persistent
one, loaded into a free slot first: TPM_RC_OBJECT_MEMORY without one), the password sessions, parameter unmarshalling, then the command's action.
"""

from __future__ import annotations

from models.ops import ANY, HashCheckTicket, NewHandle, Outcome
from models.tcg import (MAX_DIGEST_BUFFER, PERSISTENT_FIRST, PERSISTENT_LAST, RC_P, RC_S, TPM_ALG,
                        TPM_GENERATED_VALUE, TPM_RC, TPM_RH, TPM_ST, TRANSIENT_FIRST)

ALG_NULL = int(TPM_ALG.TPM_ALG_NULL)
TICKET_TAG = int(TPM_ST.TPM_ST_HASHCHECK)
RH_NULL = int(TPM_RH.TPM_RH_NULL)
HIERARCHIES = frozenset(int(h) for h in (TPM_RH.TPM_RH_OWNER, TPM_RH.TPM_RH_ENDORSEMENT,
                                         TPM_RH.TPM_RH_PLATFORM, TPM_RH.TPM_RH_NULL))
MAX_AUTH = 64  # TPM2B_AUTH: sizeof(TPMU_HA)
ENCODABLE_BUFFER = 2048  # what the wire layer can carry of a TPM2B_MAX_BUFFER

OBJECT_MEMORY = Outcome(int(TPM_RC.TPM_RC_OBJECT_MEMORY))
BAD_HASH_2 = Outcome(int(TPM_RC.TPM_RC_HASH) | RC_P | 0x200)
BAD_SIZE_1 = Outcome(int(TPM_RC.TPM_RC_SIZE) | RC_P | 0x100)
BAD_HIERARCHY_2 = Outcome(int(TPM_RC.TPM_RC_VALUE) | RC_P | 0x200)
_MODE = int(TPM_RC.TPM_RC_MODE)
_VALUE = int(TPM_RC.TPM_RC_VALUE)
_HANDLE = int(TPM_RC.TPM_RC_HANDLE)
_REFERENCE_H0 = int(TPM_RC.TPM_RC_REFERENCE_H0)
_BAD_AUTH = int(TPM_RC.TPM_RC_BAD_AUTH)
_NULL_TICKET = HashCheckTicket(TICKET_TAG, RH_NULL, b"")


def mode_error(number: int) -> Outcome:
    """TPM_RC_MODE + handle n: the object is a sequence of the other kind."""
    return Outcome(_MODE | number << 8)


def bad_auth(session: int) -> Outcome:
    return Outcome(_BAD_AUTH | RC_S | session << 8)


def ticket_safe(first_block: bytes) -> bool:
    """Ticket.c TicketIsSafe: a first block shorter than TPM_GENERATED_VALUE, or starting with
    it, could be a TPM-generated structure, so no ticket is made for the digest."""
    return len(first_block) >= len(TPM_GENERATED_VALUE) and not first_block.startswith(TPM_GENERATED_VALUE)


class Sequence:
    """One sequence object: ``alg`` None for an event sequence; ``data`` hashed so far;
    ``safe`` whether its first block allows a ticket (None before the first block)."""

    __slots__ = ("alg", "auth", "data", "safe")

    def __init__(self, alg: int | None, auth: bytes) -> None:
        self.alg = alg
        self.auth = auth.rstrip(b"\0")
        self.data = b""
        self.safe: bool | None = None

    def copy(self) -> "Sequence":
        new = Sequence(self.alg, self.auth)
        new.data, new.safe = self.data, self.safe
        return new

    def update(self, data: bytes) -> None:
        if self.alg is not None and self.safe is None:
            self.safe = ticket_safe(data)
        self.data += data


class SequenceState:
    """The open sequences by handle, and a started one whose handle is not yet adopted."""

    __slots__ = ("slots", "open", "pending")

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.open: dict[int, Sequence] = {}
        self.pending: Sequence | None = None

    def copy(self) -> "SequenceState":
        new = SequenceState(self.slots)
        new.open = {h: s.copy() for h, s in self.open.items()}
        new.pending = self.pending
        return new

    def clear(self) -> None:
        """_TPM_Init and TPM2_Startup flush every transient object (Object.c ObjectStartup)."""
        self.open.clear()
        self.pending = None

    def flush(self, handle: int) -> bool:
        """TPM2_FlushContext of a transient handle; False if no sequence is open there."""
        return self.open.pop(handle, None) is not None

    def evict_for_drtm(self) -> None:
        """_TPM_Hash_Start needs a slot: with every slot taken it flushes the lowest handle."""
        if len(self.open) >= self.slots:
            del self.open[min(self.open)]

    def start(self, auth: bytes, hash_alg: int, implemented: frozenset) -> Outcome:
        if self.pending is not None:
            raise ValueError("adopt the handle of the last HashSequenceStart before the next one")
        if hash_alg != ALG_NULL and hash_alg not in implemented:
            return BAD_HASH_2
        if len(self.open) >= self.slots:
            return OBJECT_MEMORY
        self.pending = Sequence(None if hash_alg == ALG_NULL else hash_alg, auth)
        return Outcome(0, NewHandle(frozenset(self.open)))

    def adopt(self, handle: int) -> None:
        """The target answered the last HashSequenceStart with ``handle``."""
        if self.pending is None:
            raise ValueError("no HashSequenceStart awaits its handle")
        self.open[handle] = self.pending
        self.pending = None

    def handle_value_error(self, handle: int, number: int) -> Outcome | None:
        """TPMI_DH_OBJECT unmarshalling: a transient handle beyond the slots or no object handle."""
        if TRANSIENT_FIRST <= handle < TRANSIENT_FIRST + self.slots or PERSISTENT_FIRST <= handle <= PERSISTENT_LAST:
            return None
        return Outcome(_VALUE | number << 8)

    def load_error(self, handle: int, number: int) -> Outcome | None:
        if handle in self.open:
            return None
        if handle >= PERSISTENT_FIRST:  # Object.c ObjectLoadEvict: a free slot first, then NV
            return OBJECT_MEMORY if len(self.open) >= self.slots else Outcome(_HANDLE | number << 8)
        return Outcome(_REFERENCE_H0 + number - 1)

    def complete_ticket(self, sequence: Sequence, data: bytes, hierarchy: int) -> HashCheckTicket:
        safe = sequence.safe if sequence.safe is not None else ticket_safe(data)
        if hierarchy == RH_NULL or not safe:
            return _NULL_TICKET
        return HashCheckTicket(TICKET_TAG, hierarchy, ANY)


def oversize(buffer: bytes) -> bool:
    """A TPM2B_MAX_BUFFER beyond MAX_DIGEST_BUFFER: TPM_RC_SIZE + parameter 1."""
    return len(buffer) > MAX_DIGEST_BUFFER


def check_sizes(op, buffer: bytes) -> None:
    """ValueError for what the wire layer cannot carry."""
    if len(buffer) > ENCODABLE_BUFFER or len(op.password) > MAX_AUTH:
        raise ValueError(f"{type(op).__name__}: buffer or password too long to encode")
