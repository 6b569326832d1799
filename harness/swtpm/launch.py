"""Starting ``swtpm socket`` on a state directory, with both channels connected and ready.

The command line is swtpm's socket mode, so ``--swtpm-binary`` can name any
executable that accepts it::

    BINARY socket --tpm2 --tpmstate dir=STATE --flags not-need-init
        unix: --server type=unixio,path=RUN/data.sock --ctrl type=unixio,path=RUN/ctrl.sock
        tcp:  --server type=tcp,fd=N --ctrl type=tcp,fd=M

``not-need-init`` without ``startup-*``: the TPM is powered on and awaits
TPM2_Startup, as the target contract requires.  For TCP the harness hands
over sockets rather than port numbers: N is swtpm's end of a loopback
connection the harness opened, M a loopback listening socket it bound.  A
port number chosen in advance could be taken by another process in between,
which would then answer in swtpm's stead.

Readiness is one real round trip on the data channel (GetCapability; any
well-framed response proves swtpm serves, TPM_RC_INITIALIZE included),
retrying the connection while the unix socket does not exist yet.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from harness.errors import TargetDied, TargetError, UsageError
from harness.swtpm.control import ControlChannel
from harness.swtpm.data import DataChannel
from harness.swtpm.process import SwtpmProcess
from harness.wire import encode_command
from models.ops import GetCapability
from models.tcg import TPM_CAP, TPM_HEADER_SIZE, TPM_PT

READINESS_COMMAND = encode_command(
    GetCapability(TPM_CAP.TPM_CAP_TPM_PROPERTIES, TPM_PT.TPM_PT_MANUFACTURER, 1))
TRANSPORTS = ("unix", "tcp")
_LOOPBACK = "127.0.0.1"
_SUN_PATH_MAX = 108  # sockaddr_un.sun_path, including the terminating NUL (unix(7))
_EXIT_GRACE = 1.0  # seconds to wait for the exit status of a process that closed its socket


@dataclass
class RunningSwtpm:
    """A started swtpm and its two connections; ``close()`` ends all three."""

    process: SwtpmProcess
    data: DataChannel
    control: ControlChannel

    def close(self) -> None:
        self.data.close()
        self.control.close()
        self.process.kill()


def start(binary: str, state_dir: str, run_dir: str, transport: str, timeout: float) -> RunningSwtpm:
    """Spawn ``binary`` in socket mode on ``state_dir``; return once it answered a command.

    ``run_dir`` holds the unix sockets and ``swtpm.log``.  A process that
    exits before it is ready raises TargetDied quoting its log; one that
    does not answer within ``timeout`` raises TargetTimeout (and is killed).
    """
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be one of {TRANSPORTS}, not {transport!r}")
    argv = [binary, "socket", "--tpm2", "--tpmstate", f"dir={state_dir}", "--flags", "not-need-init"]
    log = os.path.join(run_dir, "swtpm.log")
    if transport == "unix":
        data_path, ctrl_path = os.path.join(run_dir, "data.sock"), os.path.join(run_dir, "ctrl.sock")
        if len(os.fsencode(data_path)) >= _SUN_PATH_MAX:
            raise UsageError(f"unix socket path {data_path} is too long for AF_UNIX; "
                             "use a shorter TMPDIR or transport=tcp")
        for path in (data_path, ctrl_path):  # left over from the previous process of a restart
            if os.path.lexists(path):
                os.unlink(path)
        argv += ["--server", f"type=unixio,path={data_path}", "--ctrl", f"type=unixio,path={ctrl_path}"]
        process = SwtpmProcess(argv, log)
        return _ready(process, timeout, lambda: DataChannel.connect(data_path, timeout, process.check_alive),
                      ctrl_path)
    listener = socket.create_server((_LOOPBACK, 0))
    ctrl = socket.create_server((_LOOPBACK, 0))
    server_end = client = None
    try:
        client = socket.create_connection(listener.getsockname(), timeout)
        server_end, _ = listener.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        argv += ["--server", f"type=tcp,fd={server_end.fileno()}", "--ctrl", f"type=tcp,fd={ctrl.fileno()}"]
        ctrl_address = ctrl.getsockname()
        process = SwtpmProcess(argv, log, pass_fds=(server_end.fileno(), ctrl.fileno()))
    except BaseException:
        if client is not None:
            client.close()
        raise
    finally:  # swtpm holds its own copies now
        for sock in (listener, ctrl, server_end):
            if sock is not None:
                sock.close()
    name = f"data channel tcp {_LOOPBACK}:{client.getsockname()[1]}"
    return _ready(process, timeout, lambda: DataChannel.over(client, timeout, name), ctrl_address)


def _ready(process: SwtpmProcess, timeout: float, connect_data, ctrl_address) -> RunningSwtpm:
    data = None
    try:
        data = connect_data()
        response = data.transmit(READINESS_COMMAND)
        if len(response) < TPM_HEADER_SIZE:
            raise TargetError(f"{process.argv[0]} answered the readiness command with "
                              f"{len(response)} bytes: {response.hex()}")
        control = ControlChannel.connect(ctrl_address, timeout, process.check_alive)
        return RunningSwtpm(process, data, control)
    except BaseException as exc:
        if data is not None:
            data.close()
        if isinstance(exc, TargetDied):  # the connection closed: let the exit become visible
            process.wait(_EXIT_GRACE)
        died = process.returncode is not None
        process.kill()
        if died and isinstance(exc, TargetError):
            raise TargetDied(process.exit_report()) from None
        raise
