"""The FIFO driver's own logic, on a fake register file (this tests the driver, not a TIS).

The fake answers a TPM that echoes the command as its response; it counts
the bytes written between STS reads, so burstCount handling is visible.
"""

from __future__ import annotations

import struct

import pytest

from harness.errors import TargetError, TargetTimeout
from harness.targets.tis import regs as r
from harness.targets.tis.fifo import FifoDriver


class FakeTis:
    def __init__(self, burst: int = 3, early_expect_drop: int | None = None, never_done: bool = False) -> None:
        self.burst, self.drop, self.never_done = burst, early_expect_drop, never_done
        self.active = None
        self.command, self.response = bytearray(), b""
        self.since_sts = 0
        self.largest_run = 0

    def _split(self, addr):
        return (addr - r.BASE) // r.WINDOW, (addr - r.BASE) % r.WINDOW

    def read8(self, addr):
        locality, offset = self._split(addr)
        if offset == r.ACCESS:
            return r.ACCESS_VALID | (r.ACCESS_ACTIVE_LOCALITY if self.active == locality else 0)
        byte, self.response = self.response[0], self.response[1:]
        return byte

    def read32(self, addr):
        self.since_sts = 0
        size = struct.unpack_from(">I", self.command, 2)[0] if len(self.command) >= 6 else None
        expect = size is None or len(self.command) < size
        if self.drop is not None and len(self.command) >= self.drop:
            expect = False
        sts = r.STS_VALID | r.STS_COMMAND_READY | (r.STS_EXPECT if expect and self.command else 0)
        if self.response and not self.never_done:
            sts |= r.STS_DATA_AVAIL
        return sts | self.burst << 8

    def write8(self, addr, value):
        locality, offset = self._split(addr)
        if offset == r.ACCESS and value == r.ACCESS_REQUEST_USE and self.active is None:
            self.active = locality
        elif offset == r.ACCESS and value == r.ACCESS_ACTIVE_LOCALITY and self.active == locality:
            self.active = None
        elif offset == r.STS and value == r.STS_COMMAND_READY:
            self.command = bytearray()
        elif offset == r.STS and value == r.STS_GO:
            self.response = bytes(self.command)
        elif offset == r.DATA_FIFO:
            self.command.append(value)
            self.since_sts += 1
            self.largest_run = max(self.largest_run, self.since_sts)

    def write8_many(self, addr, data):
        for byte in data:
            self.write8(addr, byte)

    def read8_many(self, addr, count):
        return bytes(self.read8(addr) for _ in range(count))


COMMAND = bytes.fromhex("8001") + struct.pack(">I", 22) + bytes(range(16))


def test_a_whole_exchange_respects_burst_count_and_relinquishes():
    fake = FakeTis(burst=3)
    assert FifoDriver(fake).transmit(COMMAND, 2) == COMMAND
    assert fake.largest_run <= 3
    assert fake.active is None


def test_expect_dropping_before_the_last_byte_is_a_target_error():
    with pytest.raises(TargetError, match="Expect = 0 after 21 of 22"):
        FifoDriver(FakeTis(early_expect_drop=7)).transmit(COMMAND, 0)


def test_a_response_that_never_comes_times_out():
    with pytest.raises(TargetTimeout, match="dataAvail"):
        FifoDriver(FakeTis(never_done=True), timeout=0.05).transmit(COMMAND, 0)
