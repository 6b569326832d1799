"""Tests of the harness itself: unit, property, mutation and interop tests."""
