"""Requirement routing for vTPM machines: DISK-MISSING, DISK-ATTACH, INSTANCE-ISOLATION.

The driver files a disagreement under the requirement of the command
(PCR-AGREE, STARTUP, ...).  Around a vTPM step the machine knows more: a
disagreement about an NV write without the disk is DISK-MISSING, PCRs that
differ right after the disk was attached are DISK-ATTACH, and PCRs of a vTPM
nobody touched in this step are INSTANCE-ISOLATION.
"""

from __future__ import annotations

from contextlib import contextmanager

from harness.invariants import Violation
from models.ops import AttachDisk
from models.vtpm import ATTACHED, REFUSE_ALL, is_persistent


@contextmanager
def as_requirement(requirement: str, why: str):
    """Re-file any Violation raised inside under ``requirement``, keeping its steps and trace."""
    try:
        yield
    except Violation as violation:
        refiled = Violation(requirement, f"{why}: {violation.summary}", violation.steps)
        refiled.trace = violation.trace
        raise refiled from None


def command(pair, op):
    """Send ``op`` to a vTPM; without its disk, a disagreement about an NV write, or one where
    a side answered with a no-disk refusal, is DISK-MISSING."""
    if pair.model.disk == ATTACHED:
        return pair.command(op)
    try:
        return pair.command(op)
    except Violation as violation:
        if is_persistent(op) or pair.model.without_disk == REFUSE_ALL or _DISK_REFUSALS & set(
                violation.summary.replace(",", " ").split()):
            with as_requirement("DISK-MISSING", f"[{pair.instance}] without its disk"):
                raise
        raise


_DISK_REFUSALS = {"TPM_RC_NV_UNAVAILABLE", "TPM_RC_FAILURE"}


def attach_disk(pair) -> None:
    """Attach the disk and read every PCR back at once: nothing extended before may be lost."""
    pair.platform(AttachDisk())
    with as_requirement("DISK-ATTACH", f"[{pair.instance}] PCRs right after the disk was attached"):
        pair.check_pcrs()


def check_isolation(pairs, touched: set[str]) -> None:
    """Every vTPM's PCRs equal its own model; a difference in one not touched by this step is
    INSTANCE-ISOLATION (read those first, so a leak is filed as what it is)."""
    for name, pair in pairs.items():
        if name not in touched:
            with as_requirement("INSTANCE-ISOLATION", f"[{name}] changed by a step on {sorted(touched)}"):
                pair.check_pcrs()
    for name in touched:
        pairs[name].check_pcrs()


def check_ima_replay(what: str, differences: list[str]) -> None:
    """IMA-REPLAY: the IMA log replayed per bank gives the PCR 10 the vTPM holds."""
    raise Violation("IMA-REPLAY", f"{what}: replaying the IMA log does not give PCR 10: " + "; ".join(differences))
