"""``swtpm chardev`` on a SOCK_SEQPACKET socketpair: a /dev/tpm0 without a kernel driver.

On a SOCK_SEQPACKET socket one write is one command and one read is one
response, the semantics of the kernel's TPM character devices, so the device
target can be tested for real (and CI can run the suites against it) where
no /dev/tpm0 exists.  swtpm gets one end of the pair as ``--fd N``; the
state comes from the same bank template as the socket target.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile

from harness.errors import TargetDied
from harness.swtpm import launch, state
from harness.swtpm.process import SwtpmProcess, find_swtpm_binary
from harness.targets.device import DeviceTarget

PROFILE = "libtpms-0.9"  # the model profile of the TPM behind it
_EXIT_GRACE = 1.0  # seconds to let a process whose socket closed show its exit status


def swtpm_chardev(binary: str | None = None, banks: tuple[str, ...] = ("sha1", "sha256"),
                  timeout: float = 5.0) -> DeviceTarget:
    """A DeviceTarget served by its own ``swtpm chardev --tpm2`` process, ready (one round trip done).

    The TPM awaits TPM2_Startup.  ``close()`` kills and reaps the process and
    removes its state directory.  The target also carries ``profile``,
    ``banks`` and the process's ``pid`` (for fault injection).
    """
    binary = find_swtpm_binary(binary)
    template = state.template(binary, tuple(banks), timeout)
    run_dir = tempfile.mkdtemp(prefix="vtpm-harness-chardev-")
    state_dir = os.path.join(run_dir, "state")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    process = None
    try:
        state.copy_state(template, state_dir)
        argv = [binary, "chardev", "--tpm2", "--fd", str(theirs.fileno()), "--tpmstate", f"dir={state_dir}",
                "--flags", "not-need-init"]
        process = SwtpmProcess(argv, os.path.join(run_dir, "swtpm.log"), pass_fds=(theirs.fileno(),))
    except BaseException:
        ours.close()
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        theirs.close()

    def on_close() -> None:
        process.kill()
        shutil.rmtree(run_dir, ignore_errors=True)

    target = DeviceTarget.from_fd(ours.detach(), f"swtpm chardev (pid {process.pid})", timeout, on_close)
    target.postmortem = lambda: (process.wait(_EXIT_GRACE), process.exit_report())[1]
    target.profile = PROFILE
    target.banks = tuple(banks)
    target.pid = process.pid
    try:
        target.transmit(launch.READINESS_COMMAND)
    except BaseException as exc:
        target.close()
        if isinstance(exc, TargetDied):
            raise TargetDied(process.exit_report()) from None
        raise
    return target
