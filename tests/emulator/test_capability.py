"""TPM2_GetCapability and TPM2_GetRandom (Part 3, 30.2 and 16.1)."""

from __future__ import annotations

import struct

import pytest

from harness.emulator import Emulator

from .frames import (
    ALG,
    BANKS,
    CC,
    NO_SESSIONS,
    assert_rc,
    frame,
    get_capability,
    get_random,
    parameters,
    rc_only,
    shutdown,
    startup,
)

TPM_CAP_ALGS, TPM_CAP_PCRS, TPM_CAP_TPM_PROPERTIES, TPM_CAP_PCR_PROPERTIES = 0, 5, 6, 7
# TPMS_TAGGED_PCR_SELECT bitmaps (wire order) derived by hand from the sheet's
# attribute table; all but NO_INCREMENT (libtpms: 16, 21-23) also measured on swtpm.
PCR_PROPERTIES = [
    (0x00, "ffff00"),  # SAVE: 0-15
    (0x01, "ffff81"),  # EXTEND_L0: 0-16, 23
    (0x02, "000081"),  # RESET_L0: 16, 23
    (0x03, "ffff91"),  # EXTEND_L1: 0-16, 20, 23
    (0x04, "000081"),  # RESET_L1
    (0x05, "ffffff"),  # EXTEND_L2: all
    (0x06, "0000f1"),  # RESET_L2: 16, 20-23
    (0x07, "ffff9f"),  # EXTEND_L3: 0-20, 23
    (0x08, "000081"),  # RESET_L3
    (0x09, "ffff87"),  # EXTEND_L4: 0-18, 23
    (0x0A, "00007e"),  # RESET_L4: 17-22
    (0x11, "000070"),  # NO_INCREMENT: 20-22
    (0x12, "00007e"),  # DRTM_RESET: 17-22
    (0x13, "000070"),  # POLICY: 20-22
    (0x14, "000070"),  # AUTH: 20-22
]


def capability(tpm, cap: int, prop: int, count: int) -> tuple[bool, list[bytes]]:
    """(moreData, raw list entries) with the entry size of each capability."""
    body = parameters(tpm.execute(get_capability(cap, prop, count)))
    more, echoed, n = struct.unpack_from(">BII", body)
    assert echoed == cap and more in (0, 1)
    entry = {TPM_CAP_ALGS: 6, TPM_CAP_PCRS: 6, TPM_CAP_TPM_PROPERTIES: 8, TPM_CAP_PCR_PROPERTIES: 8}[cap]
    assert len(body) == 9 + n * entry, body.hex()
    return bool(more), [body[9 + i * entry:9 + (i + 1) * entry] for i in range(n)]


def properties(tpm, prop: int, count: int) -> tuple[bool, list[tuple[int, int]]]:
    more, entries = capability(tpm, TPM_CAP_TPM_PROPERTIES, prop, count)
    return more, [struct.unpack(">II", e) for e in entries]


def test_pcrs_lists_every_implemented_bank_with_all_24_pcrs(tpm):
    more, entries = capability(tpm, TPM_CAP_PCRS, 0, 1)
    assert not more
    assert [e.hex() for e in entries] == ["000403ffffff", "000b03ffffff", "000c03ffffff", "000d03ffffff"]


def test_pcrs_shows_unallocated_banks_with_an_empty_selection():
    tpm = Emulator(banks=("sha512", "sha1"))
    tpm.execute(startup())
    _, entries = capability(tpm, TPM_CAP_PCRS, 0, 8)
    assert [e.hex() for e in entries] == ["000403ffffff", "000b03000000", "000c03000000", "000d03ffffff"]


def test_pcrs_with_count_0_is_empty_with_more_data(tpm):
    assert capability(tpm, TPM_CAP_PCRS, 0, 0) == (True, [])


def test_pcrs_with_a_property_other_than_0_is_value_plus_parameter_2(tpm):
    # Part 3 TPM2_GetCapability code (and libtpms 0.9.2): property must be 0.
    assert_rc(tpm.execute(get_capability(TPM_CAP_PCRS, 1, 1)), 0x2C4)


@pytest.mark.parametrize("prop, value", [
    (0x100, 0x322E3000),  # TPM_PT_FAMILY_INDICATOR "2.0"
    (0x101, 0),  # TPM_PT_LEVEL
    (0x10D, 1024),  # TPM_PT_INPUT_BUFFER
    (0x112, 24),  # TPM_PT_PCR_COUNT
    (0x113, 3),  # TPM_PT_PCR_SELECT_MIN
    (0x120, 64),  # TPM_PT_MAX_DIGEST
])
def test_the_required_tpm_properties(tpm, prop, value):
    more, found = properties(tpm, prop, 1)
    assert found == [(prop, value)]


def test_paging_one_by_one_lists_the_fixed_group_in_ascending_order(tpm):
    _, everything = properties(tpm, 0x100, 1000)
    paged, prop, more = [], 0x100, True
    while more:
        more, found = properties(tpm, prop, 1)
        paged += found
        prop = found[-1][0] + 1
    assert paged == everything
    tags = [t for t, _ in everything]
    assert tags == sorted(set(tags)) and all(0x100 <= t < 0x200 for t in tags)


def test_properties_never_cross_into_the_next_group(tpm):
    more, found = properties(tpm, 0x12F, 1000)
    assert (more, found) == (False, [])
    more, found = properties(tpm, 0x200, 1000)
    assert not more and [t for t, _ in found] == list(range(0x200, 0x215))


def test_every_property_of_revision_1_59_is_reported(tpm):
    # Part 2 rev 1.59 TPM_PT: 0x100-0x12E (0x115 never assigned) and 0x200-0x214.
    _, fixed = properties(tpm, 0x100, 1000)
    assert [t for t, _ in fixed] == [t for t in range(0x100, 0x12F) if t != 0x115]
    assert dict(fixed)[0x129] == len(Emulator.commands)  # TPM_PT_TOTAL_COMMANDS: every implemented one


def test_a_property_below_pt_fixed_starts_at_pt_fixed(tpm):
    assert properties(tpm, 0, 1) == properties(tpm, 0x100, 1)


@pytest.mark.parametrize("prop", [0x300, 0x12345678])
def test_a_property_beyond_pt_var_is_an_empty_list(tpm, prop):
    assert properties(tpm, prop, 5) == (False, [])


def test_properties_with_count_0_is_empty_with_more_data(tpm):
    assert properties(tpm, 0x100, 0) == (True, [])


def test_startup_clear_reports_orderly_after_a_resume():
    tpm = Emulator()
    tpm.execute(startup())
    _, [(tag, value)] = properties(tpm, 0x201, 1)
    assert tag == 0x201 and value == 0x0000000F  # hierarchies enabled, not orderly
    tpm.execute(shutdown(1))
    tpm.power_on()
    tpm.execute(startup(1))
    assert properties(tpm, 0x201, 1)[1] == [(0x201, 0x8000000F)]


def test_pcr_properties_follow_the_attribute_table(tpm):
    more, entries = capability(tpm, TPM_CAP_PCR_PROPERTIES, 0, 100)
    assert not more
    assert [(struct.unpack(">I", e[:4])[0], e[4], e[5:].hex()) for e in entries] == [
        (tag, 3, bitmap) for tag, bitmap in PCR_PROPERTIES]


@pytest.mark.parametrize("prop, count, tags, more", [
    (0x0A, 2, [0x0A, 0x11], True),
    (0x0B, 1, [0x11], True),  # 0x0B-0x10 are not TPM_PT_PCR values
    (0x14, 1, [0x14], False),
    (0x15, 5, [], False),
    (0x00, 0, [], True),
])
def test_pcr_properties_paging(tpm, prop, count, tags, more):
    found_more, entries = capability(tpm, TPM_CAP_PCR_PROPERTIES, prop, count)
    assert [struct.unpack(">I", e[:4])[0] for e in entries] == tags and found_more == more


def test_algs_lists_the_hash_algorithms_with_the_hash_attribute(tpm):
    more, entries = capability(tpm, TPM_CAP_ALGS, 0, 100)
    assert not more
    assert entries == [struct.pack(">HI", ALG[b], 0x00000004) for b in BANKS]


@pytest.mark.parametrize("prop, count, algs, more", [
    (0x000B, 1, [0x000B], True),
    (0x000E, 9, [], False),
    (0x0001000B, 9, [0x000B, 0x000C, 0x000D], False),  # the reference casts to TPM_ALG_ID
])
def test_algs_paging(tpm, prop, count, algs, more):
    found_more, entries = capability(tpm, TPM_CAP_ALGS, prop, count)
    assert [struct.unpack(">H", e[:2])[0] for e in entries] == algs and found_more == more


@pytest.mark.parametrize("cap", [3, 4, 8, 9, 0x0A, 0x100, 0xFFFFFFFF])  # 1, 2: live_capability
def test_a_capability_the_emulator_lacks_is_value_plus_parameter_1(tpm, cap):
    assert_rc(tpm.execute(get_capability(cap, 0, 1)), 0x1C4)


@pytest.mark.parametrize("body, code", [
    (struct.pack(">II", 6, 0x100), 0x3DA),  # no propertyCount
    (struct.pack(">I", 6), 0x2DA),  # no property
    (b"\0\0", 0x1DA),
    (struct.pack(">IIIB", 6, 0x100, 1, 0), 0x095),  # trailing byte
])
def test_malformed_get_capability_parameters(tpm, body, code):
    assert_rc(tpm.execute(frame(NO_SESSIONS, CC["GetCapability"], body)), code)


@pytest.mark.parametrize("requested, returned", [(0, 0), (1, 1), (16, 16), (64, 64), (65, 64), (0xFFFF, 64)])
def test_get_random_returns_at_most_64_bytes(tpm, requested, returned):
    body = parameters(tpm.execute(get_random(requested)))
    assert struct.unpack_from(">H", body)[0] == returned and len(body) == 2 + returned


def test_get_random_returns_fresh_bytes(tpm):
    assert parameters(tpm.execute(get_random(32))) != parameters(tpm.execute(get_random(32)))


@pytest.mark.parametrize("body, code", [(b"\0", 0x1DA), (b"\0\1\0", 0x095)])
def test_malformed_get_random(tpm, body, code):
    assert_rc(tpm.execute(frame(NO_SESSIONS, CC["GetRandom"], body)), code)


def test_startup_and_shutdown_answer_exactly_ten_bytes():
    tpm = Emulator()
    assert tpm.execute(startup()) == rc_only(0)
    assert tpm.execute(shutdown()) == rc_only(0)
