"""Targets: anything that executes TPM 2.0 command bytes (see base.Target)."""
