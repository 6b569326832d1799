"""Conformance and fault-injection suites: stateful machines over a target."""
