"""Latency statistics.  Nothing is discarded: every timed run counts, and a high coefficient of
variation is flagged as a noisy measurement instead of being trimmed away."""

from __future__ import annotations

import math

NOISY_CV = 0.10   # std / mean above this: the measurement is flagged "noisy"


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile (the same definition the demo apps use)."""
    if not sorted_values:
        raise ValueError("no samples")
    rank = min(len(sorted_values), max(1, math.ceil(p / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


def summarize(samples_us: list[float]) -> dict:
    """mean/std/min/max/p50/p90/p99 in microseconds, inferences per second, cv and the noisy flag."""
    if not samples_us:
        raise ValueError("no samples")
    values = sorted(float(x) for x in samples_us)
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in values) / (n - 1)) if n > 1 else 0.0
    cv = std / mean if mean > 0 else 0.0
    return {
        "runs": n, "mean_us": mean, "std_us": std, "min_us": values[0], "max_us": values[-1],
        "p50_us": percentile(values, 50), "p90_us": percentile(values, 90), "p99_us": percentile(values, 99),
        "ips": 1e6 / mean if mean > 0 else 0.0, "cv": cv, "noisy": cv > NOISY_CV,
    }
