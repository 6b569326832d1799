"""The FIFO protocol of a TIS (PC Client PTP) over any :class:`~harness.targets.tis.regs.Registers`.

One command at locality n: request the locality, commandReady, write the
command in pieces of at most burstCount bytes checking Expect, tpmGo, poll
dataAvail with short sleeps, read the header then the rest, commandReady,
relinquish.  The steps are public so a suite can interleave them across
localities; every wait is bounded by ``timeout`` (TargetTimeout).
"""

from __future__ import annotations

import struct
import time

from harness.errors import TargetError, TargetTimeout
from harness.targets.tis import regs as r
from harness.targets.tis.regs import Registers, address

_HEADER = struct.Struct(">HI")  # tag, size
_FIRST_SLEEP = 0.00005
_MAX_SLEEP = 0.002  # a busy poll competes with swtpm for the CPU (qemu-tis.md section 5)


class FifoDriver:
    """The FIFO flow, step by step, on one register backend."""

    def __init__(self, registers: Registers, timeout: float = 5.0) -> None:
        self.regs = registers
        self.timeout = timeout

    # --- registers ---------------------------------------------------------------

    def access(self, locality: int) -> int:
        return self.regs.read8(address(locality, r.ACCESS))

    def sts(self, locality: int) -> int:
        return self.regs.read32(address(locality, r.STS))

    def write_access(self, locality: int, bits: int) -> None:
        self.regs.write8(address(locality, r.ACCESS), bits)

    def write_sts(self, locality: int, bits: int) -> None:
        """STS bits 0-7 by a byte write to byte 0, bits 24-31 by one to byte 3 (byte-addressable)."""
        if bits & 0xFF:
            self.regs.write8(address(locality, r.STS), bits & 0xFF)
        if bits >> 24:
            self.regs.write8(address(locality, r.STS) + 3, bits >> 24)

    def _wait(self, read, mask: int, what: str) -> int:
        deadline = time.monotonic() + self.timeout
        pause = _FIRST_SLEEP
        while True:
            value = read()
            if value & mask == mask:
                return value
            if time.monotonic() > deadline:
                raise TargetTimeout(f"TIS: {what} not seen within {self.timeout}s (last {value:#x})")
            time.sleep(pause)
            pause = min(pause * 2, _MAX_SLEEP)

    # --- locality ----------------------------------------------------------------

    def request(self, locality: int) -> None:
        """requestUse, then wait for tpmRegValidSts | activeLocality."""
        self.write_access(locality, r.ACCESS_REQUEST_USE)
        self._wait(lambda: self.access(locality), r.ACCESS_VALID | r.ACCESS_ACTIVE_LOCALITY,
                   f"locality {locality} granted")

    def relinquish(self, locality: int) -> None:
        self.write_access(locality, r.ACCESS_ACTIVE_LOCALITY)

    def seize(self, locality: int) -> None:
        self.write_access(locality, r.ACCESS_SEIZE)

    # --- command and response ------------------------------------------------------

    def command_ready(self, locality: int) -> None:
        """Write commandReady and wait until the TPM is Ready."""
        self.write_sts(locality, r.STS_COMMAND_READY)
        self._wait(lambda: self.sts(locality), r.STS_COMMAND_READY, f"commandReady at locality {locality}")

    def burst(self, locality: int) -> int:
        """Wait for a non-zero burstCount."""
        deadline = time.monotonic() + self.timeout
        while True:
            count = (self.sts(locality) >> 8) & 0xFFFF
            if count:
                return count
            if time.monotonic() > deadline:
                raise TargetTimeout(f"TIS: burstCount stayed 0 at locality {locality}")
            time.sleep(_FIRST_SLEEP)

    def write_bytes(self, locality: int, data: bytes) -> None:
        """``data`` into the FIFO in burstCount-sized pipelined pieces (no Expect check)."""
        fifo = address(locality, r.DATA_FIFO)
        done = 0
        while done < len(data):
            count = self.burst(locality)
            self.regs.write8_many(fifo, data[done:done + count])
            done += count

    def write_command(self, locality: int, command: bytes) -> None:
        """All but the last byte, Expect must be 1; the last byte, Expect must be 0."""
        self.write_bytes(locality, command[:-1])
        self._expect(locality, True, len(command) - 1, len(command))
        self.write_bytes(locality, command[-1:])
        self._expect(locality, False, len(command), len(command))

    def _expect(self, locality: int, wanted: bool, written: int, size: int) -> None:
        sts = self._wait(lambda: self.sts(locality), r.STS_VALID, f"stsValid at locality {locality}")
        if bool(sts & r.STS_EXPECT) != wanted:
            raise TargetError(f"TIS: Expect = {int(not wanted)} after {written} of {size} command "
                              f"bytes at locality {locality} (STS {sts:#010x})")

    def go(self, locality: int) -> None:
        self.write_sts(locality, r.STS_GO)

    def wait_data(self, locality: int) -> None:
        self._wait(lambda: self.sts(locality), r.STS_VALID | r.STS_DATA_AVAIL,
                   f"dataAvail at locality {locality}")

    def read_bytes(self, locality: int, count: int) -> bytes:
        """``count`` bytes from the FIFO in burstCount-sized pipelined pieces."""
        fifo = address(locality, r.DATA_FIFO)
        out = bytearray()
        while len(out) < count:
            piece = min(self.burst(locality), count - len(out))
            out += self.regs.read8_many(fifo, piece)
        return bytes(out)

    def read_response(self, locality: int) -> bytes:
        """The header, then responseSize - 10 more bytes; dataAvail must then be 0."""
        header = self.read_bytes(locality, 10)
        size = _HEADER.unpack_from(header)[1]
        if size < 10:
            raise TargetError(f"TIS: response header {header.hex()} gives size {size}")
        response = header + self.read_bytes(locality, size - 10)
        sts = self.sts(locality)
        if sts & (r.STS_VALID | r.STS_DATA_AVAIL) != r.STS_VALID:
            raise TargetError(f"TIS: STS {sts:#010x} after the whole {size}-byte response "
                              f"at locality {locality}: dataAvail should be 0")
        return response

    def cancel(self, locality: int) -> None:
        self.write_sts(locality, r.STS_COMMAND_CANCEL)

    def transmit(self, command: bytes, locality: int = 0) -> bytes:
        """The whole flow for one command at ``locality``; the locality is relinquished after."""
        self.request(locality)
        self.command_ready(locality)
        self.write_command(locality, command)
        self.go(locality)
        self.wait_data(locality)
        response = self.read_response(locality)
        self.write_sts(locality, r.STS_COMMAND_READY)
        self.relinquish(locality)
        return response
