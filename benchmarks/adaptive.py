"""Adaptive timing (stop at a 95 % CI of ±2 %) vs the fixed 50-run scheme, side by side in one run.

    .venv/bin/python benchmarks/adaptive.py [--models a.tflite,b.tflite] [--rounds 2]

Default models: the bundled digits sample converted to fp32 and int8 (mobilepack convert into a
temporary directory); ``--vww`` adds the real Visual Wake Words model of ``benchmarks/build_real.py``
(fp32, int8), and ``--models`` any ``.tflite`` files.  For each model x (cpu, xnnpack x1, xnnpack x2), every round
measures both schemes through the same engine (``mobilepack.bench.engine.measure_one``: a fresh
child process, the shared benchmark definition, 5 warm-up runs), alternating which goes first:

  * fixed:    exactly 50 timed runs (``target_ci=0``) — the scheme `bench`/`build` used before;
  * adaptive: at least 10 runs, then stop once the 95 % CI of the mean is within ±2 % of it, or at
              ``--max-seconds`` (default 0.5 s, the build default).

Also measured, for reference: the former ``mobilepack bench`` default (at least 50 runs *and* 1 s).

Printed per configuration: runs and the achieved 95 % half-width (as % of the mean) of fixed and
adaptive, as medians over rounds.  Then the totals: inferences adaptive/fixed, the worst and the median
interval of each, and how many configurations got the same or a tighter interval adaptively."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DIGITS = ROOT / "examples" / "digits"
CONFIGS = (("cpu", 1), ("xnnpack", 1), ("xnnpack", 2))


def _digits(tmp: Path) -> list[Path]:
    import mobilepack

    mobilepack.convert(str(DIGITS / "digits.keras"), tmp / "digits", quantize="fp32,int8",
                       calibration=str(DIGITS / "calibration"))
    return sorted((tmp / "digits").glob("*.tflite"))


def _vww() -> list[Path]:
    """The real Visual Wake Words model of benchmarks/build_real.py, fp32 and int8 (converted once, cached)."""
    import mobilepack

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from build_real import CACHE, prepare_vww

    m = prepare_vww()
    out = CACHE / "vww" / "variants"
    if not (out / "convert.json").exists():
        mobilepack.convert(str(m["model"]), out, quantize="fp32,int8", calibration=str(m["calibration"]))
    return sorted(out.glob("*.tflite"))


def _measure(path: Path, delegate: str, threads: int, *, scheme: str, max_seconds: float) -> dict:
    from mobilepack.bench.engine import measure_one, model_file, plan_bench
    from mobilepack.runtime.delegates import get

    adaptive = scheme == "adaptive"
    plan = plan_bench([path], delegates=delegate, threads=str(threads), warmup=5,
                      runs=10 if adaptive else 50, target_ci=0.02 if adaptive else 0.0, max_seconds=max_seconds,
                      min_seconds=1.0 if scheme == "fixed+1s" else 0.0)
    rec = measure_one(plan, model_file(path), get(delegate), threads)
    if rec["status"] != "ok":
        raise SystemExit(f"{path.name} {delegate}: {rec['error']}")
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="", help="extra .tflite files, comma-separated")
    ap.add_argument("--no-digits", action="store_true", help="only the --models files")
    ap.add_argument("--vww", action="store_true", help="add the real VWW model (fp32, int8) of build_real.py")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-seconds", type=float, default=0.5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mobilepack-adaptive-") as tmp:
        models = [] if args.no_digits else _digits(Path(tmp))
        models += _vww() if args.vww else []
        models += [Path(p) for p in args.models.split(",") if p.strip()]
        rows = []
        for path in models:
            for delegate, threads in CONFIGS:
                got: dict[str, list[dict]] = {"fixed": [], "adaptive": [], "fixed+1s": []}
                for rnd in range(args.rounds):
                    order = ("fixed", "adaptive", "fixed+1s") if rnd % 2 == 0 else ("fixed+1s", "adaptive", "fixed")
                    for scheme in order:
                        got[scheme].append(_measure(path, delegate, threads, scheme=scheme,
                                                    max_seconds=args.max_seconds))
                rows.append((f"{path.name} · {delegate}" + (f" ×{threads}" if delegate == "xnnpack" else ""), got))
    print(f"{'configuration':40} {'fixed runs':>10} {'±95% fixed':>11} {'adaptive runs':>13} {'±95% adaptive':>14}"
          f" {'stop':>11}")
    tot = {"fixed": 0, "adaptive": 0, "fixed+1s": 0}
    ci = {"fixed": [], "adaptive": [], "fixed+1s": []}
    secs = {"fixed": 0.0, "adaptive": 0.0, "fixed+1s": 0.0}
    tighter = 0
    for label, got in rows:
        med = {}
        for scheme, recs in got.items():
            tot[scheme] += sum(r["runs"] for r in recs)
            secs[scheme] += sum(r["runs"] * r["mean_us"] for r in recs) / 1e6
            med[scheme] = (statistics.median(r["runs"] for r in recs), statistics.median(r["ci95_rel"] for r in recs))
            ci[scheme].extend(r["ci95_rel"] for r in got[scheme])
        tighter += med["adaptive"][1] <= med["fixed"][1] + 1e-12
        stops = ",".join(sorted({r["stop"] for r in got["adaptive"]}))
        print(f"{label:40} {med['fixed'][0]:>10.0f} {100 * med['fixed'][1]:>10.2f}% {med['adaptive'][0]:>13.0f}"
              f" {100 * med['adaptive'][1]:>13.2f}% {stops:>11}")
    print()
    print(f"total inferences: fixed {tot['fixed']}, adaptive {tot['adaptive']} "
          f"-> ratio adaptive/fixed {tot['adaptive'] / tot['fixed']:.3f}")
    print(f"timed seconds:    fixed {secs['fixed']:.2f} s, adaptive {secs['adaptive']:.2f} s "
          f"-> ratio {secs['adaptive'] / secs['fixed']:.3f}")
    print(f"95% half-width, worst:  fixed {100 * max(ci['fixed']):.2f}%, adaptive {100 * max(ci['adaptive']):.2f}% "
          f"-> ratio {max(ci['adaptive']) / max(ci['fixed']):.3f}")
    print(f"95% half-width, median: fixed {100 * statistics.median(ci['fixed']):.2f}%, adaptive "
          f"{100 * statistics.median(ci['adaptive']):.2f}% -> ratio "
          f"{statistics.median(ci['adaptive']) / statistics.median(ci['fixed']):.3f}")
    print(f"configurations with the same or a tighter interval adaptively: {tighter} of {len(rows)}")
    print(f"former `mobilepack bench` default (>= 50 runs and >= 1 s): {tot['fixed+1s']} inferences "
          f"-> ratio adaptive/that {tot['adaptive'] / tot['fixed+1s']:.3f}; its 95% half-width median "
          f"{100 * statistics.median(ci['fixed+1s']):.2f}%, worst {100 * max(ci['fixed+1s']):.2f}%")


if __name__ == "__main__":
    main()
