"""TPM2_GetRandom (Part 3, 16.1): at most sizeof(TPMU_HA) = 64 bytes per call."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .codes import MAX_DIGEST, RC_1, RC_P, TPM_CC_GetRandom, TPM_RC_INSUFFICIENT, TPM_RC_SIZE
from .command import CommandSpec
from .marshal import U16, CommandError, take_u16

if TYPE_CHECKING:
    from .emulator import Emulator


def get_random(
    emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int
) -> bytes:
    requested, pos = take_u16(cmd, pos, TPM_RC_INSUFFICIENT | RC_P | RC_1)
    if pos != len(cmd):
        raise CommandError(TPM_RC_SIZE)
    size = min(requested, MAX_DIGEST)
    return U16.pack(size) + os.urandom(size)


COMMANDS = (CommandSpec(TPM_CC_GetRandom, "TPM2_GetRandom", (), 0, True, get_random),)
