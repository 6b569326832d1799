"""Template hashes and PCR replay per bank, as the kernel extends them.

- Template hash input (``ima_crypto.c``, ``ima_calc_field_array_hash_tfm``):
  the template data as logged; for the ``ima`` template the 20-byte digest
  followed by the name NUL-padded to 256 bytes (no lengths).
- What a bank is extended with, three kernel behaviours (extend models):

  ``per-bank``  Linux 5.8+, a bank whose hash the kernel could allocate at IMA
                init: the bank's own hash of the input; violations 0xFF
                repeated for the bank size (``ima_queue.c``, ``ima_pcr_extend``).
  ``padded-sha1``  Linux 5.8+, a bank whose hash it could not allocate: the
                SHA-1 template hash zero-padded to the bank size; violations
                still 0xFF for the full bank size (observed on Debian 6.1).
  ``legacy-padded-sha1``  before 5.8: one 20-byte value (the SHA-1 template
                hash, or 0xFF x 20 for a violation) that the TPM driver
                zero-pads into every bank; evmctl's "SHA1 padded" model.

  The three agree on the SHA-1 bank.  Which one a bank used is not in the
  log: callers choose, or the verifier tries them in this order (evmctl
  tries per-bank and legacy padded).
- PCR extend (TPM 2.0 Part 1, 17.2): ``PCR := H(PCR || digest)``, from zeros.
  Entries for other PCRs (policy ``pcr=``) do not touch this one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from operator import itemgetter

from models.ima.banks import BANK_DIGEST_SIZE, bank_name
from models.ima.entry import ImaEntry
from models.ima.templates import IMA_DIGEST_SIZE

PER_BANK = "per-bank"
PADDED_SHA1 = "padded-sha1"
LEGACY_PADDED_SHA1 = "legacy-padded-sha1"
EXTEND_MODELS = (PER_BANK, PADDED_SHA1, LEGACY_PADDED_SHA1)

IMA_PCR = 10
"""CONFIG_IMA_MEASURE_PCR_IDX: the PCR of every entry without a policy ``pcr=``."""

_IMA_HASHED_NAME = 256  # IMA_EVENT_NAME_LEN_MAX + 1
_PCR, _DIGEST, _NAME, _DATA = (itemgetter(i) for i in range(4))  # ImaEntry fields, read at C speed


def check_model(model: str) -> str:
    if model not in EXTEND_MODELS:
        raise ValueError(f"extend model must be one of {', '.join(EXTEND_MODELS)}, not {model!r}")
    return model


def hash_input(entry: ImaEntry) -> bytes:
    """The bytes whose hash is the entry's template hash."""
    if entry.template_name == "ima":
        data = entry.template_data
        return data[:IMA_DIGEST_SIZE] + data[IMA_DIGEST_SIZE:].ljust(_IMA_HASHED_NAME, b"\0")
    return entry.template_data


def template_hash(entry: ImaEntry, algorithm: str | int = "sha1") -> bytes:
    """The template hash with ``algorithm`` (SHA-1: what the legacy list logs)."""
    return hashlib.new(bank_name(algorithm), hash_input(entry)).digest()


def hash_inputs(entries: Sequence[ImaEntry]) -> list[bytes]:
    """:func:`hash_input` of every entry (the template data itself but for ``ima``)."""
    if "ima" not in set(map(_NAME, entries)):
        return list(map(_DATA, entries))
    return [e[3] if e[2] != "ima" else hash_input(e) for e in entries]


def positions(values: list, value) -> list[int]:
    """Indices of ``value`` in ``values``, found by C-level scans (matches are few)."""
    found, at = [], -1
    for _ in range(values.count(value)):
        at = values.index(value, at + 1)
        found.append(at)
    return found


def extend_digests(entries: Sequence[ImaEntry], bank: str | int, model: str, *, pcr: int = IMA_PCR,
                   sha1_digests: Sequence[bytes] | None = None) -> list[bytes | None]:
    """Per entry of one list, the digest the kernel extends into ``bank`` of ``pcr``
    (None: an entry for another PCR).

    ``sha1_digests``, when given, are the entries' SHA-1 template hashes already
    computed (e.g. the legacy list's digests after checking them), saving a hash
    per entry for the SHA-1 bank and the padded model.
    """
    bank = bank_name(bank)
    check_model(model)
    size = BANK_DIGEST_SIZE[bank]
    if bank == "sha1" or model != PER_BANK:
        if sha1_digests is None:
            sha1 = hashlib.sha1
            sha1_digests = [sha1(data).digest() for data in hash_inputs(entries)]
        padding = bytes(size - 20)
        digests = [d + padding for d in sha1_digests] if padding else list(sha1_digests)
    else:
        new = getattr(hashlib, bank)
        digests = [new(data).digest() for data in hash_inputs(entries)]
    # Violations and other PCRs are rare: patch them in place of a pass in Python.
    zero = bytes(len(entries[0][1])) if entries else b""  # the entries of one list share a digest size
    violation = (b"\xff" * 20).ljust(size, b"\0") if model == LEGACY_PADDED_SHA1 else b"\xff" * size
    for index in positions(list(map(_DIGEST, entries)), zero):
        digests[index] = violation
    pcrs = list(map(_PCR, entries))
    if pcrs.count(pcr) != len(pcrs):
        for index, entry_pcr in enumerate(pcrs):
            if entry_pcr != pcr:
                digests[index] = None
    return digests


def pcr_values(digests: Sequence[bytes | None], bank: str | int, start: bytes | None = None) -> list[bytes]:
    """The PCR before the first digest and after each one (None digests leave it unchanged)."""
    bank = bank_name(bank)
    value = bytes(BANK_DIGEST_SIZE[bank]) if start is None else start
    if len(value) != BANK_DIGEST_SIZE[bank]:
        raise ValueError(f"start value of {len(value)} bytes for the {bank} bank")
    new = getattr(hashlib, bank)
    return [value] + [value := new(value + d).digest() if d is not None else value for d in digests]


def replay(entries: Sequence[ImaEntry], bank: str | int, model: str, *, pcr: int = IMA_PCR,
           start: bytes | None = None) -> bytes:
    """The value of ``pcr`` in ``bank`` after extending every entry, from ``start`` (zeros)."""
    return pcr_values(extend_digests(entries, bank, model, pcr=pcr), bank, start)[-1]
