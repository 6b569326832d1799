"""Verification of a binary list in one pass over its bytes (issue 5: as fast as evmctl).

``verify(parse_binary(data), quote)`` first holds the whole list (100,000s of
entries, a copy of every template data) and then reads it again per bank;
here each entry is parsed, checked and hashed for every bank while its data
is still in cache, and then dropped.  What is verified is the same: every
logged SHA-1 template digest against its data (all zero: a violation), every
quoted bank replayed from zero over every entry (replay.py's extend models),
all banks on one prefix.

This pass decides the usual case only: the legacy (sha1) list, each bank
replayed with its preferred model, all banks matching a common prefix.
Anything else (an entry whose digest does not fit, a bank that matches no
prefix with its preferred model, the banks on different prefixes, a per-bank
list) is left to :func:`verify` on the parsed list, so the verdict, reason
and ``bad_entry`` included, is always :func:`verify`'s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from models.ima.banks import BANK_DIGEST_SIZE, bank_name
from models.ima.binary_list import iter_binary, parse_binary
from models.ima.entry import ImaEntry
from models.ima.replay import IMA_PCR, LEGACY_PADDED_SHA1, PER_BANK, hash_input, pcr_values, positions
from models.ima.verifier import Verdict, check_quote, model_candidates, verified, verify

_SHA1_SIZE = 20


def verify_binary(data: bytes, quote: Mapping[str | int, bytes], *, byteorder: str = "little",
                  model: str | Mapping[str | int, str] | None = None, pcr: int = IMA_PCR,
                  log_bank: str | int = "sha1") -> Verdict:
    """``verify(parse_binary(data, byteorder=byteorder, bank=log_bank), quote, ...)``, in one pass.

    ImaLogError for a malformed list, as :func:`parse_binary`; misuse of
    ``quote`` or ``model`` fails before the list is read.
    """
    values = check_quote(quote, "quote", pcr)
    preferred = {bank: tried[0] for bank, tried in model_candidates(model, values).items()}
    if bank_name(log_bank) == "sha1":
        found = _one_pass(iter_binary(data, byteorder=byteorder), values, preferred, pcr)
        if found is not None:
            k, n = found
            return verified(pcr, preferred, k, n)
    return verify(parse_binary(data, byteorder=byteorder, bank=log_bank), quote, model=model, pcr=pcr,
                  log_bank=log_bank)


def _one_pass(entries: Iterable[ImaEntry], values: dict[str, bytes], models: dict[str, str],
              pcr: int) -> tuple[int, int] | None:
    """(longest prefix every bank matches, entries), or None when :func:`verify` must decide."""
    sha1 = hashlib.sha1
    zero = bytes(_SHA1_SIZE)
    template_hashes: list[bytes] = []
    add_template_hash = template_hashes.append
    # Banks replayed with their own hash of the data: that hash per entry, computed in this pass.
    own = {bank: [] for bank, model in models.items() if bank != "sha1" and model == PER_BANK}
    own_hashes = [(getattr(hashlib, bank), digests.append) for bank, digests in own.items()]
    violations: list[int] = []
    other_pcrs: list[int] = []
    for entry in entries:
        entry_pcr, logged, name, data = entry
        if name == "ima":
            data = hash_input(entry)
        template_hash = sha1(data).digest()
        if template_hash != logged:
            if logged != zero:
                return None  # edited: verify names the entry
            violations.append(len(template_hashes))
        if entry_pcr != pcr:
            other_pcrs.append(len(template_hashes))
        add_template_hash(template_hash)
        for new, add in own_hashes:
            add(new(data).digest())
    n = len(template_hashes)
    common: set[int] | None = None
    for bank, model in models.items():
        size = BANK_DIGEST_SIZE[bank]
        if bank in own:
            digests = own[bank]
        else:
            padding = bytes(size - _SHA1_SIZE)
            digests = [d + padding for d in template_hashes] if padding else list(template_hashes)
        violation = (b"\xff" * _SHA1_SIZE).ljust(size, b"\0") if model == LEGACY_PADDED_SHA1 else b"\xff" * size
        for index in violations:
            digests[index] = violation
        for index in other_pcrs:
            digests[index] = None
        found = set(positions(pcr_values(digests, bank), values[bank]))
        common = found if common is None else common & found
        if not common:
            return None
    return max(common), n
