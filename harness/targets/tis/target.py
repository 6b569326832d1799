"""A TIS as a target: ``tis+qtest`` (QEMU's tpm-tis over qtest) and ``tis+mmio:/dev/mem``.

transmit(command, locality) runs the whole FIFO flow in that locality's
register window.  Locality 4 is the hardware's (QEMU ignores its writes), so
these targets honour localities 0-3 (Capability.LOCALITY_0_3).  The TIS
registers themselves are open to suites (Capability.TIS_REGISTERS) through
``fifo`` and ``reset_interface()``.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref

from harness.swtpm import state
from harness.swtpm.process import find_swtpm_binary, swtpm_version
from harness.targets.base import BaseTarget, Capability
from harness.targets.tis import regs as r
from harness.targets.tis.fifo import FifoDriver
from harness.targets.tis.qtest import QemuTpm, find_qemu_binary
from harness.targets.tis.regs import MmioRegisters, address

TIS_LOCALITIES = (0, 1, 2, 3)


def interface_identity(fifo: FifoDriver) -> dict:
    """INTF_CAPABILITY, INTERFACE_ID, DID_VID and RID as locality 0's window reports them."""
    read32 = fifo.regs.read32
    did_vid = read32(address(0, r.DID_VID))
    return {"intf_capability": f"{read32(address(0, r.INTF_CAPABILITY)):#010x}",
            "interface_id": f"{read32(address(0, r.INTERFACE_ID)):#010x}",
            "vendor_id": f"{did_vid & 0xFFFF:#06x}", "device_id": f"{did_vid >> 16:#06x}",
            "revision_id": f"{fifo.regs.read8(address(0, r.RID)):#04x}"}


class _TisBase(BaseTarget):
    fifo: FifoDriver

    def transmit(self, command: bytes, locality: int = 0) -> bytes:
        if locality not in TIS_LOCALITIES:
            raise ValueError(f"{self.name} honours localities 0-3, not {locality}")
        return self.fifo.transmit(command, locality)


class TisQtestTarget(_TisBase):
    """QEMU's tpm-tis backed by a swtpm of its own, on a private copy of a bank template.

    power_cycle is QMP system_reset (QEMU sends swtpm CMD_INIT, the TIS
    resets); orderly or not makes no difference, the process keeps running.
    """

    name = "tis+qtest"
    profile = "libtpms-0.9"
    capabilities = frozenset({Capability.LOCALITY_0_3, Capability.POWER_CYCLE, Capability.TIS_REGISTERS})

    def __init__(self, qemu_binary: str | None = None, swtpm_binary: str | None = None,
                 banks: tuple[str, ...] = ("sha1", "sha256"), timeout: float = 5.0) -> None:
        self.qemu_binary = find_qemu_binary(qemu_binary)
        self.swtpm_binary = find_swtpm_binary(swtpm_binary)
        self.banks = tuple(banks)
        self._template = state.template(self.swtpm_binary, self.banks, timeout)
        self._dir = tempfile.mkdtemp(prefix="vtpm-tis-")
        self._remove_dir = weakref.finalize(self, shutil.rmtree, self._dir, ignore_errors=True)
        self._qemu = None
        try:
            state.copy_state(self._template, f"{self._dir}/state")
            self._qemu = QemuTpm(self.qemu_binary, self.swtpm_binary, f"{self._dir}/state", self._dir,
                                 timeout)
        except BaseException:
            self.close()
            raise
        self.fifo = FifoDriver(self._qemu.regs, timeout)

    @property
    def pids(self) -> tuple[int, int]:
        """QEMU's and swtpm's process IDs."""
        return self._qemu.qemu.pid, self._qemu.swtpm.pid

    def power_cycle(self, orderly: bool) -> None:
        self.reset_interface()

    def reset_interface(self) -> None:
        """QMP system_reset: every locality released, the FIFO idle, _TPM_Init to the TPM."""
        self._qemu.system_reset()

    def identity(self) -> dict:
        return {"implementation": "QEMU tpm-tis over qtest", "qemu": self.qemu_binary,
                "swtpm": self.swtpm_binary, "swtpm_version": swtpm_version(self.swtpm_binary),
                "banks": list(self.banks), **interface_identity(self.fifo), **self._template.identity}

    def close(self) -> None:
        if self._qemu is not None:
            self._qemu.close()
            self._qemu = None
        self._remove_dir()


class TisMmioTarget(_TisBase):
    """The TIS of the machine the harness runs on, through /dev/mem (root, driver unbound)."""

    name = "tis+mmio"
    profile = "ptp"
    capabilities = frozenset({Capability.LOCALITY_0_3, Capability.TIS_REGISTERS})

    def __init__(self, path: str = "/dev/mem", timeout: float = 5.0) -> None:
        self._regs = MmioRegisters(path)
        self.fifo = FifoDriver(self._regs, timeout)

    def identity(self) -> dict:
        return {"implementation": "TIS over /dev/mem", **interface_identity(self.fifo)}

    def close(self) -> None:
        self._regs.close()
