"""Throughput and time-to-detection benchmarks (scripts; ratios against a baseline measured in the same run)."""
