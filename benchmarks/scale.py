"""How a build's time and memory grow with the model: transformer encoders and CNNs of three sizes.

    .venv/bin/python benchmarks/scale.py [--sizes small,medium,large] [--families transformer,cnn] [--repeat N]

For each model, side by side in this run, two fresh processes are measured from start to exit:
  * build: ``mobilepack build SRC --target all --calibration cal.npz`` (plus ``--vocab`` for a text
    model), with an empty cache: every stage (convert, validate, metadata, lint, bench, evaluate,
    select, render, report);
  * direct: the same conversions written by hand — ``TFLiteConverter.from_saved_model`` per mode
    (fp32, fp16, dynamic, int8 with the same calibration samples), each .tflite written.
Each model gets ``--repeat`` (default 3) such pairs back to back, and the ratio printed is the median of
the pairs' ratios (this shared machine's slow spells move one run by up to 30 %; a pair's two runs share
them: one pair alone printed BERT-base at 1.52 an hour after three pairs had given 1.55, 1.35, 1.47).
It prints the wall time of each, their ratio (target ≤ 1.5), and the peak resident memory of the
whole process tree (every child process counted; target: ≤ 4 GB for the ~25 M-parameter model and
≤ 8 GB for the ~110 M one), then the exponent of a power law fitted to each against the parameter
count (1.0 is linear).

Transformers: BERT-style sentence encoders with random weights in the shapes of BERT-tiny (~4 M
parameters), MiniLM-L6 (~23 M) and BERT-base (~109 M) — three int32 ``[1,128]`` inputs and a
``[1,H]`` embedding (``tests/transformer_models.py``).  CNNs: two conv blocks and a dense layer
sized to about the same parameter counts.  Random weights are fine for cost."""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"small": ("bert-tiny", 4_000_000), "medium": ("minilm-l6", 25_000_000), "large": ("bert-base", 110_000_000)}
RSS_TARGET = {"medium": 4 << 30, "large": 8 << 30}
RATIO_TARGET = 1.5
REPEAT = 3   # (direct, build) pairs per model by default (--repeat)

PREPARE = r'''
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[4])
family, size, out = sys.argv[1], sys.argv[2], sys.argv[3]
from pathlib import Path
out = Path(out)
rng = np.random.default_rng(0)
if family == "transformer":
    from tests.transformer_models import SHAPES, encoder
    shape = SHAPES[size]
    encoder(shape, out / "model")
    ids = rng.integers(1000, shape.vocab, (32, shape.seq)).astype(np.int32)
    mask = np.zeros_like(ids); token_types = np.zeros_like(ids)
    for i, n in enumerate(rng.integers(8, shape.seq, 32)):
        mask[i, :n] = 1; ids[i, n:] = 0
    np.savez(out / "cal.npz", input_ids=ids, attention_mask=mask, token_type_ids=token_types)
    (out / "vocab.txt").write_text("".join(f"tok{i}\n" for i in range(shape.vocab)))
    params = shape.parameters()
else:
    from mobilepack.model.tfimport import keras
    k = keras()
    k.utils.set_random_seed(0)   # the same weights every run: whether int8 meets its budget (and the doctor runs) is fixed
    hidden = int(sys.argv[5])
    inp = k.Input((64, 64, 3), name="image")
    x = k.layers.Conv2D(32, 3, padding="same", activation="relu")(inp)
    x = k.layers.MaxPooling2D()(x)
    x = k.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = k.layers.MaxPooling2D()(x)
    x = k.layers.Dense(10, activation="softmax")(k.layers.Dense(hidden, activation="relu")(k.layers.Flatten()(x)))
    model = k.Model(inp, x)
    # trained for a few steps on ten separable classes (a flat colour each, plus noise), so that its
    # predictions have margins as a real classifier's do: with random weights the ten scores are
    # near ties, and whether int8 keeps 99% top-1 agreement (or the doctor runs) was a coin toss
    colours = rng.uniform(0, 255, (10, 3))

    def images(n):
        y = rng.integers(0, 10, n)
        x = colours[y][:, None, None, :] + rng.normal(0, 20, (n, 64, 64, 3))
        return np.clip(x, 0, 255).astype(np.float32), y

    train_x, train_y = images(320)
    model.compile(optimizer=k.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(train_x / 255.0, train_y, batch_size=32, epochs=2, verbose=0)
    model.export(str(out / "model"))
    np.save(out / "cal.npy", images(32)[0])
    params = model.count_params()
print(json.dumps({"params": int(params)}))
'''

DIRECT = r'''
import sys, numpy as np
from pathlib import Path
model, cal, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
import tensorflow as tf
data = np.load(cal)
if cal.endswith(".npz"):
    names = list(data.files)
    samples = [[data[n][i][None] for n in names] for i in range(len(data[names[0]]))]
    def representative():
        for s in samples:
            yield dict(zip(names, s))
else:
    def representative():
        for x in data:
            yield [x[None]]
for mode in ("fp32", "fp16", "dynamic", "int8"):
    c = tf.lite.TFLiteConverter.from_saved_model(model)
    if mode != "fp32":
        c.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "fp16":
        c.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        c.representative_dataset = representative
    (out / f"{mode}.tflite").write_bytes(c.convert())
'''


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measure(cmd: list[str], env: dict | None = None, timeout: float = 7200) -> tuple[float, int, int]:
    """(wall seconds, peak RSS of the process tree in bytes, exit code)."""
    peak = 0
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            tree, todo = [], [proc.pid]
            while todo:
                p = todo.pop()
                tree.append(p)
                todo += _children(p)
            peak = max(peak, sum(_rss(p) for p in tree))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        done.set()
        sampler.join()
    if proc.returncode:
        print(f"  {' '.join(cmd[:3])}… exited {proc.returncode}: {err.strip().splitlines()[-3:]}", file=sys.stderr)
    return time.perf_counter() - t0, peak, proc.returncode


def fitted_exponent(xs: list[float], ys: list[float]) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def _pair(py: str, family: str, work: Path, cal: Path, k: int) -> dict:
    """One direct run and one build, back to back, each in fresh folders (the build with an empty cache):
    {direct_s, direct_rss, build_s, build_rss, exit, report (report.json, or {})}."""
    direct_dir = work / f"direct-{k}"
    direct_dir.mkdir()
    d_wall, d_rss, _ = measure([py, "-c", DIRECT, str(work / "model"), str(cal), str(direct_dir)])
    out = work / f"out-{k}"
    cmd = [py, "-m", "mobilepack", "build", str(work / "model"), "--target", "all", "-o", str(out),
           "--calibration", str(cal), "--cache-dir", str(work / f"cache-{k}"), "--quiet"]
    if family == "transformer":
        cmd += ["--vocab", str(work / "vocab.txt")]
    else:
        cmd += ["--mean", "0", "--std", "255"]
    b_wall, b_rss, code = measure(cmd)
    report = out / "reports" / "report.json"
    return {"direct_s": d_wall, "direct_rss": d_rss, "build_s": b_wall, "build_rss": b_rss, "exit": code,
            "report": json.loads(report.read_text()) if report.exists() else {}}


def run_one(family: str, size: str, root: Path, repeat: int = REPEAT) -> dict:
    """Prepare the model once, then ``repeat`` pairs of (direct, build) back to back: the ratio is the
    median of the pairs' ratios (each pair measured side by side, so a slow spell of this shared
    machine slows both of it), the times the pair's with that ratio, the peak RSS the highest."""
    work = root / f"{family}-{size}"
    work.mkdir()
    py = sys.executable
    hidden = {"small": 240, "medium": 1530, "large": 6700}[size]
    out = subprocess.run([py, "-c", PREPARE, family, SIZES[size][0], str(work), str(ROOT), str(hidden)],
                         capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if out.returncode:
        raise SystemExit(f"preparing {family} {size} failed: {out.stderr[-2000:]}")
    params = json.loads(out.stdout.strip().splitlines()[-1])["params"]
    cal = work / ("cal.npz" if family == "transformer" else "cal.npy")
    pairs = [_pair(py, family, work, cal, k) for k in range(repeat)]
    ratios = [p["build_s"] / p["direct_s"] for p in pairs]
    mid = sorted(range(repeat), key=lambda k: ratios[k])[(repeat - 1) // 2]   # the median pair (the lower, for an even count)
    doc = pairs[mid]["report"]
    stages = {k: round(v) for k, v in doc.get("timings", {}).items() if k != "total"}
    return {"family": family, "size": size, "params": params, "build_s": pairs[mid]["build_s"],
            "direct_s": pairs[mid]["direct_s"], "ratio": ratios[mid], "ratios": ratios,
            "build_rss": max(p["build_rss"] for p in pairs), "direct_rss": max(p["direct_rss"] for p in pairs),
            "exit": max(p["exit"] for p in pairs), "ships": doc.get("selection", {}).get("winner"), "stages": stages}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="small,medium,large")
    ap.add_argument("--families", default="transformer,cnn")
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--repeat", type=int, default=REPEAT,
                    help="pairs of (direct, build) per model, back to back; the median pair's ratio is printed "
                         "(default 3: one pair moves by up to 30 %% with this shared machine's slow spells; "
                         "--repeat 1 for a quick look, ~18 min instead of ~40)")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be 1 or more")
    rows = []
    with tempfile.TemporaryDirectory(prefix="mobilepack-scale-") as tmp:
        for family in args.families.split(","):
            for size in args.sizes.split(","):
                print(f"{family} {size} …", file=sys.stderr, flush=True)
                rows.append(run_one(family, size, Path(tmp), args.repeat))
                r = rows[-1]
                print(f"  {r['params'] / 1e6:.1f} M params: build {r['build_s']:.0f} s / direct {r['direct_s']:.0f} s, "
                      f"peak RSS {r['build_rss'] / 2**30:.2f} GB (exit {r['exit']}, ships {r['ships']})",
                      file=sys.stderr, flush=True)
    print(f"{'model':<22}{'params':>9}{'build s':>9}{'direct s':>10}{'ratio':>7}{'≤1.5':>6}{'build RSS':>11}"
          f"{'direct RSS':>12}{'RSS target':>12}  ships")
    for r in rows:
        target = RSS_TARGET.get(r["size"])
        mark = "" if target is None else (" ok" if r["build_rss"] <= target else " OVER")
        print(f"{r['family'] + ' ' + r['size']:<22}{r['params'] / 1e6:>8.1f}M{r['build_s']:>9.0f}{r['direct_s']:>10.0f}"
              f"{r['ratio']:>7.2f}{'ok' if r['ratio'] <= RATIO_TARGET else 'OVER':>6}"
              f"{r['build_rss'] / 2**30:>10.2f}G{r['direct_rss'] / 2**30:>11.2f}G"
              f"{(f'{target / 2**30:.0f}G' + mark) if target else '–':>12}  {r['ships']}")
    if args.repeat > 1:
        print(f"ratios of the {args.repeat} pairs (the median is above):")
        for r in rows:
            print(f"  {r['family'] + ' ' + r['size']:<20}" + ", ".join(f"{x:.2f}" for x in r["ratios"]))
    print("where the build's time goes (seconds per stage, the median pair's build):")
    for r in rows:
        print(f"  {r['family'] + ' ' + r['size']:<20}" + ", ".join(f"{k} {v}" for k, v in r["stages"].items()))
    for family in args.families.split(","):
        fam = [r for r in rows if r["family"] == family]
        if len(fam) >= 2:
            xs = [r["params"] for r in fam]
            print(f"{family}: fitted exponent vs parameters — build time {fitted_exponent(xs, [r['build_s'] for r in fam]):.2f}, "
                  f"direct time {fitted_exponent(xs, [r['direct_s'] for r in fam]):.2f}, "
                  f"build peak RSS {fitted_exponent(xs, [r['build_rss'] for r in fam]):.2f} (1.0 = linear)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
