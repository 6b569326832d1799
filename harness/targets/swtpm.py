"""swtpm as a target: spawned per target (``--target swtpm``) or attached (``swtpm+tcp://``).

Both speak swtpm's two channels: commands go over the data channel framed
with their locality (:mod:`harness.swtpm.data`), platform events over the
control channel (:mod:`harness.swtpm.control`): _TPM_Init is CMD_INIT and a
DRTM sequence is HASH_START / HASH_DATA / HASH_END.

The spawned target owns its process and state directory, so it can also
crash, cut power and inject the faults of a virtual TPM's host: a hang, a
lost or corrupted state file, a missing state directory, lost volatile
state.  Each fault is a method with the behaviour swtpm 0.7.1 showed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref

from harness.errors import TargetDied, TargetError, UsageError
from harness.swtpm import launch, properties, state
from harness.swtpm.control import BLOB, INFO_TPMATTRIBUTES, INFO_TPMSPECIFICATION, PTM_CAP, ControlChannel
from harness.swtpm.data import DataChannel
from harness.swtpm.process import find_swtpm_binary, swtpm_version
from harness.targets.base import BaseTarget, Capability
from models.tcg import ALG_BY_NAME

__all__ = ["SwtpmTarget", "SwtpmAttachTarget", "find_swtpm_binary"]

_SEND_COMMAND_HEADER = 1 << PTM_CAP.index("SEND_COMMAND_HEADER")
_EXIT_GRACE = 0.2  # seconds to let a process whose socket closed show its exit status


def _drtm(control: ControlChannel, data: bytes) -> None:
    control.hash_start()
    control.hash_data(data)
    control.hash_end()


def _control_info(control: ControlChannel) -> dict:
    """GET_INFO's TPM specification and attributes, as swtpm reports them."""
    return {"tpm_specification": control.get_info(INFO_TPMSPECIFICATION).get("TPMSpecification"),
            "tpm_attributes": control.get_info(INFO_TPMATTRIBUTES).get("TPMAttributes")}


class SwtpmTarget(BaseTarget):
    """A ``swtpm socket --tpm2`` process of its own, on a private copy of a bank template.

    ``binary``: else ``$SWTPM``, else ``swtpm`` on PATH.  ``banks``: the PCR
    banks allocated (and reported by the TPM before the target is used).
    ``transport``: ``unix`` sockets or loopback ``tcp``.  ``timeout`` bounds
    every wait; a command that gets no answer raises TargetTimeout, after which
    only ``crash()`` (or ``close()``) helps: a hung swtpm cannot be rescued
    through its control channel.  Spawn from a long-lived thread (see
    :mod:`harness.swtpm.process`).
    """

    name = "swtpm"
    profile = "libtpms-0.9"
    capabilities = frozenset({Capability.LOCALITY, Capability.POWER_CYCLE, Capability.CRASH,
                              Capability.DRTM, Capability.INSTANCES, Capability.DISK})
    CORRUPTIONS = ("flip", "truncate", "empty")
    without_disk = "scratch"  # models.vtpm: NV lives on a scratch state until the disk comes
    can_lose_disk = False  # swtpm 0.7.1 enters failure mode at the first NV write without its state dir

    LOCALITY_MODES = ("framed", "unlocked")

    def __init__(self, binary: str | None = None, banks: tuple[str, ...] = ("sha1", "sha256"),
                 timeout: float = 5.0, transport: str = "unix", disk: bool = True,
                 locality: str = "framed") -> None:
        banks = tuple(banks)
        unknown = [b for b in banks if b not in ALG_BY_NAME]
        if not banks or unknown or len(set(banks)) != len(banks):
            raise ValueError(f"banks must be distinct names of {sorted(ALG_BY_NAME)}, not {banks!r}")
        if transport not in launch.TRANSPORTS:
            raise ValueError(f"transport must be one of {launch.TRANSPORTS}, not {transport!r}")
        if locality not in self.LOCALITY_MODES:
            raise ValueError(f"locality must be one of {self.LOCALITY_MODES}, not {locality!r}")
        self.locality = locality
        self.binary = find_swtpm_binary(binary)
        self.banks = banks
        self.timeout = timeout
        self.transport = transport
        self._template = state.template(self.binary, banks, timeout)
        self._dir = tempfile.mkdtemp(prefix="vtpm-harness-swtpm-")
        self._remove_dir = weakref.finalize(self, shutil.rmtree, self._dir, ignore_errors=True)
        self.state_dir = os.path.join(self._dir, "state")
        self._aside = os.path.join(self._dir, "state.aside")  # the state while "the disk is missing"
        self._tpm: launch.RunningSwtpm | None = None
        self._control_info: dict | None = None
        self.disk = disk
        self._disk_blob = None  # without the disk: its permanent state, installed at attach_disk()
        try:
            state.copy_state(self._template, self.state_dir)
            self._start()
            if not disk:  # a new disk holds a newly provisioned TPM: the state the process starts on
                self._disk_blob = self._tpm.control.get_state_blob(BLOB.PERMANENT)
        except BaseException:
            self.close()
            raise

    # --- process life ------------------------------------------------------

    def _start(self) -> None:
        self._tpm = tpm = launch.start(self.binary, self.state_dir, self._dir, self.transport, self.timeout)
        process = tpm.process
        tpm.data.postmortem = lambda: (process.wait(_EXIT_GRACE), process.exit_report())[1]
        # Bound method: the per-command path pays no extra call.
        self.transmit = tpm.data.transmit if self.locality == "framed" else _unlocked(tpm)

    def _stop(self, why: str) -> None:
        if self._tpm is not None:
            self._tpm.close()
            self._tpm = None

        def transmit(command: bytes, locality: int = 0) -> bytes:
            raise TargetDied(f"swtpm is not running ({why})")
        self.transmit = transmit

    def _restart(self, while_down=None) -> None:
        """SIGKILL, put a set-aside state back, apply ``while_down()``, start again."""
        self._stop("it was killed and did not come back")
        if os.path.exists(self._aside):
            shutil.rmtree(self.state_dir, ignore_errors=True)
            os.rename(self._aside, self.state_dir)
        if while_down is not None:
            while_down()
        self._start()

    def _running(self) -> launch.RunningSwtpm:
        if self._tpm is None:
            raise TargetDied("swtpm is not running (a restart failed, or the target is closed)")
        return self._tpm

    @property
    def pid(self) -> int | None:
        return self._tpm.process.pid if self._tpm is not None else None

    @property
    def control(self) -> ControlChannel:
        """The running process's control channel, for CMD_* requests of a suite's own."""
        return self._running().control

    # --- the target contract ----------------------------------------------

    def transmit(self, command: bytes, locality: int = 0) -> bytes:  # replaced per process by _start
        raise TargetDied("swtpm is not running")

    def power_cycle(self, orderly: bool) -> None:
        """Orderly: CMD_INIT (_TPM_Init; the process and its connections stay).
        Disorderly: power is cut, i.e. the process is SIGKILLed and restarted on its state."""
        if orderly:
            self._running().control.init()
        else:
            self._restart()

    def crash(self) -> None:
        """SIGKILL and restart on the same state directory; volatile state is lost, NV kept.

        A volatile state stored with CMD_STORE_VOLATILE is resumed, as swtpm does.
        Without its disk the state directory is scratch, lost with the process:
        the restart is on a newly provisioned state.
        """
        self._restart(while_down=None if self.disk else self._fresh_scratch)

    def _fresh_scratch(self) -> None:
        shutil.rmtree(self.state_dir, ignore_errors=True)
        state.copy_state(self._template, self.state_dir)

    def attach_disk(self) -> None:
        """The disk comes, late, over the control channel: GET_STATEBLOB(volatile), STOP,
        SET_STATEBLOB of the disk's permanent state and of that volatile state, INIT.  PCRs and
        the Startup state survive; NV becomes the disk's, and the state directory holds it."""
        if self.disk:
            return
        control = self._running().control
        volatile = control.get_state_blob(BLOB.VOLATILE)
        control.stop()
        control.set_state_blob(self._disk_blob)
        control.set_state_blob(volatile)
        control.init()
        self.disk, self._disk_blob = True, None

    def detach_disk(self) -> None:
        raise NotImplementedError("swtpm 0.7.1 cannot lose its state directory while running: "
                                  "the first NV write then puts the TPM into failure mode")

    def drtm(self, data: bytes) -> None:
        """_TPM_Hash_Start, _TPM_Hash_Data(data), _TPM_Hash_End over the control channel."""
        _drtm(self._running().control, data)

    def identity(self) -> dict:
        """The binary and its version, the banks, the TPM's own properties, GET_INFO.

        TPM properties come from the bank template's TPM (same binary), read
        when the harness itself had started it, so identity() works on a
        target whose TPM awaits Startup.
        """
        ident = {"implementation": "swtpm", "binary": self.binary, "version": swtpm_version(self.binary),
                 "transport": self.transport, "banks": list(self.banks), **self._template.identity}
        if self._control_info is None and self._tpm is not None:
            try:
                self._control_info = _control_info(self._tpm.control)
            except TargetError as exc:
                ident["control_info"] = f"unavailable: {exc}"
        if self._control_info is not None:
            ident.update(self._control_info)
        return ident

    def close(self) -> None:
        """Kill and reap the process, remove the state directory; idempotent."""
        self._stop("the target is closed")
        self._remove_dir()

    # --- faults of a virtual TPM's host -----------------------------------

    def hang(self) -> None:
        """The TPM stops reading (SIGSTOP): the next command raises TargetTimeout after ``timeout``.

        ``crash()`` brings it back (SIGKILL reaches a stopped process).
        """
        self._running().process.freeze()

    def suspend_resume(self) -> None:
        """A VM suspended and resumed with its TPM: CMD_STORE_VOLATILE, SIGKILL, restart.

        swtpm resumes from the stored volatile state (PCRs, Startup done);
        nothing may be lost.  The stored file is then removed, since swtpm
        0.7.1 keeps it and would resume the same snapshot at every later start.
        """
        self._running().control.store_volatile()
        self._restart()
        _remove(os.path.join(self.state_dir, state.VOLATILE_FILE))

    def lose_volatile(self) -> None:
        """A VM resumed without its TPM's volatile state: SIGKILL, any stored volatile state deleted, restart.

        The TPM comes back as after a loss of power: awaiting Startup, PCRs at
        their initial values, NV kept.
        """
        self._restart(while_down=lambda: _remove(os.path.join(self.state_dir, state.VOLATILE_FILE)))

    def corrupt_state(self, how: str = "flip", offset: int | None = None) -> None:
        """SIGKILL, damage the permanent state file (NV, seeds), restart on it.

        ``flip`` inverts the byte at ``offset`` (default: the middle),
        ``truncate`` keeps ``offset`` bytes (default: half), ``empty`` leaves
        nothing.  swtpm 0.7.1 refuses to start on a truncated or empty file
        (TargetDied quoting its log); the damage stays for later restarts.
        """
        if how not in self.CORRUPTIONS:
            raise ValueError(f"how must be one of {self.CORRUPTIONS}, not {how!r}")
        path = os.path.join(self.state_dir, state.PERMANENT_FILE)

        def damage() -> None:
            with open(path, "r+b") as f:
                size = f.seek(0, os.SEEK_END)
                at = size // 2 if offset is None else offset
                if how == "flip":
                    if not 0 <= at < size:
                        raise ValueError(f"offset {at} is outside the {size}-byte state file")
                    f.seek(at)
                    byte = f.read(1)[0]
                    f.seek(at)
                    f.write(bytes([byte ^ 0xFF]))
                else:
                    f.truncate(0 if how == "empty" else at)
        self._restart(while_down=damage)

    def start_without_disk(self) -> None:
        """SIGKILL, set the state directory aside, start without it.

        swtpm 0.7.1 refuses (rc 1, "Could not open lockfile"): TargetDied
        quoting its log.  The directory comes back at the next restart
        (``crash()``, ``power_cycle(orderly=False)``), which starts the TPM on it.
        """
        self._restart(while_down=lambda: os.rename(self.state_dir, self._aside))


def _unlocked(tpm: launch.RunningSwtpm):
    """transmit without locality arbitration (the negative control of LOC-CONTENTION):
    CMD_SET_LOCALITY on the control channel, then the unframed command on the data channel,
    with nothing held across the two, as a client of swtpm's sticky locality does."""
    control, data, control_lock = tpm.control, tpm.data, threading.Lock()

    def transmit(command: bytes, locality: int = 0) -> bytes:
        with control_lock:  # one request/reply at a time on the control connection, no more
            control.set_locality(locality)
        return data.transmit_raw(command)
    return transmit


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


_STARTUP_CLEAR = bytes.fromhex("80010000000c000001440000")  # TPM2_Startup(TPM_SU_CLEAR)
_SHUTDOWN_CLEAR = bytes.fromhex("80010000000c000001450000")  # TPM2_Shutdown(TPM_SU_CLEAR)


class SwtpmAttachTarget(BaseTarget):
    """A running swtpm-protocol endpoint: data channel HOST:PORT, control channel HOST:CTRL_PORT.

    No process control, so no crash and no power cut: ``power_cycle`` is
    orderly only (CMD_INIT).  The endpoint must implement the
    TPM_SEND_COMMAND framing (capability SEND_COMMAND_HEADER), or localities
    could not travel with their commands.  While attached, the harness holds
    the endpoint's one data and one control connection.  ``profile``: the
    model profile the endpoint follows (libtpms by default, as swtpm's).
    """

    name = "swtpm+tcp"
    profile = "libtpms-0.9"
    capabilities = frozenset({Capability.LOCALITY, Capability.POWER_CYCLE, Capability.DRTM})

    def __init__(self, host: str, port: int, ctrl_port: int, timeout: float = 5.0,
                 profile: str | None = None) -> None:
        self.endpoint = f"swtpm+tcp://{host}:{port}?ctrl={ctrl_port}"
        if profile is not None:
            self.profile = profile
        self._data = self._control = None
        try:
            self._data = DataChannel.connect((host, port), timeout)
            self._control = ControlChannel.connect((host, ctrl_port), timeout)
            if not self._control.get_capability() & _SEND_COMMAND_HEADER:
                raise UsageError(f"{self.endpoint}: the endpoint lacks SEND_COMMAND_HEADER "
                                 "(locality cannot travel with each command)")
            self._data.transmit(launch.READINESS_COMMAND)
            self._power_on_afresh()
        except TargetDied as exc:
            self.close()
            raise UsageError(f"{self.endpoint}: {exc}") from None
        except BaseException:
            self.close()
            raise
        self.transmit = self._data.transmit
        self._identity: dict | None = None

    def transmit(self, command: bytes, locality: int = 0) -> bytes:  # replaced in __init__
        return self._data.transmit(command, locality)

    def _power_on_afresh(self) -> None:
        """Leave the endpoint as a new target must be: after _TPM_Init, before Startup, and with
        no saved state from an earlier client.  The endpoint outlives its clients, so without
        this an earlier example's Shutdown(STATE) would let this one's Startup(STATE) resume."""
        self._control.init()
        self._data.transmit(_STARTUP_CLEAR)  # refused harmlessly if the TPM cannot start here
        self._data.transmit(_SHUTDOWN_CLEAR)
        self._control.init()

    def power_cycle(self, orderly: bool) -> None:
        if not orderly:
            raise NotImplementedError(f"{self.endpoint}: an attached endpoint cannot lose power "
                                      "(no process control); only CMD_INIT")
        self._control.init()

    def drtm(self, data: bytes) -> None:
        _drtm(self._control, data)

    def identity(self) -> dict:
        """The endpoint, GET_INFO, and the TPM's properties once it has been started."""
        if self._identity is not None:
            return self._identity
        ident = {"implementation": "swtpm protocol endpoint", "endpoint": self.endpoint,
                 **_control_info(self._control), **properties.query(self.transmit)}
        if "tpm_properties" not in ident:  # complete: keep it
            self._identity = ident
        return ident

    def close(self) -> None:
        """Close the connections; the endpoint keeps running."""
        for channel in (self._data, self._control):
            if channel is not None:
                channel.close()

