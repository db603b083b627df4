"""Served throughput against the physical limit: the Ray Serve app of ``--target server`` driven on
loopback, side by side with a direct in-process loop over the same variant at the same batch size.

    .venv/bin/python benchmarks/server.py [--server-dir OUT/server] [--samples-per-request 1,32]
                                          [--seconds 4] [--requests 2000]

Without ``--server-dir`` it first builds the bundled digits sample with ``--target server`` (fp32,
the default grid) into a temporary directory.  Then, for the setting the build chose (variant, max
batch size, replicas, client concurrency; ``server.json``):

  * direct: ``runner.run`` on a batch of ``max_batch_size × samples-per-request`` samples in a loop,
    in this process (no HTTP, no JSON, no queueing) — samples/s;
  * served: ``mobilepack.server.running.deploy`` (one local Ray instance), then the bounded load
    generator at the chosen concurrency, each request carrying ``samples-per-request`` samples —
    samples/s and p50/p99.

Printed: one row per samples-per-request with served, direct and served/direct (target ≥ 0.7 at the
best setting).  The client, Ray's proxy and the replicas share this machine's cores."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "examples" / "digits"


def _build(tmp: Path) -> Path:
    out = tmp / "out"
    subprocess.run([sys.executable, "-m", "mobilepack", "build", str(DIGITS / "digits.keras"), "--target", "server",
                    "-o", str(out), "--quantize", "fp32", "--calibration", str(DIGITS / "calibration"),
                    "--eval-data", str(DIGITS / "eval"), "--labels", str(DIGITS / "labels.txt"),
                    "--delegates", "xnnpack", "--threads", "1", "--quiet"], check=True, cwd=ROOT)
    return out / "server"


def _body(feeds, n: int) -> bytes:
    from mobilepack.server.batching import tile

    batch = tile(feeds, n)
    if len(batch) == 1:
        return json.dumps({"instances": next(iter(batch.values())).tolist()}).encode()
    return json.dumps({"instances": [{k: v[i].tolist() for k, v in batch.items()} for i in range(n)]}).encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server-dir", type=Path)
    ap.add_argument("--samples-per-request", default="1,32")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    sizes = [int(x) for x in args.samples_per_request.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        server_dir = args.server_dir or _build(Path(tmp))
        record = json.loads((server_dir / "server.json").read_text())
        run(server_dir, record, sizes, args.seconds, args.requests)


def run(server_dir: Path, record: dict, sizes: list[int], seconds: float, requests: int) -> None:
    import numpy as np

    from mobilepack.server import running
    from mobilepack.server.batching import direct_throughput
    from mobilepack.server.loadgen import drive
    from mobilepack.server.runners import open_runner

    ray, choice = record["ray"], record.get("choice", {})
    variant, batch = ray["variant"], ray["max_batch_size"]
    concurrency = choice.get("at_concurrency", 8)
    runner = open_runner(variant, server_dir / record["variants"][variant])
    rng = np.random.default_rng(0)
    feeds = {t.name: rng.random((8, *(d or 1 for d in t.sample_shape))).astype(t.dtype) for t in runner.inputs}
    direct = {n: direct_throughput(runner, feeds, batch * n, seconds)["samples_per_s"] for n in sizes}
    running.start_ray(max(2, ray["num_replicas"]))
    try:
        url = running.deploy(server_dir, running.free_port())
        served = {}
        for n in sizes:
            drive(url, _body(feeds, n), concurrency=concurrency, max_requests=50, max_seconds=1.0)   # warm-up
            served[n] = drive(url, _body(feeds, n), concurrency=concurrency, max_requests=requests,
                              max_seconds=seconds, samples_per_request=n).to_dict()
    finally:
        running.stop()
    print(f"{record['name']}: variant {variant}, max batch {batch}, {ray['num_replicas']} replica(s), "
          f"{concurrency} client(s)")
    print(f"{'samples/request':>16} {'served/s':>10} {'direct/s':>10} {'ratio':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for n in sizes:
        s = served[n]
        print(f"{n:>16} {s['samples_per_s']:>10.1f} {direct[n]:>10.1f} {s['samples_per_s'] / direct[n]:>7.2f} "
              f"{s['p50_ms']:>8.2f} {s['p99_ms']:>8.2f}")
    best = max(sizes, key=lambda n: served[n]["samples_per_s"] / direct[n])
    print(f"served/direct at the best setting ({best} samples/request): "
          f"{served[best]['samples_per_s'] / direct[best]:.2f} (target >= 0.7)")


if __name__ == "__main__":
    main()
