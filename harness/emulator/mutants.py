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
    Mutant("insufficient-as-size", "ROBUST-INPUT",
           "parameters that run out of bytes are answered TPM_RC_SIZE instead of TPM_RC_INSUFFICIENT"),
    Mutant("oversize-event-accepted", "ROBUST-INPUT",
           "TPM2_PCR_Event accepts a TPM2B_EVENT larger than 1024 bytes"),
    Mutant("authsize-overrun-accepted", "ROBUST-INPUT",
           "an authorizationSize beyond the command's bytes is clamped to them, not TPM_RC_SIZE"),
    Mutant("session-handle-unchecked", "ROBUST-INPUT",
           "any handle in the authorization area that is no session is taken as TPM_RS_PW"),
    Mutant("password-on-no-auth-command", "ROBUST-INPUT",
           "a password session on a command with no handle to authorize is skipped, not TPM_RC_HANDLE"),
    Mutant("handle-type-unchecked", "ROBUST-INPUT",
           "NV, session and object handles pass as PCR handles by their low 24 bits: "
           "0x81000005 acts on PCR 5"),
    # response shape
    Mutant("error-size-12", "RESP-WELLFORMED",
           "error responses carry responseSize 12 although they are 10 bytes long"),
    Mutant("error-tag-sessions", "RESP-WELLFORMED",
           "error responses carry tag TPM_ST_SESSIONS (0x8002) instead of TPM_ST_NO_SESSIONS"),
    # NV indices
    Mutant("nv-write-lost-on-crash", "NV-DURABLE",
           "TPM2_NV_Write to a non-orderly index is kept in RAM until TPM2_Shutdown"),
    Mutant("nv-range-off-by-one", "NV-DURABLE",
           "TPM2_NV_Write accepts data one byte past the end of the index (size > dataSize - offset + 1)"),
    Mutant("nv-written-not-set", "NV-DURABLE",
           "TPM2_NV_Write does not SET TPMA_NV_WRITTEN, so the data reads TPM_RC_NV_UNINITIALIZED"),
    Mutant("nv-orderly-kept-across-reset", "NV-DURABLE",
           "an orderly ordinary index keeps TPMA_NV_WRITTEN across TPM Reset"),
    Mutant("nv-counter-no-jump", "NV-DURABLE",
           "an orderly counter resumes at its NV copy after a disorderly shutdown, below counts it returned"),
    Mutant("nv-readlock-kept-at-restart", "NV-DURABLE",
           "TPMA_NV_READLOCKED is not cleared by TPM Reset / TPM Restart"),
    Mutant("nv-writedefine-unlocked-at-reset", "NV-DURABLE",
           "a written TPMA_NV_WRITEDEFINE index loses TPMA_NV_WRITELOCKED at TPM Reset"),
    Mutant("nv-owner-read-without-ownerread", "NV-DURABLE",
           "TPM2_NV_Read with owner authorization succeeds on an index without TPMA_NV_OWNERREAD"),
    Mutant("nv-name-without-written", "NV-DURABLE",
           "the Name of an index hashes its TPMS_NV_PUBLIC without TPMA_NV_WRITTEN"),
    # vTPM manager (harness/emulator/vtpm.py)
    Mutant("vtpm-attach-drops-last-extend", "DISK-ATTACH",
           "attaching a vTPM's disk restores the PCRs as they were before the last TPM2_PCR_Extend"),
    Mutant("vtpm-attach-old-volatile", "DISK-ATTACH",
           "attaching a vTPM's disk restores an old volatile state: the PCRs of its last TPM2_Startup"),
    Mutant("vtpm-mirror-wrong-pcr", "PCR-INIT",
           "a vTPM started with mirrored hardware PCRs puts each value into the next PCR"),
    Mutant("vtpm-reset-leaks", "INSTANCE-ISOLATION",
           "TPM2_PCR_Reset on one vTPM resets that PCR in every vTPM of the manager"),
    Mutant("vtpm-extend-misrouted", "INSTANCE-ISOLATION",
           "the manager routes TPM2_PCR_Extend of every vTPM but the first to the first vTPM"),
    Mutant("vtpm-crash-takes-all", "INSTANCE-ISOLATION",
           "a crash of one vTPM restarts every vTPM of the manager"),
    Mutant("vtpm-crash-resumes-stale", "STARTUP",
           "a vTPM restarted after a crash comes back started, with the PCRs of its last TPM2_Startup"),
    Mutant("vtpm-persistent-without-disk", "DISK-MISSING",
           "a vTPM without its disk executes TPM2_Shutdown (an NV write) instead of TPM_RC_NV_UNAVAILABLE"),
    Mutant("vtpm-extend-needs-disk", "DISK-MISSING",
           "a vTPM without its disk refuses TPM2_PCR_Extend with TPM_RC_NV_UNAVAILABLE"),
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
    # policy sessions and PCR-sealed NV (harness/emulator/policy.py)
    Mutant("policy-pcr-digest-ignores-selection", "NV-POLICY",
           "TPM2_PolicyPCR extends policyDigest with H(old || CC || pcrDigest), leaving out the TPML_PCR_SELECTION"),
    Mutant("pcr-changed-not-detected", "NV-POLICY",
           "a policy session authorizes although pcrUpdateCounter moved since its TPM2_PolicyPCR"),
    Mutant("policy-locality-not-enforced", "NV-POLICY",
           "a policy session with TPM2_PolicyLocality authorizes a command at any locality"),
    Mutant("policy-session-not-reset-after-use", "NV-POLICY",
           "a policy session keeps its policyDigest after authorizing a command with continueSession"),
    Mutant("policy-restart-keeps-digest", "NV-POLICY",
           "TPM2_PolicyRestart clears the PCR and locality conditions but keeps policyDigest"),
    Mutant("trial-session-authorizes", "NV-POLICY",
           "a trial policy session whose digest matches authorizes a command (not TPM_RC_ATTRIBUTES)"),
    Mutant("vtpm-mirror-sha1-only", "HANDOFF-NOLOSS",
           "a vTPM started with mirrored hardware PCRs copies only the sha1 bank (as TPM 1.2 hwinitpcr "
           "did); its other banks start from their reset values"),
    # NV: orderly index state
    Mutant("nv-orderly-state-unsaved-at-shutdown", "NV-DURABLE",
           "TPM2_Shutdown does not save the RAM-held attributes of orderly indices (e.g. TPMA_NV_WRITELOCKED)"),
    # hash and event sequences (harness/emulator/sequences.py)
    Mutant("sequence-update-drops-block", "PCR-AGREE",
           "TPM2_SequenceUpdate hashes only a sequence's first block; later blocks are acknowledged and dropped"),
    Mutant("event-sequence-skips-bank", "PCR-AGREE",
           "TPM2_EventSequenceComplete extends every allocated bank but the last"),
    Mutant("sequence-survives-startup", "PCR-AGREE",
           "sequence objects stay loaded across _TPM_Init and TPM2_Startup instead of being flushed"),
    Mutant("sequence-ticket-checks-last-block", "PCR-AGREE",
           "TPM2_SequenceComplete decides whether a ticket is safe from its last block, not the first"),
    # GetCapability of state (harness/emulator/live_capability.py)
    Mutant("handles-capability-misses-nv-index", "PCR-AGREE",
           "TPM_CAP_HANDLES for TPM_HT_NV_INDEX leaves out the highest defined index"),
    Mutant("transient-avail-not-updated", "PCR-AGREE",
           "TPM_PT_HR_TRANSIENT_AVAIL stays at the slot count while sequence objects are loaded"),
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
