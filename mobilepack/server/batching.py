"""Batch sizes from measurement: the served variant run directly, in process, at growing batch sizes.

:func:`measure_batches` times each size (bounded in time); :func:`choose_batching` turns the table into
TF Serving's ``BatchingParameters`` by a stated rule; :func:`direct_throughput` is the in-process loop
that ``benchmarks/server.py`` compares the server with."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

BATCH_SIZES = (1, 2, 4, 8, 16, 32)


def tile(feeds: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """``n`` samples cycled from ``feeds``."""
    have = len(next(iter(feeds.values())))
    idx = np.arange(n) % have
    return {k: v[idx] for k, v in feeds.items()}


def _time(runner, batch: dict[str, np.ndarray], seconds: float, min_runs: int = 3) -> list[float]:
    runner.run(batch)   # warm-up (allocation for this size)
    times: list[float] = []
    end = time.perf_counter() + seconds
    while len(times) < min_runs or (time.perf_counter() < end and len(times) < 200):
        t0 = time.perf_counter()
        runner.run(batch)
        times.append(time.perf_counter() - t0)
    return times


def measure_batches(runner, feeds: dict[str, np.ndarray], sizes=BATCH_SIZES, seconds: float = 0.3) -> list[dict[str, Any]]:
    """Per batch size: median and p99 latency (ms) of one batch and samples/s, timed for ``seconds``."""
    rows = []
    for b in sizes:
        times = np.array(_time(runner, tile(feeds, b), seconds)) * 1000
        median = float(np.median(times))
        rows.append({"batch": b, "runs": len(times), "median_ms": median,
                     "p99_ms": float(np.percentile(times, 99)), "samples_per_s": b / (median / 1000)})
    return rows


def choose_batching(rows: list[dict[str, Any]], p99_ms: float) -> dict[str, Any]:
    """TF Serving's batching parameters from :func:`measure_batches`.

    Rule: among batch sizes whose batch latency (p99) fits in half the latency budget (the other half
    is for queueing), ``max_batch_size`` is the smallest that reaches 90 % of the best throughput (a
    larger batch only adds waiting); ``allowed_batch_sizes`` are the measured sizes up to it;
    ``batch_timeout_micros`` is one batch-1 inference (a lone request waits at most that long for
    company), capped by the remaining budget; one batch thread per core."""
    fitting = [r for r in rows if r["p99_ms"] <= p99_ms / 2] or rows[:1]
    best = max(r["samples_per_s"] for r in fitting)
    chosen = min((r for r in fitting if r["samples_per_s"] >= 0.9 * best), key=lambda r: r["batch"])
    single = rows[0]["median_ms"]
    timeout_us = int(max(100, min(single, max(p99_ms / 2 - chosen["p99_ms"], 0.1)) * 1000))
    return {"max_batch_size": chosen["batch"], "batch_timeout_micros": timeout_us,
            "allowed_batch_sizes": [r["batch"] for r in rows if r["batch"] <= chosen["batch"]],
            "num_batch_threads": os.cpu_count() or 1, "max_enqueued_batches": 100,
            "rule": (f"smallest batch reaching 90% of the best samples/s among batches whose p99 fits half of "
                     f"--server-p99-ms {p99_ms:g}; timeout = one batch-1 inference")}


def direct_throughput(runner, feeds: dict[str, np.ndarray], batch: int, seconds: float = 2.0) -> dict[str, float]:
    """The in-process loop over ``runner`` at ``batch``: the physical limit of serving it here."""
    times = _time(runner, tile(feeds, batch), seconds)
    total = sum(times)
    return {"batch": batch, "runs": len(times), "samples_per_s": batch * len(times) / total,
            "batches_per_s": len(times) / total}
