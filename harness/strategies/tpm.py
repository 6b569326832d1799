"""Strategies that draw TPM 2.0 operations for the PCR / startup machines.

Draws are weighted towards what finds bugs: the locality-gated PCRs (16-23),
every locality 0-4, digests for allocated and unallocated banks, handles just
outside the valid range, and malformed commands of named classes.
"""

from __future__ import annotations

import struct

from hypothesis import strategies as st

from models import ops
from models.tcg import DIGEST_SIZE, TPM_ALG, TPM_CAP, TPM_CC, TPM_PT, TPM_RH, TPM_SU

HASH_ALGS = (TPM_ALG.TPM_ALG_SHA1, TPM_ALG.TPM_ALG_SHA256, TPM_ALG.TPM_ALG_SHA384,
             TPM_ALG.TPM_ALG_SHA512)

localities = st.integers(0, 4)
# Half of the draws hit the PCRs whose rules differ per locality.
pcr_index = st.one_of(st.integers(16, 23), st.integers(0, 23))
pcr_handle = st.one_of(
    pcr_index, pcr_index, pcr_index, st.integers(24, 31), st.just(int(TPM_RH.TPM_RH_NULL))
)


@st.composite
def tpmt_ha(draw, algs=HASH_ALGS):
    alg = draw(st.sampled_from(algs))
    return (int(alg), draw(st.binary(min_size=DIGEST_SIZE[alg], max_size=DIGEST_SIZE[alg])))


@st.composite
def digest_list(draw):
    """A TPML_DIGEST_VALUES: usually one digest per bank, sometimes a subset."""
    algs = draw(st.lists(st.sampled_from(HASH_ALGS), min_size=1, max_size=4, unique=True))
    return tuple(draw(tpmt_ha((alg,))) for alg in algs)


pcr_extend = st.builds(ops.PcrExtend, pcr=pcr_handle, digests=digest_list(), locality=localities)
pcr_event = st.builds(ops.PcrEvent, pcr=pcr_handle, data=st.binary(max_size=64), locality=localities)
pcr_reset = st.builds(ops.PcrReset, pcr=pcr_index, locality=localities)


@st.composite
def pcr_selection(draw, algs=HASH_ALGS):
    banks = draw(st.lists(st.sampled_from(algs), min_size=1, max_size=4, unique=True))
    return tuple(
        (int(alg), tuple(sorted(draw(st.sets(st.integers(0, 23), min_size=1, max_size=12)))))
        for alg in banks
    )


pcr_read = st.builds(ops.PcrRead, selection=pcr_selection(), locality=localities)
get_random = st.builds(ops.GetRandom, size=st.integers(0, 80), locality=localities)
get_capability = st.one_of(
    st.builds(ops.GetCapability, capability=st.just(int(TPM_CAP.TPM_CAP_PCRS)),
              prop=st.just(0), count=st.integers(1, 8), locality=localities),
    st.builds(ops.GetCapability, capability=st.just(int(TPM_CAP.TPM_CAP_TPM_PROPERTIES)),
              prop=st.sampled_from([int(TPM_PT.TPM_PT_FAMILY_INDICATOR), int(TPM_PT.TPM_PT_LEVEL),
                                    int(TPM_PT.TPM_PT_PCR_COUNT), int(TPM_PT.TPM_PT_PCR_SELECT_MIN),
                                    int(TPM_PT.TPM_PT_MAX_DIGEST), int(TPM_PT.TPM_PT_INPUT_BUFFER)]),
              count=st.just(1), locality=localities),
)
startup = st.builds(ops.Startup, su=st.sampled_from([int(TPM_SU.TPM_SU_CLEAR), int(TPM_SU.TPM_SU_STATE)]),
                    locality=st.sampled_from([0, 0, 3, 1, 2, 4]))
shutdown = st.builds(ops.Shutdown, su=st.sampled_from([int(TPM_SU.TPM_SU_CLEAR), int(TPM_SU.TPM_SU_STATE)]),
                     locality=localities)

tpm_command = st.one_of(
    pcr_extend, pcr_extend, pcr_reset, pcr_reset, pcr_event, pcr_read, get_random,
    get_capability, startup, shutdown,
)

# --- malformed commands ------------------------------------------------------

_HDR = struct.Struct(">HII")
_IMPLEMENTED = {int(cc) for cc in TPM_CC}


def _header(tag: int, size: int, cc: int) -> bytes:
    return _HDR.pack(tag, size, cc)


@st.composite
def malformed_command(draw):
    """A command the TPM must refuse, labelled with its malformation class.

    Each class keeps the bytes invalid by construction (tag, size or command
    code), so no draw can be a valid command that changes state.
    """
    kind = draw(st.sampled_from(
        ["bad-tag", "size-larger", "size-smaller", "unknown-cc", "short", "zero-length",
         "random-header"]))
    locality = draw(localities)
    body = draw(st.binary(max_size=24))
    cc = draw(st.sampled_from(sorted(_IMPLEMENTED)))
    if kind == "bad-tag":
        tag = draw(st.integers(0, 0xFFFF).filter(lambda t: t not in (0x8001, 0x8002)))
        data = _header(tag, 10 + len(body), cc) + body
    elif kind == "size-larger":
        data = _header(0x8001, 10 + len(body) + draw(st.integers(1, 5000)), cc) + body
    elif kind == "size-smaller":
        body = body or b"\0"
        data = _header(0x8001, draw(st.integers(0, 9 + len(body))), cc) + body
    elif kind == "unknown-cc":
        unknown = draw(st.integers(0, 0xFFFFFFFF).filter(lambda c: c not in _IMPLEMENTED))
        data = _header(draw(st.sampled_from([0x8001, 0x8002])), 10 + len(body), unknown) + body
    elif kind == "short":
        data = draw(st.binary(min_size=1, max_size=9))
    elif kind == "zero-length":
        data = b""
    else:  # random-header: a random 10-byte header whose size field is wrong
        raw = draw(st.binary(min_size=10, max_size=10))
        tag, size, code = _HDR.unpack(raw)
        if size == 10 + len(body):
            size += 1
        data = _header(tag, size, code) + body
    return ops.Raw(data=data, kind=kind, locality=locality)
