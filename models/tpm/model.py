"""TpmModel: the TPM 2.0 PCR and startup subset as an executable specification.

State follows the reference code (Part 4) names: the PCR banks (PCR.c), the
startup flags g_DrtmPreStartup and g_StartupLocality3 (StartupCommands.c), the
orderly state gp.orderlyState and the Shutdown(STATE) data kept in NV.  Each
command checks in the order ExecCommand.c and the command's action code use:
Startup gate, handle, parameters (unmarshalling), then the action's own checks.

The pcrUpdateCounter's value after Startup and after a DRTM sequence is the
implementation's (reference PCRStartup bumps it once per re-initialised PCR),
so the model counts increments within an epoch that starts there; compare
deltas within one ``counter_epoch``.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from models.ops import (ANY, ANY_ERROR, Crash, Drtm, GetCapability, GetRandom, MirrorPcrs, Outcome,
                        PcrEvent, PcrExtend, PcrRead, PcrReadResult, PcrReset, PowerCycle, RandomResult, Raw,
                        Shutdown, Startup)
from models.ops import (NvDefineSpace, NvExtend, NvIncrement, NvRead, NvReadLock, NvReadPublic,
                        NvUndefineSpace, NvWrite, NvWriteLock)
from models.ops import (FlushContext, NvPolicyRead, NvPolicyWrite, PolicyGetDigest, PolicyLocality, PolicyPCR,
                        PolicyRestart, StartAuthSession)
from models.tcg import (DIGEST_SIZE, HASHLIB_NAME, HMAC_SESSION_FIRST, MAX_ACTIVE_SESSIONS, MAX_DIGESTS_PER_READ,
                        MAX_LOADED_SESSIONS, POLICY_SESSION_FIRST, TPM_ALG, TPM_RH, TPM_SE)
from models.tpm import rc
from models.tpm.attributes import (DRTM_PCR, HCRTM_LOCALITY, HCRTM_PCR, LOCALITY_4, PCR_COUNT,
                                   pcr_initial_value)
from models.tpm.capability import get_capability
from models.tpm.nv import HANDLE_1, NvState
from models.tpm.policy import POLICYWRITE, PolicySessions
from models.tpm import live_capability as live
from models.tpm import sequences as seq
from models.ops import EventSequenceComplete, HashSequenceStart, SequenceComplete, SequenceResult, SequenceUpdate
from models.tpm.profile import MODELLED_COMMANDS, PROFILES, Profile
from models.tpm.raw import CC_STARTUP, HEADER, decode_command, header_error

ALL_BANKS = tuple(int(a) for a in (TPM_ALG.TPM_ALG_SHA1, TPM_ALG.TPM_ALG_SHA256,
                                   TPM_ALG.TPM_ALG_SHA384, TPM_ALG.TPM_ALG_SHA512))
SU_CLEAR, SU_STATE = 0, 1  # TPM_SU
SU_NONE = 0xFFFF  # SU_NONE_VALUE: no orderly shutdown since the last Startup
_RH_NULL = int(TPM_RH.TPM_RH_NULL)
_MAX_EVENT = 1024  # TPM2B_EVENT.size limit
_MAX_LOCALITY = 4
_ANY_ERROR = Outcome(ANY_ERROR)
_DIGEST_SIZE = {int(alg): size for alg, size in DIGEST_SIZE.items()}  # int keys: faster lookups


class SavedState(NamedTuple):
    """What TPM2_Shutdown(STATE) leaves in NV for TPM Resume (StartupCommands.c).

    ``pcrs`` maps each bank to the values of the stateSave PCRs, ascending.
    """

    pcrs: dict
    startup_locality3: bool  # STARTUP_LOCALITY_3 of gp.orderlyState
    hcrtm: bool  # PRE_STARTUP_FLAG: an H-CRTM sequence ran before that Startup


class _Platform:
    """What never changes for one (profile, banks): shared by every copy."""

    __slots__ = ("profile", "banks", "hash", "implemented", "event_hashes", "initial", "zeros",
                 "hcrtm_start", "saved_pcrs", "drtm_pcrs", "capabilities")

    def __init__(self, profile: Profile, banks: tuple[int, ...]) -> None:
        self.profile = profile
        self.banks = banks
        self.hash = {alg: getattr(hashlib, HASHLIB_NAME[alg]) for alg in banks}
        self.implemented = frozenset(profile.implemented_algs)
        self.event_hashes = tuple((alg, getattr(hashlib, HASHLIB_NAME[alg]))
                                  for alg in profile.implemented_algs)
        self.initial = {
            alg: {loc: tuple(pcr_initial_value(profile, pcr, DIGEST_SIZE[alg], loc)
                             for pcr in range(PCR_COUNT)) for loc in (0, 3)}
            for alg in banks}
        self.zeros = {alg: bytes(DIGEST_SIZE[alg]) for alg in banks}
        self.hcrtm_start = {alg: bytes(DIGEST_SIZE[alg] - 1) + bytes((HCRTM_LOCALITY,))
                            for alg in banks}
        self.saved_pcrs = tuple(sorted(profile.state_save))
        self.drtm_pcrs = tuple(p for p in range(PCR_COUNT) if profile.reset_mask[p] & LOCALITY_4)
        self.capabilities: dict[tuple[int, int, int], Outcome] = {}  # GetCapability answers so far


class TpmModel:
    """One TPM: powered on and not started, as after _TPM_Init.

    ``apply(op)`` answers every operation of models.ops with the Outcome the
    specification requires and updates the state.  It raises ValueError only
    for operations no encoder can send (a locality outside 0-4, a digest of the
    wrong size, a field too wide for its wire type, a PCR outside 0-23 in a
    selection) and for a Raw that is a valid command the model would execute.
    """

    __slots__ = ("_platform", "_pcrs", "_started", "_hcrtm", "_locality3", "_orderly", "_saved",
                 "_epoch", "_increments", "_nv", "_mirror", "_sessions", "_seq")

    def __init__(self, profile: Profile = PROFILES["ptp"], banks: tuple[int, ...] = ALL_BANKS) -> None:
        if not isinstance(profile, Profile):
            raise TypeError(f"profile must be a models.tpm.Profile, not {type(profile).__name__}")
        wanted = set(banks)
        unknown = wanted - set(profile.implemented_algs)
        if not wanted or unknown or len(wanted) != len(banks):
            raise ValueError(f"banks {banks!r}: want distinct algorithms among {profile.implemented_algs} "
                             f"of profile {profile.name}")
        allocated = tuple(alg for alg in profile.implemented_algs if alg in wanted)
        self._platform = _Platform(profile, allocated)
        self._pcrs = {alg: list(self._platform.initial[alg][0]) for alg in allocated}
        self._started = False
        self._hcrtm = False  # g_DrtmPreStartup: an H-CRTM sequence ran since _TPM_Init
        self._locality3 = False  # g_StartupLocality3
        self._orderly = SU_NONE  # gp.orderlyState without its flags
        self._saved: SavedState | None = None
        self._epoch = 0
        self._increments = 0
        self._nv = NvState()
        self._mirror: dict | None = None  # alg -> {pcr: value} replacing initial values (mirror_pcrs)
        self._sessions = PolicySessions()
        self._seq = seq.SequenceState(profile.max_loaded_objects)

    # --- read-only views --------------------------------------------------------------

    @property
    def profile(self) -> Profile:
        return self._platform.profile

    @property
    def banks(self) -> tuple[int, ...]:
        """Allocated banks (TPM_ALG ids) in the profile's order."""
        return self._platform.banks

    @property
    def started(self) -> bool:
        return self._started

    @property
    def counter_epoch(self) -> int:
        """Bumped at every successful Startup, PowerCycle, Crash and Drtm."""
        return self._epoch

    @property
    def counter_increments(self) -> int:
        """pcrUpdateCounter increments within the current epoch."""
        return self._increments

    def pcr(self, alg: int, index: int) -> bytes:
        try:
            return self._pcrs[alg][index]
        except KeyError:
            raise ValueError(f"bank {alg:#06x} is not allocated (banks {self.banks})") from None

    def pcr_values(self) -> dict[tuple[int, int], bytes]:
        """(alg, pcr) -> value for every PCR of every allocated bank.

        Before the first Startup the values are not observable (every command
        but Startup fails) and not meaningful.
        """
        return {(alg, pcr): value for alg, values in self._pcrs.items()
                for pcr, value in enumerate(values)}

    def copy(self) -> "TpmModel":
        """An independent model in the same state: PCR lists copied, bytes shared."""
        new = TpmModel.__new__(TpmModel)
        new._platform = self._platform
        new._pcrs = {alg: values.copy() for alg, values in self._pcrs.items()}
        new._started = self._started
        new._hcrtm = self._hcrtm
        new._locality3 = self._locality3
        new._orderly = self._orderly
        new._saved = self._saved
        new._epoch = self._epoch
        new._increments = self._increments
        new._nv = self._nv.copy()
        new._mirror = self._mirror
        new._sessions = self._sessions.copy()
        new._seq = self._seq.copy()
        return new

    # --- vTPM controls (models.vtpm) --------------------------------------------------

    def mirror_pcrs(self, values: dict[int, dict[int, bytes]]) -> None:
        """From the next Startup(CLEAR) on, start these PCRs (alg -> {pcr: value}) with these
        values, as a Xen vTPM started with hwinitpcr copies the hardware TPM's PCRs."""
        for alg, pcrs in values.items():
            for pcr, value in pcrs.items():
                if alg not in self._pcrs or not 0 <= pcr < PCR_COUNT or len(value) != _DIGEST_SIZE[alg]:
                    raise ValueError(f"mirror_pcrs: no PCR {pcr} of {len(value)} bytes in bank {alg:#06x}")
        self._mirror = {alg: dict(pcrs) for alg, pcrs in values.items()}

    def _mirror_op(self, op: MirrorPcrs) -> Outcome:
        self.mirror_pcrs(op.as_dict())
        return rc.OK

    def nv_image(self) -> tuple:
        """The NV part of the state this model keeps (orderly state, Shutdown(STATE) data,
        NV indices): what a vTPM's disk holds."""
        return (self._orderly, self._saved, self._nv.copy())

    def load_nv(self, image: tuple) -> None:
        """Replace NV with ``image`` (from nv_image()); volatile state (PCRs, Startup) stays."""
        self._orderly, self._saved, nv = image
        self._nv = nv.copy()

    # --- operations -------------------------------------------------------------------

    def apply(self, op) -> Outcome:
        """The Outcome of ``op``; the state moves on as the TPM's would."""
        handler = _HANDLERS.get(type(op))
        if handler is None:
            raise TypeError(f"not an operation of models.ops: {op!r}")
        return handler(self, op)

    def _startup(self, op: Startup) -> Outcome:
        """TPM2_Startup (Part 3, 9.3; StartupCommands.c): Reset, Restart or Resume."""
        locality = _locality(op)
        su = _u16(op.su, "Startup.su")
        if self._started:
            return rc.NOT_INITIALIZED
        if su != SU_CLEAR and su != SU_STATE:
            return rc.BAD_VALUE_1
        if locality != 0 and locality != 3:
            return rc.WRONG_LOCALITY  # PC Client: Startup only at locality 0 or 3
        locality3 = locality == 3 and not self._hcrtm  # an H-CRTM makes it locality 0
        restore = None
        if su == SU_STATE:  # TPM Resume
            if self._orderly != SU_STATE:
                return rc.BAD_VALUE_1
            saved = self._saved
            if self._hcrtm != saved.hcrtm:
                return rc.BAD_VALUE_1
            if locality3 != saved.startup_locality3:
                return rc.WRONG_LOCALITY
            restore = saved.pcrs
        self._locality3 = locality3
        self._initialise_pcrs(3 if locality3 else 0, restore)
        self._nv.startup(reset=su == SU_CLEAR and self._orderly != SU_STATE, resume=restore is not None,
                         orderly=self._orderly != SU_NONE)
        self._sessions.clear()
        self._orderly = SU_NONE
        self._started = True
        self._seq.clear()
        self._new_epoch()
        return rc.OK

    def _initialise_pcrs(self, startup_locality: int, restore: dict | None) -> None:
        """PCR.c PCRStartup: restore stateSave PCRs on Resume, else initial values;
        PCR0 keeps an H-CRTM measurement unless restored."""
        platform = self._platform
        for alg, values in self._pcrs.items():
            hcrtm_value = values[HCRTM_PCR]
            values[:] = platform.initial[alg][startup_locality]
            if restore is not None:
                for pcr, value in zip(platform.saved_pcrs, restore[alg]):
                    values[pcr] = value
            elif self._hcrtm:
                values[HCRTM_PCR] = hcrtm_value
            if restore is None and self._mirror is not None:
                for pcr, value in self._mirror.get(alg, {}).items():
                    values[pcr] = value

    def _shutdown(self, op: Shutdown) -> Outcome:
        """TPM2_Shutdown (Part 3, 9.4): record the orderly state; STATE saves PCRs to NV."""
        _locality(op)
        su = _u16(op.su, "Shutdown.su")
        if not self._started:
            return rc.NOT_INITIALIZED
        if su != SU_CLEAR and su != SU_STATE:
            return rc.BAD_VALUE_1
        if su == SU_STATE:
            saved_pcrs = self._platform.saved_pcrs
            self._saved = SavedState(
                {alg: tuple(values[p] for p in saved_pcrs) for alg, values in self._pcrs.items()},
                self._locality3, self._hcrtm)
        self._nv.shutdown()
        self._orderly = su
        return rc.OK

    def _pcr_extend(self, op: PcrExtend) -> Outcome:
        """TPM2_PCR_Extend (Part 3, 22.2): PCR := H(PCR || digest) per listed, allocated bank."""
        locality = _locality(op)
        pcr = _u32(op.pcr, "PcrExtend.pcr")
        digests = op.digests
        for alg, digest in digests:
            size = _DIGEST_SIZE.get(alg)
            if size is not None and len(digest) != size or not 0 <= alg <= 0xFFFF:
                raise ValueError(f"PcrExtend: TPMT_HA cannot carry a {len(digest)}-byte digest "
                                 f"for hashAlg {alg:#06x}")
        if not self._started:
            return rc.NOT_INITIALIZED
        if pcr >= PCR_COUNT and pcr != _RH_NULL:
            return rc.NOT_A_PCR
        platform = self._platform
        if len(digests) > len(platform.implemented):
            return rc.BAD_SIZE_1  # TPML_DIGEST_VALUES.count > HASH_COUNT
        for alg, _ in digests:
            if alg not in platform.implemented:
                return rc.BAD_HASH_1
        if pcr == _RH_NULL:
            return rc.OK
        return self._extend_pcr(pcr, locality, digests) or rc.OK

    def _extend_pcr(self, pcr: int, locality: int, digests) -> Outcome | None:
        """The extend shared by PCR_Extend and PCR_Event: the locality rule of the PTP table,
        the orderly state cleared by a stateSave PCR, PCR = H(PCR || digest) per allocated bank
        (digests for unallocated banks are ignored).  Returns the refusal, or None."""
        platform = self._platform
        profile = platform.profile
        if not profile.extend_mask[pcr] >> locality & 1:
            return rc.WRONG_LOCALITY
        if pcr in profile.state_save:
            self._clear_orderly()
        counts = pcr not in profile.no_increment
        pcrs, hashes = self._pcrs, platform.hash
        for alg, digest in digests:
            values = pcrs.get(alg)
            if values is not None:
                values[pcr] = hashes[alg](values[pcr] + digest).digest()
                if counts:
                    self._increments += 1
        return None

    def _pcr_event(self, op: PcrEvent) -> Outcome:
        """TPM2_PCR_Event (Part 3, 22.3): every bank extended with H(data); digests returned."""
        locality = _locality(op)
        pcr = _u32(op.pcr, "PcrEvent.pcr")
        data = op.data
        if len(data) > 0xFFFF:
            raise ValueError(f"PcrEvent: TPM2B_EVENT cannot carry {len(data)} bytes")
        if not self._started:
            return rc.NOT_INITIALIZED
        if pcr >= PCR_COUNT and pcr != _RH_NULL:
            return rc.NOT_A_PCR
        if len(data) > _MAX_EVENT:
            return rc.BAD_SIZE_1
        platform = self._platform
        digests = tuple((alg, h(data).digest()) for alg, h in platform.event_hashes)
        if pcr == _RH_NULL:
            return Outcome(rc.SUCCESS, digests)
        refused = self._extend_pcr(pcr, locality, digests)
        return refused or Outcome(rc.SUCCESS, digests)

    def _pcr_reset(self, op: PcrReset) -> Outcome:
        """TPM2_PCR_Reset (Part 3, 22.8): 00..00 in every bank; never at locality 4 (DRTM_PCR)."""
        locality = _locality(op)
        pcr = _u32(op.pcr, "PcrReset.pcr")
        if not self._started:
            return rc.NOT_INITIALIZED
        if pcr >= PCR_COUNT:
            return rc.NOT_A_PCR  # TPMI_DH_PCR without +: TPM_RH_NULL is no PCR here
        profile = self._platform.profile
        if locality == 4 or not profile.reset_mask[pcr] >> locality & 1:
            return rc.WRONG_LOCALITY
        if pcr in profile.state_save:
            self._clear_orderly()
        zeros = self._platform.zeros
        for alg, values in self._pcrs.items():
            values[pcr] = zeros[alg]
        if pcr not in profile.no_increment:
            self._increments += 1
        return rc.OK

    def _pcr_read(self, op: PcrRead) -> Outcome:
        """TPM2_PCR_Read (Part 3, 22.4; PCR.c PCRRead): at most 8 digests, in selection order."""
        _locality(op)
        selection = op.selection
        for alg, pcrs in selection:
            _u16(alg, "PcrRead hashAlg")
            for pcr in pcrs:
                if not 0 <= pcr < PCR_COUNT:
                    raise ValueError(f"PcrRead: PCR {pcr} does not fit a 3-byte pcrSelect")
        if not self._started:
            return rc.NOT_INITIALIZED
        implemented = self._platform.implemented
        if len(selection) > len(implemented):
            return rc.BAD_SIZE_1  # TPML_PCR_SELECTION.count > HASH_COUNT
        for alg, _ in selection:
            if alg not in implemented:
                return rc.BAD_HASH_1
        digests: list[bytes] = []
        selection_out = []
        for alg, pcrs in selection:
            values = self._pcrs.get(alg)
            kept: tuple[int, ...] = ()
            if values is not None:  # bits of unallocated banks are cleared
                room = MAX_DIGESTS_PER_READ - len(digests)
                kept = tuple(sorted(set(pcrs)))[:room]
                digests.extend(values[pcr] for pcr in kept)
            selection_out.append((alg, kept))
        return Outcome(rc.SUCCESS, PcrReadResult(ANY, tuple(selection_out), tuple(digests)))

    def _get_random(self, op: GetRandom) -> Outcome:
        """TPM2_GetRandom (Part 3, 16.1): at most sizeof(TPMU_HA) bytes."""
        _locality(op)
        size = _u16(op.size, "GetRandom.size")
        if not self._started:
            return rc.NOT_INITIALIZED
        return Outcome(rc.SUCCESS, RandomResult(min(size, self._platform.profile.max_random)))

    def _get_capability(self, op: GetCapability) -> Outcome:
        """TPM2_GetCapability (Part 3, 30.2)."""
        _locality(op)
        capability = _u32(op.capability, "GetCapability.capability")
        prop = _u32(op.prop, "GetCapability.prop")
        count = _u32(op.count, "GetCapability.count")
        if not self._started:
            return rc.NOT_INITIALIZED
        if capability == live.HANDLES:
            listed = live.handles(prop, count, self._live_handles())
            if listed is not None:
                return listed
        known = self._platform.capabilities
        request = (capability, prop, count)
        outcome = known.get(request)
        if outcome is None:
            outcome = known[request] = get_capability(self._platform.profile, self.banks, *request)
        if capability == live.TPM_PROPERTIES:
            return live.with_live_properties(outcome, self._live_properties())
        return outcome

    def _session_handles(self, kind: int) -> tuple[int, ...]:
        """Loaded sessions (TPM_HT_LOADED_SESSION) in slot order, each under its own type's
        handle (reference SessionCapGetLoaded); saved sessions (TPM_HT_SAVED_SESSION): none,
        as there is no TPM2_ContextSave."""
        if kind != live.HT_LOADED_SESSION:
            return ()
        return tuple((HMAC_SESSION_FIRST if session.kind == TPM_SE.TPM_SE_HMAC else POLICY_SESSION_FIRST) + slot
                     for slot, session in sorted(self._sessions.slots.items()))

    def _live_handles(self) -> dict[int, tuple[int, ...]]:
        return {live.HT_NV_INDEX: tuple(sorted(self._nv.indices)),
                live.HT_TRANSIENT: tuple(sorted(self._seq.open)),
                live.HT_LOADED_SESSION: self._session_handles(live.HT_LOADED_SESSION),
                live.HT_SAVED_SESSION: self._session_handles(live.HT_SAVED_SESSION)}

    def _live_properties(self) -> dict[int, int]:
        indices = self._nv.indices.values()
        loaded = len(self._session_handles(live.HT_LOADED_SESSION))
        active = loaded + len(self._session_handles(live.HT_SAVED_SESSION))
        return {live.HR_NV_INDEX: len(indices),
                live.HR_LOADED: loaded,
                live.HR_LOADED_AVAIL: MAX_LOADED_SESSIONS - loaded,
                live.HR_ACTIVE: active,
                live.HR_ACTIVE_AVAIL: MAX_ACTIVE_SESSIONS - active,
                live.HR_TRANSIENT_AVAIL: self._seq.slots - len(self._seq.open),
                live.NV_COUNTERS: sum(1 for index in indices if index.attributes >> 4 & 0xF == 1)}

    @property
    def nv_indices(self) -> dict:
        """Defined NV index handle -> models.tpm.nv.Index (read-only view)."""
        return dict(self._nv.indices)

    def nv_observe(self, op, observed: Outcome) -> None:
        """Learn what the TPM chose after a disorderly shutdown, from a response the driver has
        already checked: an orderly counter's value (a full NvRead) or whether an orderly
        index kept an unsaved write lock (NvReadPublic)."""
        self._nv.observe(op, observed)

    def _nv_command(self, op) -> Outcome:
        """NV commands (models.tpm.nv) behind the Startup gate."""
        _locality(op)
        if not self._started:
            return rc.NOT_INITIALIZED
        return _NV_HANDLERS[type(op)](self._nv, op)

    # --- policy sessions (models.tpm.policy) ------------------------------------------

    @property
    def sessions(self) -> dict:
        """Loaded sessions by handle (read-only view of models.tpm.policy.Session)."""
        return self._sessions.handles()

    def follow_session(self, handle: int) -> None:
        """The target chose ``handle`` for the session the last StartAuthSession started."""
        self._sessions.follow(handle)

    def _policy_command(self, op) -> Outcome:
        _locality(op)
        if not self._started:
            return rc.NOT_INITIALIZED
        sessions = self._sessions
        kind = type(op)
        if kind is StartAuthSession:
            return sessions.start(op, self._platform.implemented)
        if kind is PolicyPCR:
            return sessions.policy_pcr(op, self._pcrs, self._platform.implemented,
                                       (self._epoch, self._increments))
        if kind is PolicyLocality:
            return sessions.policy_locality(op)
        if kind is PolicyGetDigest:
            return sessions.get_digest(op)
        if kind is PolicyRestart:
            return sessions.restart(op)
        if kind is FlushContext:
            if op.handle >> 24 == live.HT_TRANSIENT and self._seq.flush(op.handle):
                return rc.OK
            return sessions.flush(op)
        return self._nv_policy_access(op)

    def _nv_policy_access(self, op) -> Outcome:
        """TPM2_NV_Read / TPM2_NV_Write authorized by a policy session: handle, session, access,
        then the command's own checks."""
        index = self._nv.indices.get(op.index)
        if index is None:
            return HANDLE_1
        counter = (self._epoch, self._increments)
        if type(op) is NvPolicyRead:
            refused = (self._sessions.authorize_nv(op, index, op.locality, counter)
                       or NvState._read_access(op.index, index))
            outcome = refused or NvState.read_data(index, op)
        else:
            refused = (self._sessions.authorize_nv(op, index, op.locality, counter, POLICYWRITE)
                       or NvState._write_access(op.index, index))
            outcome = refused or NvState.write_data(index, op)
        if outcome.rc == rc.SUCCESS:
            self._sessions.used(op)
        return outcome

    def _raw(self, op: Raw) -> Outcome:
        """Raw bytes: exact where the header decides, else the modelled command's answer
        or ANY_ERROR.  A Raw the model would execute successfully is a harness bug."""
        locality = _locality(op)
        data = op.data
        profile = self._platform.profile
        error = header_error(profile, data)
        if error is not None:
            return _ANY_ERROR if error is ANY_ERROR else Outcome(error)
        tag, _, code = HEADER.unpack_from(data)
        if self._started == (code == CC_STARTUP):  # the Startup gate (ExecCommand.c)
            if code in MODELLED_COMMANDS or profile.command_codes_complete:
                return rc.NOT_INITIALIZED
            return _ANY_ERROR  # the code may be unimplemented: TPM_RC_COMMAND_CODE
        if code not in MODELLED_COMMANDS:
            return _ANY_ERROR
        decoded = decode_command(profile, tag, code, data[HEADER.size:], locality)
        if decoded is None:
            return _ANY_ERROR
        if isinstance(decoded, int):
            return Outcome(decoded)
        outcome = self.copy().apply(decoded)
        if outcome.rc == rc.SUCCESS:
            raise ValueError(f"Raw(kind={op.kind!r}) is a valid command the TPM would execute: "
                             f"{decoded!r}; Raw ops must be malformed (use the typed operation)")
        return outcome

    def _power_on(self, op) -> Outcome:
        """PowerCycle / Crash: _TPM_Init.  PCRs are lost, NV (orderly and saved state) is kept."""
        self._started = False
        self._hcrtm = False
        self._sessions.clear()
        self._seq.clear()
        self._new_epoch()
        return rc.OK

    def _drtm(self, op: Drtm) -> Outcome:
        """_TPM_Hash_Start/Data/End at locality 4 (Part 3, 22.9-22.11; PCR.c PcrDrtm).

        Before Startup (H-CRTM): PCR0 := H(00..04 || H(data)) per bank.  After
        it (DRTM): PCRs locality 4 may reset become 00..00, then
        PCR17 := H(00..00 || H(data)).
        """
        data = bytes(op.data)
        platform = self._platform
        if not self._started:
            self._hcrtm = True
            for alg, values in self._pcrs.items():
                h = platform.hash[alg]
                values[HCRTM_PCR] = h(platform.hcrtm_start[alg] + h(data).digest()).digest()
        else:
            self._seq.evict_for_drtm()
            for alg, values in self._pcrs.items():
                zeros = platform.zeros[alg]
                for pcr in platform.drtm_pcrs:
                    values[pcr] = zeros
                h = platform.hash[alg]
                values[DRTM_PCR] = h(zeros + h(data).digest()).digest()
        self._new_epoch()
        return rc.OK

    # --- hash and event sequences (models.tpm.sequences) -------------------------------

    @property
    def sequences(self) -> dict:
        """Open sequence handle -> models.tpm.sequences.Sequence (read-only view)."""
        return dict(self._seq.open)

    def sequence_adopt(self, handle: int) -> None:
        """Bind the sequence the last successful HashSequenceStart opened to the target's handle."""
        self._seq.adopt(handle)

    def _hash_sequence_start(self, op: HashSequenceStart) -> Outcome:
        """TPM2_HashSequenceStart (Part 3, 17.3): TPM_ALG_NULL starts an event sequence."""
        _locality(op)
        _u16(op.hash_alg, "HashSequenceStart.hashAlg")
        if len(op.auth) > seq.MAX_AUTH:
            raise ValueError(f"HashSequenceStart: TPM2B_AUTH cannot carry {len(op.auth)} bytes")
        if not self._started:
            return rc.NOT_INITIALIZED
        return self._seq.start(op.auth, op.hash_alg, self._platform.implemented)

    def _sequence(self, op, number: int, session: int):
        """The open sequence ``op.handle`` (handle ``number``, authorized by password session
        ``session``), or the Outcome refusing it."""
        state = self._seq
        refused = state.load_error(op.handle, number)
        if refused is not None:
            return refused
        sequence = state.open[op.handle]
        if op.password.rstrip(b"\0") != sequence.auth:
            return seq.bad_auth(session)
        if seq.oversize(op.data):
            return seq.BAD_SIZE_1
        return sequence

    def _sequence_update(self, op: SequenceUpdate) -> Outcome:
        """TPM2_SequenceUpdate (Part 3, 17.4): hash or event sequence alike."""
        _locality(op)
        seq.check_sizes(op, op.data)
        if not self._started:
            return rc.NOT_INITIALIZED
        sequence = self._seq.handle_value_error(op.handle, 1) or self._sequence(op, 1, 1)
        if type(sequence) is Outcome:
            return sequence
        sequence.update(op.data)
        return rc.OK

    def _sequence_complete(self, op: SequenceComplete) -> Outcome:
        """TPM2_SequenceComplete (Part 3, 17.5): the digest, a ticket, and the sequence flushed."""
        _locality(op)
        seq.check_sizes(op, op.data)
        _u32(op.hierarchy, "SequenceComplete.hierarchy")
        if not self._started:
            return rc.NOT_INITIALIZED
        sequence = self._seq.handle_value_error(op.handle, 1) or self._sequence(op, 1, 1)
        if type(sequence) is Outcome:
            return sequence
        if op.hierarchy not in seq.HIERARCHIES:
            return seq.BAD_HIERARCHY_2
        if sequence.alg is None:
            return seq.mode_error(1)
        ticket = self._seq.complete_ticket(sequence, op.data, op.hierarchy)
        digest = self._platform_hash(sequence.alg)(sequence.data + op.data).digest()
        del self._seq.open[op.handle]
        return Outcome(rc.SUCCESS, SequenceResult(digest, ticket))

    def _event_sequence_complete(self, op: EventSequenceComplete) -> Outcome:
        """TPM2_EventSequenceComplete (Part 3, 17.6): every implemented digest, the PCR
        (unless TPM_RH_NULL) extended in every allocated bank as by PCR_Event."""
        locality = _locality(op)
        pcr = _u32(op.pcr, "EventSequenceComplete.pcrHandle")
        seq.check_sizes(op, op.data)
        if not self._started:
            return rc.NOT_INITIALIZED
        if pcr >= PCR_COUNT and pcr != _RH_NULL:
            return rc.NOT_A_PCR
        sequence = self._seq.handle_value_error(op.handle, 2) or self._sequence(op, 2, 2)
        if type(sequence) is Outcome:
            return sequence
        if sequence.alg is not None:
            return seq.mode_error(2)
        data = sequence.data + op.data
        digests = tuple((alg, h(data).digest()) for alg, h in self._platform.event_hashes)
        if pcr != _RH_NULL:
            refused = self._extend_pcr(pcr, locality, digests)
            if refused:
                return refused
        del self._seq.open[op.handle]
        return Outcome(rc.SUCCESS, digests)

    def _platform_hash(self, alg: int):
        return getattr(hashlib, HASHLIB_NAME[alg])

    # --- helpers ----------------------------------------------------------------------

    def _clear_orderly(self) -> None:
        """ExecCommand.c g_clearOrderly: changing a stateSave PCR ends an orderly state."""
        self._orderly = SU_NONE

    def _new_epoch(self) -> None:
        self._epoch += 1
        self._increments = 0


def _locality(op) -> int:
    locality = op.locality
    if not 0 <= locality <= _MAX_LOCALITY:
        raise ValueError(f"{type(op).__name__}: locality {locality} is not one of 0-4")
    return locality


def _u16(value: int, what: str) -> int:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{what} {value} does not fit its 16-bit field")
    return value


def _u32(value: int, what: str) -> int:
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{what} {value} does not fit its 32-bit field")
    return value


_HANDLERS = {
    Startup: TpmModel._startup,
    Shutdown: TpmModel._shutdown,
    PcrExtend: TpmModel._pcr_extend,
    PcrEvent: TpmModel._pcr_event,
    PcrReset: TpmModel._pcr_reset,
    PcrRead: TpmModel._pcr_read,
    GetRandom: TpmModel._get_random,
    GetCapability: TpmModel._get_capability,
    Raw: TpmModel._raw,
    PowerCycle: TpmModel._power_on,
    Crash: TpmModel._power_on,
    Drtm: TpmModel._drtm,
    MirrorPcrs: TpmModel._mirror_op,
    HashSequenceStart: TpmModel._hash_sequence_start,
    SequenceUpdate: TpmModel._sequence_update,
    SequenceComplete: TpmModel._sequence_complete,
    EventSequenceComplete: TpmModel._event_sequence_complete,
}

_NV_HANDLERS = {
    NvDefineSpace: NvState.define,
    NvUndefineSpace: NvState.undefine,
    NvReadPublic: NvState.read_public,
    NvWrite: NvState.write,
    NvRead: NvState.read,
    NvIncrement: NvState.increment,
    NvExtend: NvState.extend,
    NvWriteLock: NvState.write_lock,
    NvReadLock: NvState.read_lock,
}
_HANDLERS.update({kind: TpmModel._nv_command for kind in _NV_HANDLERS})

_HANDLERS.update({kind: TpmModel._policy_command for kind in (
    StartAuthSession, PolicyPCR, PolicyLocality, PolicyGetDigest, PolicyRestart, FlushContext, NvPolicyRead,
    NvPolicyWrite)})
