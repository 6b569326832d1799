"""Driving policy sessions in lockstep: the TPM chooses session handles, the model follows."""

from __future__ import annotations

from harness.driver import Checked
from models.ops import StartAuthSession


def start_session(pair: Checked, op: StartAuthSession) -> int | None:
    """TPM2_StartAuthSession on both sides (checked); the model then follows the handle the
    target chose.  None when the TPM refused (e.g. TPM_RC_SESSION_MEMORY)."""
    observed = pair.command(op)
    if observed.rc != 0:
        return None
    pair.model.follow_session(observed.value.handle)
    return observed.value.handle
