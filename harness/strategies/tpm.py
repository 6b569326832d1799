"""Strategies that draw TPM 2.0 operations for the PCR / startup machines.

Draws are weighted towards what finds bugs: the locality-gated PCRs (16-23),
every locality 0-4, digests for allocated and unallocated banks, handles just
outside the valid range, and malformed commands of named classes.
"""

from __future__ import annotations

import struct

from hypothesis import strategies as st

from models import ops
from models.tpm import PROFILES
from models.tcg import DIGEST_SIZE, TPM_ALG, TPM_CAP, TPM_CC, TPM_PT, TPM_RH, TPM_SU

HASH_ALGS = (TPM_ALG.TPM_ALG_SHA1, TPM_ALG.TPM_ALG_SHA256, TPM_ALG.TPM_ALG_SHA384,
             TPM_ALG.TPM_ALG_SHA512)

# Weights are repeats in a sampled_from list: one_of() drops repeated strategies.
localities = st.integers(0, 4)
# Half of the draws hit the PCRs whose rules differ per locality.
pcr_index = st.sampled_from(list(range(24)) + list(range(16, 24)) * 3)
# Mostly valid PCRs, sometimes a handle just past PCR 23, sometimes TPM_RH_NULL.
pcr_handle = st.sampled_from(list(range(24)) * 2 + list(range(16, 24)) * 6
                             + list(range(24, 32)) + [int(TPM_RH.TPM_RH_NULL)] * 4)


# Every strategy is built once, at import: strategies made inside a draw are re-analysed
# by Hypothesis on every call, which dominated the machines' run time.
_HA = {alg: st.tuples(st.just(int(alg)), st.binary(min_size=DIGEST_SIZE[alg], max_size=DIGEST_SIZE[alg]))
       for alg in HASH_ALGS}
tpmt_ha = st.one_of(*_HA.values())
# A TPML_DIGEST_VALUES: one digest for some or all banks, each bank at most once.
digest_list = st.lists(tpmt_ha, min_size=1, max_size=4, unique_by=lambda ha: ha[0]).map(tuple)

# Resets of PCR 0-15 always fail; most draws go to the resettable, locality-gated ones.
reset_index = st.sampled_from(list(range(16, 24)) * 4 + list(range(16)))

pcr_extend = st.builds(ops.PcrExtend, pcr=pcr_handle, digests=digest_list, locality=localities)
pcr_event = st.builds(ops.PcrEvent, pcr=pcr_handle, data=st.binary(max_size=64), locality=localities)
pcr_reset = st.builds(ops.PcrReset, pcr=reset_index, locality=localities)


_pcr_set = st.sets(st.integers(0, 23), min_size=1, max_size=12).map(lambda pcrs: tuple(sorted(pcrs)))
# A TPML_PCR_SELECTION: one to four banks, each with some PCRs.
pcr_selection = st.lists(st.tuples(st.sampled_from([int(a) for a in HASH_ALGS]), _pcr_set),
                         min_size=1, max_size=4, unique_by=lambda sel: sel[0]).map(tuple)

pcr_read = st.builds(ops.PcrRead, selection=pcr_selection, locality=localities)
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
                    locality=st.sampled_from([0, 0, 0, 3, 3, 1, 2, 4]))
shutdown = st.builds(ops.Shutdown, su=st.sampled_from([int(TPM_SU.TPM_SU_CLEAR), int(TPM_SU.TPM_SU_STATE)]),
                     locality=localities)

# Weighted towards the commands whose effect depends on PCR and locality; the lifecycle
# (Startup/Shutdown) mostly comes from the machines' own reboot rules, and a stray
# Startup or Shutdown in a burst stays rare so the TPM spends its steps started.
_COMMAND_MIX = ([pcr_extend] * 6 + [pcr_reset] * 6 + [pcr_event] * 2 + [pcr_read] * 2
                + [get_random, get_capability, startup, shutdown])


tpm_command = st.sampled_from(_COMMAND_MIX).flatmap(lambda command: command)

# --- malformed commands ------------------------------------------------------

_HDR = struct.Struct(">HII")
# Codes some implementation executes: an "unknown" code must be none of them, or a draw
# could be a valid command (TPM2_ReadClock has no parameters at all).
_IMPLEMENTED = {int(cc) for cc in TPM_CC}.union(*(p.command_codes for p in PROFILES.values()))


def _header(tag: int, size: int, cc: int) -> bytes:
    return _HDR.pack(tag, size, cc)


_KINDS = st.sampled_from(["bad-tag", "size-larger", "size-smaller", "unknown-cc", "random-header"])
_BODY = st.binary(max_size=24)
# Header malformations carry a standard command code: vendor codes (swtpm's 0x20001000)
# are intercepted by some front ends before the header checks (see README, differences).
_CC = st.sampled_from(sorted(int(cc) for cc in TPM_CC))
_BAD_TAG = st.integers(0, 0xFFFF).filter(lambda t: t not in (0x8001, 0x8002))
_EXCESS = st.integers(1, 5000)
_UNKNOWN_CC = st.integers(0, 0xFFFFFFFF).filter(lambda c: c not in _IMPLEMENTED)
_TAG = st.sampled_from([0x8001, 0x8002])
_HEADER = st.binary(min_size=10, max_size=10)


@st.composite
def malformed_command(draw):
    """A command the TPM must refuse, labelled with its malformation class.

    Each class keeps the bytes invalid by construction (tag, size or command
    code), so no draw can be a valid command that changes state.  Frames
    shorter than a header are a transport matter, tried per target elsewhere.
    """
    kind = draw(_KINDS)
    locality = draw(localities)
    body = draw(_BODY)
    cc = draw(_CC)
    if kind == "bad-tag":
        data = _header(draw(_BAD_TAG), 10 + len(body), cc) + body
    elif kind == "size-larger":
        data = _header(0x8001, 10 + len(body) + draw(_EXCESS), cc) + body
    elif kind == "size-smaller":
        body = body or b"\0"
        data = _header(0x8001, draw(st.integers(0, 9 + len(body))), cc) + body
    elif kind == "unknown-cc":
        data = _header(draw(_TAG), 10 + len(body), draw(_UNKNOWN_CC)) + body
    else:  # random-header: a random 10-byte header whose size field is wrong
        tag, size, code = _HDR.unpack(draw(_HEADER))
        if size == 10 + len(body):
            size += 1
        data = _header(tag, size, code) + body
    return ops.Raw(data=data, kind=kind, locality=locality)
