"""swtpm's data channel, every command framed with its locality (TPM_SEND_COMMAND).

swtpm keeps one process-wide, sticky locality; setting it over the control
channel and then sending a command can be raced by any other client (shown
on swtpm 0.7.1: A sets 2, B sets 0, A's PCR_Reset(20) runs at 0).  The
TCG/MS-simulator TPM_SEND_COMMAND framing carries the locality in the same
write as the command, so the pair is atomic:

    request:  00000008 LL SSSSSSSS <command, S bytes>
    response: SSSSSSSS <response, S bytes> 00000000

swtpm does one read() per command and serves one client at a time, so a
command leaves in one ``sendall`` and the next waits for the previous reply
(a lock makes that hold across threads).  Measured on this machine
(``python -m harness.swtpm.roundtrip``, PCR_Read over a unix socket) the
framing costs at most ~1 us per round trip next to swtpm's ~26 us (raw
37-39 k/s plain, 35-38 k/s framed), so it is used for every command.
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import Callable

from harness.errors import TargetDied, TargetError, TargetTimeout
from harness.swtpm import sockets

TPM_SEND_COMMAND = 8
_PREFIX = struct.Struct(">IBI")  # TPM_SEND_COMMAND, locality, commandSize
_U32 = struct.Struct(">I")
_TRAILER = b"\0\0\0\0"  # the simulator's acknowledgement after each response
_RECV_SIZE = 65536
MAX_RESPONSE = 1 << 20  # far beyond any TPM's buffer; a larger size field is garbage


class DataChannel:
    """One connection to swtpm's data port; ``transmit`` is the per-command hot path."""

    __slots__ = ("_sock", "_lock", "name", "postmortem")

    def __init__(self, sock: socket.socket, name: str) -> None:
        self._sock = sock
        self._lock = threading.Lock()
        self.name = name
        # Called when the connection breaks, to say why (e.g. the process's exit status).
        self.postmortem: Callable[[], str] | None = None

    @classmethod
    def connect(cls, address: sockets.Address, timeout: float, check=None) -> DataChannel:
        sock = sockets.connect(address, timeout, check)
        return cls(sock, f"data channel {sockets.describe(address)}")

    @classmethod
    def over(cls, sock: socket.socket, timeout: float, name: str) -> DataChannel:
        """Wrap an already connected socket (a socketpair end, an accepted connection)."""
        sock.settimeout(timeout)
        return cls(sock, name)

    def transmit(self, command: bytes, locality: int = 0) -> bytes:
        """One command at ``locality``, one whole response.

        A timeout or a broken connection retires the connection (a late reply
        would otherwise answer the next command): later calls raise TargetDied.
        """
        try:
            request = _PREFIX.pack(TPM_SEND_COMMAND, locality, len(command)) + command
        except struct.error:
            raise ValueError(f"locality {locality!r} does not fit TPM_SEND_COMMAND's one byte") from None
        with self._lock:
            sock = self._sock
            try:
                sock.sendall(request)
                data = sock.recv(_RECV_SIZE)
                if len(data) < 4 or len(data) != _U32.unpack_from(data)[0] + 8:
                    data = self._rest_of(data)
            except TimeoutError:
                self._retire(TargetTimeout(f"no response on the {self.name} within {sock.gettimeout()} s"))
            except OSError as exc:
                self._retire(TargetDied(f"{self.name} failed: {exc.strerror or exc}"))
            except TargetError as exc:
                self._retire(exc)
        if data[-4:] != _TRAILER:
            raise TargetError(f"{self.name}: response not followed by TPM_SEND_COMMAND's 00000000 "
                              f"(got {data[-4:].hex()})")
        return data[4:-4]

    def transmit_raw(self, command: bytes) -> bytes:
        """One unframed command: it runs at swtpm's sticky locality (CMD_SET_LOCALITY)."""
        with self._lock:
            sock = self._sock
            try:
                sock.sendall(command)
                data = sock.recv(_RECV_SIZE)
                if len(data) < 6 or len(data) != _U32.unpack_from(data, 2)[0]:
                    data = self._rest_of_raw(data)
            except TimeoutError:
                self._retire(TargetTimeout(f"no response on the {self.name} within {sock.gettimeout()} s"))
            except OSError as exc:
                self._retire(TargetDied(f"{self.name} failed: {exc.strerror or exc}"))
            except TargetError as exc:
                self._retire(exc)
        return data

    def _rest_of_raw(self, data: bytes) -> bytes:
        """The whole of an unframed response that did not arrive in one piece (its header holds its size)."""
        if not data:
            raise TargetDied(f"{self.name} closed by the target")
        if len(data) < 6:
            data += sockets.recv_exact(self._sock, 6 - len(data), f"response header on the {self.name}")
        size = _U32.unpack_from(data, 2)[0]
        if not 10 <= size <= MAX_RESPONSE or size < len(data):
            raise TargetError(f"{self.name}: response size field {size} does not fit {len(data)} bytes read")
        return data + sockets.recv_exact(self._sock, size - len(data), f"response on the {self.name}")

    def _retire(self, error: TargetError):
        """Close the connection for good and raise ``error``; later commands fail at once."""
        if not isinstance(self._sock, _Retired):
            if isinstance(error, TargetDied) and self.postmortem is not None:
                error = TargetDied(f"{error}; {self.postmortem()}")
            self._sock.close()
            self._sock = _Retired(f"{self.name} was given up after: {error}")
        raise error from None

    def _rest_of(self, data: bytes) -> bytes:
        """Read the rest of a framed response that did not arrive in one piece."""
        if not data:
            raise TargetDied(f"{self.name} closed by the target")
        if len(data) < 4:
            data += sockets.recv_exact(self._sock, 4 - len(data), f"response size on the {self.name}")
        size = _U32.unpack_from(data)[0]
        if size > MAX_RESPONSE:
            raise TargetError(f"{self.name}: response size field {size} exceeds {MAX_RESPONSE}")
        missing = size + 8 - len(data)
        if missing < 0:
            raise TargetError(f"{self.name}: {-missing} bytes after the framed response")
        return data + sockets.recv_exact(self._sock, missing, f"response on the {self.name}")

    def close(self) -> None:
        self._sock.close()


class _Retired:
    """Stands in for a connection given up after a failure: every use raises TargetDied."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def sendall(self, data: bytes) -> None:
        raise TargetDied(self.reason)

    def close(self) -> None:
        pass
