"""A vTPM manager as an executable specification: instances, disks, mirrored PCRs.

Each instance is a :class:`~models.tpm.TpmModel` plus its disk, which holds
the instance's NV (here: the orderly state and the Shutdown(STATE) data;
NV indices once the model has them).  A disk is ``absent`` (the vTPM was
started without it), ``attached`` or ``lost`` (gone while the vTPM runs).
NV is written through to an attached disk, so attaching a disk means: NV
becomes the disk's, volatile state (PCRs, Startup) is kept.  A vTPM that
crashes (its process dies) without a disk comes back with freshly
manufactured NV; a power cycle (the guest reboots, _TPM_Init) keeps NV in
the vTPM's memory.

What a vTPM does without its disk is the implementation's choice, so it is a
parameter (``without_disk``):

- ``persistent``: commands that would write NV are refused with
  TPM_RC_NV_UNAVAILABLE (Part 2: "the command may require writing of NV and
  NV is not current accessible") after all their own checks passed, and change
  nothing; everything else is served.  This is what DISK-MISSING asks for.
- ``xen``: every command gets TPM_RC_FAILURE, as today's Xen vTPM, which does
  not come up without its disk, leaves its guest with no working TPM.
- ``scratch``: NV lives in memory until the disk comes (swtpm started on a
  scratch state); what was written there is replaced by the disk at attach.
"""

from __future__ import annotations

from models.ops import AttachDisk, Crash, DetachDisk, Outcome
from models.tcg import TPM_RC
from models.tpm import TpmModel

ABSENT, ATTACHED, LOST = "absent", "attached", "lost"
REFUSE_PERSISTENT, REFUSE_ALL, SCRATCH = "persistent", "xen", "scratch"
WITHOUT_DISK = (REFUSE_PERSISTENT, REFUSE_ALL, SCRATCH)

NV_UNAVAILABLE = Outcome(int(TPM_RC.TPM_RC_NV_UNAVAILABLE))
FAILURE = Outcome(int(TPM_RC.TPM_RC_FAILURE))
_OK = Outcome(0)
# Operations that write NV: Shutdown records the orderly state; the NV commands by name, so
# that they count as soon as models.ops has them.
_PERSISTENT_NAMES = frozenset({"Shutdown", "NvDefineSpace", "NvUndefineSpace", "NvWrite", "NvIncrement",
                               "NvExtend", "NvSetBits", "NvWriteLock", "NvReadLock", "NvChangeAuth",
                               "NvPolicyWrite"})


def is_persistent(op) -> bool:
    """True for an operation that writes the TPM's NV (and so needs the disk)."""
    return type(op).__name__ in _PERSISTENT_NAMES


class VtpmModel:
    """One vTPM instance: its TPM model and its disk.

    Offers what harness.driver.Checked uses of a model (apply, banks,
    started, pcr_values, counter_epoch, counter_increments), so a vTPM pairs
    with its target like any TPM.
    """

    def __init__(self, tpm: TpmModel, disk: bool = True, without_disk: str = REFUSE_PERSISTENT) -> None:
        if without_disk not in WITHOUT_DISK:
            raise ValueError(f"without_disk must be one of {WITHOUT_DISK}, not {without_disk!r}")
        self.tpm = tpm
        self.without_disk = without_disk
        self.disk = ATTACHED if disk else ABSENT
        self._fresh_nv = tpm.nv_image()  # a freshly manufactured TPM's NV
        self._disk_nv = self._fresh_nv  # what a detached disk holds (a new disk: a new TPM's NV)

    # --- what Checked reads --------------------------------------------------------

    @property
    def banks(self) -> tuple[int, ...]:
        return self.tpm.banks

    @property
    def started(self) -> bool:
        """Serving started-TPM commands: False while a ``xen`` vTPM has no disk."""
        return self.tpm.started and (self.disk == ATTACHED or self.without_disk != REFUSE_ALL)

    @property
    def counter_epoch(self) -> int:
        return self.tpm.counter_epoch

    @property
    def counter_increments(self) -> int:
        return self.tpm.counter_increments

    def pcr_values(self) -> dict[tuple[int, int], bytes]:
        return self.tpm.pcr_values()

    def pcr(self, alg: int, index: int) -> bytes:
        return self.tpm.pcr(alg, index)

    def __getattr__(self, name: str):
        """Every other view of the TPM model (nv_indices, profile, ...) is the TPM's."""
        if name == "tpm":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.tpm, name)

    # --- operations ----------------------------------------------------------------

    def apply(self, op) -> Outcome:
        """The Outcome of ``op`` on this vTPM, given its disk."""
        tpm = self.tpm
        kind = type(op)
        if kind is AttachDisk:
            self.attach_disk()
            return _OK
        if kind is DetachDisk:
            self.detach_disk()
            return _OK
        if kind is Crash:
            outcome = tpm.apply(op)
            if self.disk != ATTACHED:  # nothing persisted: the restarted vTPM is a new TPM
                tpm.load_nv(self._fresh_nv)
            return outcome
        if self.disk == ATTACHED or self.without_disk == SCRATCH:
            return tpm.apply(op)
        if self.without_disk == REFUSE_ALL and not _is_platform(op):
            return FAILURE
        if is_persistent(op):
            outcome = tpm.copy().apply(op)
            if outcome.rc == 0:
                return NV_UNAVAILABLE
        return tpm.apply(op)

    def attach_disk(self) -> None:
        """The disk comes: NV becomes the disk's; PCRs and the Startup state stay."""
        self.disk = ATTACHED
        self.tpm.load_nv(self._disk_nv)

    def detach_disk(self) -> None:
        """The disk is lost while the vTPM runs: it keeps the NV written through to it; NV stays
        in memory, writes are no longer possible."""
        self._disk_nv = self.tpm.nv_image()
        self.disk = LOST

    def mirror_pcrs(self, values: dict[int, dict[int, bytes]]) -> None:
        """Start these PCRs with these values from the next Startup(CLEAR) on (hwinitpcr)."""
        self.tpm.mirror_pcrs(values)


def _is_platform(op) -> bool:
    return not hasattr(op, "locality")


class VtpmManagerModel:
    """Named vTPM instances behind one manager; nothing done to one may change another."""

    def __init__(self) -> None:
        self.instances: dict[str, VtpmModel] = {}

    def add(self, name: str, vtpm: VtpmModel) -> VtpmModel:
        if name in self.instances:
            raise ValueError(f"vTPM {name!r} exists already")
        self.instances[name] = vtpm
        return vtpm

    def __getitem__(self, name: str) -> VtpmModel:
        return self.instances[name]
