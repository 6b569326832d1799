"""TPM2_GetCapability (Part 3, 30.2) and the emulator's identity.

Implemented capabilities: TPM_CAP_ALGS (the hash algorithms), TPM_CAP_PCRS,
TPM_CAP_TPM_PROPERTIES, TPM_CAP_PCR_PROPERTIES, and TPM_CAP_HANDLES / TPM_CAP_COMMANDS
(live_capability.py, with the variable properties); any other capability is
TPM_RC_VALUE + parameter 1.  Paging (property, propertyCount, moreData)
follows the reference: AlgorithmCapGetImplemented, PCRCapGetAllocation,
TPMCapGetProperties (never past the group of ``property``) and
PCRCapGetProperties.  Vendor and firmware values are this emulator's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import codes as c
from . import live_capability
from .command import CommandSpec
from .marshal import (
    ALG_PROPERTY,
    CAPABILITY_HEAD,
    TAGGED_PCR_SELECT,
    TAGGED_PROPERTY,
    U16,
    CommandError,
    take_u32,
)
from .pcr import IMPLEMENTED, LOCALITY_4, PTP_ATTRIBUTES

if TYPE_CHECKING:
    from .emulator import Emulator

MANUFACTURER = "VTPH"  # not a TCG-registered vendor ID, on purpose
VENDOR_STRING = "vtpm-harness"
FIRMWARE_VERSION = (1, 0)
MODEL = "vtpm-harness emulator"


def _chars(text: str, start: int) -> int:
    """Four characters of ``text`` from ``start`` as a big-endian UINT32, NUL-padded."""
    return int.from_bytes(text.encode("ascii")[start : start + 4].ljust(4, b"\0"), "big")


# Every TPM_PT of Part 2 rev 1.59: the fixed group 0x100-0x12E (0x115 was never
# assigned) and the variable group 0x200-0x214.  Zero where this emulator has
# none of the thing counted (objects, sessions, NV, contexts, DA).
PROPERTIES = {
    c.TPM_PT_FAMILY_INDICATOR: 0x322E3000,  # "2.0\0"
    c.TPM_PT_LEVEL: 0,
    c.TPM_PT_REVISION: 159,  # the Library revision these semantics follow, 1.59
    c.TPM_PT_DAY_OF_YEAR: 312,  # its publication date, 8 November 2019
    c.TPM_PT_YEAR: 2019,
    c.TPM_PT_MANUFACTURER: _chars(MANUFACTURER, 0),
    c.TPM_PT_VENDOR_STRING_1: _chars(VENDOR_STRING, 0),
    c.TPM_PT_VENDOR_STRING_2: _chars(VENDOR_STRING, 4),
    c.TPM_PT_VENDOR_STRING_3: _chars(VENDOR_STRING, 8),
    c.TPM_PT_VENDOR_STRING_4: _chars(VENDOR_STRING, 12),
    c.TPM_PT_VENDOR_TPM_TYPE: 0,
    c.TPM_PT_FIRMWARE_VERSION_1: FIRMWARE_VERSION[0] << 16 | FIRMWARE_VERSION[1],
    c.TPM_PT_FIRMWARE_VERSION_2: 0,
    c.TPM_PT_INPUT_BUFFER: c.INPUT_BUFFER,
    c.TPM_PT_HR_TRANSIENT_MIN: c.MAX_LOADED_OBJECTS,
    c.TPM_PT_HR_PERSISTENT_MIN: 0,
    c.TPM_PT_HR_LOADED_MIN: c.MAX_LOADED_SESSIONS,
    c.TPM_PT_ACTIVE_SESSIONS_MAX: c.MAX_ACTIVE_SESSIONS,
    c.TPM_PT_PCR_COUNT: c.PCR_COUNT,
    c.TPM_PT_PCR_SELECT_MIN: c.PCR_SELECT,
    c.TPM_PT_CONTEXT_GAP_MAX: 0,
    c.TPM_PT_NV_COUNTERS_MAX: 0,
    c.TPM_PT_NV_INDEX_MAX: 0,
    c.TPM_PT_MEMORY: 0,
    c.TPM_PT_CLOCK_UPDATE: 0,
    c.TPM_PT_CONTEXT_HASH: c.TPM_ALG_NULL,
    c.TPM_PT_CONTEXT_SYM: c.TPM_ALG_NULL,
    c.TPM_PT_CONTEXT_SYM_SIZE: 0,
    c.TPM_PT_ORDERLY_COUNT: 0,
    c.TPM_PT_MAX_COMMAND_SIZE: c.MAX_COMMAND_SIZE,
    c.TPM_PT_MAX_RESPONSE_SIZE: c.MAX_RESPONSE_SIZE,
    c.TPM_PT_MAX_DIGEST: c.MAX_DIGEST,
    c.TPM_PT_MAX_OBJECT_CONTEXT: 0,
    c.TPM_PT_MAX_SESSION_CONTEXT: 0,
    c.TPM_PT_PS_FAMILY_INDICATOR: c.TPM_PS_PC_CLIENT,
    c.TPM_PT_PS_LEVEL: 0,
    c.TPM_PT_PS_REVISION: 0,  # no claim about a PTP revision
    c.TPM_PT_PS_DAY_OF_YEAR: 0,
    c.TPM_PT_PS_YEAR: 0,
    c.TPM_PT_SPLIT_MAX: 0,
    c.TPM_PT_TOTAL_COMMANDS: 0,  # live: the dispatch table, see _property_value
    c.TPM_PT_LIBRARY_COMMANDS: 0,
    c.TPM_PT_VENDOR_COMMANDS: 0,
    c.TPM_PT_NV_BUFFER_MAX: 0,
    c.TPM_PT_MODES: 0,
    c.TPM_PT_MAX_CAP_BUFFER: c.MAX_CAP_BUFFER,
    c.TPM_PT_PERMANENT: 0,  # no authValue set, nothing disabled: every flag clear
    c.TPM_PT_STARTUP_CLEAR: 0,  # live, see _property_value
    **{tag: 0 for tag in range(c.TPM_PT_HR_NV_INDEX, c.TPM_PT_AUDIT_COUNTER_1 + 1)},
}
_PROPERTY_TAGS = tuple(sorted(PROPERTIES))
# Hierarchies are always enabled here (no TPM2_HierarchyControl).
_STARTUP_CLEAR_ENABLED = (
    c.TPMA_STARTUP_CLEAR_PH_ENABLE
    | c.TPMA_STARTUP_CLEAR_SH_ENABLE
    | c.TPMA_STARTUP_CLEAR_EH_ENABLE
    | c.TPMA_STARTUP_CLEAR_PH_ENABLE_NV
)


def _property_value(emu: Emulator, tag: int) -> int:
    live = live_capability.variable_property(emu, tag)
    if live is not None:
        return live
    if tag == c.TPM_PT_STARTUP_CLEAR:
        # orderly: the last Startup followed a Shutdown (Part 2, TPMA_STARTUP_CLEAR).
        orderly = c.TPMA_STARTUP_CLEAR_ORDERLY if emu.prev_orderly != c.SU_NONE else 0
        return _STARTUP_CLEAR_ENABLED | orderly
    if tag == c.TPM_PT_TOTAL_COMMANDS or tag == c.TPM_PT_LIBRARY_COMMANDS:
        return len(emu.commands)  # all of them Library commands
    return PROPERTIES[tag]


def _select(keep) -> bytes:
    """pcrSelect (3 bytes) of the PCRs whose attributes satisfy ``keep``."""
    bits = sum(1 << pcr for pcr, attrs in enumerate(PTP_ATTRIBUTES) if keep(attrs))
    return bits.to_bytes(c.PCR_SELECT, "little")


def _pcr_property_table() -> tuple[tuple[int, bytes], ...]:
    """TPMS_TAGGED_PCR_SELECT rows derived from the attribute table (PCR.c PCRGetProperty)."""
    rows = [(c.TPM_PT_PCR_SAVE, _select(lambda a: a.state_save))]
    for locality in range(5):
        bit = 1 << locality
        rows.append((c.TPM_PT_PCR_EXTEND_L0 + 2 * locality, _select(lambda a, bit=bit: a.extend_mask & bit)))
        rows.append((c.TPM_PT_PCR_RESET_L0 + 2 * locality, _select(lambda a, bit=bit: a.reset_mask & bit)))
    rows += [
        (c.TPM_PT_PCR_NO_INCREMENT, _select(lambda a: a.no_increment)),
        (c.TPM_PT_PCR_DRTM_RESET, _select(lambda a: a.reset_mask & LOCALITY_4)),
        (c.TPM_PT_PCR_POLICY, _select(lambda a: a.policy_group)),
        (c.TPM_PT_PCR_AUTH, _select(lambda a: a.auth_group)),
    ]
    return tuple(rows)


PCR_PROPERTIES = _pcr_property_table()


def _algs(emu: Emulator, prop: int, count: int) -> tuple[bool, list[bytes]]:
    first = prop & 0xFFFF  # the reference casts property to TPM_ALG_ID
    rows = [h for h in IMPLEMENTED if h.alg >= first]
    limit = min(count, c.MAX_CAP_ALGS)
    return len(rows) > limit, [
        ALG_PROPERTY.pack(h.alg, c.TPMA_ALGORITHM_HASH) for h in rows[:limit]
    ]


def _pcrs(emu: Emulator, prop: int, count: int) -> tuple[bool, list[bytes]]:
    """The allocation: every implemented algorithm, 24 PCRs or none.  property
    must be 0 (Part 3 TPM2_GetCapability code); count 0 returns an empty list
    with moreData YES (PCRCapGetAllocation)."""
    if prop != 0:
        raise CommandError(c.TPM_RC_VALUE | c.RC_P | c.RC_2)
    if count == 0:
        return True, []
    allocated = emu.pcrs.by_alg
    full, empty = b"\xff" * c.PCR_SELECT, bytes(c.PCR_SELECT)
    return False, [
        U16.pack(h.alg) + bytes((c.PCR_SELECT,)) + (full if h.alg in allocated else empty)
        for h in IMPLEMENTED
    ]


def _tpm_properties(emu: Emulator, prop: int, count: int) -> tuple[bool, list[bytes]]:
    first = max(prop, c.PT_FIXED)
    if first >= c.PT_VAR + c.PT_GROUP:
        return False, []
    group_end = (first // c.PT_GROUP + 1) * c.PT_GROUP
    tags = [t for t in _PROPERTY_TAGS if first <= t < group_end]
    limit = min(count, c.MAX_TPM_PROPERTIES)
    return len(tags) > limit, [
        TAGGED_PROPERTY.pack(t, _property_value(emu, t)) for t in tags[:limit]
    ]


def _pcr_properties(emu: Emulator, prop: int, count: int) -> tuple[bool, list[bytes]]:
    rows = [r for r in PCR_PROPERTIES if r[0] >= prop]
    limit = min(count, c.MAX_PCR_PROPERTIES)
    return len(rows) > limit, [
        TAGGED_PCR_SELECT.pack(tag, c.PCR_SELECT) + bitmap for tag, bitmap in rows[:limit]
    ]


_CAPABILITIES = {
    c.TPM_CAP_ALGS: _algs,
    c.TPM_CAP_PCRS: _pcrs,
    c.TPM_CAP_TPM_PROPERTIES: _tpm_properties,
    c.TPM_CAP_PCR_PROPERTIES: _pcr_properties,
    c.TPM_CAP_HANDLES: live_capability.handles,
    c.TPM_CAP_COMMANDS: live_capability.commands,
}


def get_capability(
    emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int
) -> bytes:
    capability, pos = take_u32(cmd, pos, c.TPM_RC_INSUFFICIENT | c.RC_P | c.RC_1)
    answer = _CAPABILITIES.get(capability)
    if answer is None:  # checked where TPM_CAP_Unmarshal checks the value
        raise CommandError(c.TPM_RC_VALUE | c.RC_P | c.RC_1)
    prop, pos = take_u32(cmd, pos, c.TPM_RC_INSUFFICIENT | c.RC_P | c.RC_2)
    count, pos = take_u32(cmd, pos, c.TPM_RC_INSUFFICIENT | c.RC_P | c.RC_3)
    if pos != len(cmd):
        raise CommandError(c.TPM_RC_SIZE)
    more, items = answer(emu, prop, count)
    return CAPABILITY_HEAD.pack(more, capability, len(items)) + b"".join(items)


COMMANDS = (
    CommandSpec(c.TPM_CC_GetCapability, "TPM2_GetCapability", (), 0, True, get_capability),
)
