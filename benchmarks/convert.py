"""mobilepack's convert vs the same TFLiteConverter calls written by hand, alternating in one run.

    .venv/bin/python benchmarks/convert.py [--models digits,mobilenetv2] [--rounds 2]

For each model and round, two fresh child processes run (order alternating):
  * mobilepack: ``mobilepack.convert(...)`` in every mode (fp32, fp16, dynamic, int8, int16x8);
  * direct: the hand-written equivalent — load the Keras model, export a SavedModel with a
    fixed input signature, read the same calibration data, and call ``TFLiteConverter`` per mode
    with the same settings, writing each .tflite.
Each child measures from after ``import tensorflow`` to the end.  mobilepack's time is split
into conversion work and numerical validation (which the direct script does not do), and the
overhead ratio compares conversion work only (target ≤ 1.10).  Validation time is printed
separately.  MobileNetV2 is ``keras.applications.MobileNetV2(weights=None)`` (random weights,
no download) and calibrates on ``random`` inputs in both paths."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = ["fp32", "fp16", "dynamic", "int8", "int16x8"]

CHILD = r'''
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
which, model_path, calibration, samples, out, modes = sys.argv[1:7]
samples = int(samples)
from mobilepack.model.tfimport import tensorflow, silenced
tf = tensorflow()
import numpy as np
MODES = modes.split(",")
t0 = time.perf_counter()
if which == "mobilepack":
    import mobilepack
    r = mobilepack.convert(model_path, out, quantize=modes, calibration=calibration,
                           calibration_samples=samples)
    total = time.perf_counter() - t0
    print(json.dumps({"total": total, "validation": r.timings["validate"] + r.timings["reference"],
                      "sizes": {v.mode: v.bytes for v in r.variants}}))
else:
    with silenced():
        import keras
        from keras.export import ExportArchive
        model = keras.models.load_model(model_path, compile=False)
        inp = model.inputs[0]
        shape = [1] + list(inp.shape[1:])
        if calibration == "random":
            rng = np.random.default_rng(0)
            cal = [rng.standard_normal(shape).astype("float32") for _ in range(samples)]
        else:
            from PIL import Image
            files = sorted(p for p in os.listdir(calibration) if p.endswith(".png"))[:samples]
            cal = [np.asarray(Image.open(os.path.join(calibration, f)).convert("RGB"), np.float32)[None]
                   for f in files]
        saved = os.path.join(out, "saved_model")
        archive = ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", lambda x: {"out": model(x, training=False)},
                             input_signature=[tf.TensorSpec(shape, tf.float32, name=inp.name)])
        archive.write_out(saved)
        sizes = {}
        for mode in MODES:
            conv = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=["serving_default"])
            if mode != "fp32":
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
            if mode == "fp16":
                conv.target_spec.supported_types = [tf.float16]
            if mode in ("int8", "int16x8"):
                conv.representative_dataset = lambda: ({inp.name: x} for x in cal)
                conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] if mode == "int8" else \
                    [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
                if mode == "int8":
                    conv.inference_input_type = tf.float32
                    conv.inference_output_type = tf.float32
            data = conv.convert()
            with open(os.path.join(out, f"m_{mode}.tflite"), "wb") as fh:
                fh.write(data)
            sizes[mode] = len(data)
    print(json.dumps({"total": time.perf_counter() - t0, "validation": 0.0, "sizes": sizes}))
'''


def _prepare(name: str, tmp: Path) -> tuple[str, str, int, list[str]]:
    if name == "digits":
        return str(ROOT / "examples/digits/digits.keras"), str(ROOT / "examples/digits/calibration"), 100, MODES
    if name == "mobilenetv2":
        path = tmp / "mobilenetv2.keras"
        code = ("import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'\nimport keras\n"
                "keras.utils.set_random_seed(0)\n"
                f"keras.applications.MobileNetV2(weights=None).save({str(path)!r})")
        subprocess.run([sys.executable, "-c", code], check=True, stderr=subprocess.DEVNULL)
        # int16x8 of this random-weight network converts, but LiteRT refuses to prepare it
        # (DEPTHWISE_CONV_2D: no_integer_overflow_from_quantization), and mobilepack's
        # validation stops there by design; the other four modes are compared.
        return str(path), "random", 20, MODES[:4]
    raise SystemExit(f"unknown model {name!r}: use digits, mobilenetv2")


def _run(which: str, model: str, cal: str, samples: int, tmp: Path, modes: list[str]) -> dict:
    out = tempfile.mkdtemp(dir=tmp, prefix=f"{which}-")
    os.rmdir(out) if which == "mobilepack" else None
    r = subprocess.run([sys.executable, "-c", CHILD, which, model, cal, str(samples), out, ",".join(modes)], capture_output=True,
                       text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if r.returncode != 0:
        raise SystemExit(f"{which} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="digits,mobilenetv2")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mp-bench-convert-") as tmpdir:
        tmp = Path(tmpdir)
        for name in args.models.split(","):
            model, cal, samples, modes = _prepare(name, tmp)
            ours, direct, vals = [], [], []
            for i in range(args.rounds):
                order = ["mobilepack", "direct"] if i % 2 == 0 else ["direct", "mobilepack"]
                for which in order:
                    res = _run(which, model, cal, samples, tmp, modes)
                    if which == "mobilepack":
                        ours.append(res["total"] - res["validation"])
                        vals.append(res["validation"])
                    else:
                        direct.append(res["total"])
            o, d, v = statistics.median(ours), statistics.median(direct), statistics.median(vals)
            print(f"{name}: modes {', '.join(modes)}, calibration {cal if cal == 'random' else 'images'} "
                  f"x{samples}, {args.rounds} alternating rounds")
            print(f"  direct TFLiteConverter      median {d:7.2f} s   runs: {', '.join(f'{x:.2f}' for x in direct)}")
            print(f"  mobilepack (w/o validation) median {o:7.2f} s   runs: {', '.join(f'{x:.2f}' for x in ours)}")
            print(f"  mobilepack validation       median {v:7.2f} s   (reported separately)")
            print(f"  overhead ratio mobilepack/direct: {o / d:.3f}  (target ≤ 1.10)")


if __name__ == "__main__":
    main()
