"""The operation vocabulary shared by models, wire layer, targets and machines.

An operation is a small frozen value.  TPM commands (``Startup``,
``PcrExtend``, ...) become command bytes through ``harness.wire``; platform
operations (``PowerCycle``, ``Crash``, ``Drtm``, ...) become calls on a target.
``locality`` is the locality the command is issued at; it travels beside the
bytes, never inside them.

Every model answers an operation with an :class:`Outcome`; the wire layer
decodes a target's response into the same type, so the two compare with
:func:`outcome_matches`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

# --- results ---------------------------------------------------------------


class _Wildcard:
    """A singleton placed in an expected outcome where the specification leaves a value open."""

    _instances: dict = {}

    def __new__(cls):
        if cls not in _Wildcard._instances:
            _Wildcard._instances[cls] = super().__new__(cls)
        return _Wildcard._instances[cls]

    def __repr__(self) -> str:
        return self.NAME

    def __reduce__(self):
        return (type(self), ())


class _Any(_Wildcard):
    """Any value at all."""

    NAME = "ANY"


class _AnyError(_Wildcard):
    """Any non-success response code (the spec fixes only that the command fails)."""

    NAME = "ANY_ERROR"


ANY = _Any()
ANY_ERROR = _AnyError()

PcrSelection = tuple[tuple[int, tuple[int, ...]], ...]
"""((hashAlg, (pcr, ...)), ...): a TPML_PCR_SELECTION as plain values, in wire order."""


@dataclass(frozen=True, slots=True)
class PcrReadResult:
    """TPM2_PCR_Read response parameters: pcrUpdateCounter, pcrSelectionOut, pcrValues."""

    update_counter: int | _Any
    selection: PcrSelection
    digests: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class RandomResult:
    """TPM2_GetRandom: only the size is specified; the bytes are not compared."""

    size: int
    data: bytes | _Any = ANY


@dataclass(frozen=True, slots=True)
class CapabilityResult:
    """TPM2_GetCapability: moreData and TPMS_CAPABILITY_DATA as plain values.

    ``data`` is, by capability: TPM_CAP_PCRS -> PcrSelection;
    TPM_CAP_TPM_PROPERTIES / TPM_CAP_PCR_PROPERTIES -> ((property, value), ...)
    for TPM properties, ((tag, (pcr, ...)), ...) for PCR properties;
    TPM_CAP_ALGS -> ((alg, attributes), ...); TPM_CAP_HANDLES -> (handle, ...).
    """

    more_data: bool | _Any
    capability: int
    data: tuple


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command did: its response code and decoded response parameters."""

    rc: int | _AnyError
    value: object = None


def outcome_matches(expected: Outcome, observed: Outcome) -> bool:
    """True when ``observed`` agrees with ``expected``; ANY fields match anything."""
    if expected.rc is ANY_ERROR:
        return observed.rc != 0
    if expected.rc != observed.rc:
        return False
    return _value_matches(expected.value, observed.value)


def _value_matches(exp, obs) -> bool:
    if exp is ANY or exp == obs:
        return True
    if type(exp) is not type(obs):
        return False
    if isinstance(exp, (PcrReadResult, RandomResult, CapabilityResult, SessionStarted, HashCheckTicket,
                        SequenceResult)):
        return all(
            _value_matches(getattr(exp, f), getattr(obs, f)) for f in exp.__slots__
        )
    if isinstance(exp, tuple) and len(exp) == len(obs):
        return all(_value_matches(e, o) for e, o in zip(exp, obs))
    return False


# --- TPM commands ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Startup:
    su: int  # TPM_SU
    locality: int = 0


@dataclass(frozen=True, slots=True)
class Shutdown:
    su: int  # TPM_SU
    locality: int = 0


@dataclass(frozen=True, slots=True)
class PcrExtend:
    """TPM2_PCR_Extend with password authorization; digests as ((hashAlg, bytes), ...)."""

    pcr: int
    digests: tuple[tuple[int, bytes], ...]
    locality: int = 0


@dataclass(frozen=True, slots=True)
class PcrEvent:
    """TPM2_PCR_Event: the TPM hashes ``data`` (at most 1024 bytes) into every bank."""

    pcr: int
    data: bytes
    locality: int = 0


@dataclass(frozen=True, slots=True)
class PcrReset:
    pcr: int
    locality: int = 0


@dataclass(frozen=True, slots=True)
class PcrRead:
    selection: PcrSelection
    locality: int = 0


@dataclass(frozen=True, slots=True)
class GetRandom:
    size: int
    locality: int = 0


@dataclass(frozen=True, slots=True)
class GetCapability:
    capability: int  # TPM_CAP
    prop: int
    count: int
    locality: int = 0


@dataclass(frozen=True, slots=True)
class Raw:
    """Arbitrary command bytes, usually malformed: how suites try bad input.

    ``kind`` names the malformation class (``bad-tag``, ``size-mismatch``, ...)
    so findings say what was tried.
    """

    data: bytes
    kind: str = "raw"
    locality: int = 0


TpmCommand = Union[
    Startup, Shutdown, PcrExtend, PcrEvent, PcrReset, PcrRead, GetRandom,
    GetCapability, Raw,
]

# --- platform operations ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class PowerCycle:
    """_TPM_Init after loss of power.  ``orderly``: the platform let the TPM
    finish (swtpm: CMD_INIT); otherwise power is cut (process killed, restarted
    on the same state).  Whether the *TPM* shut down orderly is decided by a
    preceding Shutdown command, not by this flag."""

    orderly: bool = True


@dataclass(frozen=True, slots=True)
class Crash:
    """Abrupt loss of the TPM (process killed) and restart on the same state."""


@dataclass(frozen=True, slots=True)
class Drtm:
    """_TPM_Hash_Start, _TPM_Hash_Data(data), _TPM_Hash_End at locality 4.

    Before Startup this is an H-CRTM sequence (PCR0), after it a DRTM (PCR17).
    """

    data: bytes


PlatformOp = Union[PowerCycle, Crash, Drtm]
Op = Union[TpmCommand, PlatformOp]

# --- NV storage (Part 3, 31) -------------------------------------------------
# ``auth`` is the authorization handle of the command (TPM_RH_OWNER,
# TPM_RH_PLATFORM or the index itself); ``password`` the password session's
# hmac.  The empty password is the default of a freshly manufactured TPM.


@dataclass(frozen=True, slots=True)
class NvPublicResult:
    """TPM2_NV_ReadPublic: TPMS_NV_PUBLIC fields and the Name (nameAlg || H(TPMS_NV_PUBLIC))."""

    index: int
    name_alg: int
    attributes: int  # TPMA_NV
    auth_policy: bytes
    data_size: int
    name: bytes


class AtLeast:
    """An NV counter value that may be any count >= ``bound`` (after a disorderly shutdown an
    orderly counter jumps forward by an implementation-chosen amount, Part 1 "NV Counters")."""

    __slots__ = ("bound",)

    def __init__(self, bound: int) -> None:
        self.bound = bound

    def __eq__(self, other) -> bool:
        return (type(other) is bytes and len(other) == 8
                and int.from_bytes(other, "big") >= self.bound)

    __hash__ = None

    def __repr__(self) -> str:
        return f"AtLeast({self.bound})"


@dataclass(frozen=True, slots=True)
class NvDefineSpace:
    auth: int  # TPM_RH_OWNER or TPM_RH_PLATFORM
    index: int
    name_alg: int
    attributes: int  # TPMA_NV
    data_size: int
    auth_policy: bytes = b""
    auth_value: bytes = b""
    password: bytes = b""
    locality: int = 0


@dataclass(frozen=True, slots=True)
class NvUndefineSpace:
    auth: int  # TPM_RH_OWNER or TPM_RH_PLATFORM
    index: int
    password: bytes = b""
    locality: int = 0


@dataclass(frozen=True, slots=True)
class NvReadPublic:
    index: int
    locality: int = 0


@dataclass(frozen=True, slots=True)
class NvWrite:
    auth: int
    index: int
    data: bytes
    offset: int = 0
    password: bytes = b""
    locality: int = 0


@dataclass(frozen=True, slots=True)
class NvRead:
    """Success value: the bytes read (an AtLeast for an orderly counter after a crash)."""

    auth: int
    index: int
    size: int
    offset: int = 0
    password: bytes = b""
    locality: int = 0


@dataclass(frozen=True, slots=True)
class NvIncrement:
    auth: int
    index: int
    password: bytes = b""
    locality: int = 0


@dataclass(frozen=True, slots=True)
class NvExtend:
    auth: int
    index: int
    data: bytes
    password: bytes = b""
    locality: int = 0


@dataclass(frozen=True, slots=True)
class NvWriteLock:
    auth: int
    index: int
    password: bytes = b""
    locality: int = 0


@dataclass(frozen=True, slots=True)
class NvReadLock:
    auth: int
    index: int
    password: bytes = b""
    locality: int = 0


NvCommand = Union[NvDefineSpace, NvUndefineSpace, NvReadPublic, NvWrite, NvRead, NvIncrement,
                  NvExtend, NvWriteLock, NvReadLock]


class Partly:
    """NV data some of whose bytes the specification leaves open (None): the content of an
    index before it is written is the implementation's (the reference fills it with 0xFF)."""

    __slots__ = ("octets",)

    def __init__(self, octets: tuple) -> None:
        self.octets = octets

    def __eq__(self, other) -> bool:
        return (type(other) is bytes and len(other) == len(self.octets)
                and all(e is None or e == o for e, o in zip(self.octets, other)))

    __hash__ = None

    def __repr__(self) -> str:
        return "Partly(" + "".join("??" if e is None else f"{e:02x}" for e in self.octets) + ")"

# --- vTPM platform operations (models.vtpm) --------------------------------


@dataclass(frozen=True, slots=True)
class AttachDisk:
    """The vTPM manager attaches the vTPM's disk (its NV), possibly late, while it runs."""


@dataclass(frozen=True, slots=True)
class DetachDisk:
    """The vTPM's disk is lost while the vTPM runs."""


@dataclass(frozen=True, slots=True)
class MirrorPcrs:
    """From the next Startup(CLEAR) on the vTPM starts these PCRs with these values, copied
    from the hardware TPM (Xen hwinitpcr): ((hashAlg, ((pcr, value), ...)), ...)."""

    values: tuple[tuple[int, tuple[tuple[int, bytes], ...]], ...]

    def as_dict(self) -> dict[int, dict[int, bytes]]:
        return {alg: dict(pcrs) for alg, pcrs in self.values}


VtpmPlatformOp = Union[AttachDisk, DetachDisk, MirrorPcrs]

# --- policy sessions (Part 3, 11 and 23) -------------------------------------
# Session handles and nonceTPM are the TPM's choice: the model answers with
# SessionIn / SizedNonce and follows the handle the target returned
# (models.tpm.policy, harness.policy.start_session).


class SessionIn:
    """A session handle the TPM chose: any handle of ``first``'s type whose slot is free."""

    __slots__ = ("first", "free")

    def __init__(self, first: int, free: frozenset) -> None:
        self.first = first
        self.free = free  # slot numbers (handle - first) a new session may take

    def __eq__(self, other) -> bool:
        return type(other) is int and other - self.first in self.free

    __hash__ = None

    def __repr__(self) -> str:
        return f"SessionIn({self.first:#010x} + one of {sorted(self.free)[:4]}...)"


class SizedNonce:
    """A nonceTPM: random bytes of a size the specification fixes."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size

    def __eq__(self, other) -> bool:
        return type(other) is bytes and len(other) == self.size

    __hash__ = None

    def __repr__(self) -> str:
        return f"SizedNonce({self.size})"


@dataclass(frozen=True, slots=True)
class SessionStarted:
    """TPM2_StartAuthSession: sessionHandle and nonceTPM."""

    handle: object
    nonce_tpm: object


@dataclass(frozen=True, slots=True)
class StartAuthSession:
    """Unsalted, unbound (tpmKey = bind = TPM_RH_NULL), symmetric TPM_ALG_NULL."""

    session_type: int  # TPM_SE
    auth_hash: int  # TPM_ALG
    nonce_caller: bytes = b"\x5a" * 16
    locality: int = 0


@dataclass(frozen=True, slots=True)
class PolicyPCR:
    session: int
    selection: PcrSelection
    pcr_digest: bytes = b""  # empty: the TPM uses the current PCR values
    locality: int = 0


@dataclass(frozen=True, slots=True)
class PolicyLocality:
    session: int
    localities: int  # TPMA_LOCALITY
    locality: int = 0


@dataclass(frozen=True, slots=True)
class PolicyGetDigest:
    session: int
    locality: int = 0


@dataclass(frozen=True, slots=True)
class PolicyRestart:
    session: int
    locality: int = 0


@dataclass(frozen=True, slots=True)
class FlushContext:
    handle: int
    locality: int = 0


@dataclass(frozen=True, slots=True)
class NvPolicyRead:
    """TPM2_NV_Read of ``index`` authorized by the index's authPolicy through a policy session."""

    index: int
    size: int
    session: int
    offset: int = 0
    continue_session: bool = True
    nonce_caller: bytes = b"\xa5" * 16
    locality: int = 0


@dataclass(frozen=True, slots=True)
class NvPolicyWrite:
    """TPM2_NV_Write of ``index`` authorized by the index's authPolicy through a policy session."""

    index: int
    data: bytes
    session: int
    offset: int = 0
    continue_session: bool = True
    nonce_caller: bytes = b"\xa5" * 16
    locality: int = 0


PolicyCommand = Union[StartAuthSession, PolicyPCR, PolicyLocality, PolicyGetDigest, PolicyRestart,
                      FlushContext, NvPolicyRead, NvPolicyWrite]


class OneOf:
    """A response value the specification lets the TPM choose among a few ``choices``: e.g.
    the public area of an orderly index whose write lock a disorderly shutdown may have lost."""

    __slots__ = ("choices",)

    def __init__(self, *choices) -> None:
        self.choices = choices

    def __eq__(self, other) -> bool:
        return any(choice == other for choice in self.choices)

    __hash__ = None

    def __repr__(self) -> str:
        return "OneOf(" + ", ".join(map(repr, self.choices)) + ")"


# --- hash and event sequences (Part 3, 17.3-17.6) -----------------------------
# ``password`` is the sequence's authValue as the password session carries it.


class NewHandle:
    """A handle the TPM chooses for a new transient object: any TPM_HT_TRANSIENT handle
    not already in ``in_use`` (the model adopts the one the target returns)."""

    __slots__ = ("in_use",)

    def __init__(self, in_use: frozenset) -> None:
        self.in_use = in_use

    def __eq__(self, other) -> bool:
        return type(other) is int and other >> 24 == 0x80 and other not in self.in_use

    __hash__ = None

    def __repr__(self) -> str:
        return f"NewHandle(not {sorted(hex(h) for h in self.in_use)})"


@dataclass(frozen=True, slots=True)
class HashCheckTicket:
    """TPMT_TK_HASHCHECK: the digest is an HMAC over a TPM secret, so the model leaves it open."""

    tag: int
    hierarchy: int
    digest: bytes | _Any


@dataclass(frozen=True, slots=True)
class SequenceResult:
    """TPM2_SequenceComplete: the digest and its ticket."""

    digest: bytes
    ticket: HashCheckTicket


@dataclass(frozen=True, slots=True)
class HashSequenceStart:
    """hash_alg TPM_ALG_NULL starts an event sequence.  Success value: the sequence handle."""

    auth: bytes
    hash_alg: int
    locality: int = 0


@dataclass(frozen=True, slots=True)
class SequenceUpdate:
    handle: int
    data: bytes
    password: bytes = b""
    locality: int = 0


@dataclass(frozen=True, slots=True)
class SequenceComplete:
    """Success value: a SequenceResult."""

    handle: int
    data: bytes
    hierarchy: int
    password: bytes = b""
    locality: int = 0


@dataclass(frozen=True, slots=True)
class EventSequenceComplete:
    """pcr may be TPM_RH_NULL.  Success value: ((hashAlg, digest), ...) of every implemented hash."""

    pcr: int
    handle: int
    data: bytes
    password: bytes = b""
    locality: int = 0


SequenceCommand = Union[HashSequenceStart, SequenceUpdate, SequenceComplete, EventSequenceComplete]
