"""Hypothesis strategies that draw operations, logs and faults."""
