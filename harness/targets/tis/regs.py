"""The register seam of a TIS (PC Client PTP FIFO interface): 8/32-bit reads and writes.

The FIFO driver (:mod:`harness.targets.tis.fifo`) only ever touches registers
through a :class:`Registers` backend, so the same driver runs over QEMU's
qtest socket and over a physical machine's /dev/mem.  Addresses are
``BASE + 0x1000 * locality + offset``.
"""

from __future__ import annotations

import mmap
import os
from typing import Protocol

from harness.errors import UsageError

BASE = 0xFED40000
WINDOW = 0x1000  # one locality's register window
LOCALITIES = 5

# Offsets in a locality window (PTP, FIFO interface).
ACCESS = 0x00
INT_ENABLE = 0x08
INT_VECTOR = 0x0C
INT_STATUS = 0x10
INTF_CAPABILITY = 0x14
STS = 0x18
BURST_COUNT = 0x19  # STS bits 23:8, 16-bit little-endian
DATA_FIFO = 0x24
INTERFACE_ID = 0x30
DID_VID = 0xF00
RID = 0xF04

# TPM_ACCESS_x bits.
ACCESS_ESTABLISHMENT = 0x01
ACCESS_REQUEST_USE = 0x02
ACCESS_PENDING_REQUEST = 0x04
ACCESS_SEIZE = 0x08
ACCESS_BEEN_SEIZED = 0x10
ACCESS_ACTIVE_LOCALITY = 0x20
ACCESS_VALID = 0x80

# TPM_STS_x bits.
STS_RESPONSE_RETRY = 0x02
STS_SELF_TEST_DONE = 0x04
STS_EXPECT = 0x08
STS_DATA_AVAIL = 0x10
STS_GO = 0x20
STS_COMMAND_READY = 0x40
STS_VALID = 0x80
STS_COMMAND_CANCEL = 1 << 24
STS_RESET_ESTABLISHMENT = 1 << 25
STS_FAMILY_SHIFT = 26


def address(locality: int, offset: int) -> int:
    return BASE + WINDOW * locality + offset


class Registers(Protocol):
    """Byte and dword access to the TIS MMIO range."""

    def read8(self, addr: int) -> int: ...

    def read32(self, addr: int) -> int: ...

    def write8(self, addr: int, value: int) -> None: ...

    def write32(self, addr: int, value: int) -> None: ...

    def write8_many(self, addr: int, data: bytes) -> None:
        """``data`` byte by byte to one address (a FIFO), pipelined where the backend can."""

    def read8_many(self, addr: int, count: int) -> bytes:
        """``count`` byte reads of one address (a FIFO), pipelined where the backend can."""

    def close(self) -> None: ...


class MmioRegisters:
    """The TIS range of a physical machine through /dev/mem (root, TPM driver unbound).

    Each access is one load or store of its width on an uncached mapping, as
    the PTP requires for the FIFO.
    """

    def __init__(self, path: str = "/dev/mem") -> None:
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_SYNC)
        except OSError as exc:
            raise UsageError(f"cannot open {path} for the TIS registers: {exc.strerror} "
                             "(needs root, CONFIG_STRICT_DEVMEM off or the range released)") from None
        try:
            self._map = mmap.mmap(self._fd, WINDOW * LOCALITIES, offset=BASE)
        except OSError as exc:
            os.close(self._fd)
            raise UsageError(f"cannot map the TIS range of {path}: {exc.strerror}") from None
        self._view = memoryview(self._map)

    def _slot(self, addr: int, width: int) -> memoryview:
        return self._view[addr - BASE:addr - BASE + width]

    def read8(self, addr: int) -> int:
        return self._slot(addr, 1)[0]

    def read32(self, addr: int) -> int:
        return self._slot(addr, 4).cast("I")[0]

    def write8(self, addr: int, value: int) -> None:
        self._slot(addr, 1)[0] = value

    def write32(self, addr: int, value: int) -> None:
        self._slot(addr, 4).cast("I")[0] = value

    def write8_many(self, addr: int, data: bytes) -> None:
        slot = self._slot(addr, 1)
        for byte in data:
            slot[0] = byte

    def read8_many(self, addr: int, count: int) -> bytes:
        slot = self._slot(addr, 1)
        return bytes(slot[0] for _ in range(count))

    def close(self) -> None:
        if self._fd >= 0:
            self._view.release()
            self._map.close()
            os.close(self._fd)
            self._fd = -1
