"""A kernel TPM character device as a target (``--target device:/dev/tpmrm0``).

The kernel's TPM device protocol: one write() carries one whole command,
one read() returns one whole response (drivers/char/tpm/tpm-dev-common.c).
Localities are the driver's business (it uses locality 0), so the device
reaches locality 0 only and offers no platform controls.  A read waits at
most ``timeout`` (poll(2)); after a timeout or an I/O error the descriptor is
given up, since a late response would otherwise answer the next command.

``DeviceTarget.from_fd`` wraps a descriptor that behaves the same, such as
one end of a SOCK_SEQPACKET socketpair served by ``swtpm chardev``
(:mod:`harness.swtpm.chardev`).
"""

from __future__ import annotations

import errno
import os
import select
import threading
from typing import Callable

from harness.errors import TargetDied, TargetError, TargetTimeout, UsageError
from harness.swtpm import properties
from harness.targets.base import BaseTarget

_REFUSED = frozenset({errno.EINVAL, errno.E2BIG, errno.EMSGSIZE})  # write(2) errors about the bytes
_READ_SIZE = 65536  # larger than any TPM buffer; a SOCK_SEQPACKET record is cut at the read size


class DeviceTarget(BaseTarget):
    """``/dev/tpm0`` (one opener at a time) or ``/dev/tpmrm0`` (the kernel's resource manager)."""

    name = "device"
    profile = "ptp"
    capabilities = frozenset()

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise UsageError(f"cannot open TPM device {path}: {exc.strerror}") from None
        self._setup(fd, path, timeout, None)

    @classmethod
    def from_fd(cls, fd: int, name: str, timeout: float = 5.0,
                on_close: Callable[[], None] | None = None) -> DeviceTarget:
        """A target on an open descriptor with device semantics; it owns ``fd``.

        ``on_close`` runs after the descriptor is closed (e.g. to reap the server).
        """
        target = cls.__new__(cls)
        target._setup(fd, name, timeout, on_close)
        return target

    def _setup(self, fd: int, path: str, timeout: float, on_close) -> None:
        self.path = path
        self.timeout = timeout
        self._fd = fd
        self._timeout_ms = int(timeout * 1000)
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)
        self._lock = threading.Lock()
        self._broken: str | None = None
        self._on_close = on_close
        self.postmortem: Callable[[], str] | None = None  # why the peer went away, if known

    def transmit(self, command: bytes, locality: int = 0) -> bytes:
        if locality:
            raise ValueError(f"{self.path} reaches locality 0 only, not {locality}")
        with self._lock:
            if self._broken is not None:
                raise TargetDied(self._broken)
            try:
                written = os.write(self._fd, command)
            except OSError as exc:
                if exc.errno in _REFUSED:  # the driver rejected these bytes; the device is fine
                    raise TargetError(f"{self.path} refused a {len(command)}-byte command: {exc.strerror}") from None
                self._give_up(TargetDied(f"{self.path} failed: {exc.strerror or exc}"))
            if written != len(command):
                self._give_up(TargetError(f"{self.path} took {written} of {len(command)} command bytes"))
            try:
                response = os.read(self._fd, _READ_SIZE) if self._poll.poll(self._timeout_ms) else None
            except OSError as exc:
                self._give_up(TargetDied(f"{self.path} failed: {exc.strerror or exc}"))
            if response is None:
                self._give_up(TargetTimeout(f"no response from {self.path} within {self.timeout} s"))
            if not response:
                self._give_up(TargetDied(f"{self.path} closed by the other side"))
        return response

    def _give_up(self, error: TargetError):
        if isinstance(error, TargetDied) and self.postmortem is not None:
            error = TargetDied(f"{error}; {self.postmortem()}")
        self._broken = f"{self.path} was given up after: {error}"
        raise error

    def identity(self) -> dict:
        """The device path and the TPM's properties (once the TPM is started)."""
        return {"implementation": "TPM character device", "path": self.path,
                **properties.query(self.transmit)}

    def close(self) -> None:
        """Close the descriptor (then run ``on_close``); idempotent."""
        if self._fd is not None:
            self._poll.unregister(self._fd)
            os.close(self._fd)
            self._fd = None
            self._broken = f"{self.path} is closed"
            if self._on_close is not None:
                self._on_close()
