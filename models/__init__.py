"""Reference models: executable specifications, pure and deterministic (no I/O, no clocks)."""
