"""PCR banks by name: the hash names IMA, evmctl and sysfs use (``pcr-sha256``).

Callers holding TCG algorithm IDs (``TPM_ALG_SHA256``) may pass those; both
become the hashlib name here, once, so the rest of the package sees one form.
"""

from __future__ import annotations

from models.tcg import HASHLIB_NAME

BANK_DIGEST_SIZE = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}


def bank_name(bank: str | int) -> str:
    """``"sha256"`` for ``"sha256"`` or ``TPM_ALG_SHA256``; anything else is misuse."""
    name = HASHLIB_NAME.get(bank) if isinstance(bank, int) else bank
    if name not in BANK_DIGEST_SIZE:
        raise ValueError(f"unknown PCR bank {bank!r}: expected one of {', '.join(BANK_DIGEST_SIZE)}")
    return name
