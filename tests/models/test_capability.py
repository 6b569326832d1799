"""TPM2_GetCapability answers.

Expectations: the values the sheet fixes, the sheet's PCR table, and answers
measured on swtpm 0.7.1 / libtpms 0.9.2 when these tests were written (typed
in as the response bytes or counts that came back).
"""

from __future__ import annotations

import pytest

from models.ops import ANY, CapabilityResult, GetCapability, Outcome, Startup
from models.tpm import PROFILES, TpmModel
from tests.models.expect import (ALGS, RC_HANDLE_P2, RC_VALUE_P1, RC_VALUE_P2, SHA1, SHA256,
                                 SHEET_MASKS, SHEET_NO_INCREMENT)

TPM_CAP_HANDLES, TPM_CAP_PCRS, TPM_CAP_TPM_PROPERTIES, TPM_CAP_PCR_PROPERTIES = 1, 5, 6, 7


def ask(capability, prop, count, profile="ptp", banks=ALGS):
    model = TpmModel(PROFILES[profile], banks=banks)
    model.apply(Startup(0))
    return model.apply(GetCapability(capability, prop, count))


def answer(more, capability, data):
    return Outcome(0, CapabilityResult(more, capability, data))


# --- TPM_CAP_PCRS ----------------------------------------------------------------------

@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_pcrs_lists_every_implemented_bank_and_its_allocation(profile):
    everything = tuple(range(24))
    assert ask(TPM_CAP_PCRS, 0, 1, profile, banks=(SHA256, SHA1)) == answer(
        False, TPM_CAP_PCRS, ((SHA1, everything), (SHA256, everything), (0x000C, ()), (0x000D, ())))


def test_pcrs_property_must_be_zero_and_count_zero_asks_for_nothing():
    # measured: property 1 -> TPM_RC_VALUE + parameter 2; count 0 -> moreData YES, empty list.
    assert ask(TPM_CAP_PCRS, 1, 1).rc == RC_VALUE_P2
    assert ask(TPM_CAP_PCRS, 0, 0) == answer(True, TPM_CAP_PCRS, ())


# --- TPM_CAP_TPM_PROPERTIES ------------------------------------------------------------

FIXED_BY_THE_SHEET = {
    0x100: int.from_bytes(b"2.0\0", "big"),  # TPM_PT_FAMILY_INDICATOR
    0x101: 0,  # TPM_PT_LEVEL
    0x112: 24,  # TPM_PT_PCR_COUNT
    0x113: 3,  # TPM_PT_PCR_SELECT_MIN
    0x120: 64,  # TPM_PT_MAX_DIGEST
    0x10D: 1024,  # TPM_PT_INPUT_BUFFER
}


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("prop", sorted(FIXED_BY_THE_SHEET))
def test_properties_the_sheet_fixes(profile, prop):
    outcome = ask(TPM_CAP_TPM_PROPERTIES, prop, 1, profile)
    assert outcome == answer(True, TPM_CAP_TPM_PROPERTIES, ((prop, FIXED_BY_THE_SHEET[prop]),))


def test_implementation_defined_values_are_left_open():
    outcome = ask(TPM_CAP_TPM_PROPERTIES, 0x105, 1)  # TPM_PT_MANUFACTURER
    assert outcome.value.data == ((0x105, ANY),)


# Measured on libtpms 0.9.2: 46 fixed properties 0x100-0x12E without 0x115, 21 variable 0x200-0x214.
LIBTPMS_FIXED = [t for t in range(0x100, 0x12F) if t != 0x115]
LIBTPMS_VAR = list(range(0x200, 0x215))


def test_libtpms_property_groups_are_answered_one_at_a_time():
    fixed = ask(TPM_CAP_TPM_PROPERTIES, 0x100, 200, "libtpms-0.9")
    assert fixed.value.more_data is False
    assert [t for t, _ in fixed.value.data] == LIBTPMS_FIXED
    var = ask(TPM_CAP_TPM_PROPERTIES, 0x200, 200, "libtpms-0.9")
    assert var.value.more_data is False and [t for t, _ in var.value.data] == LIBTPMS_VAR


@pytest.mark.parametrize("prop,count,more,tags", [  # all measured on libtpms 0.9.2
    (0x100, 0, True, []),
    (0x000, 2, True, [0x100, 0x101]),
    (0x1FF, 1, False, []),
    (0x2FF, 3, False, []),
    (0x300, 3, False, []),
    (0xFFFFFFFF, 1, False, []),
    (0x130, 1, False, []),
    (0x12E, 5, False, [0x12E]),
    (0x114, 2, True, [0x114, 0x116]),
])
def test_libtpms_property_paging(prop, count, more, tags):
    outcome = ask(TPM_CAP_TPM_PROPERTIES, prop, count, "libtpms-0.9")
    assert outcome.value.more_data is more and [t for t, _ in outcome.value.data] == tags


def test_ptp_leaves_open_what_later_revisions_may_add():
    last_known = ask(TPM_CAP_TPM_PROPERTIES, 0x12C, 1)  # TPM_PT_NV_BUFFER_MAX
    assert last_known.value.more_data is ANY and [t for t, _ in last_known.value.data] == [0x12C]
    assert ask(TPM_CAP_TPM_PROPERTIES, 0x100, 200).value == CapabilityResult(ANY, 6, ANY)
    assert ask(TPM_CAP_TPM_PROPERTIES, 0x12D, 1).value == CapabilityResult(ANY, 6, ANY)
    # Answers inside the known range are exact, 0x115 included (never assigned).
    inside = ask(TPM_CAP_TPM_PROPERTIES, 0x114, 2)
    assert inside.value.more_data is True and [t for t, _ in inside.value.data] == [0x114, 0x116]


# --- TPM_CAP_PCR_PROPERTIES ------------------------------------------------------------

# GetCapability(TPM_CAP_PCR_PROPERTIES, 0, 100) then (0x0B, 10) on libtpms 0.9.2:
# TPMS_TAGGED_PCR_SELECT = tag (4 bytes), sizeofSelect (03), pcrSelect (3 bytes).
LIBTPMS_PCR_PROPERTIES = (
    "00000000 03 ffff00  00000001 03 ffff81  00000002 03 000081  00000003 03 ffff91"
    "00000004 03 000081  00000005 03 ffffff  00000006 03 0000f1  00000007 03 ffff9f"
    "00000008 03 000081  00000009 03 ffff87  0000000a 03 00007e  00000011 03 0000e1"
    "00000012 03 00007e  00000013 03 000070  00000014 03 000070")


def _tagged_pcr_selects(text: str):
    raw = bytes.fromhex(text.replace(" ", ""))
    result = []
    for i in range(0, len(raw), 8):
        tag, size, select = int.from_bytes(raw[i:i + 4], "big"), raw[i + 4], raw[i + 5:i + 8]
        assert size == 3
        bits = int.from_bytes(select, "little")
        result.append((tag, tuple(p for p in range(24) if bits >> p & 1)))
    return tuple(result)


def test_libtpms_pcr_properties_match_swtpm():
    outcome = ask(TPM_CAP_PCR_PROPERTIES, 0, 100, "libtpms-0.9")
    assert outcome == answer(False, TPM_CAP_PCR_PROPERTIES, _tagged_pcr_selects(LIBTPMS_PCR_PROPERTIES))


def test_ptp_pcr_properties_follow_the_sheet_table():
    def select(keep):
        return tuple(p for p in range(24) if keep(p))

    want = [(0x00, select(lambda p: p < 16))]
    for locality in range(5):
        want.append((1 + 2 * locality, select(lambda p: SHEET_MASKS[p][1] >> locality & 1)))
        want.append((2 + 2 * locality, select(lambda p: SHEET_MASKS[p][0] >> locality & 1)))
    want += [(0x11, tuple(sorted(SHEET_NO_INCREMENT))), (0x12, select(lambda p: SHEET_MASKS[p][0] & 0x10)),
             (0x13, (20, 21, 22)), (0x14, (20, 21, 22))]
    assert ask(TPM_CAP_PCR_PROPERTIES, 0, 64) == answer(False, TPM_CAP_PCR_PROPERTIES, tuple(want))


@pytest.mark.parametrize("prop,count,more,tags", [  # measured on libtpms 0.9.2
    (0x00, 0, True, []), (0x0A, 1, True, [0x0A]), (0x0B, 1, True, [0x11]), (0x0B, 10, False, [0x11, 0x12, 0x13, 0x14]),
    (0x12, 1, True, [0x12]), (0x14, 1, False, [0x14]), (0x15, 1, False, []), (0xFFFFFFFF, 1, False, []),
])
def test_pcr_property_paging(prop, count, more, tags):
    outcome = ask(TPM_CAP_PCR_PROPERTIES, prop, count, "libtpms-0.9")
    assert outcome.value.more_data is more and [t for t, _ in outcome.value.data] == tags


# --- TPM_CAP_HANDLES and the rest ------------------------------------------------------

@pytest.mark.parametrize("prop,count,more,handles", [  # measured on libtpms 0.9.2
    (0x00, 30, False, list(range(24))), (0x16, 30, False, [22, 23]), (0x18, 100, False, []),
    (0xFFFF, 100, False, []), (0x05, 3, True, [5, 6, 7]), (0x05, 0, True, []), (0x17, 0, True, []),
])
def test_pcr_handles(prop, count, more, handles):
    assert ask(TPM_CAP_HANDLES, prop, count) == answer(more, TPM_CAP_HANDLES, tuple(handles))


def test_handles_of_an_unknown_type_and_open_lists():
    assert ask(TPM_CAP_HANDLES, 0x05000000, 1).rc == RC_HANDLE_P2  # measured
    assert ask(TPM_CAP_HANDLES, 0x40000000, 10) == answer(ANY, TPM_CAP_HANDLES, ANY)


@pytest.mark.parametrize("capability,prop,rc", [  # measured on libtpms 0.9.2
    (0x0B, 0, RC_VALUE_P1), (0x100, 0, RC_VALUE_P1), (0xFFFFFFFF, 0, RC_VALUE_P1),
    (0x09, 0, RC_VALUE_P2), (0x09, 0x40000001, 0), (0x0A, 0, RC_VALUE_P2), (0x0A, 0x40000110, 0),
    (0x00, 0, 0), (0x02, 0x11F, 0), (0x08, 0, 0),
])
def test_other_capabilities(capability, prop, rc):
    for profile in PROFILES:
        outcome = ask(capability, prop, 1, profile)
        assert outcome.rc == rc
        if rc == 0:
            assert outcome.value == CapabilityResult(ANY, capability, ANY)


def test_answers_follow_the_allocated_banks():
    model = TpmModel(PROFILES["ptp"], banks=(SHA1,))
    model.apply(Startup(0))
    first = model.apply(GetCapability(TPM_CAP_PCRS, 0, 8))
    other = TpmModel(PROFILES["ptp"], banks=(SHA256,))
    other.apply(Startup(0))
    assert other.apply(GetCapability(TPM_CAP_PCRS, 0, 8)) != first  # the cache keys on the banks
