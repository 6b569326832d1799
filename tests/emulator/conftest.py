"""Fixtures: a fresh emulator, started with TPM2_Startup(CLEAR) at locality 0."""

from __future__ import annotations

import pytest

from harness.emulator import Emulator

from .frames import rc_only, startup


@pytest.fixture
def tpm() -> Emulator:
    emulator = Emulator()
    assert emulator.execute(startup()) == rc_only(0)
    return emulator
