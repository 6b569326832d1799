"""The built-in emulator as a target: in process, no I/O, every control available."""

from __future__ import annotations

import threading

from harness.emulator.vtpm import VtpmInstance, VtpmManager
from harness.targets.base import BaseTarget, Capability
from models.tcg import ALG_BY_NAME


class EmulatorTarget(BaseTarget):
    """``--target emulator[?banks=sha1,sha256&mutant=NAME,...&vtpm=persistent|xen]``.

    Each target is one vTPM of a vTPM manager (harness.emulator.vtpm): its own
    one-instance manager, or ``vtpm``, one of several instances of a shared
    manager (TargetFactory.vtpms).  ``mutants`` plants named bugs
    (harness.emulator.MUTANTS) for the mutation self-check; the unmutated
    emulator must pass every suite.  ``without_disk`` names what the vTPM does
    without its disk (models.vtpm.WITHOUT_DISK).  Concurrent clients are
    served one command at a time, each at its own locality.
    """

    name = "emulator"
    profile = "ptp"
    capabilities = frozenset(
        {Capability.LOCALITY, Capability.POWER_CYCLE, Capability.CRASH,
         Capability.DRTM, Capability.INSTANCES, Capability.DISK, Capability.MIRROR}
    )
    can_lose_disk = True  # detach_disk() while running is defined (NV writes refused again)

    def __init__(self, banks: tuple[str, ...] = ("sha1", "sha256", "sha384", "sha512"),
                 mutants: frozenset[str] = frozenset(), *, vtpm: VtpmInstance | None = None,
                 without_disk: str = "persistent") -> None:
        if vtpm is None:
            vtpm = VtpmManager(banks, mutants, without_disk).create("tpm")
        self._vtpm = vtpm
        self._tpm = vtpm.emu
        self.banks = self._tpm.banks
        self.mutants = frozenset(vtpm.manager.mutants)
        self.without_disk = vtpm.manager.without_disk
        self._lock = threading.Lock()
        if "locality-cached-per-client" in self.mutants:
            self._active, self._client = 0, threading.local()
            self.transmit = self._transmit_cached_locality

    def transmit(self, command: bytes, locality: int = 0) -> bytes:
        # The instance's execute is looked up per call: attaching or losing the disk rebinds it.
        with self._lock:
            return self._vtpm.execute(command, locality)

    def _transmit_cached_locality(self, command: bytes, locality: int = 0) -> bytes:
        with self._lock:
            if getattr(self._client, "locality", None) != locality:
                self._client.locality = self._active = locality
            return self._vtpm.execute(command, self._active)

    def power_cycle(self, orderly: bool) -> None:
        self._vtpm.power_on()

    def crash(self) -> None:
        self._vtpm.crash()

    def drtm(self, data: bytes) -> None:
        self._tpm.drtm(data)

    def detach_disk(self) -> None:
        self._vtpm.detach_disk()

    def attach_disk(self) -> None:
        self._vtpm.attach_disk()

    def mirror_pcrs(self, values: dict[str, dict[int, bytes]]) -> None:
        self._vtpm.mirror_pcrs({int(ALG_BY_NAME[bank]): pcrs for bank, pcrs in values.items()})

    def identity(self) -> dict:
        ident = dict(self._tpm.identity())
        ident["banks"] = list(self.banks)
        if self.mutants:
            ident["mutants"] = sorted(self.mutants)
        return ident


def emulator_vtpms(banks: tuple[str, ...], mutants: frozenset[str], without_disk: str,
                   disks: dict[str, bool]) -> dict[str, EmulatorTarget]:
    """Several vTPMs of one manager, by name; ``disks[name]``: that vTPM's disk is there at start."""
    manager = VtpmManager(banks, mutants, without_disk)
    return {name: EmulatorTarget(vtpm=manager.create(name, disk)) for name, disk in disks.items()}
