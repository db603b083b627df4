"""The throughput grid: every server variant × max batch size × replicas deployed on loopback, each
driven at every client concurrency by the bounded load generator; then the setting the server ships.

Rule (:func:`choose`): among the cells that answered every request and whose p99 latency stays under
``--server-p99-ms``, over the variants within the accuracy budget, the highest samples/s wins (ties:
fewer replicas, then the smaller batch).  When no cell meets the budget, the lowest p99 wins and the
choice says so."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class GridSpec:
    variants: tuple[str, ...]
    batches: tuple[int, ...]
    concurrency: tuple[int, ...]
    replicas: tuple[int, ...]
    requests: int           # most requests per cell
    seconds: float          # longest time per cell
    p99_ms: float

    def cells(self) -> int:
        return len(self.variants) * len(self.batches) * len(self.replicas) * len(self.concurrency)

    def to_dict(self) -> dict[str, Any]:
        return {"variants": list(self.variants), "max_batch_size": list(self.batches),
                "concurrency": list(self.concurrency), "replicas": list(self.replicas),
                "requests_per_cell": self.requests, "seconds_per_cell": self.seconds, "p99_ms": self.p99_ms}


def request_body(feeds: dict[str, np.ndarray]) -> bytes:
    """One-sample predict request in TF Serving's row format."""
    if len(feeds) == 1:
        (value,) = feeds.values()
        return json.dumps({"instances": value[:1].tolist()}).encode("utf-8")
    return json.dumps({"instances": [{k: v[0].tolist() for k, v in feeds.items()}]}).encode("utf-8")


def run_grid(server_dir: Path, spec: GridSpec, body: bytes, *, batch_wait_timeout_s: float,
             emit: Callable[[str, int, int], None] = lambda text, i, n: None) -> list[dict[str, Any]]:
    """Deploy each (variant, replicas, batch) on a free loopback port and drive it at each concurrency."""
    from mobilepack.server import running
    from mobilepack.server.loadgen import drive

    running.start_ray(max(spec.replicas))
    rows: list[dict[str, Any]] = []
    try:
        port = running.free_port()
        done = 0
        for variant in spec.variants:
            for replicas in spec.replicas:
                for batch in spec.batches:
                    url = running.deploy(server_dir, port, variant=variant, max_batch_size=batch,
                                         batch_wait_timeout_s=batch_wait_timeout_s, replicas=replicas)
                    for conc in spec.concurrency:
                        emit(f"{variant}: batch ≤ {batch}, {replicas} replica(s), {conc} client(s)", done,
                             spec.cells())
                        load = drive(url, body, concurrency=conc, max_requests=spec.requests,
                                     max_seconds=spec.seconds)
                        rows.append({"variant": variant, "max_batch_size": batch, "replicas": replicas,
                                     "concurrency": conc, **load.to_dict()})
                        done += 1
    finally:
        running.stop()
    return rows


def choose(rows: list[dict[str, Any]], p99_ms: float, eligible: tuple[str, ...]) -> dict[str, Any]:
    """The setting the Ray Serve config ships (see the module docstring)."""
    candidates = [r for r in rows if r["variant"] in eligible and r["errors"] == 0 and r["requests"] > 0]
    if not candidates:
        candidates = [r for r in rows if r["requests"] > 0] or rows
    fits = [r for r in candidates if r["p99_ms"] <= p99_ms]
    if fits:
        best = max(fits, key=lambda r: (r["samples_per_s"], -r["replicas"], -r["max_batch_size"]))
        why = (f"highest samples/s with p99 ≤ {p99_ms:g} ms over the variants within the accuracy budget "
               f"({', '.join(eligible)})")
    else:
        best = min(candidates, key=lambda r: r["p99_ms"])
        why = f"no setting kept p99 under {p99_ms:g} ms: the lowest p99 was chosen"
    return {"variant": best["variant"], "max_batch_size": best["max_batch_size"], "num_replicas": best["replicas"],
            "at_concurrency": best["concurrency"], "samples_per_s": best["samples_per_s"], "p99_ms": best["p99_ms"],
            "met_budget": bool(fits), "rule": why}
