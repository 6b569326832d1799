"""The built-in emulator as a target: in process, no I/O, every control available."""

from __future__ import annotations

from harness.emulator import Emulator
from harness.targets.base import BaseTarget, Capability


class EmulatorTarget(BaseTarget):
    """``--target emulator[?banks=sha1,sha256&mutant=NAME,...]``.

    ``mutants`` plants named bugs (harness.emulator.MUTANTS) for the
    mutation self-check; the unmutated emulator must pass every suite.
    """

    name = "emulator"
    profile = "ptp"
    capabilities = frozenset(
        {Capability.LOCALITY, Capability.POWER_CYCLE, Capability.CRASH,
         Capability.DRTM, Capability.INSTANCES}
    )

    def __init__(self, banks: tuple[str, ...] = ("sha1", "sha256", "sha384", "sha512"),
                 mutants: frozenset[str] = frozenset()) -> None:
        self._tpm = Emulator(banks=banks, mutants=mutants)
        self.banks = self._tpm.banks
        self.mutants = frozenset(mutants)
        # Bound method: the hot path pays one attribute lookup less per command.
        self.transmit = self._tpm.execute

    def transmit(self, command: bytes, locality: int = 0) -> bytes:  # replaced per instance
        return self._tpm.execute(command, locality)

    def power_cycle(self, orderly: bool) -> None:
        self._tpm.power_on()

    def crash(self) -> None:
        self._tpm.power_on()

    def drtm(self, data: bytes) -> None:
        self._tpm.drtm(data)

    def identity(self) -> dict:
        ident = dict(self._tpm.identity())
        ident["banks"] = list(self.banks)
        if self.mutants:
            ident["mutants"] = sorted(self.mutants)
        return ident
