"""What a TPM holds after IMA extends, computed independently for the tests' expectations.

Written from ../shared/notes/ima.md (sections 4, 5, 7) with hashlib only, and
deliberately not importing models.ima.replay or the verifier: the expected
values the tests compare against must not come from the code under test.
"""

from __future__ import annotations

import hashlib

SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}
PER_BANK, PADDED_SHA1, LEGACY_PADDED_SHA1 = "per-bank", "padded-sha1", "legacy-padded-sha1"
MODELS = (PER_BANK, PADDED_SHA1, LEGACY_PADDED_SHA1)


def hashed_data(entry) -> bytes:
    """The template hash input: the data as logged; for ``ima`` digest + name NUL-padded to 256."""
    if entry.template_name == "ima":
        data = entry.template_data
        return data[:20] + data[20:] + bytes(256 - len(data[20:]))
    return entry.template_data


def is_violation(entry) -> bool:
    return entry.template_digest == bytes(len(entry.template_digest))


def extend_value(entry, bank: str, model: str) -> bytes:
    """What the kernel extends into ``bank`` for ``entry`` (notes section 4-5; a pre-5.8
    kernel extends one 20-byte value that the driver zero-pads into every bank)."""
    if is_violation(entry):
        if model == LEGACY_PADDED_SHA1:
            return b"\xff" * 20 + bytes(SIZES[bank] - 20)
        return b"\xff" * SIZES[bank]
    if model == PER_BANK:
        return hashlib.new(bank, hashed_data(entry)).digest()
    return hashlib.sha1(hashed_data(entry)).digest() + bytes(SIZES[bank] - 20)


def extend_sequence(entries, bank: str, model: str, pcr: int = 10) -> list[bytes]:
    """The digests extended into ``pcr`` of ``bank``, in order."""
    return [extend_value(e, bank, model) for e in entries if e.pcr == pcr]


def chain(sequence, bank: str, start: bytes | None = None) -> bytes:
    value = bytes(SIZES[bank]) if start is None else start
    for digest in sequence:
        value = hashlib.new(bank, value + digest).digest()
    return value


def history_quote(history) -> dict[str, bytes]:
    """PCR10 per bank of the TPM of a single-TPM history."""
    extended = history.entries[:history.extended]
    return {b: chain(extend_sequence(extended, b, history.models[b]), b) for b in history.banks}


def split_sequences(history) -> tuple[dict, dict]:
    """Per bank, what each TPM of a split history received: (pTPM sequence, vTPM sequence
    from zero), where the vTPM's mirrored start counts as the sequence that produced it."""
    e, m = history.entries, history.models
    ptpm = {b: extend_sequence(e[:history.split], b, m[b]) for b in history.ptpm_banks}
    vtpm = {b: extend_sequence(e[:history.mirrored], b, m[b]) + extend_sequence(e[history.split:history.extended],
                                                                                b, m[b])
            for b in history.vtpm_banks}
    return ptpm, vtpm
