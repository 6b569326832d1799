"""The built-in emulator as a target: in process, no I/O, every control available."""

from __future__ import annotations

import threading

from harness.emulator import Emulator
from harness.targets.base import BaseTarget, Capability


class EmulatorTarget(BaseTarget):
    """``--target emulator[?banks=sha1,sha256&mutant=NAME,...]``.

    ``mutants`` plants named bugs (harness.emulator.MUTANTS) for the
    mutation self-check; the unmutated emulator must pass every suite.
    Concurrent clients are served one command at a time, each at its own locality.
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
        self._lock = threading.Lock()
        if "locality-cached-per-client" in self.mutants:
            self._active, self._client = 0, threading.local()
            self.transmit = self._transmit_cached_locality

    def transmit(self, command: bytes, locality: int = 0) -> bytes:
        with self._lock:
            return self._tpm.execute(command, locality)

    def _transmit_cached_locality(self, command: bytes, locality: int = 0) -> bytes:
        with self._lock:
            if getattr(self._client, "locality", None) != locality:
                self._client.locality = self._active = locality
            return self._tpm.execute(command, self._active)

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
