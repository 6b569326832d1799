"""Orderly index attributes in the emulator: kept in RAM and saved to NV only where the reference
(NV.c) saves its orderly RAM image, so a crash loses a write lock set since the last save."""

from __future__ import annotations

import pytest

from harness.emulator import Emulator
from harness.wire import encode_command
from models.ops import NvDefineSpace, NvIncrement, NvReadPublic, NvUndefineSpace, NvWriteLock, Shutdown

from .frames import parameters, rc, startup

OWNER, NV1, NV2 = 0x40000001, 0x01000001, 0x01000002
SHA256 = 0x000B
OWNER_RW, ORDERLY, COUNTER, WRITEDEFINE = 0x00020002, 0x04000000, 0x10, 0x2000
WRITELOCKED, NV_LOCKED = 0x800, 0x148
DEFINE_OTHER = NvDefineSpace(OWNER, NV2, SHA256, OWNER_RW | ORDERLY, 4)


def run(tpm: Emulator, *ops) -> None:
    for op in ops:
        assert rc(tpm.execute(encode_command(op))) == 0, op


def locked_counter(*before) -> Emulator:
    """A written, write-locked orderly WRITEDEFINE counter, after the ops ``before``."""
    tpm = Emulator()
    assert rc(tpm.execute(startup())) == 0
    run(tpm, *before, NvDefineSpace(OWNER, NV1, SHA256, OWNER_RW | ORDERLY | COUNTER | WRITEDEFINE, 8),
        NvIncrement(OWNER, NV1), NvWriteLock(OWNER, NV1))
    return tpm


def crash_and_start(tpm: Emulator) -> None:
    tpm.power_on()
    assert rc(tpm.execute(startup())) == 0


def attributes(tpm: Emulator) -> int:
    public = parameters(tpm.execute(encode_command(NvReadPublic(NV1))))
    return int.from_bytes(public[8:12], "big")  # size(2) nvIndex(4) nameAlg(2) attributes(4)


def test_a_crash_loses_a_lock_set_since_the_last_save():
    tpm = locked_counter()
    assert attributes(tpm) & WRITELOCKED
    crash_and_start(tpm)
    assert not attributes(tpm) & WRITELOCKED
    assert rc(tpm.execute(encode_command(NvIncrement(OWNER, NV1)))) == 0


@pytest.mark.parametrize("before, save", [
    ((), Shutdown(0)),
    ((), DEFINE_OTHER),
    ((DEFINE_OTHER,), NvUndefineSpace(OWNER, NV2)),
], ids=["shutdown", "define-orderly", "undefine-orderly"])
def test_a_save_of_the_orderly_image_keeps_the_lock(before, save):
    tpm = locked_counter(*before)
    run(tpm, save)
    crash_and_start(tpm)
    assert attributes(tpm) & WRITELOCKED
    assert rc(tpm.execute(encode_command(NvIncrement(OWNER, NV1)))) == NV_LOCKED
