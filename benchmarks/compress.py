"""Size / accuracy / latency of every compression technique on the bundled digits sample.

    .venv/bin/python benchmarks/compress.py [--out DIR] [--only prune,qat]

Training data: the digits *training* split rebuilt the way ``examples/digits/make_sample.py``
builds it (scikit-learn's bundled scans, upsampled to 32x32 RGB, the same seeded permutation,
the evaluation images left out), written as ``.npz`` with ``x``/``y``.  Accuracy is measured
in LiteRT on the labelled evaluation split ``examples/digits/eval``; latency is the bench
engine's median on XNNPACK with one thread.  Prints a Markdown table (the one in docs/compression.md)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "examples" / "digits"
EPOCHS = {"prune": 6, "cluster": 3, "qat": 2, "distill": 60}


def _make_sample():
    spec = importlib.util.spec_from_file_location("digits_make_sample", DIGITS / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_digits_training_npz(path: Path) -> Path:
    """The digits training split (disjoint from examples/digits/eval) as .npz with x (N,32,32,3 raw
    0-255 float32) and y (N,) int64 in the model's output order."""
    import numpy as np
    from sklearn.datasets import load_digits

    sample = _make_sample()
    digits = load_digits()
    order = np.random.default_rng(sample.SEED).permutation(len(digits.images))
    train = order[sample.EVAL_COUNT:]
    x = np.stack([sample._to_rgb_uint8(digits.images[i]) for i in train]).astype(np.float32)
    np.savez(path, x=x, y=digits.target[train].astype(np.int64))
    return path


def run(only: list[str], out: Path) -> list[tuple[str, object]]:
    import mobilepack.compress as c

    data = write_digits_training_npz(out / "digits_train.npz")
    model = DIGITS / "digits.keras"

    def train(name):
        return c.TrainOptions(epochs=EPOCHS[name], eval_data=str(DIGITS / "eval"))

    stages = {
        "prune": lambda: c.prune(model, data, out / "prune", c.PruneOptions(target_sparsity=0.5, train=train("prune"))),
        "cluster": lambda: c.cluster(model, data, out / "cluster", c.ClusterOptions(clusters=16, train=train("cluster"))),
        "qat": lambda: c.qat(model, data, out / "qat", c.QatOptions(train=train("qat"))),
        "distill": lambda: c.distill(model, data, out / "distill",
                                     c.DistillOptions(student_preset="small-cnn", train=train("distill"))),
    }
    results = []
    for name in only:
        print(f"running {name} ({EPOCHS[name]} epochs)...", file=sys.stderr, flush=True)
        results.append((name, stages[name]()))
    return results


def table(results) -> str:
    lines = ["| technique | model | mode | params | .tflite | gzip | accuracy | latency p50 |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for name, result in results:
        for r in result.rows:
            latency = f"{r.latency_ms * 1000:.0f} µs" if r.latency_ms is not None else "–"
            params = f"{r.params:,}" if r.params is not None else "–"
            lines.append(f"| {name} | {r.role} | {r.mode} | {params} | {r.bytes / 1024:.1f} KiB | "
                         f"{r.gzip_bytes / 1024:.1f} KiB | {r.accuracy:.2%} | {latency} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="keep the outputs here (default: a temp dir)")
    parser.add_argument("--only", default=",".join(EPOCHS), help="comma-separated techniques")
    args = parser.parse_args()
    only = [t.strip() for t in args.only.split(",") if t.strip()]
    unknown = [t for t in only if t not in EPOCHS]
    if unknown:
        parser.error(f"unknown technique(s) {unknown}; valid: {', '.join(EPOCHS)}")
    with tempfile.TemporaryDirectory(prefix="mobilepack-bench-compress-") as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        results = run(only, out)
        print(table(results))
        for name, result in results:
            sparsity = [v["sparsity"] for v in result.layers.values() if "sparsity" in v]
            if sparsity:
                print(f"\n{name}: sparsity per pruned layer {', '.join(f'{s:.1%}' for s in sparsity)}")


if __name__ == "__main__":
    main()
