"""Fixtures of the swtpm tests: a fresh target per test, and the check that no process outlives it."""

from __future__ import annotations

import os

import pytest

from harness.swtpm.process import SwtpmProcess
from harness.targets.swtpm import SwtpmTarget
from tests.swtpm.tpm import STARTUP_CLEAR, SUCCESS, rc


@pytest.fixture(autouse=True)
def spawned(monkeypatch):
    """Every process the harness spawns during the test; after it, none may exist (reaped, not zombie)."""
    pids = []
    spawn = SwtpmProcess.__init__

    def recording(self, *args, **kwargs):
        spawn(self, *args, **kwargs)
        pids.append(self.pid)

    monkeypatch.setattr(SwtpmProcess, "__init__", recording)
    yield pids
    left = [pid for pid in pids if os.path.exists(f"/proc/{pid}")]
    assert not left, f"processes outlived the test: {left}"


@pytest.fixture
def target():
    with SwtpmTarget() as tpm:
        yield tpm


@pytest.fixture
def started(target):
    """A target after TPM2_Startup(CLEAR)."""
    assert rc(target.transmit(STARTUP_CLEAR)) == SUCCESS
    return target
