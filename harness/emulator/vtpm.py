"""The emulator as a multi-headed vTPM manager: many vTPM instances in one object.

Each instance is an :class:`Emulator` with a disk: the instance's NV (the
attributes in ``NV_STATE``) written through to it while it is attached.  A
vTPM can start without its disk and get it later: NV then becomes the
disk's, volatile state (PCRs, Startup) stays.  Without its disk an instance
follows the manager's ``without_disk`` profile:

- ``persistent``: a command that writes NV is executed on a checkpoint and,
  if it succeeded, rolled back and answered TPM_RC_NV_UNAVAILABLE ("NV is not
  currently accessible"); everything else is served.
- ``xen``: every command gets TPM_RC_FAILURE, as today's Xen vTPM, which does
  not come up without its disk.

A crash (the instance's process dies) without a disk loses NV: the instance
comes back with freshly manufactured NV.
"""

from __future__ import annotations

import copy

from .codes import (
    TPM_ALG_SHA1,
    TPM_CC_NV_ChangeAuth,
    TPM_CC_NV_DefineSpace,
    TPM_CC_NV_Extend,
    TPM_CC_NV_GlobalWriteLock,
    TPM_CC_NV_Increment,
    TPM_CC_NV_ReadLock,
    TPM_CC_NV_SetBits,
    TPM_CC_NV_UndefineSpace,
    TPM_CC_NV_UndefineSpaceSpecial,
    TPM_CC_NV_Write,
    TPM_CC_NV_WriteLock,
    TPM_CC_PCR_Extend,
    TPM_CC_PCR_Reset,
    TPM_CC_Shutdown,
    TPM_CC_Startup,
    TPM_RC_FAILURE,
    TPM_RC_NV_UNAVAILABLE,
    TPM_RC_SUCCESS,
    TPM_ST_NO_SESSIONS,
)
from .emulator import Emulator
from .marshal import HEADER

WITHOUT_DISK = ("persistent", "xen")
NV_STATE = ("saved", "nv")  # Emulator attributes that live in NV, i.e. on a vTPM's disk
PERSISTENT_COMMANDS = frozenset({
    TPM_CC_Shutdown, TPM_CC_NV_DefineSpace, TPM_CC_NV_UndefineSpace, TPM_CC_NV_UndefineSpaceSpecial,
    TPM_CC_NV_Write, TPM_CC_NV_Increment, TPM_CC_NV_SetBits, TPM_CC_NV_Extend, TPM_CC_NV_WriteLock,
    TPM_CC_NV_ReadLock, TPM_CC_NV_GlobalWriteLock, TPM_CC_NV_ChangeAuth})
_RC = HEADER.size - 4  # offset of responseCode
_NV_UNAVAILABLE = HEADER.pack(TPM_ST_NO_SESSIONS, HEADER.size, TPM_RC_NV_UNAVAILABLE)
_FAILURE = HEADER.pack(TPM_ST_NO_SESSIONS, HEADER.size, TPM_RC_FAILURE)


def _code(command: bytes) -> int | None:
    return int.from_bytes(command[6:10], "big") if len(command) >= HEADER.size else None


class VtpmManager:
    """Named vTPM instances sharing one manager (and its planted bugs)."""

    def __init__(self, banks: tuple[str, ...] = ("sha1", "sha256", "sha384", "sha512"),
                 mutants: frozenset[str] = frozenset(), without_disk: str = "persistent") -> None:
        if without_disk not in WITHOUT_DISK:
            raise ValueError(f"without_disk must be one of {WITHOUT_DISK}, not {without_disk!r}")
        self.banks = banks
        self.mutants = frozenset(mutants)
        self.without_disk = without_disk
        self.instances: dict[str, VtpmInstance] = {}
        chosen = self.mutants
        self.bug_attach_drops_last_extend = "vtpm-attach-drops-last-extend" in chosen
        self.bug_attach_old_volatile = "vtpm-attach-old-volatile" in chosen
        self.bug_mirror_wrong_pcr = "vtpm-mirror-wrong-pcr" in chosen
        self.bug_reset_leaks = "vtpm-reset-leaks" in chosen
        self.bug_extend_misrouted = "vtpm-extend-misrouted" in chosen
        self.bug_crash_takes_all = "vtpm-crash-takes-all" in chosen
        self.bug_crash_resumes_stale = "vtpm-crash-resumes-stale" in chosen
        self.bug_persistent_without_disk = "vtpm-persistent-without-disk" in chosen
        self.bug_extend_needs_disk = "vtpm-extend-needs-disk" in chosen
        self.bug_mirror_sha1_only = "vtpm-mirror-sha1-only" in chosen

    def create(self, name: str, disk: bool = True) -> VtpmInstance:
        """A new vTPM, powered on and awaiting Startup; ``disk``: its disk is there at start."""
        if name in self.instances:
            raise ValueError(f"vTPM {name!r} exists already")
        instance = self.instances[name] = VtpmInstance(self, name, disk)
        return instance


class VtpmInstance:
    """One vTPM of a manager.  ``execute`` is rebound whenever the disk changes, so an
    instance with its disk (and no planted bug on the command path) costs nothing extra."""

    def __init__(self, manager: VtpmManager, name: str, disk: bool) -> None:
        self.manager = manager
        self.name = name
        self.emu = Emulator(banks=manager.banks, mutants=manager.mutants)
        self.disk = disk
        self._fresh_nv = self._nv()
        self._disk_nv = self._nv()  # what a detached disk holds; a new disk: a new TPM's NV
        self._before_last_extend = None  # PCRs before the last PCR_Extend (a planted bug's memory)
        self._after_startup = None  # PCRs and Startup as the last Startup left them (idem)
        m = manager
        self._hooked = (m.bug_attach_drops_last_extend or m.bug_attach_old_volatile or m.bug_reset_leaks
                        or m.bug_extend_misrouted or m.bug_crash_resumes_stale)
        self._rebind()

    # --- commands ------------------------------------------------------------------

    def _rebind(self) -> None:
        self.execute = self.emu.execute if self.disk and not self._hooked else self._execute

    def execute(self, command: bytes, locality: int = 0) -> bytes:  # replaced by _rebind
        return self._execute(command, locality)

    def _execute(self, command: bytes, locality: int = 0) -> bytes:
        manager, emu = self.manager, self.emu
        code = _code(command)
        if not self.disk:
            if manager.without_disk == "xen":
                return _FAILURE
            if code == TPM_CC_PCR_Extend and manager.bug_extend_needs_disk:
                return _NV_UNAVAILABLE
            if code in PERSISTENT_COMMANDS and not manager.bug_persistent_without_disk:
                checkpoint = copy.deepcopy(emu.__dict__)
                response = emu.execute(command, locality)
                if int.from_bytes(response[_RC:HEADER.size], "big") != TPM_RC_SUCCESS:
                    return response
                emu.__dict__.update(checkpoint)
                return _NV_UNAVAILABLE
        if code == TPM_CC_PCR_Extend:
            if manager.bug_attach_drops_last_extend:
                self._before_last_extend = _pcr_values(emu)
            if manager.bug_extend_misrouted and self is not _first(manager):
                return _first(manager).emu.execute(command, locality)
        response = emu.execute(command, locality)
        if code == TPM_CC_PCR_Reset and manager.bug_reset_leaks:
            for other in manager.instances.values():
                if other is not self:
                    other.emu.execute(command, locality)
        elif (code == TPM_CC_Startup and emu.started and self._after_startup is None
              and (manager.bug_attach_old_volatile or manager.bug_crash_resumes_stale)):
            self._after_startup = _pcr_values(emu)
        return response

    # --- platform ------------------------------------------------------------------

    def power_on(self) -> None:
        """_TPM_Init (the guest rebooted); NV stays in the vTPM's memory."""
        self.emu.power_on()
        self._after_startup = None

    def crash(self) -> None:
        """The vTPM's process dies and is restarted: NV comes back from the disk, or fresh."""
        manager = self.manager
        victims = manager.instances.values() if manager.bug_crash_takes_all else (self,)
        for vtpm in victims:
            vtpm.emu.power_on()
            if not vtpm.disk:  # with its disk, NV in memory is what the disk holds (write-through)
                vtpm._load_nv(vtpm._fresh_nv)
        if manager.bug_crash_resumes_stale and self._after_startup is not None:
            self.emu.pcrs.load(self._after_startup)
            self.emu.started = True
        else:
            self._after_startup = None

    def attach_disk(self) -> None:
        """The disk comes: NV becomes the disk's; PCRs and the Startup state stay."""
        self.disk = True
        self._load_nv(self._disk_nv)
        manager = self.manager
        if manager.bug_attach_drops_last_extend and self._before_last_extend is not None:
            self.emu.pcrs.load(self._before_last_extend)
        if manager.bug_attach_old_volatile and self._after_startup is not None:
            self.emu.pcrs.load(self._after_startup)
        self._rebind()

    def detach_disk(self) -> None:
        """The disk is lost: NV stays in memory; what it held is kept for a later attach."""
        self._disk_nv = self._nv()
        self.disk = False
        self._rebind()

    def mirror_pcrs(self, values: dict[int, dict[int, bytes]]) -> None:
        """From the next Startup(CLEAR) on, start these PCRs (alg -> {pcr: value}) with these values."""
        if self.manager.bug_mirror_wrong_pcr:
            values = {alg: {(pcr + 1) % 24: v for pcr, v in pcrs.items()} for alg, pcrs in values.items()}
        if self.manager.bug_mirror_sha1_only:
            values = {alg: pcrs for alg, pcrs in values.items() if alg == TPM_ALG_SHA1}
        self.emu.reset_values = {alg: dict(pcrs) for alg, pcrs in values.items()}

    # --- NV ------------------------------------------------------------------------

    def _nv(self) -> dict:
        return {attr: copy.deepcopy(getattr(self.emu, attr)) for attr in NV_STATE}

    def _load_nv(self, image: dict) -> None:
        for attr, value in image.items():
            setattr(self.emu, attr, copy.deepcopy(value))


def _pcr_values(emu: Emulator) -> dict[int, dict[int, bytes]]:
    return {alg: dict(enumerate(values)) for alg, values in emu.pcrs.snapshot().items()}


def _first(manager: VtpmManager) -> VtpmInstance:
    return next(iter(manager.instances.values()))


