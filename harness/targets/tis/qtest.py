"""QEMU's tpm-tis device backed by swtpm, driven through the qtest socket (no guest).

Command lines and pitfalls measured in /work/shared/notes/qemu-tis.md: swtpm
with its control channel only (QEMU hands it the data fd), QEMU with
``-accel tcg -S`` (Debian ships no qtest accelerator; ``-S`` keeps firmware
away from the TPM), the harness listening on the qtest socket before QEMU
starts.  Both processes get their own process group and die with the
harness (:class:`harness.swtpm.process.SwtpmProcess`); swtpm's
``--terminate`` also ends it when QEMU goes.  QEMU never sends
TPM2_Startup: the caller plays firmware.
"""

from __future__ import annotations

import json
import os
import socket
import time

from harness.errors import TargetDied, TargetError, TargetTimeout
from harness.executables import find_executable
from harness.swtpm.process import SwtpmProcess
from harness.targets.tis import regs

_POLL = 0.002  # seconds between checks while a process starts
_QUIT_GRACE = 1.0  # seconds QEMU gets to quit over QMP before it is killed


def find_qemu_binary(binary: str | None = None) -> str:
    """``binary``, else ``$QEMU``, else ``qemu-system-x86_64`` on PATH, as an absolute path."""
    return find_executable(binary, "QEMU", "qemu-system-x86_64", "--qemu-binary", "qemu-system-x86")


class QtestRegisters:
    """The qtest text protocol: one line per access, replies in order; IRQ lines skipped."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        sock.settimeout(timeout)
        self._sock = sock
        self._reader = sock.makefile("rb")  # buffered: one recv serves many replies

    def _exchange(self, lines: list[str]) -> list[bytes]:
        try:
            self._sock.sendall("".join(lines).encode())
            replies = []
            while len(replies) < len(lines):
                reply = self._reader.readline()
                if not reply:
                    raise TargetDied("QEMU closed the qtest socket")
                if reply.startswith(b"IRQ"):
                    continue
                if not reply.startswith(b"OK"):
                    raise TargetError(f"qtest refused {lines[len(replies)].strip()!r}: {reply.decode().strip()}")
                replies.append(reply)
            return replies
        except socket.timeout:
            raise TargetTimeout("QEMU did not answer on the qtest socket") from None
        except OSError as exc:
            raise TargetDied(f"qtest socket: {exc}") from None

    def read8(self, addr: int) -> int:
        return int(self._exchange([f"readb {addr:#x}\n"])[0][3:], 16)

    def read32(self, addr: int) -> int:
        return int(self._exchange([f"readl {addr:#x}\n"])[0][3:], 16)

    def write8(self, addr: int, value: int) -> None:
        self._exchange([f"writeb {addr:#x} {value:#x}\n"])

    def write32(self, addr: int, value: int) -> None:
        self._exchange([f"writel {addr:#x} {value:#x}\n"])

    def write8_many(self, addr: int, data: bytes) -> None:
        self._exchange([f"writeb {addr:#x} {byte:#x}\n" for byte in data])

    def read8_many(self, addr: int, count: int) -> bytes:
        return bytes(int(r[3:], 16) for r in self._exchange([f"readb {addr:#x}\n"] * count))

    def close(self) -> None:
        self._reader.close()
        self._sock.close()


class Qmp:
    """QEMU's monitor protocol: one JSON object per line, events skipped."""

    def __init__(self, path: str, timeout: float, alive) -> None:
        deadline = time.monotonic() + timeout
        while True:
            alive()
            try:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._sock.settimeout(timeout)
                self._sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self._sock.close()
                if time.monotonic() > deadline:
                    raise TargetTimeout(f"QEMU did not open its QMP socket {path}") from None
                time.sleep(_POLL)
        self._reader = self._sock.makefile("rb")
        self._reader.readline()  # greeting
        self.execute("qmp_capabilities")

    def execute(self, command: str) -> dict:
        try:
            self._sock.sendall(json.dumps({"execute": command}).encode() + b"\n")
            while True:
                line = self._reader.readline()
                if not line:
                    raise TargetDied(f"QEMU closed QMP during {command}")
                reply = json.loads(line)
                if "error" in reply:
                    raise TargetError(f"QMP {command}: {reply['error'].get('desc')}")
                if "return" in reply:
                    return reply["return"]
        except socket.timeout:
            raise TargetTimeout(f"QEMU did not answer QMP {command}") from None
        except OSError as exc:
            raise TargetDied(f"QMP {command}: {exc}") from None

    def close(self) -> None:
        self._reader.close()
        self._sock.close()


class QemuTpm:
    """swtpm plus ``qemu-system-x86_64 -device tpm-tis`` in ``run_dir``; ``close()`` ends both."""

    def __init__(self, qemu: str, swtpm: str, state_dir: str, run_dir: str, timeout: float,
                 device: str = "tpm-tis") -> None:
        self.swtpm = self.qemu = self.regs = self.qmp = None
        try:
            self._start(qemu, swtpm, state_dir, run_dir, timeout, device)
        except BaseException:
            self.close()
            raise

    def _start(self, qemu, swtpm, state_dir, run_dir, timeout, device) -> None:
        ctrl, qtest, qmp = (os.path.join(run_dir, n) for n in ("swtpm.sock", "qtest.sock", "qmp.sock"))
        for path in (ctrl, qtest, qmp):
            if os.path.lexists(path):
                os.unlink(path)
        self.swtpm = SwtpmProcess([swtpm, "socket", "--tpm2", "--tpmstate", f"dir={state_dir}",
                                   "--ctrl", f"type=unixio,path={ctrl}", "--terminate"],
                                  os.path.join(run_dir, "swtpm.log"))
        deadline = time.monotonic() + timeout
        while not os.path.exists(ctrl):
            self.swtpm.check_alive()
            if time.monotonic() > deadline:
                raise TargetTimeout("swtpm did not create its control socket")
            time.sleep(_POLL)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(qtest)
            listener.listen(1)
            self.qemu = SwtpmProcess(
                [qemu, "-machine", "q35", "-accel", "tcg", "-S", "-display", "none", "-nodefaults",
                 "-qtest", f"unix:{qtest}", "-qtest-log", "none",
                 "-qmp", f"unix:{qmp},server=on,wait=off",
                 "-chardev", f"socket,id=chrtpm,path={ctrl}", "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
                 "-device", f"{device},tpmdev=tpm0"], os.path.join(run_dir, "qemu.log"))
            listener.settimeout(_POLL * 10)
            while True:
                try:
                    conn, _ = listener.accept()
                    break
                except socket.timeout:
                    self.qemu.check_alive()
                    self.swtpm.check_alive()
                    if time.monotonic() > deadline:
                        raise TargetTimeout("QEMU did not connect to the qtest socket") from None
        finally:
            listener.close()
        self.regs = QtestRegisters(conn, timeout)
        self.qmp = Qmp(qmp, timeout, self.qemu.check_alive)
        self.regs.read32(regs.address(0, regs.STS))  # the machine is up

    def check_alive(self) -> None:
        for process in (self.qemu, self.swtpm):
            if process is not None:
                process.check_alive()

    def system_reset(self) -> None:
        """QMP system_reset: QEMU resets the TIS and sends swtpm CMD_INIT (_TPM_Init)."""
        self.qmp.execute("system_reset")

    def close(self) -> None:
        """QMP quit (swtpm then gets CMD_SHUTDOWN), then SIGKILL whatever is left; idempotent."""
        if self.qmp is not None:
            try:
                self.qmp.execute("quit")
            except TargetError:
                pass
            self.qmp.close()
            self.qmp = None
        if self.regs is not None:
            self.regs.close()
            self.regs = None
        for process in (self.qemu, self.swtpm):
            if process is not None:
                process.wait(_QUIT_GRACE)
                process.kill()
