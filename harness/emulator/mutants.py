"""Planted bugs: switchable, realistic faults that the suites must catch.

A mutant is off unless named when the Emulator is built.  Each one names the
invariant (DESIGN.md) whose checking function must report it, so a mutation
run can tell which requirement let a bug through.  The code switch for each
sits at the bug site behind a boolean computed once in ``__init__``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str  # e.g. "extend-operand-order"
    requirement: str  # the invariant ID that must catch it
    description: str  # one line: the planted bug, in TPM terms


_ALL = (
    # PCR banks: what an extend computes
    Mutant("extend-skips-last-bank", "PCR-AGREE",
           "TPM2_PCR_Extend ignores the last TPMT_HA of its TPML_DIGEST_VALUES"),
    Mutant("extend-operand-order", "PCR-AGREE",
           "PCR extend computes H(digest || PCR) instead of H(PCR || digest)"),
    Mutant("update-counter-skips-sha256", "PCR-AGREE",
           "pcrUpdateCounter is not incremented when the sha256 bank of a PCR changes"),
    # localities
    Mutant("reset-pcr20-at-locality0", "PCR-LOCALITY",
           "TPM2_PCR_Reset of PCR 20 is allowed at locality 0 (reset mask 0x15, not 0x14)"),
    Mutant("extend-pcr17-at-locality0", "PCR-LOCALITY",
           "TPM2_PCR_Extend of PCR 17 is allowed at locality 0 (extend mask 0x1D, not 0x1C)"),
    Mutant("event-ignores-locality", "PCR-LOCALITY",
           "TPM2_PCR_Event skips the extend-locality check of its PCR"),
    Mutant("reset-at-locality4", "PCR-LOCALITY",
           "TPM2_PCR_Reset is allowed at locality 4 (PCRs 17-22) although DRTM_PCR is defined"),
    # startup semantics
    Mutant("second-startup-accepted", "STARTUP",
           "a TPM2_Startup after a successful one is executed instead of TPM_RC_INITIALIZE"),
    Mutant("no-startup-gate", "STARTUP",
           "commands other than TPM2_Startup are executed before TPM2_Startup"),
    Mutant("resume-without-shutdown-state", "STARTUP",
           "TPM2_Startup(STATE) without a prior TPM2_Shutdown(STATE) runs as a TPM Reset"),
    Mutant("extend-keeps-orderly", "STARTUP",
           "extending PCR 0-15 after TPM2_Shutdown(STATE) leaves the orderly state, "
           "so a Resume restores stale PCRs"),
    # initial values
    Mutant("resume-restores-all-pcrs", "PCR-INIT",
           "TPM Resume restores PCRs 16-23 from the saved state as well as PCRs 0-15"),
    Mutant("pcr0-ignores-startup-locality", "PCR-INIT",
           "PCR 0 starts as 00..00 after TPM2_Startup at locality 3 (not 00..03)"),
    Mutant("drtm-pcrs-init-zero", "PCR-INIT",
           "PCRs 17-22 start as 00..00 after TPM Reset/Restart instead of FF..FF"),
    Mutant("drtm-keeps-pcr18", "PCR-INIT",
           "_TPM_Hash_End after Startup does not reset PCR 18"),
    Mutant("hcrtm-pcr0-overwritten", "PCR-INIT",
           "TPM2_Startup(CLEAR) after an H-CRTM sequence re-initialises PCR 0"),
    # malformed input
    Mutant("oversize-command-accepted", "ROBUST-INPUT",
           "a commandSize larger than the bytes received is accepted and the bytes executed"),
    Mutant("unknown-command-success", "ROBUST-INPUT",
           "an unimplemented command code is answered TPM_RC_SUCCESS"),
    # response shape
    Mutant("error-size-12", "RESP-WELLFORMED",
           "error responses carry responseSize 12 although they are 10 bytes long"),
    Mutant("error-tag-sessions", "RESP-WELLFORMED",
           "error responses carry tag TPM_ST_SESSIONS (0x8002) instead of TPM_ST_NO_SESSIONS"),
    # locality arbitration between concurrent clients (the emulator target's front end)
    Mutant("locality-cached-per-client", "LOC-CONTENTION",
           "the active locality is switched only when the calling client's own locality changed, "
           "so a client runs at the locality another client switched to"),
    # architecture 1: dom0's IMA extends into PCR 10 beside the manager at locality 2
    Mutant("first-extend-after-startup-dropped", "IMA-REPLAY",
           "the first TPM2_PCR_Extend after a TPM Reset/Restart answers success and extends nothing"),
    Mutant("pcr10-extend-sha1-only", "IMA-REPLAY",
           "TPM2_PCR_Extend of PCR 10 extends only the sha1 bank, ignoring the other TPMT_HAs"),
    Mutant("locality-one-command-late", "LOC-CONTENTION",
           "the TPM switches locality one command late: each command runs at the previous command's locality"),
)

MUTANTS: dict[str, Mutant] = {m.name: m for m in _ALL}


def checked_mutants(names: Iterable[str]) -> frozenset[str]:
    """``names`` as a frozenset, or ValueError naming the unknown ones and the valid ones."""
    if isinstance(names, (str, bytes)):
        raise TypeError(f"mutants must be a collection of names, not {type(names).__name__}")
    chosen = frozenset(names)
    unknown = sorted(repr(n) for n in chosen if n not in MUTANTS)
    if unknown:
        raise ValueError(
            f"unknown mutant(s) {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(MUTANTS))}"
        )
    return chosen
