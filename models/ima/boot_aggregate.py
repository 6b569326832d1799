"""The boot_aggregate: the first entry, binding the log to the boot PCRs.

Linux ``ima_crypto.c`` (``ima_calc_boot_aggregate``): the hash of PCR0-PCR7
for a SHA-1 bank, of PCR0-PCR9 for any other bank (PCR8/9 hold the boot
loader's measurements since Linux 5.8), computed over the bank of the
``ima_hash`` algorithm if the TPM has it, else SHA-256 if it has it, else SHA-1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence

from models.ima.banks import BANK_DIGEST_SIZE, bank_name

BOOT_AGGREGATE_NAME = b"boot_aggregate"


def boot_aggregate_bank(allocated_banks: Collection[str | int], ima_hash: str) -> str | None:
    """The bank the kernel computes the boot_aggregate over; None when it has none to
    use (no TPM, or none of these banks), and logs an all-zero boot_aggregate."""
    banks = {bank_name(b) for b in allocated_banks}
    for candidate in (ima_hash, "sha256", "sha1"):
        if candidate in banks:
            return candidate
    return None


def boot_aggregate(pcrs: Sequence[bytes], bank: str | int) -> bytes:
    """``H(PCR0 || ... || PCR7)`` for SHA-1, ``H(PCR0 || ... || PCR9)`` otherwise."""
    bank = bank_name(bank)
    count = 8 if bank == "sha1" else 10
    if len(pcrs) < count:
        raise ValueError(f"a {bank} boot_aggregate needs PCR0-PCR{count - 1}, got {len(pcrs)} values")
    size = BANK_DIGEST_SIZE[bank]
    for index, value in enumerate(pcrs[:count]):
        if len(value) != size:
            raise ValueError(f"PCR{index} has {len(value)} bytes, the {bank} bank {size}")
    return hashlib.new(bank, b"".join(pcrs[:count])).digest()
