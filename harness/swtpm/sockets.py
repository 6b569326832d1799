"""Socket plumbing shared by swtpm's two channels: connecting, exact reads, error mapping.

A failure of the peer is a finding about the target, so socket errors leave
here as :class:`TargetTimeout` (no answer within the timeout) or
:class:`TargetDied` (connection closed, reset or refused for good), each
naming the channel and what it was waiting for.
"""

from __future__ import annotations

import socket
import time
from typing import Callable

from harness.errors import TargetDied, TargetTimeout

Address = str | tuple[str, int]  # a unix socket path, or (host, port) for TCP

_RETRY_PAUSE = 0.0005  # between connect attempts while swtpm starts (it listens within ~4 ms)


def describe(address: Address) -> str:
    return address if isinstance(address, str) else f"{address[0]}:{address[1]}"


def connect(address: Address, timeout: float, check: Callable[[], None] | None = None) -> socket.socket:
    """Connect to ``address``; with ``check``, retry while the socket is not there yet.

    ``check`` is called between attempts and raises if the server process is
    gone (so a crashed swtpm is reported at once, not after the timeout).
    Without it, one attempt: an attached endpoint is either there or not.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = _connect_once(address, timeout)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            if check is None:
                raise TargetDied(f"cannot connect to {describe(address)}: {exc.strerror}") from None
            check()
            if time.monotonic() >= deadline:
                raise TargetTimeout(f"{describe(address)} did not accept a connection within {timeout} s") from None
            time.sleep(_RETRY_PAUSE)
            continue
        except TimeoutError:
            raise TargetTimeout(f"{describe(address)} did not accept a connection within {timeout} s") from None
        except OSError as exc:
            raise TargetDied(f"cannot connect to {describe(address)}: {exc}") from None
        return sock


def _connect_once(address: Address, timeout: float) -> socket.socket:
    if not isinstance(address, str):
        sock = socket.create_connection(address, timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def recv_exact(sock: socket.socket, size: int, what: str) -> bytes:
    """Exactly ``size`` bytes; ``what`` names the awaited reply in errors."""
    chunks = []
    while size:
        try:
            chunk = sock.recv(size)
        except TimeoutError:
            raise TargetTimeout(f"no {what} within {sock.gettimeout()} s") from None
        except OSError as exc:
            raise TargetDied(f"connection failed while reading {what}: {exc}") from None
        if not chunk:
            raise TargetDied(f"connection closed while reading {what}")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def send_all(sock: socket.socket, data: bytes, what: str) -> None:
    try:
        sock.sendall(data)
    except TimeoutError:
        raise TargetTimeout(f"{what} not accepted within {sock.gettimeout()} s") from None
    except OSError as exc:
        raise TargetDied(f"connection failed while sending {what}: {exc}") from None
