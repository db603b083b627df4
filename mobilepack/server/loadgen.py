"""A bounded load generator for loopback: ``concurrency`` client threads, each with one keep-alive
HTTP connection, send the same predict request until ``max_requests`` were sent or ``max_seconds``
passed, whichever comes first.  Only 127.0.0.1/localhost is accepted."""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np

from mobilepack.errors import UsageError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Load:
    requests: int            # answered with 200
    errors: int              # any other answer or a broken connection
    seconds: float
    samples_per_request: int
    latencies_ms: tuple[float, ...]

    def to_dict(self) -> dict[str, float | int]:
        lat = np.array(self.latencies_ms) if self.latencies_ms else np.array([np.nan])
        return {"requests": self.requests, "errors": self.errors, "seconds": round(self.seconds, 4),
                "requests_per_s": self.requests / self.seconds if self.seconds else 0.0,
                "samples_per_s": self.requests * self.samples_per_request / self.seconds if self.seconds else 0.0,
                "p50_ms": float(np.percentile(lat, 50)), "p90_ms": float(np.percentile(lat, 90)),
                "p99_ms": float(np.percentile(lat, 99))}


def drive(url: str, body: bytes, *, concurrency: int, max_requests: int, max_seconds: float,
          samples_per_request: int = 1, timeout_s: float = 30.0) -> Load:
    """POST ``body`` to ``url`` from ``concurrency`` threads; bounded by count and time."""
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK:
        raise UsageError(f"the load generator drives loopback only, not {parts.hostname!r}",
                         "serve on 127.0.0.1 and pass its URL")
    if concurrency < 1 or max_requests < 1 or max_seconds <= 0:
        raise UsageError("concurrency and the request count must be ≥ 1 and the time > 0", "e.g. 4, 200, 3 s")
    lock = threading.Lock()
    sent = [0]
    latencies: list[float] = []
    errors = [0]
    deadline = time.perf_counter() + max_seconds
    headers = {"Content-Type": "application/json", "Connection": "keep-alive"}

    def take() -> bool:
        with lock:
            if sent[0] >= max_requests or time.perf_counter() >= deadline:
                return False
            sent[0] += 1
            return True

    def client() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
        try:
            while take():
                t0 = time.perf_counter()
                try:
                    conn.request("POST", parts.path, body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    ok = response.status == 200
                except (OSError, http.client.HTTPException):
                    ok = False
                    conn.close()
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
                elapsed = (time.perf_counter() - t0) * 1000
                with lock:
                    if ok:
                        latencies.append(elapsed)
                    else:
                        errors[0] += 1
        finally:
            conn.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max_seconds + timeout_s + 5)
    return Load(len(latencies), errors[0], time.perf_counter() - start, samples_per_request, tuple(latencies))
