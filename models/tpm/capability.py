"""TPM2_GetCapability answers (Part 3, 30.2) for a profile and its allocated banks.

No answer here depends on PCR values or the startup state, so the model keeps each
one per (profile, banks, request); the answers that count loaded and defined things
(handle lists, variable properties) are completed from the state by live_capability.py.  Lists stay far below the MAX_CAP_BUFFER limits
(127 properties, 254 handles), so no answer is cut by size.
"""

from __future__ import annotations

from functools import lru_cache

from models.ops import ANY, CapabilityResult, Outcome
from models.tcg import TPM_CAP
from models.tpm import rc
from models.tpm.attributes import LOCALITY_4, PCR_COUNT
from models.tpm.profile import PT_FIXED, PT_GROUP, PT_VAR, Profile

_ALL_PCRS = tuple(range(PCR_COUNT))
_RH_ACT_0, _RH_ACT_F = 0x40000110, 0x4000011F
_HT_PCR, _HT_PERMANENT = 0x00, 0x40
# TPM_HT values TPM_CAP_HANDLES lists (Part 3, GetCapability): NV index, loaded
# session, saved session, permanent, transient, persistent; PCR is answered exactly.
_HT_OPEN = frozenset({0x01, 0x02, 0x03, 0x40, 0x80, 0x81})
# Capabilities whose data is the implementation's own (algorithms, commands, curves).
_CAP_OPEN = frozenset(int(c) for c in (
    TPM_CAP.TPM_CAP_ALGS, TPM_CAP.TPM_CAP_COMMANDS, TPM_CAP.TPM_CAP_PP_COMMANDS,
    TPM_CAP.TPM_CAP_AUDIT_COMMANDS, TPM_CAP.TPM_CAP_ECC_CURVES))
TPM_CAP_AUTH_POLICIES = 0x09
TPM_CAP_ACT = 0x0A


def get_capability(profile: Profile, banks: tuple[int, ...], capability: int, prop: int,
                   count: int) -> Outcome:
    """The Outcome of TPM2_GetCapability(capability, property, propertyCount)."""
    if capability == TPM_CAP.TPM_CAP_PCRS:
        return _pcrs(profile, banks, prop, count)
    if capability == TPM_CAP.TPM_CAP_TPM_PROPERTIES:
        return _answer(capability, *_tpm_properties(profile, prop, count))
    if capability == TPM_CAP.TPM_CAP_PCR_PROPERTIES:
        return _answer(capability, *_first(pcr_properties(profile), prop, count, complete=True))
    if capability == TPM_CAP.TPM_CAP_HANDLES:
        return _handles(prop, count)
    if capability in _CAP_OPEN:
        return _answer(capability, ANY, ANY)
    if capability == TPM_CAP_AUTH_POLICIES:
        # property names a permanent handle (TPM_RCS_VALUE + RC_GetCapability_property).
        if prop >> 24 != _HT_PERMANENT:
            return Outcome(rc.VALUE_PARAMETER_2)
        return _answer(capability, ANY, ANY)
    if capability == TPM_CAP_ACT:
        if not _RH_ACT_0 <= prop <= _RH_ACT_F:
            return Outcome(rc.VALUE_PARAMETER_2)
        return _answer(capability, ANY, ANY)
    # Not a TPM_CAP value, or TPM_CAP_VENDOR_PROPERTY (not implemented by either profile).
    return Outcome(rc.VALUE_PARAMETER_1)


def _answer(capability: int, more_data, data) -> Outcome:
    return Outcome(rc.SUCCESS, CapabilityResult(more_data, capability, data))


def _pcrs(profile: Profile, banks: tuple[int, ...], prop: int, count: int) -> Outcome:
    """TPM_CAP_PCRS: the allocation of every implemented bank (PCR.c PCRCapGetAllocation).

    The property must be 0; propertyCount 0 asks for nothing and gets moreData YES.
    """
    if prop != 0:
        return Outcome(rc.VALUE_PARAMETER_2)
    if count == 0:
        return _answer(TPM_CAP.TPM_CAP_PCRS, True, ())
    selection = tuple((alg, _ALL_PCRS if alg in banks else ()) for alg in profile.implemented_algs)
    return _answer(TPM_CAP.TPM_CAP_PCRS, False, selection)


def _first(entries: tuple, prop: int, count: int, complete: bool):
    """The first ``count`` entries tagged >= ``prop``, and moreData.

    ``entries`` is ascending by tag.  An incomplete list may be followed by
    entries the model does not know: an answer that reaches its end is open.
    """
    rest = [entry for entry in entries if entry[0] >= prop]
    if len(rest) > count:
        return True, tuple(rest[:count])
    if complete:
        return False, tuple(rest)
    if len(rest) == count:
        return ANY, tuple(rest)
    return ANY, ANY


def _tpm_properties(profile: Profile, prop: int, count: int):
    """TPM_CAP_TPM_PROPERTIES: one group only, from max(prop, PT_FIXED) (PropertyCap.c)."""
    start = max(prop, PT_FIXED)
    if start >= PT_VAR + PT_GROUP:
        return False, ()
    group_end = (start // PT_GROUP + 1) * PT_GROUP
    group = tuple(p for p in profile.tpm_properties if p[0] < group_end)
    return _first(group, start, count, profile.tpm_properties_complete)


@lru_cache(maxsize=16)
def pcr_properties(profile: Profile) -> tuple[tuple[int, tuple[int, ...]], ...]:
    """Every TPMS_TAGGED_PCR_SELECT the profile implements, by TPM_PT_PCR (PCR.c PCRGetProperty).

    A group that is empty in the profile is not implemented, so its tag is absent.
    """
    def pcrs(keep) -> tuple[int, ...]:
        return tuple(pcr for pcr in range(PCR_COUNT) if keep(pcr))

    tags = [(0x00, pcrs(lambda p: p in profile.state_save))]  # TPM_PT_PCR_SAVE
    for locality in range(5):  # TPM_PT_PCR_EXTEND_L0 0x01, RESET_L0 0x02, ... RESET_L4 0x0A
        bit = 1 << locality
        tags.append((1 + 2 * locality, pcrs(lambda p: profile.extend_mask[p] & bit)))
        tags.append((2 + 2 * locality, pcrs(lambda p: profile.reset_mask[p] & bit)))
    tags.append((0x11, pcrs(lambda p: p in profile.no_increment)))  # TPM_PT_PCR_NO_INCREMENT
    tags.append((0x12, pcrs(lambda p: profile.reset_mask[p] & LOCALITY_4)))  # TPM_PT_PCR_DRTM_RESET
    if profile.policy_group:
        tags.append((0x13, pcrs(lambda p: p in profile.policy_group)))  # TPM_PT_PCR_POLICY
    if profile.auth_group:
        tags.append((0x14, pcrs(lambda p: p in profile.auth_group)))  # TPM_PT_PCR_AUTH
    return tuple(tags)


def _handles(prop: int, count: int) -> Outcome:
    """TPM_CAP_HANDLES: PCR handles exactly (PCR.c PCRCapGetHandles), other types open."""
    kind = prop >> 24
    if kind == _HT_PCR:
        first = prop & 0x00FFFFFF
        handles = _ALL_PCRS[first:]
        return _answer(TPM_CAP.TPM_CAP_HANDLES, len(handles) > count, handles[:count])
    if kind in _HT_OPEN:
        return _answer(TPM_CAP.TPM_CAP_HANDLES, ANY, ANY)
    return Outcome(rc.HANDLE_PARAMETER_2)

