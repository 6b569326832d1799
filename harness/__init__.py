"""vtpm-harness machinery: wire format, targets, the built-in emulator, faults, CLI."""

__version__ = "0.1.0"
