"""TPM2_Startup and TPM2_Shutdown, and the state that survives _TPM_Init.

Part 1 "TPM Operational States" classifies a Startup by the last Shutdown:
CLEAR after none/CLEAR is a TPM Reset, CLEAR after STATE a TPM Restart,
STATE after STATE a TPM Resume.  Checks and their order follow the reference
StartupCommands.c (TPM2_Startup, TPM2_Shutdown).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .codes import (
    RC_1,
    RC_P,
    SU_NONE,
    TPM_CC_Shutdown,
    TPM_CC_Startup,
    TPM_RC_INSUFFICIENT,
    TPM_RC_LOCALITY,
    TPM_RC_SIZE,
    TPM_RC_VALUE,
    TPM_SU_CLEAR,
    TPM_SU_STATE,
)
from .command import CommandSpec
from .marshal import CommandError, take_u16

if TYPE_CHECKING:
    from .emulator import Emulator

_VALUE_P1 = TPM_RC_VALUE | RC_P | RC_1


class SavedState:
    """NV data of TPM2_Shutdown: it survives power cycles and crashes.

    ``orderly`` is the last Shutdown type (SU_NONE after any Startup or a
    change to a state-saved PCR); the rest is what Shutdown(STATE) recorded.
    """

    __slots__ = ("orderly", "pcrs", "update_counter", "hcrtm", "locality3")

    def __init__(self) -> None:
        self.orderly = SU_NONE
        self.pcrs: dict[int, tuple[bytes, ...]] | None = None
        self.update_counter = 0
        self.hcrtm = False  # an H-CRTM sequence ran before that Startup
        self.locality3 = False  # that Startup ran at locality 3 (without H-CRTM)


def _parse_su(cmd: bytes, pos: int) -> int:
    """TPM_SU as the only parameter: 0 or 1, else TPM_RC_VALUE + parameter 1."""
    su, pos = take_u16(cmd, pos, TPM_RC_INSUFFICIENT | RC_P | RC_1)
    if su != TPM_SU_CLEAR and su != TPM_SU_STATE:
        raise CommandError(_VALUE_P1)
    if pos != len(cmd):
        raise CommandError(TPM_RC_SIZE)
    return su


def startup(
    emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int
) -> bytes:
    """A failed Startup changes nothing and leaves the TPM not started."""
    su = _parse_su(cmd, pos)
    if locality != 0 and locality != 3:
        raise CommandError(TPM_RC_LOCALITY)
    # After an H-CRTM sequence the reference treats the startup locality as 0,
    # which keeps PCR 0 as the H-CRTM left it.
    locality3 = locality == 3 and not emu.hcrtm
    saved = emu.saved
    resume = su == TPM_SU_STATE
    if resume and saved.orderly != TPM_SU_STATE:
        if not emu.bug_resume_without_shutdown:
            raise CommandError(_VALUE_P1)
        resume = False  # planted bug: run as a TPM Reset
    if resume:
        if emu.hcrtm != saved.hcrtm:
            raise CommandError(_VALUE_P1)
        if locality3 != saved.locality3:
            raise CommandError(TPM_RC_LOCALITY)
    # Restart and Resume continue pcrUpdateCounter from the saved state; only
    # Resume restores PCR values.
    counter = saved.update_counter if saved.orderly == TPM_SU_STATE else 0
    emu.pcrs.startup(3 if locality3 else 0, emu.hcrtm, saved.pcrs if resume else None, counter)
    if emu.reset_values is not None and not resume:
        emu.pcrs.load(emu.reset_values)
    emu.nv.startup(resume, saved.orderly == TPM_SU_STATE, saved.orderly != SU_NONE)
    emu.prev_orderly = saved.orderly
    saved.orderly = SU_NONE
    emu.startup_locality3 = locality3
    emu.sessions.clear()
    emu.started = True
    emu.sequences.clear()
    return b""


def shutdown(
    emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int
) -> bytes:
    """Record the orderly state; STATE also saves the PCRs, pcrUpdateCounter
    and the startup flags that a Resume must match.  Commands keep working."""
    su = _parse_su(cmd, pos)
    saved = emu.saved
    saved.orderly = su
    emu.nv.shutdown()
    if su == TPM_SU_STATE:
        saved.pcrs = emu.pcrs.snapshot()
        saved.update_counter = emu.pcrs.update_counter
        saved.hcrtm = emu.hcrtm
        saved.locality3 = emu.startup_locality3
    return b""


COMMANDS = (
    CommandSpec(TPM_CC_Startup, "TPM2_Startup", (), 0, False, startup),
    CommandSpec(TPM_CC_Shutdown, "TPM2_Shutdown", (), 0, True, shutdown),
)
