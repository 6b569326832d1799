"""The built-in TPM 2.0 emulator, the default target, with switchable planted bugs.

An independent, wire-level implementation of the TPM 2.0 subset the harness
checks (Startup/Shutdown, PCR commands, GetRandom, GetCapability, password
authorization): it imports nothing from ``models/`` or ``harness.wire``, so a
bug shared with the reference model cannot hide itself.

    emu = Emulator(banks=("sha1", "sha256"), mutants=frozenset({"extend-operand-order"}))
    response = emu.execute(command_bytes, locality=0)
"""

from .emulator import Emulator
from .mutants import MUTANTS, Mutant

__all__ = ["Emulator", "MUTANTS", "Mutant"]
