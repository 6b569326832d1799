"""The state-dependent answers of TPM2_GetCapability (Part 3, 30.2): TPM_CAP_HANDLES,
TPM_CAP_COMMANDS and the variable TPM properties that count loaded and defined things.

Paging follows the reference (PermanentCapGetHandles, ObjectCapGetLoaded, NvCapGetIndex,
CommandCapGetCCList): the entries of the handle's type, or the commands, from ``property``
on, at most ``propertyCount`` of them, moreData when more remain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import codes as c
from .marshal import U32, CommandError

if TYPE_CHECKING:
    from .emulator import Emulator

# Permanent handles this emulator knows: the hierarchies its commands take and TPM_RS_PW.
PERMANENT = (c.TPM_RH_OWNER, c.TPM_RH_NULL, c.TPM_RS_PW, c.TPM_RH_ENDORSEMENT, c.TPM_RH_PLATFORM)
# Part 3 command tables: the commands that may write NV, flush their handle, return one.
_NV_WRITERS = frozenset({
    c.TPM_CC_Startup, c.TPM_CC_Shutdown, c.TPM_CC_PCR_Extend, c.TPM_CC_PCR_Event, c.TPM_CC_PCR_Reset,
    c.TPM_CC_NV_DefineSpace, c.TPM_CC_NV_UndefineSpace, c.TPM_CC_NV_Write, c.TPM_CC_NV_Increment,
    c.TPM_CC_NV_Extend, c.TPM_CC_NV_WriteLock, c.TPM_CC_NV_ReadLock, c.TPM_CC_EventSequenceComplete})
_FLUSHING = frozenset({c.TPM_CC_SequenceComplete, c.TPM_CC_EventSequenceComplete})
_RETURNS_HANDLE = frozenset({c.TPM_CC_HashSequenceStart, c.TPM_CC_StartAuthSession})
_COUNTER = c.TPM_NT_COUNTER << c.TPMA_NV_TPM_NT_SHIFT
_NT_MASK = 0xF << c.TPMA_NV_TPM_NT_SHIFT
_SESSION_COUNTS = frozenset({c.TPM_PT_HR_LOADED, c.TPM_PT_HR_LOADED_AVAIL, c.TPM_PT_HR_ACTIVE,
                             c.TPM_PT_HR_ACTIVE_AVAIL})


def session_handles(emu: Emulator, kind: int) -> list[int]:
    """Loaded sessions (TPM_HT_LOADED_SESSION) in slot order, each under its own type's handle
    (reference SessionCapGetLoaded); saved ones (TPM_HT_SAVED_SESSION): none without ContextSave."""
    if kind != 0x02:
        return []
    return [(c.HMAC_SESSION_FIRST if session.kind == c.TPM_SE_HMAC else c.POLICY_SESSION_FIRST) + slot
            for slot, session in sorted(emu.sessions.slots.items())]


def _nv_handles(emu: Emulator) -> list[int]:
    handles = sorted(emu.nv.indices)
    if emu.bug_handles_miss_nv and handles:
        handles.pop()
    return handles


def _handles_of_type(emu: Emulator, kind: int) -> list[int] | None:
    if kind == 0x00:  # TPM_HT_PCR
        return list(range(c.PCR_COUNT))
    if kind == 0x01:  # TPM_HT_NV_INDEX
        return _nv_handles(emu)
    if kind in (0x02, 0x03):  # TPM_HT_LOADED_SESSION, TPM_HT_SAVED_SESSION
        return session_handles(emu, kind)
    if kind == 0x40:  # TPM_HT_PERMANENT
        return list(PERMANENT)
    if kind == 0x80:  # TPM_HT_TRANSIENT
        return emu.sequences.handles()
    if kind == 0x81:  # TPM_HT_PERSISTENT
        return []
    return None


def handles(emu: Emulator, prop: int, count: int) -> tuple[bool, list[bytes]]:
    listed = _handles_of_type(emu, prop >> 24)
    if listed is None:
        raise CommandError(c.TPM_RC_HANDLE | c.RC_P | c.RC_2)
    # Compared without the type byte: loaded sessions of both types share one slot space.
    rows = [h for h in listed if h & 0xFFFFFF >= prop & 0xFFFFFF]
    limit = min(count, c.MAX_CAP_HANDLES)
    return len(rows) > limit, [U32.pack(h) for h in rows[:limit]]


def command_attributes(emu: Emulator, code: int) -> int:
    """TPMA_CC of an implemented command (Part 2, 8.9)."""
    attributes = code & 0xFFFF | len(emu.commands[code].handles) << c.TPMA_CC_CHANDLES_SHIFT
    if code in _NV_WRITERS:
        attributes |= c.TPMA_CC_NV
    if code in _FLUSHING:
        attributes |= c.TPMA_CC_FLUSHED
    if code in _RETURNS_HANDLE:
        attributes |= c.TPMA_CC_RHANDLE
    return attributes


def commands(emu: Emulator, prop: int, count: int) -> tuple[bool, list[bytes]]:
    first = prop & 0xFFFF  # TPM_CC without the vendor bit: every command here is a Library one
    rows = sorted(code for code in emu.commands if code >= first)
    limit = min(count, c.MAX_CAP_CC)
    return len(rows) > limit, [U32.pack(command_attributes(emu, code)) for code in rows[:limit]]


def variable_property(emu: Emulator, tag: int) -> int | None:
    """The live value of a variable TPM property, or None for a constant one."""
    if tag == c.TPM_PT_HR_NV_INDEX:
        return len(emu.nv.indices)
    if tag == c.TPM_PT_HR_TRANSIENT_AVAIL:
        slots = emu.sequences
        return c.MAX_LOADED_OBJECTS if emu.bug_transient_avail_fixed else slots.available()
    if tag == c.TPM_PT_NV_COUNTERS:
        return sum(1 for index in emu.nv.indices.values() if index.attrs & _NT_MASK == _COUNTER)
    if tag == c.TPM_PT_NV_COUNTERS_AVAIL:
        return c.NV_INDEX_COUNT - len(emu.nv.indices)
    if tag in _SESSION_COUNTS:
        loaded = len(session_handles(emu, 0x02))
        active = loaded + len(session_handles(emu, 0x03))
        return {c.TPM_PT_HR_LOADED: loaded, c.TPM_PT_HR_LOADED_AVAIL: c.MAX_LOADED_SESSIONS - loaded,
                c.TPM_PT_HR_ACTIVE: active, c.TPM_PT_HR_ACTIVE_AVAIL: c.MAX_ACTIVE_SESSIONS - active}[tag]
    return None
