"""The reference verifier: does a measurement list explain the quoted PCR values?

Rules it enforces, and why:

- The kernel appends an entry before extending it, one pair at a time
  (``ima_add_template_entry`` under ``ima_extend_list_mutex``), so the list
  may run ahead of the PCR but never behind: a quote must equal the replay of
  some prefix; the entries after it are reported as trailing.
- One quote reads all its banks at once (TPM2_Quote / TPM2_PCR_Read over
  several banks), and one TPM2_PCR_Extend carries every bank, so all banks of
  a TPM must match the same prefix.  (evmctl matches each bank on its own.)
- Every logged template digest must be the SHA-1 template hash of its data
  (or, in a per-bank list, the digest that bank was extended with); an
  all-zero digest marks a violation, extended as 0xFF.  A digest that fits
  neither proves the list was edited, wherever the entry is.
- A bank's extend model (``per-bank``, ``padded-sha1``, ``legacy-padded-sha1``,
  see replay.py) is a property of the kernel that wrote the list: given, or
  tried in turn, but the same for every entry and for every TPM holding that
  bank.

Split histories (DESIGN.md, architecture 1): dom0 first extends the pTPM's
PCR, then switches to its own vTPM; the pTPM quote must explain the first
``split`` entries and the vTPM quote the rest.  How the vTPM's PCR began:

- ``StartMode.MIRROR``: at its start the vTPM copied the pTPM's PCR (each
  bank from the same bank), which then held the first ``mirrored`` entries;
  entries measured between that copy and dom0's switch went to the pTPM only.
  vTPM = extend(pTPM after ``mirrored``, entries ``split`` ... ``matched_prefix``),
  ``mirrored <= split``.
- ``StartMode.REPLAY``: the vTPM started from zero and, at the switch, the
  entries the pTPM held were replayed into it before any later entry.
  vTPM = replay of the first ``matched_prefix`` entries, ``split <= matched_prefix``.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from models.ima.banks import BANK_DIGEST_SIZE, bank_name
from models.ima.entry import ImaEntry
from models.ima.replay import EXTEND_MODELS, IMA_PCR, PADDED_SHA1, PER_BANK, check_model, extend_digests, \
    hash_input, hash_inputs, pcr_values, positions


class StartMode(enum.Enum):
    """How the vTPM's PCR began (the scenario declares it; see the module docstring)."""

    MIRROR = "mirror"
    REPLAY = "replay"


@dataclass(frozen=True)
class Verdict:
    """Verified or not, with the reason and what the PCR values cover.

    ``matched_prefix``: entries explained by the (last) TPM's PCR; ``trailing``:
    entries after them, appended but not yet extended.  Both are 0 when not
    ``ok``.  ``models``: the extend model that matched, per bank.  Split
    histories also give ``split`` (entries in the pTPM) and, for MIRROR,
    ``mirrored`` (entries in the value the vTPM copied).  ``bad_entry``: the
    index of the first entry that by itself proves the list edited, if any.
    Counts are the longest that fit (entries for other PCRs change nothing).
    """

    ok: bool
    reason: str
    matched_prefix: int = 0
    trailing: int = 0
    models: dict[str, str] = field(default_factory=dict)
    split: int | None = None
    mirrored: int | None = None
    bad_entry: int | None = None


def check_quote(values: Mapping[str | int, bytes], who: str, pcr: int) -> dict[str, bytes]:
    """``values`` as bank name -> PCR value; misuse (no banks, a wrong size) fails here."""
    if not isinstance(values, Mapping) or not values:
        raise ValueError(f"{who}: give PCR{pcr} values as a non-empty mapping bank -> bytes")
    quote = {}
    for bank, value in values.items():
        name = bank_name(bank)
        if not isinstance(value, bytes) or len(value) != BANK_DIGEST_SIZE[name]:
            raise ValueError(f"{who}: the {name} PCR{pcr} value must be {BANK_DIGEST_SIZE[name]} bytes, "
                             f"got {value!r:.80}")
        quote[name] = value
    return quote


def model_candidates(model: str | Mapping[str | int, str] | None, banks) -> dict[str, tuple[str, ...]]:
    """Per bank, the extend models to try, preferred first (SHA-1: all are one)."""
    if model is None:
        given = {}
    elif isinstance(model, str):
        given = {bank: check_model(model) for bank in banks}
    else:
        given = {bank_name(bank): check_model(m) for bank, m in model.items()}
    candidates = {}
    for bank in banks:
        if bank in given:
            candidates[bank] = (given[bank],)
        else:
            candidates[bank] = (PER_BANK,) if bank == "sha1" else EXTEND_MODELS
    return candidates


def _describe(entries: Sequence[ImaEntry], index: int) -> str:
    entry = entries[index]
    return f"entry {index} ({entry.template_name}, PCR {entry.pcr})"


class _Log:
    """One verification's view of the list: checked digests, and chains computed once."""

    def __init__(self, entries: Sequence[ImaEntry], pcr: int, log_bank: str):
        self.entries = entries
        self.pcr = pcr
        self.log_bank = log_bank
        self.sha1: list[bytes] | None = None
        self.log_model: str | None = None
        self._digests: dict[tuple[str, str], list] = {}
        self._chains: dict[tuple[str, str], list[bytes]] = {}

    def first_edited(self) -> tuple[int, str] | None:
        """The first entry whose logged digest fits neither its data nor a violation."""
        entries = self.entries
        size = BANK_DIGEST_SIZE[self.log_bank]
        zero = bytes(size)
        if self.log_bank == "sha1":
            sha1 = hashlib.sha1
            computed = [sha1(data).digest() for data in hash_inputs(entries)]
            logged = [e.template_digest for e in entries]
            if logged != computed:  # violations, or an edit
                for index, (digest, own) in enumerate(zip(logged, computed)):
                    if digest != own and digest != zero:
                        return index, "its template digest is not the SHA-1 of its template data"
            self.sha1 = computed
            return None
        own = getattr(hashlib, self.log_bank)
        sha1 = hashlib.sha1
        padding = bytes(size - 20)
        for index, entry in enumerate(entries):
            digest = entry.template_digest
            if len(digest) != size:
                return index, f"its digest has {len(digest)} bytes in a {self.log_bank} list"
            if digest == zero:
                continue
            data = hash_input(entry)
            fits = ([PER_BANK] if digest == own(data).digest() else []) + \
                   ([PADDED_SHA1] if digest == sha1(data).digest() + padding else [])
            if not fits:
                return index, f"its digest is neither the {self.log_bank} nor the padded SHA-1 template hash"
            if self.log_model is None:
                self.log_model = fits[0]
            elif self.log_model not in fits:
                return index, f"its digest follows {fits[0]} while earlier entries follow {self.log_model}"
        return None

    def digests(self, bank: str, model: str) -> list:
        key = (bank, model)
        if key not in self._digests:
            self._digests[key] = extend_digests(self.entries, bank, model, pcr=self.pcr, sha1_digests=self.sha1)
        return self._digests[key]

    def chain(self, bank: str, model: str) -> list[bytes]:
        """PCR values after 0, 1, ..., n entries."""
        key = (bank, model)
        if key not in self._chains:
            self._chains[key] = pcr_values(self.digests(bank, model), bank)
        return self._chains[key]

    def matches(self, bank: str, model: str, value: bytes) -> list[int]:
        return positions(self.chain(bank, model), value)

    def candidates(self, model, banks) -> dict[str, tuple[str, ...]]:
        candidates = model_candidates(model, banks)
        if self.log_model is not None and self.log_bank in candidates:
            # A per-bank list shows which model its bank used.
            candidates[self.log_bank] = tuple(m for m in candidates[self.log_bank] if m == self.log_model)
        return candidates


def _prepare(entries, pcr: int, log_bank: str | int) -> tuple[_Log, Verdict | None]:
    if not isinstance(entries, Sequence):
        raise TypeError(f"entries must be a sequence of ImaEntry, not {type(entries).__name__}")
    log = _Log(entries, pcr, bank_name(log_bank))
    edited = log.first_edited()
    if edited:
        index, why = edited
        return log, Verdict(False, f"{_describe(entries, index)} was edited: {why}", bad_entry=index)
    return log, None


def _longest_at_most(indices, limit: int) -> int:
    return max(i for i in indices if i <= limit)


def _entries(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"


def _models_text(models: Mapping[str, str]) -> str:
    return ", ".join(f"{bank} {model}" for bank, model in models.items())


def verify(entries: Sequence[ImaEntry], quote: Mapping[str | int, bytes], *,
           model: str | Mapping[str | int, str] | None = None, pcr: int = IMA_PCR,
           log_bank: str | int = "sha1") -> Verdict:
    """Does one TPM's ``quote`` (bank -> PCR value) match a prefix of ``entries``?

    ``model``: one extend model for every bank, a mapping per bank, or None to
    try each per bank.  ``log_bank``: which list the entries came from
    (``sha1``: the legacy list; else a 6.10+ per-bank list).
    """
    values = check_quote(quote, "quote", pcr)
    log, failed = _prepare(entries, pcr, log_bank)
    if failed:
        return failed
    n = len(entries)
    models, common = {}, None
    for bank, tried in log.candidates(model, values).items():
        # Two models that both match agree on every digest of the matched prefix (else a
        # hash collision), so the first that matches is as good as any: per-bank preferred.
        for m in tried:
            found = log.matches(bank, m, values[bank])
            if found:
                models[bank] = m
                break
        else:
            return Verdict(False, f"the {bank} PCR{pcr} matches no prefix of the {n}-entry list "
                                  f"({' or '.join(tried)} model)")
        first = found[0]
        common = set(found) if common is None else common & set(found)
        if not common:
            return Verdict(False, f"the banks match different prefixes ({_models_text(models)}: the {bank} "
                                  f"bank after {_entries(first)}); one quote reads all banks at once")
    return verified(pcr, models, max(common), n)


def verified(pcr: int, models: dict[str, str], k: int, n: int) -> Verdict:
    """The verdict of :func:`verify` when every bank (``models``) matches the first ``k`` of ``n`` entries."""
    tail = f"; {_entries(n - k)} trailing, not yet extended" if k < n else ""
    return Verdict(True, f"PCR{pcr} ({_models_text(models)}) matches the first {_entries(k)} of {n}{tail}",
                   k, n - k, models)


def verify_split(entries: Sequence[ImaEntry], ptpm: Mapping[str | int, bytes], vtpm: Mapping[str | int, bytes],
                 start: StartMode, *, model: str | Mapping[str | int, str] | None = None, pcr: int = IMA_PCR,
                 log_bank: str | int = "sha1") -> Verdict:
    """Do the pTPM's and the vTPM's quotes together explain ``entries`` (architecture 1)?

    The list is split: the pTPM explains its first ``split`` entries, the
    vTPM (begun as ``start`` declares) the following ones; see the module
    docstring for the two start modes.  Arguments as for :func:`verify`.
    """
    if not isinstance(start, StartMode):
        raise ValueError(f"start must be StartMode.MIRROR or StartMode.REPLAY, not {start!r}")
    p_values = check_quote(ptpm, "pTPM quote", pcr)
    v_values = check_quote(vtpm, "vTPM quote", pcr)
    log, failed = _prepare(entries, pcr, log_bank)
    if failed:
        return failed
    n = len(entries)
    # Models that extend a bank identically (no violations: both padded ones) are one candidate.
    candidates = {bank: _distinct(log, bank, models)
                  for bank, models in log.candidates(model, {**p_values, **v_values}).items()}
    reason = ""
    for combo in itertools.product(*candidates.values()):
        models = dict(zip(candidates, combo))
        splits = None
        for bank, value in p_values.items():
            found = set(log.matches(bank, models[bank], value))
            splits = found if splits is None else splits & found
        if not splits:
            reason = reason or f"the pTPM's PCR{pcr} ({_models_text(models)}) matches no prefix of the list"
            continue
        if start is StartMode.REPLAY:
            found = _replay_start(log, models, v_values, min(splits))
        else:
            found = _mirror_start(log, models, v_values, min(splits))
        if found is None:
            reason = (f"the pTPM explains the first {_entries(min(splits))} but the vTPM's PCR{pcr} "
                      f"({_models_text(models)}) is not explained by any {start.value} start after them")
            continue
        k, mirrored = found
        split = _longest_at_most(splits, k)
        if mirrored is not None:
            skipped = log.digests(next(iter(v_values)), models[next(iter(v_values))])
            while mirrored < split and skipped[mirrored] is None:
                mirrored += 1  # an entry for another PCR: the copied value is the same
        tail = f"; {_entries(n - k)} trailing, not yet extended" if k < n else ""
        start_text = f", the vTPM mirrored it after {_entries(mirrored)}" if mirrored is not None else ""
        return Verdict(True, f"the pTPM explains the first {_entries(split)}{start_text}, the vTPM the first "
                             f"{_entries(k)} of {n} ({_models_text(models)}){tail}",
                       k, n - k, models, split, mirrored)
    return Verdict(False, reason)


def _distinct(log: _Log, bank: str, models: tuple[str, ...]) -> tuple[str, ...]:
    kept: list[str] = []
    for m in models:
        if all(log.digests(bank, m) != log.digests(bank, k) for k in kept):
            kept.append(m)
    return tuple(kept)


def _replay_start(log: _Log, models, v_values, first_split: int) -> tuple[int, None] | None:
    """REPLAY: the vTPM's PCR is a plain replay covering at least the pTPM's entries."""
    common = None
    for bank, value in v_values.items():
        found = {i for i in log.matches(bank, models[bank], value) if i >= first_split}
        common = found if common is None else common & found
    return (max(common), None) if common else None


def _mirror_start(log: _Log, models, v_values, first_split: int) -> tuple[int, int] | None:
    """MIRROR: try each mirror point from the latest back (a short window is the usual
    case); for each, extend the entries from the split on and look for the quote.  The
    explanation covering the most entries wins: with an entry logged again after the split,
    a later mirror point may explain the quote with that entry left trailing, while the true
    one explains every entry (so the search goes on only while entries are left trailing)."""
    banks = list(v_values)
    skipped = log.digests(banks[0], models[banks[0]])  # None: an entry for another PCR
    best = None
    for mirrored in range(first_split, -1, -1):
        if mirrored < first_split and skipped[mirrored] is None:
            continue  # same PCR value as mirrored + 1, already tried
        common = None
        for bank in banks:
            model = models[bank]
            begin = log.chain(bank, model)[mirrored]
            tail = pcr_values(log.digests(bank, model)[first_split:], bank, begin)
            found = {first_split + t for t, v in enumerate(tail) if v == v_values[bank]}
            common = found if common is None else common & found
            if not common:
                break
        if common and (best is None or max(common) > best[0]):
            best = max(common), mirrored
            if best[0] == len(skipped):
                break
    return best
