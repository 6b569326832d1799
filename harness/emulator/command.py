"""What the dispatcher needs to know about one command (Part 3 command tables).

Each command module (startup, integrity, capability, rng; NV and policy
later) exports ``COMMANDS``, a tuple of these; the emulator keys them by
command code.  A handler receives the whole command and the position of its
first parameter, checks and executes it, and returns the marshalled response
parameters or raises CommandError.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .emulator import Emulator

Handler = Callable[["Emulator", bytes, int, tuple[int, ...], int], bytes]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    code: int  # TPM_CC
    name: str  # e.g. "TPM2_PCR_Extend"
    # One check per handle in the handle area: False -> TPM_RC_VALUE + handle n
    # (the TPMI_* unmarshalling of Part 4).
    handles: tuple[Callable[[int], bool], ...]
    auth_count: int  # leading handles that need authorization ("Auth Index")
    sessions_allowed: bool  # False: tag TPM_ST_SESSIONS -> TPM_RC_AUTH_CONTEXT
    handler: Handler  # (emulator, command, parameter position, handles, locality)
    # NV commands: "read", "write" or "provision" -- the emulator's NvStore checks handle
    # existence and whose authValue the session must carry (harness/emulator/nv.py).
    nv_access: str = ""
    # Commands on objects (sequences): (emulator, handles) -> the authValue lookup, after the
    # load status of each handle is checked (harness/emulator/sequences.py).
    authorize: Callable | None = None
