"""The requirement IDs of DESIGN.md and the one checking function of each.

A check that fails raises :class:`Violation`, an AssertionError carrying the
requirement ID, a one-line summary and the steps that led there, so
Hypothesis shrinks it like any failure and evidence can cite it.
"""

from __future__ import annotations

from models.ops import ANY_ERROR, Outcome, PcrReadResult, Raw
from models.tcg import TPM_RC, describe_rc

REQUIREMENTS = {
    "PCR-AGREE": "every PCR of every allocated bank equals the model after each step",
    "PCR-LOCALITY": "reset/extend permissions per locality follow the PC Client PTP table; "
                    "refusals carry the right TPM_RC",
    "PCR-INIT": "PCR values after Startup(CLEAR/STATE) and after H-CRTM/DRTM sequences",
    "STARTUP": "TPM Reset / Restart / Resume semantics; commands before Startup get TPM_RC_INITIALIZE",
    "NV-DURABLE": "an acknowledged NV write survives crash and power cycle",
    "NV-POLICY": "PCR-bound NV/sealed data is released iff the PCRs match the policy",
    "LOC-CONTENTION": "concurrent clients at different localities: each command runs at its "
                      "issuer's locality; nothing lost or misrouted",
    "IMA-REPLAY": "replaying the IMA log gives the PCR10 of the TPM that holds it, in every bank",
    "HANDOFF-NOLOSS": "across a pTPM -> vTPM switch every measurement is in the log exactly once "
                      "and in the right TPM",
    "HANDOFF-VERIFIABLE": "the verifier accepts every honest split history and rejects every altered one",
    "DISK-MISSING": "a vTPM without its disk serves extends/reads and refuses persistent operations "
                    "with a defined error",
    "DISK-ATTACH": "attaching the disk later loses no extend made before it",
    "INSTANCE-ISOLATION": "nothing done to one vTPM changes another",
    "ROBUST-INPUT": "malformed commands get a TPM error response; the target neither hangs nor dies",
    "RESP-WELLFORMED": "every response parses: sizes, tags, and codes are consistent",
}

_LOCALITY = int(TPM_RC.TPM_RC_LOCALITY)
_INITIALIZE = int(TPM_RC.TPM_RC_INITIALIZE)
_POLICY_OPS = frozenset({"StartAuthSession", "PolicyPCR", "PolicyLocality", "PolicyGetDigest", "PolicyRestart",
                         "FlushContext", "NvPolicyRead", "NvPolicyWrite"})  # models.ops.PolicyCommand


class Violation(AssertionError):
    """A requirement did not hold: a finding about the target."""

    def __init__(self, requirement: str, summary: str, steps: list[str] | None = None) -> None:
        self.requirement = requirement
        self.summary = summary
        self.steps = steps or []
        self.trace = None  # the raw steps, attached by the driver that saw it
        super().__init__(self._message())

    def _message(self) -> str:
        text = f"[{self.requirement}] {self.summary}"
        if self.steps:
            text += "\nsteps (the last is the one that failed):\n" + "\n".join(self.steps)
        return text

    def with_steps(self, steps: list[str], trace) -> "Violation":
        self.steps = steps
        self.trace = trace
        self.args = (self._message(),)
        return self


def rc_text(rc) -> str:
    return "any error code" if rc is ANY_ERROR else describe_rc(rc)


def _differs(what: str, expected: Outcome, observed: Outcome) -> str:
    if expected.rc is not ANY_ERROR and expected.rc == observed.rc:
        return f"{what}: returned {observed.value!r}, the model expects {expected.value!r}"
    return f"{what}: returned {rc_text(observed.rc)}, the model expects {rc_text(expected.rc)}"


# --- one function per requirement ID --------------------------------------------


def check_resp_wellformed(what: str, problem: str) -> None:
    """RESP-WELLFORMED: the response parsed (sizes, tags, codes consistent)."""
    raise Violation("RESP-WELLFORMED", f"{what}: malformed response: {problem}")


def check_robust_input(op: Raw, expected: Outcome, observed: Outcome | None, what: str,
                       transport_error: str | None = None) -> None:
    """ROBUST-INPUT: a malformed command gets an error response and the target survives."""
    if transport_error is not None:
        raise Violation("ROBUST-INPUT", f"{what}: the target failed: {transport_error}")
    if observed.rc == 0:
        raise Violation("ROBUST-INPUT", f"{what}: a malformed command was accepted (TPM_RC_SUCCESS)")
    raise Violation("ROBUST-INPUT", _differs(what, expected, observed))


def check_error_class(what: str, kind: str, observed: Outcome, allowed: frozenset[int]) -> None:
    """ROBUST-INPUT: a malformed command of class ``kind`` fails with an error number the
    specification allows for that class (e.g. TPM_RC_INSUFFICIENT for truncated parameters)."""
    names = ", ".join(rc_text(code) for code in sorted(allowed))
    raise Violation("ROBUST-INPUT", f"{what}: {kind} answered {rc_text(observed.rc)}, "
                                    f"expected an error of class {names}")


def check_startup(what: str, expected: Outcome, observed: Outcome) -> None:
    """STARTUP: Reset/Restart/Resume classification, the Startup gate, refusals."""
    raise Violation("STARTUP", _differs(what, expected, observed))


def check_pcr_locality(what: str, expected: Outcome, observed: Outcome) -> None:
    """PCR-LOCALITY: the PTP locality table decides; refusals are TPM_RC_LOCALITY."""
    raise Violation("PCR-LOCALITY", _differs(what, expected, observed))


def check_pcr_init(differences: list[str]) -> None:
    """PCR-INIT: PCRs untouched since Startup/H-CRTM/DRTM hold their defined values."""
    raise Violation("PCR-INIT", "PCR values after initialisation differ from the model: "
                    + "; ".join(differences))


def check_nv_durable(what: str, expected: Outcome, observed: Outcome) -> None:
    """NV-DURABLE: NV index data, attributes and Names as the model says, whatever crashed."""
    raise Violation("NV-DURABLE", _differs(what, expected, observed))


def check_nv_policy(what: str, expected: Outcome, observed: Outcome) -> None:
    """NV-POLICY: policy sessions, their digests and the data they release behave as the model says."""
    raise Violation("NV-POLICY", _differs(what, expected, observed))


def check_pcr_agree(summary: str) -> None:
    """PCR-AGREE: PCR values, banks, pcrUpdateCounter and command results agree with the model."""
    raise Violation("PCR-AGREE", summary)


def route(op, rcs) -> str:
    """The requirement a disagreement about ``op`` belongs to, given the two response codes."""
    if isinstance(op, Raw):
        return "ROBUST-INPUT"
    if type(op).__name__ in _POLICY_OPS:
        return "NV-POLICY"
    if type(op).__name__ in ("Startup", "Shutdown") or _INITIALIZE in rcs:
        return "STARTUP"
    if _LOCALITY in rcs:
        return "PCR-LOCALITY"
    if type(op).__name__.startswith("Nv"):
        return "NV-DURABLE"
    return "PCR-AGREE"


def classify_outcome(op, what: str, expected: Outcome, observed: Outcome) -> None:
    """Route a command whose outcome differs from the model to its requirement's check."""
    requirement = route(op, (expected.rc, observed.rc))
    if requirement == "ROBUST-INPUT":
        check_robust_input(op, expected, observed, what)
    if requirement == "STARTUP":
        check_startup(what, expected, observed)
    if requirement == "PCR-LOCALITY":
        check_pcr_locality(what, expected, observed)
    if requirement == "NV-DURABLE":
        check_nv_durable(what, expected, observed)
    if requirement == "NV-POLICY":
        check_nv_policy(what, expected, observed)
    check_pcr_agree(_differs(what, expected, observed))


def compare_pcr_read(result: PcrReadResult, values: dict, untouched: set[int]) -> None:
    """Compare one PCR_Read of the invariant sweep with the model's values."""
    init_diffs, agree_diffs = [], []
    digests = iter(result.digests)
    for alg, pcrs in result.selection:
        for pcr in pcrs:
            got = next(digests, None)
            want = values.get((alg, pcr))
            if got != want:
                line = f"PCR {pcr} bank {alg:#06x}: {got.hex() if got else None} != model {want.hex() if want else None}"
                (init_diffs if pcr in untouched else agree_diffs).append(line)
    if agree_diffs:
        check_pcr_agree("PCR values differ from the model: " + "; ".join(agree_diffs))
    if init_diffs:
        check_pcr_init(init_diffs)


def check_loc_contention(summary: str) -> None:
    """LOC-CONTENTION: concurrent clients' commands ran at their issuers' localities, each answered once."""
    raise Violation("LOC-CONTENTION", summary)


def check_ima_replay(summary: str) -> None:
    """IMA-REPLAY: the replay of the log a TPM holds gives that TPM's PCR10, in every bank."""
    raise Violation("IMA-REPLAY", summary)


def check_handoff_noloss(summary: str) -> None:
    """HANDOFF-NOLOSS: across the pTPM -> vTPM switch every measurement is logged once, in the right TPM."""
    raise Violation("HANDOFF-NOLOSS", summary)


def check_handoff_verifiable(summary: str) -> None:
    """HANDOFF-VERIFIABLE: the verifier accepts the honest split history and rejects altered ones."""
    raise Violation("HANDOFF-VERIFIABLE", summary)
