"""The quantization doctor on a model where full int8 misses a one-point budget with real data.

    .venv/bin/python benchmarks/doctor.py [--out DIR] [--epochs 30] [--seed 0]

The model ("outlier digits"): an MLP trained on scikit-learn's 8×8 digits (real data:
1 000 training images, 200 calibration images, 300 validation images for the doctor's
search, 297 held-out test images for the figures below).  Pixel 0 (the top-left corner) is
0 in every digits image; after training, the weights that multiply it in the first Dense
layer are set to 40 — the float model's outputs do not change at all on real data, but
every column of that layer now has an outlier that sets its int8 weight scale, so its
other weights round to zero: full int8 loses ~15 points.  (Outlier weights and features on
inputs that are rarely active are what breaks int8 in practice; here one is placed on
purpose so the failure is known.)

It runs ``mobilepack.convert(..., quantize="fp32,fp16,int8", doctor=True)`` on the Keras model,
then the same on its fp32 ``.tflite`` (the AI Edge Quantizer path), and prints,
for fp32, fp16, int8 and int8-mixed: size, top-1 accuracy on the held-out test images,
median latency (LiteRT's default CPU path, 1 thread, the doctor's timing), the doctor's
search time, and the ops kept in float.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTLIER_WEIGHT = 40.0


def make_outlier_digits(directory: Path, *, epochs: int = 30, seed: int = 0) -> dict[str, Path]:
    """Train the model and write ``outlier_digits.keras``, ``calibration.npy``, ``validation.npz``
    and ``test.npz`` (x, y) into ``directory``."""
    import numpy as np
    from sklearn.datasets import load_digits

    from mobilepack.model.tfimport import keras as _keras

    keras = _keras()
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    dead = np.where(x.max(axis=0) == 0)[0]
    assert 0 in dead, "pixel 0 is expected to be zero in every digits image"
    idx = np.random.default_rng(seed).permutation(len(x))
    train, cal, val, test = idx[:1000], idx[1000:1200], idx[1200:1500], idx[1500:]
    keras.utils.set_random_seed(seed)
    inp = keras.Input((64,), name="pixels")
    h = keras.layers.Dense(16, activation="relu", name="entry")(inp)
    h = keras.layers.Dense(256, activation="relu", name="wide1")(h)
    h = keras.layers.Dense(256, activation="relu", name="wide2")(h)
    out = keras.layers.Dense(10, activation="softmax", name="scores")(h)
    model = keras.Model(inp, out, name="outlier_digits")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[train], y[train], epochs=epochs, batch_size=64, verbose=0)
    kernel, bias = model.get_layer("entry").get_weights()
    kernel[0, :] = OUTLIER_WEIGHT          # multiplies pixel 0, which is 0 in every image
    model.get_layer("entry").set_weights([kernel, bias])
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"model": directory / "outlier_digits.keras", "calibration": directory / "calibration.npy",
             "validation": directory / "validation.npz", "test": directory / "test.npz"}
    model.save(paths["model"])
    np.save(paths["calibration"], x[cal])
    np.savez(paths["validation"], x=x[val], y=y[val])
    np.savez(paths["test"], x=x[test], y=y[test])
    return paths


def top1(model_path: Path, test_npz: Path) -> float:
    import numpy as np

    from mobilepack.model.tfimport import silenced
    from mobilepack.runtime.interpreter import SignatureSession

    data = np.load(test_npz)
    with silenced():
        session = SignatureSession(model_path.read_bytes())
        name = next(iter(session.inputs))
        pred = [int(next(iter(session.run({name: data["x"][i:i + 1]}).values())).argmax()) for i in range(len(data["x"]))]
    return float((np.asarray(pred) == data["y"]).mean())


def figures(out: Path, paths: dict[str, Path], result) -> dict:
    import numpy as np

    from mobilepack.conversion.doctor import latency_us

    sample = {"pixels": np.load(paths["test"])["x"][:1]}
    rows = []
    for v in result.variants:
        path = out / v.path
        rows.append({"mode": v.mode, "bytes": v.bytes, "test_top1": top1(path, paths["test"]),
                     "latency_us": latency_us(path.read_bytes(), sample, runs=500)})
    d = result.doctor
    return {"variants": rows, "doctor": {"status": d["status"], "search_seconds": d["search"]["seconds"],
                                         "diagnosis_seconds": d["search"]["diagnosis_seconds"],
                                         "candidates": len(d["search"]["candidates"]),
                                         "float_ops": [(c["op"], c["tensor"].split(";")[0]) for c in d["float_ops"]],
                                         "budget": d["budget"], "int8_validation_score": d["int8"]["score"]}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="keep the outputs here (default: a temp dir)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    import mobilepack

    with tempfile.TemporaryDirectory(prefix="mobilepack-doctor-") as tmp:
        work = args.out or Path(tmp)
        paths = make_outlier_digits(work / "data", epochs=args.epochs, seed=args.seed)
        t0 = time.perf_counter()
        result = mobilepack.convert(paths["model"], work / "converted", quantize="fp32,fp16,int8",
                                    calibration=paths["calibration"], validation=paths["validation"],
                                    doctor=True, max_accuracy_drop=0.01, task="image_classification")
        seconds = time.perf_counter() - t0
        report = figures(work / "converted", paths, result)
        report["convert_seconds"] = seconds
        # the same model as a float .tflite source: AI Edge Quantizer + LiteRT tensor comparison
        source = work / "converted" / next(v.path for v in result.variants if v.mode == "fp32")
        t0 = time.perf_counter()
        tfl = mobilepack.convert(source, work / "from-tflite", quantize="fp32,fp16,int8",
                                 calibration=paths["calibration"], validation=paths["validation"],
                                 doctor=True, max_accuracy_drop=0.01, task="image_classification")
        report["tflite"] = figures(work / "from-tflite", paths, tfl)
        report["tflite"]["convert_seconds"] = time.perf_counter() - t0
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    _print("Keras source (TFLiteConverter + QuantizationDebugger)", report)
    _print(".tflite source (AI Edge Quantizer + LiteRT tensor comparison)", report["tflite"])
    return 0


def _print(title: str, report: dict) -> None:
    print(title)
    base = next(r for r in report["variants"] if r["mode"] == "fp32")
    print(f"{'variant':<11} {'bytes':>8} {'vs fp16':>8} {'test top-1':>10} {'drop (pts)':>10} {'latency µs':>10}")
    fp16 = next(r for r in report["variants"] if r["mode"] == "fp16")
    for r in report["variants"]:
        print(f"{r['mode']:<11} {r['bytes']:>8} {r['bytes'] / fp16['bytes']:>8.2f} {r['test_top1']:>10.4f} "
              f"{(base['test_top1'] - r['test_top1']) * 100:>10.2f} {r['latency_us']:>10.2f}")
    d = report["doctor"]
    print(f"doctor: {d['status']}; {d['candidates']} candidates; search {d['search_seconds']:.2f} s "
          f"(diagnosis {d['diagnosis_seconds']:.2f} s); whole convert {report['convert_seconds']:.1f} s")
    print(f"budget on the validation images: {d['budget']['metric']} ≥ {d['budget']['floor']:.4f}; "
          f"kept in float: {', '.join(f'{op} {t}' for op, t in d['float_ops']) or 'nothing'}")
    print()


if __name__ == "__main__":
    raise SystemExit(main())
