"""Seeded bursts: many TPM commands from one drawn seed, at a small cost per command.

A Hypothesis draw costs tens of microseconds; a TPM round trip a few.  A
seeded burst draws only ``(seed, count)`` and expands them with a plain PRNG
into commands weighted like ``harness.strategies.tpm``.  Every command is
still checked and traced exactly; Hypothesis shrinks ``count`` (a shorter
prefix) and ``seed``, so a failure still ends at the command that failed.
"""

from __future__ import annotations

import random

from models import ops
from models.tcg import DIGEST_SIZE, TPM_ALG, TPM_CAP, TPM_PT, TPM_RH, TPM_SU

_ALGS = (int(TPM_ALG.TPM_ALG_SHA1), int(TPM_ALG.TPM_ALG_SHA256), int(TPM_ALG.TPM_ALG_SHA384),
         int(TPM_ALG.TPM_ALG_SHA512))
_SIZE = {int(alg): size for alg, size in DIGEST_SIZE.items()}
# Same weights as harness.strategies.tpm: the locality-gated PCRs 16-23 most of the time.
_HANDLES = tuple(list(range(24)) * 2 + list(range(16, 24)) * 6 + list(range(24, 32))
                 + [int(TPM_RH.TPM_RH_NULL)] * 4)
_RESETS = tuple(list(range(16, 24)) * 4 + list(range(16)))
_PROPERTIES = (int(TPM_PT.TPM_PT_FAMILY_INDICATOR), int(TPM_PT.TPM_PT_PCR_COUNT),
               int(TPM_PT.TPM_PT_PCR_SELECT_MIN), int(TPM_PT.TPM_PT_MAX_DIGEST))
_KINDS = ("extend",) * 6 + ("reset",) * 6 + ("event",) * 2 + ("read",) * 2 + (
    "random", "capability", "startup", "shutdown")


def seeded_commands(seed: int, count: int) -> list:
    """``count`` TPM commands drawn from ``seed`` (the same seed always gives the same list)."""
    rng = random.Random(seed)
    choice, randrange = rng.choice, rng.randrange
    out = []
    for _ in range(count):
        kind = choice(_KINDS)
        locality = randrange(5)
        if kind == "extend":
            algs = rng.sample(_ALGS, randrange(1, 5))
            out.append(ops.PcrExtend(choice(_HANDLES), tuple((a, rng.randbytes(_SIZE[a])) for a in algs),
                                     locality))
        elif kind == "reset":
            out.append(ops.PcrReset(choice(_RESETS), locality))
        elif kind == "event":
            out.append(ops.PcrEvent(choice(_HANDLES), rng.randbytes(randrange(65)), locality))
        elif kind == "read":
            banks = rng.sample(_ALGS, randrange(1, 5))
            out.append(ops.PcrRead(tuple((a, tuple(sorted(rng.sample(range(24), randrange(1, 13)))))
                                         for a in banks), locality))
        elif kind == "random":
            out.append(ops.GetRandom(randrange(81), locality))
        elif kind == "capability":
            out.append(ops.GetCapability(int(TPM_CAP.TPM_CAP_TPM_PROPERTIES), choice(_PROPERTIES), 1,
                                         locality))
        elif kind == "startup":
            out.append(ops.Startup(choice((int(TPM_SU.TPM_SU_CLEAR), int(TPM_SU.TPM_SU_STATE))),
                                   choice((0, 0, 0, 3, 3, 1, 2, 4))))
        else:
            out.append(ops.Shutdown(choice((int(TPM_SU.TPM_SU_CLEAR), int(TPM_SU.TPM_SU_STATE))), locality))
    return out
