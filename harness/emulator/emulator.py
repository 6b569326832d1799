"""The built-in TPM 2.0 emulator: command bytes in, response bytes out.

``execute()`` runs the checks every command goes through (Part 3, 5
"Command Processing"; reference ExecCommand.c), in this order: header (tag,
commandSize, command code), the Startup gate, the handle area, the
authorization area, then the command's handler from the dispatch table.
Any failure is a 10-byte error response; no input bytes raise.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from . import capability, integrity, nv, policy, rng, sequences, startup
from .codes import (
    HMAC_SESSION_FIRST,
    LOCALITIES,
    MAX_COMMAND_SIZE,
    MAX_EVENT_DATA,
    POLICY_SESSION_LAST,
    SU_NONE,
    TPM_CC_Startup,
    TPM_RC_AUTH_MISSING,
    TPM_RC_BAD_TAG,
    TPM_RC_COMMAND_CODE,
    TPM_RC_COMMAND_SIZE,
    TPM_RC_INITIALIZE,
    TPM_RC_INSUFFICIENT,
    TPM_RC_SIZE,
    TPM_RC_SUCCESS,
    TPM_RC_VALUE,
    TPM_ST_NO_SESSIONS,
    TPM_ST_SESSIONS,
    TPM_RS_PW,
)
from .command import CommandSpec
from .marshal import HEADER, SESSIONS_HEADER, U16, U32, CommandError
from .mutants import checked_mutants
from .pcr import IMPLEMENTED, PTP_ATTRIBUTES, PcrBanks
from .sessions import parse_authorization
from .startup import SavedState

COMMANDS: dict[int, CommandSpec] = {
    spec.code: spec
    for module in (startup, integrity, capability, rng, nv, policy, sequences)
    for spec in module.COMMANDS
}
_HEADER_SIZE = 10
_HANDLE_AREAS = {count: struct.Struct(">" + "I" * count) for count in (1, 2, 3)}
_IMPLEMENTED_NAMES = tuple(h.name for h in IMPLEMENTED)
_AUTH_HEAD = struct.Struct(">II")  # authorizationSize, first session handle
_OTHER_TYPES = (0x01, 0x02, 0x03, 0x80, 0x81)  # NV, session and object handle types (Part 2, 7.2)
_FMT1_NUMBER = 0x0BF  # a format-1 code without its handle/parameter/session number


def _as_bytes(value: object, what: str) -> bytes:
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes, not {type(value).__name__}")


def _checked_banks(banks: Iterable[str]) -> tuple[str, ...]:
    """The allocated banks in implementation order, or ValueError."""
    if isinstance(banks, (str, bytes)):
        raise TypeError(f"banks must be a collection of hashlib names, not {type(banks).__name__}")
    names = tuple(banks)
    unknown = [repr(n) for n in names if n not in _IMPLEMENTED_NAMES]
    if unknown:
        implemented = ", ".join(_IMPLEMENTED_NAMES)
        raise ValueError(f"unknown PCR bank(s) {', '.join(unknown)}; implemented: {implemented}")
    if len(set(names)) != len(names):
        raise ValueError(f"PCR bank listed twice in {names!r}")
    if not names:
        raise ValueError("at least one PCR bank must be allocated")
    return tuple(n for n in _IMPLEMENTED_NAMES if n in names)


def _pcr_auth_value(handle: int) -> bytes:
    """PCR authValue: always empty here (no TPM2_PCR_SetAuthValue)."""
    return b""


class Emulator:
    """An in-process TPM 2.0 (PC Client PCRs, password authorization).

    Built powered on and not started, as after _TPM_Init.  ``banks`` are the
    allocated PCR banks by hashlib name; ``mutants`` names planted bugs from
    MUTANTS (all off by default).  State attributes (pcrs, saved, started, ...)
    belong to the command modules of this package; callers use execute().
    """

    commands = COMMANDS  # the dispatch table: CommandSpec by command code

    def __init__(
        self,
        banks: tuple[str, ...] = ("sha1", "sha256", "sha384", "sha512"),
        mutants: frozenset[str] = frozenset(),
    ) -> None:
        self.banks = _checked_banks(banks)
        self.mutants = checked_mutants(mutants)
        chosen = self.mutants
        self.pcrs = PcrBanks(self.banks, chosen)
        self.saved = SavedState()  # NV: survives power_on()
        self.nv = nv.NvStore(chosen)  # NV indices: survive power_on()
        self.sessions = policy.Sessions(chosen)  # loaded sessions: lost at power_on() and Startup
        self.sequences = sequences.Slots(chosen)  # transient objects: lost at power_on() and Startup
        self.started = False
        self.hcrtm = False  # an H-CRTM sequence ran since _TPM_Init
        self.startup_locality3 = False
        self.prev_orderly = SU_NONE  # orderly state the last Startup found
        self.reset_values: dict[int, dict[int, bytes]] | None = None  # hwinitpcr: alg -> {pcr: value}
        self.pcrs.startup(0, False, None, 0)  # RAM content before the first Startup

        # Enforcement tables, copied from the attribute table so that mutants
        # can change them without touching what GetCapability reports.
        extend_masks = [a.extend_mask for a in PTP_ATTRIBUTES]
        reset_masks = [a.reset_mask for a in PTP_ATTRIBUTES]
        if "extend-pcr17-at-locality0" in chosen:
            extend_masks[17] |= 0x01
        if "reset-pcr20-at-locality0" in chosen:
            reset_masks[20] |= 0x01
        self.extend_masks = tuple(extend_masks)
        self.reset_masks = tuple(reset_masks)
        keeps_orderly = "extend-keeps-orderly" in chosen
        self.clears_orderly = tuple(a.state_save and not keeps_orderly for a in PTP_ATTRIBUTES)

        self.bug_extend_skips_last_bank = "extend-skips-last-bank" in chosen
        self.bug_event_ignores_locality = "event-ignores-locality" in chosen
        self.bug_reset_at_locality4 = "reset-at-locality4" in chosen
        self.bug_second_startup = "second-startup-accepted" in chosen
        self.bug_no_startup_gate = "no-startup-gate" in chosen
        self.bug_resume_without_shutdown = "resume-without-shutdown-state" in chosen
        self._bug_oversize_accepted = "oversize-command-accepted" in chosen
        self._bug_unknown_command_success = "unknown-command-success" in chosen
        self._error_tag = TPM_ST_SESSIONS if "error-tag-sessions" in chosen else TPM_ST_NO_SESSIONS
        self._error_size = 12 if "error-size-12" in chosen else _HEADER_SIZE
        self.max_event_data = 0xFFFF if "oversize-event-accepted" in chosen else MAX_EVENT_DATA
        self._bug_insufficient_as_size = "insufficient-as-size" in chosen
        self._bug_authsize_clamped = "authsize-overrun-accepted" in chosen
        self._bug_session_handle_unchecked = "session-handle-unchecked" in chosen
        self._bug_password_skipped = "password-on-no-auth-command" in chosen
        self._session_bugs = (self._bug_authsize_clamped or self._bug_session_handle_unchecked
                              or self._bug_password_skipped)
        self._bug_handle_type_unchecked = "handle-type-unchecked" in chosen
        self.bug_pcr10_sha1_only = "pcr10-extend-sha1-only" in chosen
        self._bug_locality_late = "locality-one-command-late" in chosen
        self._previous_locality = 0
        self.bug_handles_miss_nv = "handles-capability-misses-nv-index" in chosen
        self.bug_transient_avail_fixed = "transient-avail-not-updated" in chosen

    def __repr__(self) -> str:
        return f"Emulator(banks={self.banks!r}, mutants={sorted(self.mutants)!r})"

    # --- the command interface ----------------------------------------------

    def execute(self, command: bytes, locality: int = 0) -> bytes:
        """One whole command at ``locality`` (0-4) -> one whole response."""
        if command.__class__ is not bytes:
            command = _as_bytes(command, "command")
        if locality not in LOCALITIES:
            raise ValueError(f"locality must be 0-4, not {locality!r}")
        if self._bug_locality_late:
            locality, self._previous_locality = self._previous_locality, locality
        try:
            return self._execute(command, locality)
        except CommandError as error:
            rc = error.rc
            if self._bug_insufficient_as_size and rc & _FMT1_NUMBER == TPM_RC_INSUFFICIENT:
                rc ^= TPM_RC_INSUFFICIENT ^ TPM_RC_SIZE
            return HEADER.pack(self._error_tag, self._error_size, rc)

    def _execute(self, command: bytes, locality: int) -> bytes:
        n = len(command)
        if n < _HEADER_SIZE:
            raise CommandError(self._short_command_rc(command, n))
        tag, size, code = HEADER.unpack_from(command)
        if tag != TPM_ST_NO_SESSIONS and tag != TPM_ST_SESSIONS:
            raise CommandError(TPM_RC_BAD_TAG)
        if (size != n or size > MAX_COMMAND_SIZE) and not (
            self._bug_oversize_accepted and size > n and n <= MAX_COMMAND_SIZE
        ):
            raise CommandError(TPM_RC_COMMAND_SIZE)
        spec = self.commands.get(code)
        if spec is None:
            if self._bug_unknown_command_success:
                return HEADER.pack(TPM_ST_NO_SESSIONS, _HEADER_SIZE, TPM_RC_SUCCESS)
            raise CommandError(TPM_RC_COMMAND_CODE)
        # Startup gate: only TPM2_Startup before Startup, and only once.
        if self.started:
            if code == TPM_CC_Startup and not self.bug_second_startup:
                raise CommandError(TPM_RC_INITIALIZE)
        elif code != TPM_CC_Startup and not self.bug_no_startup_gate:
            raise CommandError(TPM_RC_INITIALIZE)

        pos = _HEADER_SIZE
        checks = spec.handles
        if checks:
            count = len(checks)
            if pos + 4 * count > n:
                raise CommandError(TPM_RC_INSUFFICIENT | ((n - pos) // 4 + 1) << 8)
            handles = _HANDLE_AREAS[count].unpack_from(command, pos)
            if self._bug_handle_type_unchecked:
                handles = tuple(h & 0x00FFFFFF if h >> 24 in _OTHER_TYPES else h for h in handles)
            for index in range(count):
                if not checks[index](handles[index]):
                    raise CommandError(TPM_RC_VALUE | (index + 1) << 8)
            pos += 4 * count
        else:
            handles = ()

        if tag == TPM_ST_SESSIONS and self._session_bugs:
            command, tag, pos = self._planted_session_bugs(command, pos, spec)
        if tag == TPM_ST_SESSIONS and spec.nv_access and policy.uses_session(command, pos):
            return policy.execute_nv(self, spec, command, pos, handles, locality)
        if spec.nv_access:
            auth_value = self.nv.authorize(handles, spec.nv_access)
        elif spec.authorize is not None:
            auth_value = spec.authorize(self, handles)
        else:
            auth_value = _pcr_auth_value
        if tag == TPM_ST_SESSIONS:
            pos, auth = parse_authorization(
                command, pos, handles, spec.auth_count, spec.sessions_allowed, auth_value
            )
            params = spec.handler(self, command, pos, handles, locality)
            return (
                SESSIONS_HEADER.pack(
                    TPM_ST_SESSIONS, 14 + len(params) + len(auth), TPM_RC_SUCCESS, len(params)
                )
                + params
                + auth
            )
        if spec.auth_count:
            raise CommandError(TPM_RC_AUTH_MISSING)
        params = spec.handler(self, command, pos, handles, locality)
        return HEADER.pack(TPM_ST_NO_SESSIONS, _HEADER_SIZE + len(params), TPM_RC_SUCCESS) + params

    def _planted_session_bugs(self, command: bytes, pos: int, spec: CommandSpec):
        """The authorization-area mutants, applied to the bytes before they are parsed:
        returns (command, tag, position) as the buggy TPM would go on with them."""
        if pos + _AUTH_HEAD.size > len(command):
            return command, TPM_ST_SESSIONS, pos
        auth_size, handle = _AUTH_HEAD.unpack_from(command, pos)
        remaining = len(command) - pos - 4
        if self._bug_authsize_clamped and auth_size > remaining:
            auth_size = remaining
            command = command[:pos] + U32.pack(auth_size) + command[pos + 4 :]
        if self._bug_session_handle_unchecked and not (
            handle == TPM_RS_PW or HMAC_SESSION_FIRST <= handle <= POLICY_SESSION_LAST
        ):
            command = command[: pos + 4] + U32.pack(TPM_RS_PW) + command[pos + 8 :]
        if self._bug_password_skipped and not spec.auth_count and handle == TPM_RS_PW:
            return command, TPM_ST_NO_SESSIONS, pos + 4 + auth_size
        return command, TPM_ST_SESSIONS, pos

    def _short_command_rc(self, command: bytes, n: int) -> int:
        """Fewer than 10 bytes: the header checks as far as the bytes go."""
        if n < 2:
            return TPM_RC_INSUFFICIENT
        tag = U16.unpack_from(command)[0]
        if tag != TPM_ST_NO_SESSIONS and tag != TPM_ST_SESSIONS:
            return TPM_RC_BAD_TAG
        if n >= 6:
            size = U32.unpack_from(command, 2)[0]
            if size != n and not (self._bug_oversize_accepted and size > n):
                return TPM_RC_COMMAND_SIZE
        return TPM_RC_INSUFFICIENT

    # --- platform signals ---------------------------------------------------

    def power_on(self) -> None:
        """_TPM_Init after power loss: volatile state is lost (the TPM awaits
        TPM2_Startup); the Shutdown state in NV is kept."""
        self.started = False
        self.hcrtm = False
        self.nv.power_on()
        self.sessions.clear()
        self.sequences.clear()

    def drtm(self, data: bytes) -> None:
        """_TPM_Hash_Start, _TPM_Hash_Data(data), _TPM_Hash_End at locality 4.

        Before Startup this is an H-CRTM sequence (PCR 0, kept by the next
        Startup(CLEAR)); after it a DRTM (PCRs 17-22 reset, PCR 17 extended).
        """
        if data.__class__ is not bytes:
            data = _as_bytes(data, "data")
        if self.started:
            self.sequences.evict_for_drtm()
        self.pcrs.hash_end(data, self.started)
        if not self.started:
            self.hcrtm = True

    def identity(self) -> dict:
        """Manufacturer, vendor and firmware as GetCapability reports them;
        names the planted bugs under "mutants" when any are on."""
        major, minor = capability.FIRMWARE_VERSION
        ident = {
            "manufacturer": capability.MANUFACTURER,
            "vendor": capability.VENDOR_STRING,
            "firmware": f"{major}.{minor}",
            "model": capability.MODEL,
        }
        if self.mutants:
            ident["mutants"] = sorted(self.mutants)
        return ident
