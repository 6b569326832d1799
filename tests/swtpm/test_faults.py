"""Faults: hangs become TargetTimeout, deaths TargetDied, host faults behave as documented,
and no process outlives a target (after close, after an exception, after SIGKILL of the harness)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from harness.errors import TargetDied, TargetTimeout
from harness.swtpm import state
from harness.targets.swtpm import SwtpmTarget
from tests.swtpm.tpm import (FIXTURES, GET_RANDOM, INITIALIZE, NV_DEFINE, NV_READ, STARTUP_CLEAR, SUCCESS, SWTPM,
                             extend, extended, nv_read_data, nv_write, pcr, rc, running)

pytestmark = SWTPM
SILENT = str(FIXTURES / "silent_swtpm.py")


def test_a_hung_target_times_out_and_crash_recovers_it():
    with SwtpmTarget(timeout=0.5) as target:
        target.transmit(STARTUP_CLEAR)
        target.hang()
        with pytest.raises(TargetTimeout, match="no response"):
            target.transmit(GET_RANDOM)
        with pytest.raises(TargetDied, match="given up"):  # a late reply must not answer a later command
            target.transmit(GET_RANDOM)
        target.crash()
        assert rc(target.transmit(STARTUP_CLEAR)) == SUCCESS


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_a_binary_that_never_answers_is_a_timeout(transport, spawned):
    with pytest.raises(TargetTimeout, match="within 0.5 s"):
        SwtpmTarget(binary=SILENT, timeout=0.5, transport=transport)
    assert spawned  # and the `spawned` fixture checks that none is left


def test_a_binary_that_dies_mid_command_is_target_died_quoting_it(monkeypatch):
    monkeypatch.setenv("SILENT_SWTPM_MODE", "die")
    with pytest.raises(TargetDied, match="exited with rc 3: silent_swtpm: exiting in the middle"):
        SwtpmTarget(binary=SILENT, timeout=2)


def test_a_killed_process_is_target_died_naming_the_signal(started):
    os.kill(started.pid, signal.SIGKILL)
    with pytest.raises(TargetDied, match="killed by SIGKILL"):
        started.transmit(GET_RANDOM)


def test_close_kills_and_reaps():
    target = SwtpmTarget()
    pid, state_dir = target.pid, target.state_dir
    target.close()
    assert not os.path.exists(f"/proc/{pid}")  # gone and reaped, not a zombie
    assert not os.path.exists(state_dir)
    target.close()  # idempotent


def test_an_exception_inside_the_target_context_reaps_the_process():
    with pytest.raises(RuntimeError):
        with SwtpmTarget() as target:
            pid = target.pid
            raise RuntimeError("injected failure")
    assert not os.path.exists(f"/proc/{pid}")


def test_sigkill_of_the_harness_takes_its_swtpm_along():
    scratch = tempfile.mkdtemp(prefix="sigkill-")  # what the killed harness cannot clean up itself
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import sys, time
            from harness.targets.swtpm import SwtpmTarget
            target = SwtpmTarget()
            print(target.pid, flush=True)
            time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": scratch},
    )
    try:
        pid = int(child.stdout.readline())
        assert running(pid)
        child.kill()
        child.wait()
        deadline = time.monotonic() + 5
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not running(pid), f"swtpm {pid} outlived its SIGKILLed harness"
    finally:
        child.kill()
        child.wait()
        shutil.rmtree(scratch)


def test_a_missing_state_dir_stops_the_start_and_the_next_restart_brings_it_back(started):
    assert rc(started.transmit(NV_DEFINE)) == SUCCESS
    assert rc(started.transmit(nv_write(b"survives"))) == SUCCESS
    with pytest.raises(TargetDied, match="exited with rc 1: .*Could not open lockfile"):
        started.start_without_disk()
    with pytest.raises(TargetDied, match="not running"):
        started.transmit(GET_RANDOM)
    started.crash()
    assert rc(started.transmit(STARTUP_CLEAR)) == SUCCESS
    assert nv_read_data(started.transmit(NV_READ)) == b"survives"


def test_suspend_resume_loses_nothing_and_is_resumed_once(started):
    extend(started, 16, b"before suspend")
    started.suspend_resume()
    assert rc(started.transmit(GET_RANDOM)) == SUCCESS  # still started
    assert pcr(started, 16) == extended(b"before suspend")
    assert not os.path.exists(os.path.join(started.state_dir, state.VOLATILE_FILE))
    started.crash()
    assert rc(started.transmit(GET_RANDOM)) == INITIALIZE  # the snapshot is not resumed again


def test_lost_volatile_state_comes_back_as_after_power_loss(started):
    extend(started, 16, b"before suspend")
    started.control.store_volatile()  # the host had saved it ...
    started.lose_volatile()  # ... and lost it
    assert rc(started.transmit(GET_RANDOM)) == INITIALIZE
    assert rc(started.transmit(STARTUP_CLEAR)) == SUCCESS
    assert pcr(started, 16) == bytes(32)


@pytest.mark.parametrize("how", ["truncate", "empty"])
def test_a_truncated_state_file_stops_the_start(started, how):
    with pytest.raises(TargetDied, match="exited with rc 1"):
        started.corrupt_state(how)
    path = os.path.join(started.state_dir, state.PERMANENT_FILE)
    template = os.path.join(started._template.path, state.PERMANENT_FILE)
    expected = 0 if how == "empty" else os.path.getsize(template) // 2
    assert os.path.getsize(path) == expected


def test_corrupt_state_flip_inverts_exactly_one_byte(started):
    path = os.path.join(started.state_dir, state.PERMANENT_FILE)
    with open(path, "rb") as f:
        before = f.read()
    try:
        started.corrupt_state("flip", offset=100)
    except TargetDied:
        pass  # whether swtpm starts on it is the finding; the damage is what this test checks
    with open(path, "rb") as f:
        after = f.read()
    assert len(after) == len(before)
    assert [(i, a ^ b) for i, (a, b) in enumerate(zip(before, after)) if a != b] == [(100, 0xFF)]


def test_bad_fault_arguments_fail_early(started):
    with pytest.raises(ValueError, match="how"):
        started.corrupt_state("shred")
