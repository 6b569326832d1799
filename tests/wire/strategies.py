"""Hypothesis strategies for the wire tests: ops, outcomes and TCG structures.

Digest sizes here are the test's own table (Part 2, TPM_ALG_ID), not the
code under test's, so a wrong size in the wire layer cannot hide itself.
"""

from __future__ import annotations

from hypothesis import strategies as st

from harness.wire import (
    TPM2B_DIGEST, TPMT_HA, TPML_DIGEST_VALUES, TPMS_PCR_SELECTION, TPML_PCR_SELECTION,
    TPML_DIGEST, TPMS_AUTH_COMMAND, TPMS_AUTH_RESPONSE, TPMS_TAGGED_PROPERTY,
    TPML_TAGGED_TPM_PROPERTY, TPMS_TAGGED_PCR_SELECT, TPML_TAGGED_PCR_PROPERTY,
    TPMS_ALG_PROPERTY, TPML_ALG_PROPERTY, TPML_HANDLE, TPML_CC, TPML_CCA, TPML_ECC_CURVE,
    TPMS_CAPABILITY_DATA,
)
from models.ops import (
    CapabilityResult, GetCapability, GetRandom, Outcome, PcrEvent, PcrExtend, PcrRead,
    PcrReadResult, PcrReset, RandomResult, Raw, Shutdown, Startup,
)

SHA1, SHA256, SHA384, SHA512, SM3_256 = 0x0004, 0x000B, 0x000C, 0x000D, 0x0012
SIZES = {SHA1: 20, SHA256: 32, SHA384: 48, SHA512: 64}

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
localities = st.integers(0, 4)
known_algs = st.sampled_from(sorted(SIZES))
# Includes algorithms without a digest size the wire layer knows (SM3_256, garbage).
any_algs = st.one_of(known_algs, st.just(SM3_256), u16)

tpm2b_digest = st.binary(max_size=64)
ha = known_algs.flatmap(lambda alg: st.tuples(st.just(alg), st.binary(min_size=SIZES[alg], max_size=SIZES[alg])))
digest_values = st.lists(ha, max_size=16).map(tuple)
pcr_numbers = st.sets(st.integers(0, 31), max_size=32).map(lambda s: tuple(sorted(s)))
selection = st.lists(st.tuples(any_algs, pcr_numbers), max_size=16).map(tuple)
select_bytes = st.binary(min_size=1, max_size=4)


# --- ops ---------------------------------------------------------------------------

startup = st.builds(Startup, u16, localities)
shutdown = st.builds(Shutdown, u16, localities)
pcr_extend = st.builds(PcrExtend, u32, digest_values, localities)
pcr_event = st.builds(PcrEvent, u32, st.binary(max_size=1024), localities)
pcr_reset = st.builds(PcrReset, u32, localities)
pcr_read = st.builds(PcrRead, selection, localities)
get_random = st.builds(GetRandom, u16, localities)
get_capability = st.builds(GetCapability, u32, u32, u32, localities)
raw = st.builds(Raw, st.binary(max_size=64), st.just("raw"), localities)

command_ops = st.one_of(startup, shutdown, pcr_extend, pcr_event, pcr_reset, pcr_read,
                        get_random, get_capability)


# --- outcomes ----------------------------------------------------------------------

error_rc = st.integers(1, 0xFFFFFFFF)


@st.composite
def pcr_read_results(draw) -> PcrReadResult:
    """A consistent PCR_Read answer: one digest per selected PCR, at most 8 in all."""
    entries = []
    digests = []
    budget = 8
    for alg in draw(st.lists(any_algs, max_size=16)):
        pcrs = tuple(sorted(draw(st.sets(st.integers(0, 31), max_size=budget))))
        budget -= len(pcrs)
        entries.append((alg, pcrs))
        size = SIZES.get(alg)
        for _ in pcrs:
            digests.append(draw(st.binary(min_size=size, max_size=size)) if size else draw(tpm2b_digest))
    return PcrReadResult(draw(u32), tuple(entries), tuple(digests))


random_results = st.binary(max_size=64).map(lambda data: RandomResult(len(data), data))

CAPABILITY_VALUES = {
    0x0: st.lists(st.tuples(u16, u32), max_size=169),  # TPM_CAP_ALGS
    0x1: st.lists(u32, max_size=254),  # TPM_CAP_HANDLES
    0x2: st.lists(u32, max_size=254),  # TPM_CAP_COMMANDS
    0x3: st.lists(u32, max_size=254),  # TPM_CAP_PP_COMMANDS
    0x4: st.lists(u32, max_size=254),  # TPM_CAP_AUDIT_COMMANDS
    0x5: selection,  # TPM_CAP_PCRS
    0x6: st.lists(st.tuples(u32, u32), max_size=127),  # TPM_CAP_TPM_PROPERTIES
    0x7: st.lists(st.tuples(u32, pcr_numbers), max_size=127),  # TPM_CAP_PCR_PROPERTIES
    0x8: st.lists(u16, max_size=508),  # TPM_CAP_ECC_CURVES
}

capability_results = st.sampled_from(sorted(CAPABILITY_VALUES)).flatmap(
    lambda cap: st.builds(CapabilityResult, st.booleans(), st.just(cap), CAPABILITY_VALUES[cap].map(tuple))
)

SUCCESS_VALUES = {
    Startup: st.none(),
    Shutdown: st.none(),
    PcrExtend: st.none(),
    PcrReset: st.none(),
    PcrEvent: digest_values,
    PcrRead: pcr_read_results(),
    GetRandom: random_results,
    GetCapability: capability_results,
}


def outcomes_for(op) -> st.SearchStrategy[Outcome]:
    """Error outcomes for any op; success outcomes too unless the op is Raw."""
    errors = st.builds(Outcome, error_rc)
    if type(op) is Raw:
        return errors
    return st.one_of(errors, st.builds(Outcome, st.just(0), SUCCESS_VALUES[type(op)]))


op_and_outcome = st.one_of(command_ops, raw).flatmap(lambda op: st.tuples(st.just(op), outcomes_for(op)))


# --- structures -----------------------------------------------------------------------

tpmt_ha = ha.map(lambda v: TPMT_HA(*v))
tpms_pcr_selection = st.builds(TPMS_PCR_SELECTION, any_algs, select_bytes)
tpms_tagged_pcr_select = st.builds(TPMS_TAGGED_PCR_SELECT, u32, select_bytes)
tpms_tagged_property = st.builds(TPMS_TAGGED_PROPERTY, u32, u32)
tpms_alg_property = st.builds(TPMS_ALG_PROPERTY, u16, u32)


def _tuple_of(element, max_size):
    return st.lists(element, max_size=max_size).map(tuple)


STRUCTURES = {
    TPM2B_DIGEST: st.builds(TPM2B_DIGEST, tpm2b_digest),
    TPMT_HA: tpmt_ha,
    TPML_DIGEST_VALUES: st.builds(TPML_DIGEST_VALUES, _tuple_of(tpmt_ha, 16)),
    TPMS_PCR_SELECTION: tpms_pcr_selection,
    TPML_PCR_SELECTION: st.builds(TPML_PCR_SELECTION, _tuple_of(tpms_pcr_selection, 16)),
    TPML_DIGEST: st.builds(TPML_DIGEST, _tuple_of(tpm2b_digest, 8)),
    TPMS_AUTH_COMMAND: st.builds(TPMS_AUTH_COMMAND, u32, tpm2b_digest, u8, tpm2b_digest),
    TPMS_AUTH_RESPONSE: st.builds(TPMS_AUTH_RESPONSE, tpm2b_digest, u8, tpm2b_digest),
    TPMS_TAGGED_PROPERTY: tpms_tagged_property,
    TPML_TAGGED_TPM_PROPERTY: st.builds(TPML_TAGGED_TPM_PROPERTY, _tuple_of(tpms_tagged_property, 127)),
    TPMS_TAGGED_PCR_SELECT: tpms_tagged_pcr_select,
    TPML_TAGGED_PCR_PROPERTY: st.builds(TPML_TAGGED_PCR_PROPERTY, _tuple_of(tpms_tagged_pcr_select, 127)),
    TPMS_ALG_PROPERTY: tpms_alg_property,
    TPML_ALG_PROPERTY: st.builds(TPML_ALG_PROPERTY, _tuple_of(tpms_alg_property, 169)),
    TPML_HANDLE: st.builds(TPML_HANDLE, _tuple_of(u32, 254)),
    TPML_CC: st.builds(TPML_CC, _tuple_of(u32, 254)),
    TPML_CCA: st.builds(TPML_CCA, _tuple_of(u32, 254)),
    TPML_ECC_CURVE: st.builds(TPML_ECC_CURVE, _tuple_of(u16, 508)),
}

_CAPABILITY_LISTS = {
    0x0: TPML_ALG_PROPERTY, 0x1: TPML_HANDLE, 0x2: TPML_CCA, 0x3: TPML_CC, 0x4: TPML_CC,
    0x5: TPML_PCR_SELECTION, 0x6: TPML_TAGGED_TPM_PROPERTY, 0x7: TPML_TAGGED_PCR_PROPERTY,
    0x8: TPML_ECC_CURVE,
}
STRUCTURES[TPMS_CAPABILITY_DATA] = st.sampled_from(sorted(_CAPABILITY_LISTS)).flatmap(
    lambda cap: st.builds(TPMS_CAPABILITY_DATA, st.just(cap), STRUCTURES[_CAPABILITY_LISTS[cap]])
)
