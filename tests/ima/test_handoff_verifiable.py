"""HANDOFF-VERIFIABLE and IMA-REPLAY: the verifier accepts every honest history and rejects every altered one.

Each example draws an honest history (one TPM, or pTPM then vTPM with events
during the switch), computes the TPMs' PCR10 values independently
(tests/ima/independent.py, hashlib only), checks the verifier accepts them
and that what it reports is true, then alters the history one way and checks
the verdict again.

Why the altered verdict is compared with an oracle instead of always "reject":
some alterations cannot change what any verifier sees.  A TPM binds only the
sequence of digests extended into it, so swapping two violations (both extend
0xFF..FF), dropping a violation from a run of them when the log runs ahead,
or editing an entry no TPM has received yet leaves every PCR explainable.
The generator aims at real changes (positions inside the part the TPMs hold,
entries of PCR 10, swaps of entries with different digests), and
``explainable`` below decides, from sequences of extended digests rather
than hash chains, whether the altered evidence could still come from an
honest kernel; the verifier must agree exactly.  Hypothesis ``event``s count
how many alterations were real; the profile (ci ~200, certify 10,000)
decides how many histories run.
"""

from __future__ import annotations

import hashlib
import itertools
import struct

import pytest
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

from harness.strategies.ima import ima_histories, split_histories
from models.ima import StartMode, verify, verify_split
from tests.ima.independent import MODELS, PADDED_SHA1, PER_BANK, SIZES, chain, extend_sequence, extend_value, \
    hashed_data, history_quote, is_violation, split_sequences

pytestmark = pytest.mark.requirements("HANDOFF-VERIFIABLE", "IMA-REPLAY")

# The wrong digest a buggy TPM stack might extend into a bank: another algorithm's hash, resized.
_OTHER_ALGORITHM = {"sha1": "sha256", "sha256": "sha384", "sha384": "sha512", "sha512": "sha384"}


# --- the oracle: sequences, not hash chains ---------------------------------

def _consistent(entries) -> bool:
    """Every logged digest is zero (violation) or the SHA-1 of the hashed data."""
    return all(is_violation(e) or e.template_digest == hashlib.sha1(hashed_data(e)).digest() for e in entries)


def _model_choices(banks):
    choices = [[PER_BANK] if b == "sha1" else MODELS for b in banks]
    return [dict(zip(banks, combo)) for combo in itertools.product(*choices)]


def _sequences(entries, banks):
    """Per (bank, model), the PCR-10 digests of ``entries``, computed once."""
    return {(b, m): extend_sequence(entries, b, m) for b in banks for m in MODELS}


def explainable_single(entries, tpm: dict[str, list[bytes]]) -> bool:
    """Could an honest kernel have written ``entries`` with the TPM holding these sequences?
    (Some prefix of the PCR-10 digests equals every bank's sequence, one model per bank.)"""
    if not _consistent(entries):
        return False
    lengths = {len(seq) for seq in tpm.values()}
    if len(lengths) != 1:
        return False
    (count,) = lengths
    seqs = _sequences(entries, list(tpm))
    return any(all(len(seqs[b, models[b]]) >= count and seqs[b, models[b]][:count] == seq
                   for b, seq in tpm.items())
               for models in _model_choices(list(tpm)))


def explainable_split(entries, ptpm: dict, vtpm: dict, start: StartMode) -> bool:
    """The same for a split history, in counts of PCR-10 entries: the pTPM holds the first
    ``p``; MIRROR: the vTPM holds the first ``j <= p`` then the ones from ``p`` on (a PCR
    value fixes only the concatenation); REPLAY: the vTPM holds the first ``c >= p``."""
    if not _consistent(entries):
        return False
    p_lengths = {len(seq) for seq in ptpm.values()}
    v_lengths = {len(seq) for seq in vtpm.values()}
    if len(p_lengths) != 1 or len(v_lengths) != 1:
        return False
    (p,), (v,) = p_lengths, v_lengths
    banks = list(dict.fromkeys([*ptpm, *vtpm]))
    all_seqs = _sequences(entries, banks)
    for models in _model_choices(banks):
        seqs = {b: all_seqs[b, models[b]] for b in banks}
        m = len(seqs[banks[0]])
        if p > m or any(seqs[b][:p] != seq for b, seq in ptpm.items()):
            continue
        if start is StartMode.REPLAY:
            if p <= v <= m and all(seqs[b][:v] == seq for b, seq in vtpm.items()):
                return True
            continue
        for j in range(p + 1):
            end = p + v - j  # the vTPM holds j before the split and v - j after it
            if p <= end <= m and all(seqs[b][:j] + seqs[b][p:end] == seq for b, seq in vtpm.items()):
                return True
    return False


# --- alterations -------------------------------------------------------------

def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01 or 0x02]) + data[at + 1:]


def _resealed(entry, template_data: bytes):
    """A consistent forgery: new data, template digest recomputed (violations stay zero)."""
    new = entry._replace(template_data=template_data)
    return new if is_violation(entry) else new._replace(template_digest=hashlib.sha1(hashed_data(new)).digest())


def _file_digest_offset(entry) -> int:
    """Offset of the last byte of the file digest (first field) in the template data."""
    if entry.template_name == "ima":
        return 19
    (length,) = struct.unpack_from("<I", entry.template_data, 0)
    return 4 + length - 1


def _name_offset(entry) -> int:
    """Offset of the first byte of the file name (second field) in the template data."""
    if entry.template_name == "ima":
        return 20
    (length,) = struct.unpack_from("<I", entry.template_data, 0)
    return 4 + length + 4


def _key(entry):
    """What PCR 10 receives for an entry, model-free: nothing, 0xFF, or its data's hash."""
    return None if entry.pcr != 10 else "ff" if is_violation(entry) else entry.template_digest


def _pick(data, indices, label):
    indices = list(indices)
    return data.draw(st.sampled_from(indices), label=label) if indices else None


def alter(data, entries, attested: int, tpms: dict[str, dict], *, split: int | None = None):
    """One alteration of an honest history: the altered list and TPM sequences, and its kind.

    Positions are drawn from the part the TPMs hold (``attested`` entries), PCR-10 entries
    where it matters, so that most alterations change what the TPMs bind."""
    entries = list(entries)
    pcr10 = [i for i in range(attested) if entries[i].pcr == 10]
    real = [i for i in pcr10 if not is_violation(entries[i])]
    kinds = []
    if pcr10:
        kinds += ["dropped", "duplicated", "truncated", "wrong PCR"]
    if real:
        kinds += ["altered file digest", "altered path", "altered template digest"]
    if any(_key(entries[i]) != _key(entries[j]) for i in pcr10 for j in range(len(entries))):
        kinds.append("reordered")
    if any(seq for bank_seqs in tpms.values() for seq in bank_seqs.values()):
        kinds.append("wrong bank")
    if split is not None and 0 < split < attested:
        kinds.append("moved across the split")
    if not kinds:
        return None
    kind = data.draw(st.sampled_from(kinds), label="alteration")
    tpms = {name: dict(seqs) for name, seqs in tpms.items()}
    if kind == "dropped":
        i = _pick(data, pcr10, "drop")
        del entries[i]
    elif kind == "duplicated":
        # A copy of the last entry the TPMs hold would sit where an appended, not yet
        # extended entry sits: indistinguishable, so copy an earlier one when there is one.
        i = _pick(data, pcr10[:-1] or pcr10, "duplicate")
        entries.insert(i + 1, entries[i])
    elif kind == "truncated":
        # Cut before some PCR-10 entry the TPMs hold: the list is now behind them.
        entries = entries[:_pick(data, pcr10, "cut before")]
    elif kind == "wrong PCR":
        i = _pick(data, pcr10, "entry")
        entries[i] = entries[i]._replace(pcr=11)  # the PCR is not hashed: digest stays consistent
    elif kind == "altered file digest":
        i = _pick(data, real, "entry")
        entries[i] = _resealed(entries[i], _flip(entries[i].template_data, _file_digest_offset(entries[i])))
    elif kind == "altered path":
        i = _pick(data, real, "entry")
        entries[i] = _resealed(entries[i], _flip(entries[i].template_data, _name_offset(entries[i])))
    elif kind == "altered template digest":
        i = _pick(data, real, "entry")
        entries[i] = entries[i]._replace(template_digest=_flip(entries[i].template_digest, 0))
    elif kind == "reordered":
        i = _pick(data, pcr10, "swap")
        j = _pick(data, [j for j in range(len(entries)) if _key(entries[j]) != _key(entries[i])], "with")
        if j is None:
            return None
        entries[i], entries[j] = entries[j], entries[i]
    elif kind == "wrong bank":
        name = _pick(data, [n for n, seqs in tpms.items() if any(seqs.values())], "TPM")
        bank = _pick(data, [b for b, seq in tpms[name].items() if seq], "bank")
        seq = list(tpms[name][bank])
        at = _pick(data, range(len(seq)), "extend")
        wrong = hashlib.new(_OTHER_ALGORITHM[bank], seq[at]).digest()[:SIZES[bank]]
        seq[at] = wrong.ljust(SIZES[bank], b"\0")
        tpms[name][bank] = seq
    elif kind == "moved across the split":
        if data.draw(st.booleans(), label="pTPM entry to the vTPM side"):
            i = _pick(data, range(split), "entry")
            entry = entries.pop(i)
            entries.insert(_pick(data, range(split, attested), "to"), entry)
        else:
            i = _pick(data, range(split, attested), "entry")
            entry = entries.pop(i)
            entries.insert(_pick(data, range(split), "to"), entry)
    return kind, entries, tpms


# --- the properties ------------------------------------------------------------

def _longest(entries, k: int, limit: int) -> int:
    """``k`` moved past entries of other PCRs (they do not change PCR 10), up to ``limit``."""
    while k < limit and entries[k].pcr != 10:
        k += 1
    return k


@settings(deadline=None)
@given(history=ima_histories(), data=st.data())
def test_single_tpm_histories(history, data):
    entries, n = list(history.entries), len(history.entries)
    quote = history_quote(history)
    verdict = verify(entries, quote)
    note(f"honest: {verdict}")
    assert verdict.ok, verdict.reason
    assert verdict.matched_prefix == _longest(entries, history.extended, n)
    assert verdict.trailing == n - verdict.matched_prefix
    # The model named per bank extends what the kernel's did (models may coincide on a list).
    attested = entries[:history.extended]
    assert all(extend_sequence(attested, b, verdict.models[b]) == extend_sequence(attested, b, m)
               for b, m in history.models.items())
    assert verify(entries, quote, model=history.models).ok

    tpm = {b: extend_sequence(entries[:history.extended], b, history.models[b]) for b in history.banks}
    altered = alter(data, entries, history.extended, {"tpm": tpm})
    if altered is None:
        event("no alteration applies (empty attested part)")
        return
    kind, entries2, tpms2 = altered
    quote2 = {b: chain(seq, b) for b, seq in tpms2["tpm"].items()}
    expected = explainable_single(entries2, tpms2["tpm"])
    event(f"{kind}: {'no-op' if expected else 'real change'}")
    verdict2 = verify(entries2, quote2)
    note(f"altered ({kind}): {verdict2}")
    assert verdict2.ok == expected, f"{kind}: verifier says {verdict2.reason}"


@settings(deadline=None)
@given(history=split_histories(), data=st.data())
def test_split_histories(history, data):
    entries, n = list(history.entries), len(history.entries)
    ptpm_seqs, vtpm_seqs = split_sequences(history)
    ptpm = {b: chain(seq, b) for b, seq in ptpm_seqs.items()}
    vtpm = {b: chain(seq, b) for b, seq in vtpm_seqs.items()}
    verdict = verify_split(entries, ptpm, vtpm, history.start)
    note(f"honest: {verdict}")
    assert verdict.ok, verdict.reason
    assert verdict.trailing == n - verdict.matched_prefix
    # What the verdict claims must explain both quotes (checked independently).  The counts
    # need not be the history's own: e.g. a violation in the window and one after the split
    # extend the same 0xFF, so two mirror points can explain the same vTPM value.
    s, k = verdict.split, verdict.matched_prefix
    assert 0 <= s <= k <= n
    models = verdict.models
    assert all(chain(extend_sequence(entries[:s], b, models[b]), b) == v for b, v in ptpm.items())
    if history.start is StartMode.MIRROR:
        j = verdict.mirrored
        assert j is not None and 0 <= j <= s
        assert all(chain(extend_sequence(entries[:j], b, models[b]) + extend_sequence(entries[s:k], b, models[b]),
                         b) == v for b, v in vtpm.items())
    else:
        assert all(chain(extend_sequence(entries[:k], b, models[b]), b) == v for b, v in vtpm.items())

    altered = alter(data, entries, history.extended, {"ptpm": ptpm_seqs, "vtpm": vtpm_seqs},
                    split=history.split)
    if altered is None:
        event("no alteration applies (empty attested part)")
        return
    kind, entries2, tpms2 = altered
    ptpm2 = {b: chain(seq, b) for b, seq in tpms2["ptpm"].items()}
    vtpm2 = {b: chain(seq, b) for b, seq in tpms2["vtpm"].items()}
    expected = explainable_split(entries2, tpms2["ptpm"], tpms2["vtpm"], history.start)
    event(f"{kind}: {'no-op' if expected else 'real change'}")
    verdict2 = verify_split(entries2, ptpm2, vtpm2, history.start)
    note(f"altered ({kind}): {verdict2}")
    assert verdict2.ok == expected, f"{kind}: verifier says {verdict2.reason}"


def test_oracle_sees_a_mirror_window_a_replay_start_cannot_explain():
    """Guards the oracle itself: entries measured during the switch are in the pTPM only,
    which MIRROR explains and REPLAY (the vTPM replays everything the pTPM holds) does not."""
    from models.ima import digest_field, measure, name_field

    entries = [measure("ima-ng", [digest_field("sha256", bytes([i]) * 32), name_field(b"/f%d" % i)])
               for i in range(4)]
    ptpm = {"sha256": extend_sequence(entries[:3], "sha256", PER_BANK)}
    vtpm = {"sha256": extend_sequence(entries[:2], "sha256", PER_BANK) +
            extend_sequence(entries[3:], "sha256", PER_BANK)}
    assert explainable_split(entries, ptpm, vtpm, StartMode.MIRROR)
    assert not explainable_split(entries, ptpm, vtpm, StartMode.REPLAY)
    assert extend_value(entries[0], "sha256", PER_BANK) != extend_value(entries[0], "sha256", PADDED_SHA1)
