"""The TPM2_GetCapability answers that depend on the TPM's state (Part 3, 30.2): handle lists
of NV indices, transient objects and sessions, and the variable TPM properties counting them.

Handle lists are exact where the model knows every entry: the entries of the handle type of
``property`` from ``property`` on, ascending, at most ``propertyCount``, moreData when more
remain (reference NvCapGetIndex, ObjectCapGetLoaded; measured the same on libtpms 0.9).
"""

from __future__ import annotations

from models.ops import CapabilityResult, Outcome
from models.tcg import TPM_CAP, TPM_PT

HT_NV_INDEX, HT_LOADED_SESSION, HT_SAVED_SESSION, HT_TRANSIENT = 0x01, 0x02, 0x03, 0x80
HANDLES = int(TPM_CAP.TPM_CAP_HANDLES)
TPM_PROPERTIES = int(TPM_CAP.TPM_CAP_TPM_PROPERTIES)
HR_NV_INDEX = int(TPM_PT.TPM_PT_HR_NV_INDEX)
HR_LOADED = int(TPM_PT.TPM_PT_HR_LOADED)
HR_ACTIVE = int(TPM_PT.TPM_PT_HR_ACTIVE)
HR_LOADED_AVAIL = int(TPM_PT.TPM_PT_HR_LOADED_AVAIL)
HR_ACTIVE_AVAIL = int(TPM_PT.TPM_PT_HR_ACTIVE_AVAIL)
HR_TRANSIENT_AVAIL = int(TPM_PT.TPM_PT_HR_TRANSIENT_AVAIL)
NV_COUNTERS = int(TPM_PT.TPM_PT_NV_COUNTERS)


def handles(prop: int, count: int, known: dict[int, tuple[int, ...]]) -> Outcome | None:
    """The answer for a handle type whose handles ``known`` lists (type -> ascending handles),
    None for any other type."""
    listed = known.get(prop >> 24)
    if listed is None:
        return None
    # Compared without the type byte: loaded sessions of both types share one slot space.
    rows = tuple(h for h in listed if h & 0xFFFFFF >= prop & 0xFFFFFF)
    return Outcome(0, CapabilityResult(len(rows) > count, HANDLES, rows[:count]))


def with_live_properties(outcome: Outcome, values: dict[int, int]) -> Outcome:
    """``outcome`` of TPM_CAP_TPM_PROPERTIES with the listed properties' values from ``values``."""
    result = outcome.value
    if outcome.rc != 0 or type(result.data) is not tuple:
        return outcome
    data = tuple((tag, values.get(tag, value)) for tag, value in result.data)
    return Outcome(0, CapabilityResult(result.more_data, result.capability, data))
