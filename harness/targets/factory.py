"""Target specs (``--target``) parsed once into a factory of fresh targets.

A spec is parsed when the run starts, so a bad one fails at once with a
one-line :class:`UsageError`; the machines then ask the factory for as many
independent instances as they need (pTPM plus vTPMs, differential pairs).
``factory.vtpms({name: disk_present, ...})`` gives several vTPMs of one
manager (emulator: one VtpmManager; swtpm: one process per vTPM), each
a target with DISK and MIRROR.

| spec | target |
|---|---|
| ``emulator[?banks=sha1,sha256&mutant=NAME,...&vtpm=persistent|xen]`` | built-in emulator, in process; ``vtpm``: what a vTPM does without its disk (refuse NV writes, or everything as Xen's) |
| ``swtpm[?banks=...&transport=unix|tcp&locality=unlocked]`` | spawn swtpm (``--swtpm-binary`` / ``$SWTPM`` / PATH); ``locality=unlocked`` switches the locality arbitration off (a negative control) |
| ``swtpm+tcp://HOST:PORT?ctrl=PORT[&profile=P&banks=...]`` | attach to a running swtpm-protocol endpoint |
| ``swtpm+chardev[?banks=...]`` | swtpm's chardev front end on a SOCK_SEQPACKET pair: /dev/tpm0 semantics |
| ``device:/dev/tpmrm0`` | kernel TPM character device |
| ``plugin:package.module:Class[?key=value...]`` | a vendor's own target class |
| ``tis+qtest[?banks=...]`` | QEMU's tpm-tis + swtpm over qtest (``--qemu-binary`` / ``$QEMU`` / PATH) |
| ``tis+mmio:/dev/mem`` | the machine's own TIS registers (root, TPM driver unbound) |
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from harness.errors import UsageError
from harness.targets.base import Capability, Target

ALL_BANKS = ("sha1", "sha256", "sha384", "sha512")


@dataclass(frozen=True)
class TargetFactory:
    """Makes fresh, independent targets of one spec."""

    spec: str
    make: Callable[[], Target] = field(repr=False)
    capabilities: frozenset[Capability]
    profile: str  # the models.tpm profile this implementation follows
    banks: tuple[str, ...]
    make_vtpms: Callable[[dict[str, bool]], dict[str, Target]] | None = field(default=None, repr=False)

    def create(self) -> Target:
        return self.make()

    def vtpms(self, disks: dict[str, bool]) -> dict[str, Target]:
        """Several vTPMs of one manager, by name; ``disks[name]``: its disk is there at start."""
        if self.make_vtpms is None:
            raise NotImplementedError(f"target {self.spec} has no vTPM manager")
        return self.make_vtpms(disks)


def _options(query: str, allowed: set[str], spec: str) -> dict[str, str]:
    opts = {}
    for key, values in parse_qs(query, keep_blank_values=True, strict_parsing=False).items():
        if key not in allowed:
            raise UsageError(
                f"target {spec!r}: unknown option {key!r} (valid: {', '.join(sorted(allowed)) or 'none'})"
            )
        opts[key] = values[-1]
    return opts


def _banks(text: str | None, default: tuple[str, ...], spec: str) -> tuple[str, ...]:
    if text is None:
        return default
    banks = tuple(b.strip().lower() for b in text.split(",") if b.strip())
    bad = [b for b in banks if b not in ALL_BANKS]
    if bad or not banks:
        raise UsageError(f"target {spec!r}: banks must be a subset of {','.join(ALL_BANKS)}")
    return banks


def _emulator(spec: str, query: str, swtpm_binary: str | None) -> TargetFactory:
    from harness.emulator import MUTANTS
    from harness.emulator.vtpm import WITHOUT_DISK
    from harness.targets.emulator import EmulatorTarget, emulator_vtpms

    opts = _options(query, {"banks", "mutant", "vtpm"}, spec)
    banks = _banks(opts.get("banks"), ALL_BANKS, spec)
    mutants = frozenset(m for m in opts.get("mutant", "").split(",") if m)
    unknown = sorted(mutants - MUTANTS.keys())
    if unknown:
        raise UsageError(f"target {spec!r}: unknown mutant {unknown[0]!r} (see `vtpm-harness mutants`)")
    without_disk = opts.get("vtpm", "persistent")
    if without_disk not in WITHOUT_DISK:
        raise UsageError(f"target {spec!r}: vtpm must be one of {', '.join(WITHOUT_DISK)}")
    return TargetFactory(spec, lambda: EmulatorTarget(banks=banks, mutants=mutants, without_disk=without_disk),
                         EmulatorTarget.capabilities, EmulatorTarget.profile, banks,
                         lambda disks: emulator_vtpms(banks, mutants, without_disk, disks))


def _swtpm(spec: str, query: str, swtpm_binary: str | None) -> TargetFactory:
    from harness.targets.swtpm import SwtpmTarget, find_swtpm_binary

    opts = _options(query, {"banks", "transport", "locality"}, spec)
    banks = _banks(opts.get("banks"), ("sha1", "sha256"), spec)
    transport = opts.get("transport", "unix")
    if transport not in ("unix", "tcp"):
        raise UsageError(f"target {spec!r}: transport must be unix or tcp")
    locality = opts.get("locality", "framed")
    if locality not in SwtpmTarget.LOCALITY_MODES:
        raise UsageError(f"target {spec!r}: locality must be {' or '.join(SwtpmTarget.LOCALITY_MODES)}")
    binary = find_swtpm_binary(swtpm_binary)  # UsageError when there is none
    return TargetFactory(spec, lambda: SwtpmTarget(binary=binary, banks=banks, transport=transport,
                                                   locality=locality),
                         SwtpmTarget.capabilities, SwtpmTarget.profile, banks,
                         lambda disks: _swtpm_vtpms(binary, banks, transport, locality, disks))


def _swtpm_vtpms(binary: str, banks: tuple[str, ...], transport: str, locality: str,
                 disks: dict[str, bool]) -> dict:
    """One swtpm process per vTPM; all are closed if one fails to start."""
    from harness.targets.swtpm import SwtpmTarget

    made: dict = {}
    try:
        for name, disk in disks.items():
            made[name] = SwtpmTarget(binary=binary, banks=banks, transport=transport, disk=disk,
                                     locality=locality)
    except BaseException:
        for target in made.values():
            target.close()
        raise
    return made


def _swtpm_chardev(spec: str, query: str, swtpm_binary: str | None) -> TargetFactory:
    from harness.swtpm.chardev import swtpm_chardev
    from harness.targets.device import DeviceTarget
    from harness.targets.swtpm import SwtpmTarget, find_swtpm_binary

    opts = _options(query, {"banks"}, spec)
    banks = _banks(opts.get("banks"), ("sha1", "sha256"), spec)
    binary = find_swtpm_binary(swtpm_binary)
    return TargetFactory(spec, lambda: swtpm_chardev(binary, banks), DeviceTarget.capabilities,
                         SwtpmTarget.profile, banks)


def _swtpm_tcp(spec: str, swtpm_binary: str | None) -> TargetFactory:
    from harness.targets.swtpm import SwtpmAttachTarget

    from models.tpm import PROFILES

    url = urlsplit(spec)
    opts = _options(url.query, {"ctrl", "banks", "profile"}, spec)
    try:
        host, port, ctrl = url.hostname, url.port, int(opts["ctrl"])
    except (KeyError, ValueError):
        raise UsageError(f"target {spec!r}: expected swtpm+tcp://HOST:PORT?ctrl=PORT") from None
    if not host or not port:
        raise UsageError(f"target {spec!r}: expected swtpm+tcp://HOST:PORT?ctrl=PORT")
    banks = _banks(opts.get("banks"), ("sha1", "sha256"), spec)
    profile = opts.get("profile", SwtpmAttachTarget.profile)
    if profile not in PROFILES:
        raise UsageError(f"target {spec!r}: unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    return TargetFactory(spec, lambda: SwtpmAttachTarget(host, port, ctrl, profile=profile),
                         SwtpmAttachTarget.capabilities, profile, banks)


def _device(spec: str, swtpm_binary: str | None) -> TargetFactory:
    from harness.targets.device import DeviceTarget

    path = spec.split(":", 1)[1]
    if not path:
        raise UsageError(f"target {spec!r}: expected device:/dev/tpmrm0")
    return TargetFactory(spec, lambda: DeviceTarget(path), DeviceTarget.capabilities,
                         DeviceTarget.profile, ("sha256",))


def _plugin(spec: str, swtpm_binary: str | None) -> TargetFactory:
    ref, _, query = spec.split(":", 1)[1].partition("?")
    module_name, _, class_name = ref.rpartition(":")
    if not module_name or not class_name:
        raise UsageError(f"target {spec!r}: expected plugin:package.module:Class")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"target {spec!r}: cannot load {ref}: {exc}") from None
    kwargs = {k: v[-1] for k, v in parse_qs(query).items()}
    missing = [m for m in ("transmit", "capabilities", "identity", "close") if not hasattr(cls, m)]
    if missing:
        raise UsageError(f"target {spec!r}: {class_name} lacks {', '.join(missing)} (see harness.targets.base.Target)")
    banks = _banks(kwargs.pop("banks", None), ("sha256",), spec)
    return TargetFactory(spec, lambda: cls(**kwargs), frozenset(cls.capabilities),
                         getattr(cls, "profile", "ptp"), banks)


def _tis_qtest(spec: str, query: str, swtpm_binary: str | None, qemu_binary: str | None) -> TargetFactory:
    from harness.targets.swtpm import find_swtpm_binary
    from harness.targets.tis.qtest import find_qemu_binary
    from harness.targets.tis.target import TisQtestTarget

    opts = _options(query, {"banks"}, spec)
    banks = _banks(opts.get("banks"), ("sha1", "sha256"), spec)
    qemu, swtpm = find_qemu_binary(qemu_binary), find_swtpm_binary(swtpm_binary)
    return TargetFactory(spec, lambda: TisQtestTarget(qemu, swtpm, banks), TisQtestTarget.capabilities,
                         TisQtestTarget.profile, banks)


def _tis_mmio(spec: str) -> TargetFactory:
    from harness.targets.tis.target import TisMmioTarget

    path = spec.split(":", 1)[1]
    if not path:
        raise UsageError(f"target {spec!r}: expected tis+mmio:/dev/mem")
    return TargetFactory(spec, lambda: TisMmioTarget(path), TisMmioTarget.capabilities,
                         TisMmioTarget.profile, ("sha256",))


def parse_target(spec: str, swtpm_binary: str | None = None, qemu_binary: str | None = None) -> TargetFactory:
    """Parse a ``--target`` spec; a bad one raises UsageError with one line."""
    spec = spec.strip()
    scheme, _, rest = spec.partition("?")
    if scheme == "emulator":
        return _emulator(spec, rest, swtpm_binary)
    if scheme == "swtpm":
        return _swtpm(spec, rest, swtpm_binary)
    if scheme == "swtpm+chardev":
        return _swtpm_chardev(spec, rest, swtpm_binary)
    if spec.startswith("swtpm+tcp://"):
        return _swtpm_tcp(spec, swtpm_binary)
    if spec.startswith("device:"):
        return _device(spec, swtpm_binary)
    if spec.startswith("plugin:"):
        return _plugin(spec, swtpm_binary)
    if scheme == "tis+qtest":
        return _tis_qtest(spec, rest, swtpm_binary, qemu_binary)
    if spec.startswith("tis+mmio:"):
        return _tis_mmio(spec)
    raise UsageError(
        f"unknown target {spec!r} (expected emulator, swtpm, swtpm+tcp://HOST:PORT?ctrl=PORT, "
        "device:PATH, plugin:module:Class, tis+qtest or tis+mmio:/dev/mem)"
    )
