"""Benchmark scripts; run them from the repository root with ``python -m benchmarks.<name>``."""
