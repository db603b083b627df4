"""Benchmarks: per-variant x per-delegate latency on the host (child processes) and on phones (adb)."""
