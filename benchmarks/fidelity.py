"""How close is ``mobilepack bench`` to Google's own Python benchmark?  Alternating, in one run.

    .venv/bin/python benchmarks/fidelity.py [--rounds 3] [--models digits,mobilenetv2]

For the bundled sample (digits) and ``keras.applications.MobileNetV2(weights=None)``, each in fp32
and int8, and for the ``cpu`` and ``xnnpack`` delegates at 1 thread, every round runs:

  * mobilepack: ``mobilepack.bench.engine.measure_one`` — a fresh child process, our timing loop;
  * google: ``ai_edge_litert.tools.benchmark_litert_model`` (``python -m`` in a fresh process) on the
    same file, same thread count, same run and warmup counts;

with the order alternating between rounds.  Google's tool runs ``CompiledModel`` on the CPU
accelerator (XNNPACK) — the match for our ``xnnpack``.  It has no flag for the non-XNNPACK kernels,
so for our ``cpu`` its model options are given ``CpuKernelMode.BUILTIN`` (the builtin kernels,
what ``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES`` gives us) by wrapping its
``create_model_options``; its timing loop is untouched.  Its JSON rounds to 0.01 ms, so the
child shadows ``round`` in the tool's module to keep full precision.

Printed per (model, delegate): the ratio mobilepack / google of the steady-state mean and of the
median (p50), as the median over rounds (target: within ±10%).  Finally the per-invoke overhead of
our harness on a tiny model: our mean minus a bare ``interpreter.invoke()`` loop timed in bulk.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOOGLE_CHILD = r'''
import json, sys
import ai_edge_litert.tools.benchmark_litert_model as g
from ai_edge_litert.cpu_options import CpuKernelMode
mode, out = sys.argv[1], sys.argv[2]
g.round = lambda value, digits=None: value  # keep full precision in its result JSON
if mode == "cpu":
    def options_with_builtin_kernels(args, options, cpu_options, hw):
        return options(hardware_accelerators=hw,
                       cpu_options=cpu_options(num_threads=args.num_threads, kernel_mode=CpuKernelMode.BUILTIN))
    g.create_model_options = options_with_builtin_kernels
sys.argv = ["benchmark_litert_model"] + sys.argv[3:] + ["--result_json", out]
g.main()
'''

BARE_CHILD = r'''
import sys, time
import numpy as np
from ai_edge_litert.interpreter import Interpreter
it = Interpreter(model_path=sys.argv[1], num_threads=1)
it.allocate_tensors()
d = it.get_input_details()[0]
it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
for _ in range(1000):
    it.invoke()
n = int(sys.argv[2])
t = time.perf_counter()
for _ in range(n):
    it.invoke()
print((time.perf_counter() - t) / n * 1e6)
'''


def prepare_models(which: list[str], work: Path) -> dict[str, Path]:
    import mobilepack

    out: dict[str, Path] = {}
    if "digits" in which:
        mobilepack.convert(str(ROOT / "examples/digits/digits.keras"), work / "digits", quantize="fp32,int8",
                           calibration=str(ROOT / "examples/digits/calibration"))
        out["digits fp32"] = work / "digits" / "digits_fp32.tflite"
        out["digits int8"] = work / "digits" / "digits_int8.tflite"
    if "mobilenetv2" in which:
        from mobilepack.model.tfimport import tensorflow

        tf = tensorflow()
        model = tf.keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
        src = work / "mobilenetv2.keras"
        model.save(src)
        mobilepack.convert(str(src), work / "mnv2", quantize="fp32,int8", calibration="random", calibration_samples=8)
        out["mobilenetv2 fp32"] = work / "mnv2" / "mobilenetv2_fp32.tflite"
        out["mobilenetv2 int8"] = work / "mnv2" / "mobilenetv2_int8.tflite"
    return out


def ours(path: Path, delegate: str, runs: int, warmup: int) -> tuple[float, float]:
    from mobilepack.bench.engine import measure_one, model_file, plan_bench
    from mobilepack.runtime import delegates

    plan = plan_bench([path], delegates=delegate, threads="1", runs=runs, warmup=warmup, min_seconds=0, target_ci=0)
    rec = measure_one(plan, model_file(path), delegates.get(delegate), 1)
    if rec["status"] != "ok":
        raise SystemExit(f"mobilepack failed on {path.name} {delegate}: {rec['error']}")
    return rec["mean_us"], rec["p50_us"]


def google(path: Path, delegate: str, runs: int, warmup: int, work: Path) -> tuple[float, float]:
    out = work / "google.json"
    out.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, "-c", GOOGLE_CHILD, delegate, str(out), "--model", str(path),
                           "--num_threads", "1", "--num_runs", str(runs), "--warmup_runs", str(warmup)],
                          capture_output=True, text=True)
    if not out.exists():
        raise SystemExit(f"benchmark_litert_model failed on {path.name}: {proc.stderr.strip()[-500:]}")
    lat = json.loads(out.read_text())["latency"]
    return lat["avg_ms"] * 1000, lat["median_ms"] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", default="digits,mobilenetv2")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mobilepack-fidelity-") as tmp:
        work = Path(tmp)
        models = prepare_models(args.models.split(","), work)
        print(f"{'model':18} {'delegate':8} {'ours mean':>11} {'google mean':>12} {'mean ratio':>10} "
              f"{'p50 ratio':>9}  per-round mean ratios")
        for label, path in models.items():
            runs = 1000 if label.startswith("digits") else 30
            warmup = 20 if label.startswith("digits") else 5
            for delegate in ("cpu", "xnnpack"):
                mean_ratios, p50_ratios, our_means, g_means = [], [], [], []
                for r in range(args.rounds):
                    if r % 2 == 0:
                        o, g = ours(path, delegate, runs, warmup), google(path, delegate, runs, warmup, work)
                    else:
                        g, o = google(path, delegate, runs, warmup, work), ours(path, delegate, runs, warmup)
                    our_means.append(o[0])
                    g_means.append(g[0])
                    mean_ratios.append(o[0] / g[0])
                    p50_ratios.append(o[1] / g[1])
                print(f"{label:18} {delegate:8} {statistics.median(our_means):9.1f}µs "
                      f"{statistics.median(g_means):10.1f}µs {statistics.median(mean_ratios):10.3f} "
                      f"{statistics.median(p50_ratios):9.3f}  "
                      + " ".join(f"{x:.3f}" for x in mean_ratios), flush=True)
        tiny = ROOT / "tests/fixtures/bench/dense.tflite"
        bare = [float(subprocess.run([sys.executable, "-c", BARE_CHILD, str(tiny), "200000"], capture_output=True,
                                     text=True).stdout.strip().splitlines()[-1]) for _ in range(args.rounds)]
        harness = [ours(tiny, "xnnpack", 20000, 1000)[0] for _ in range(args.rounds)]
        print(f"\nper-invoke overhead on a tiny model ({tiny.name}, xnnpack, 1 thread): "
              f"ours {statistics.median(harness):.2f} µs/iteration vs bare invoke() loop "
              f"{statistics.median(bare):.2f} µs -> overhead {statistics.median(harness) - statistics.median(bare):.2f} µs")


if __name__ == "__main__":
    main()
