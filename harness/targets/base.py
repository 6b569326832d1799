"""The target contract: anything that executes TPM 2.0 command bytes.

A target is one class behind this protocol; a vendor adds theirs with
``plugin:package.module:Class``.  Controls a target cannot provide are left
out of ``capabilities`` and their methods raise ``NotImplementedError``;
suites that need them are skipped (and evidence says not-applicable).

A new target is powered on and waits for TPM2_Startup, as after _TPM_Init.
"""

from __future__ import annotations

import enum
from typing import Protocol, runtime_checkable


class Capability(enum.Enum):
    LOCALITY = "locality"  # transmit() honours localities 0-4
    POWER_CYCLE = "power-cycle"  # power_cycle(orderly=True/False)
    CRASH = "crash"  # crash(): abrupt loss, restart on the same state
    DRTM = "drtm"  # drtm(data): _TPM_Hash_Start/Data/End
    DISK = "disk"  # detach_disk() / attach_disk()
    INSTANCES = "instances"  # the factory can make several independent instances
    MIRROR = "mirror"  # mirror_pcrs(values): a vTPM starts with PCRs copied from the hardware TPM
    LOCALITY_0_3 = "locality-0-3"  # transmit() honours localities 0-3 (a TIS: locality 4 is the hardware's)
    TIS_REGISTERS = "tis-registers"  # .fifo: the TIS register interface itself (harness.targets.tis)


@runtime_checkable
class Target(Protocol):
    name: str
    capabilities: frozenset[Capability]

    def transmit(self, command: bytes, locality: int = 0) -> bytes:
        """Send one whole command at ``locality``; return one whole response."""

    def power_cycle(self, orderly: bool) -> None: ...

    def crash(self) -> None: ...

    def detach_disk(self) -> None: ...

    def attach_disk(self) -> None: ...

    def drtm(self, data: bytes) -> None: ...

    def mirror_pcrs(self, values: dict[str, dict[int, bytes]]) -> None:
        """From the next TPM Reset on, start PCRs with these values (bank -> {pcr: digest}),
        as a Xen vTPM started with hwinitpcr copies the hardware TPM's PCRs."""

    def identity(self) -> dict:
        """Manufacturer, firmware and version strings as the target reports them."""

    def close(self) -> None: ...


class BaseTarget:
    """Defaults for controls a target lacks: each raises NotImplementedError."""

    name = "target"
    capabilities: frozenset[Capability] = frozenset()

    def power_cycle(self, orderly: bool) -> None:
        raise NotImplementedError(f"{self.name} cannot power-cycle")

    def crash(self) -> None:
        raise NotImplementedError(f"{self.name} cannot crash")

    def detach_disk(self) -> None:
        raise NotImplementedError(f"{self.name} has no disk control")

    def attach_disk(self) -> None:
        raise NotImplementedError(f"{self.name} has no disk control")

    def drtm(self, data: bytes) -> None:
        raise NotImplementedError(f"{self.name} cannot run a DRTM sequence")

    def mirror_pcrs(self, values: dict[str, dict[int, bytes]]) -> None:
        raise NotImplementedError(f"{self.name} cannot mirror PCRs")

    def identity(self) -> dict:
        return {}

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
