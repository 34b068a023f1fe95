"""Benchmarks: python -m benchmarks.<name>, each comparing against a baseline in one process."""
