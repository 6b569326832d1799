"""Spawning and reaping swtpm processes, so that none outlives the harness.

Every process gets its own process group (``start_new_session``), so one
SIGKILL reaches anything it forks, and PR_SET_PDEATHSIG(SIGKILL) (prctl(2)),
so the kernel kills it when the harness dies, even by SIGKILL.  The kernel
sends that signal when the *thread* that spawned the process exits: spawn
from a thread that lives as long as the target (pytest's and Hypothesis's
main thread does).  ``kill()`` and a weakref finalizer, which also runs at
interpreter exit (normal end, Ctrl-C, an uncaught exception), SIGKILL the
group and reap the process.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import subprocess
import weakref

from harness.errors import TargetDied, UsageError
from harness.executables import find_executable

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)
_LOG_TAIL = 400  # characters of swtpm's log quoted when it exits


def find_swtpm_binary(binary: str | None = None) -> str:
    """``binary``, else ``$SWTPM``, else ``swtpm`` on PATH, as an absolute path."""
    return find_executable(binary, "SWTPM", "swtpm", "--swtpm-binary", "swtpm")


@functools.lru_cache(maxsize=None)
def swtpm_version(binary: str) -> str:
    """First line of ``binary --version`` (once per binary), or why there is none."""
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, timeout=5, text=True,
                              errors="replace")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else f"unknown (no output, rc {done.returncode})"


def _die_with_parent(parent: int):
    """preexec_fn: SIGKILL this child when the parent dies; quit if it already has."""
    sigkill = int(signal.SIGKILL)

    def preexec() -> None:
        _libc.prctl(_PR_SET_PDEATHSIG, sigkill, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)
    return preexec


def _reap(popen: subprocess.Popen) -> None:
    try:
        os.killpg(popen.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    popen.wait()


class SwtpmProcess:
    """One spawned process: its output goes to ``log_path``; ``kill()`` ends and reaps it."""

    def __init__(self, argv: list[str], log_path: str, pass_fds: tuple[int, ...] = ()) -> None:
        self.argv = argv
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self._log_start = log.tell()  # the log may hold earlier processes' output
            try:
                self._popen = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    pass_fds=pass_fds, start_new_session=True, preexec_fn=_die_with_parent(os.getpid()),
                )
            except OSError as exc:
                raise UsageError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        self.pid = self._popen.pid
        self._reaper = weakref.finalize(self, _reap, self._popen)

    @property
    def returncode(self) -> int | None:
        """None while running; the exit status once it has ended (negative: killed by that signal)."""
        return self._popen.poll()

    def wait(self, timeout: float) -> int | None:
        """The exit status once the process ends within ``timeout``, else None."""
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def check_alive(self) -> None:
        """Raise TargetDied, quoting the process's last words, if it has exited."""
        if self._popen.poll() is not None:
            raise TargetDied(self.exit_report())

    def exit_report(self) -> str:
        rc = self._popen.poll()
        if rc is None:
            status = "is running"
        elif rc < 0:
            status = f"was killed by {signal.Signals(-rc).name}"
        else:
            status = f"exited with rc {rc}"
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(log.seek(0, os.SEEK_END) - _LOG_TAIL, self._log_start))
                tail = log.read().decode(errors="replace").strip()
        except OSError:
            tail = ""
        words = " ".join(tail.split())
        return f"{os.path.basename(self.argv[0])} (pid {self.pid}) {status}" + (f": {words}" if words else "")

    def freeze(self) -> None:
        """SIGSTOP: the process stops reading; only SIGKILL (``kill()``) ends it."""
        os.kill(self.pid, signal.SIGSTOP)

    def kill(self) -> None:
        """SIGKILL the process group and reap; idempotent."""
        self._reaper()
