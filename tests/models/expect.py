"""Independent expectations for the model tests: hashlib and the spec's constants.

Nothing here comes from models.tpm: expected values are computed the way the
specification states them, so a shared mistake cannot hide.
"""

from __future__ import annotations

import hashlib

SHA1, SHA256, SHA384, SHA512 = 0x0004, 0x000B, 0x000C, 0x000D  # TPM_ALG_ID (Part 2, Table 9)
ALGS = (SHA1, SHA256, SHA384, SHA512)
NAMES = {SHA1: "sha1", SHA256: "sha256", SHA384: "sha384", SHA512: "sha512"}
SIZES = {alg: hashlib.new(name).digest_size for alg, name in NAMES.items()}

# The semantics sheet's "ptp" table: PCR -> (reset mask, extend mask); 0-15 save, reset 0x00, extend 0x1F.
SHEET_MASKS = {**{pcr: (0x00, 0x1F) for pcr in range(16)},
               16: (0x0F, 0x1F), 17: (0x10, 0x1C), 18: (0x10, 0x1C), 19: (0x10, 0x0C),
               20: (0x14, 0x0E), 21: (0x14, 0x04), 22: (0x14, 0x04), 23: (0x0F, 0x1F)}
SHEET_NO_INCREMENT = {20, 21, 22}

RH_NULL = 0x40000007
RC_BAD_TAG = 0x01E
RC_VALUE = 0x084
RC_INITIALIZE = 0x100
RC_AUTH_MISSING = 0x125
RC_COMMAND_SIZE = 0x142
RC_COMMAND_CODE = 0x143
RC_VALUE_H1 = 0x184
RC_HASH_P1 = 0x1C3
RC_VALUE_P1 = 0x1C4
RC_SIZE_P1 = 0x1D5
RC_VALUE_P2 = 0x2C4
RC_HANDLE_P2 = 0x2CB
RC_LOCALITY = 0x907


def h(alg: int, data: bytes) -> bytes:
    return hashlib.new(NAMES[alg], data).digest()


def extended(alg: int, old: bytes, digest: bytes) -> bytes:
    """PCR_new = H_alg(PCR_old || digest) (Part 1, PCR extend)."""
    return h(alg, old + digest)


def zeros(alg: int) -> bytes:
    return bytes(SIZES[alg])


def ones(alg: int) -> bytes:
    return b"\xff" * SIZES[alg]
