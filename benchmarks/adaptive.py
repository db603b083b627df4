"""Adaptive timing (stop at a 95 % CI of ±2 %) vs the fixed 50-run scheme, side by side in one run.

    .venv/bin/python benchmarks/adaptive.py [--models a.tflite,b.tflite] [--rounds 2]

Default models: the bundled digits sample converted to fp32 and int8 (mobilepack convert into a
temporary directory); ``--vww`` adds the real Visual Wake Words model of ``benchmarks/build_real.py``
(fp32, int8), and ``--models`` any ``.tflite`` files.  For each model x (cpu, xnnpack x1, xnnpack x2), every round
measures both schemes through the same engine (``mobilepack.bench.engine.measure_one``: a fresh
child process, the shared benchmark definition, 5 warm-up runs), alternating which goes first:

  * fixed:    exactly 50 timed runs (``target_ci=0``) reported as their mean ± its 95 % interval
              (Student's t) — the scheme `build` used before;
  * adaptive: at least 10 runs, then stop once the 95 % CI of the headline latency (the 20 % trimmed
              mean, Yuen's interval) is within ±2 % of it, at 50 runs (``--max-runs``' default: never
              more than the fixed scheme), or at ``--max-seconds`` (default 0.5 s, the build default) —
              what `bench`/`build` do now.

Printed per configuration (medians over rounds): runs and the reported 95 % half-width (as % of the
reported latency) of each scheme, and — for the same-statistic view — the fixed runs' trimmed-mean
interval.  Then the totals: timed inferences adaptive/fixed, the worst and the median reported interval
of each, and how many configurations got the same or a tighter reported interval adaptively."""

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
                      runs=10 if adaptive else 50, target_ci=0.02 if adaptive else 0.0, max_seconds=max_seconds)
    rec = measure_one(plan, model_file(path), get(delegate), threads)
    if rec["status"] != "ok":
        raise SystemExit(f"{path.name} {delegate}: {rec['error']}")
    # what each scheme reports: the fixed scheme its mean and the mean's interval, adaptive its headline
    rec["reported_rel"] = rec["latency_ci95_rel"] if adaptive else rec["ci95_rel"]
    return rec


def _collect(models: list[Path], rounds: int, max_seconds: float) -> list[tuple[str, dict]]:
    rows = []
    for path in models:
        for delegate, threads in CONFIGS:
            got: dict[str, list[dict]] = {"fixed": [], "adaptive": []}
            for rnd in range(rounds):
                for scheme in (("fixed", "adaptive") if rnd % 2 == 0 else ("adaptive", "fixed")):
                    got[scheme].append(_measure(path, delegate, threads, scheme=scheme, max_seconds=max_seconds))
            rows.append((f"{path.name} · {delegate}" + (f" ×{threads}" if delegate == "xnnpack" else ""), got))
    return rows


def _print(rows: list[tuple[str, dict]]) -> None:
    print(f"{'configuration':36} {'fixed runs':>10} {'fixed ±95% (mean)':>18} {'(trimmed)':>10}"
          f" {'adaptive runs':>13} {'adaptive ±95%':>14} {'stop':>11}")
    tot = {"fixed": 0, "adaptive": 0}
    ci: dict[str, list[float]] = {"fixed": [], "adaptive": [], "fixed_trimmed": []}
    tighter = 0
    for label, got in rows:
        med = {}
        for scheme, recs in got.items():
            tot[scheme] += sum(r["runs"] for r in recs)
            med[scheme] = (statistics.median(r["runs"] for r in recs), statistics.median(r["reported_rel"] for r in recs))
            ci[scheme].extend(r["reported_rel"] for r in recs)
        fixed_trimmed = statistics.median(r["latency_ci95_rel"] for r in got["fixed"])
        ci["fixed_trimmed"].extend(r["latency_ci95_rel"] for r in got["fixed"])
        tighter += med["adaptive"][1] <= med["fixed"][1] + 1e-12
        stops = ",".join(sorted({r["stop"] for r in got["adaptive"]}))
        print(f"{label:36} {med['fixed'][0]:>10.0f} {100 * med['fixed'][1]:>17.2f}% {100 * fixed_trimmed:>9.2f}%"
              f" {med['adaptive'][0]:>13.0f} {100 * med['adaptive'][1]:>13.2f}% {stops:>11}")
    print()
    print(f"timed inferences: fixed {tot['fixed']}, adaptive {tot['adaptive']} "
          f"-> ratio adaptive/fixed {tot['adaptive'] / tot['fixed']:.3f} (plus 5 warm-up runs each, both schemes)")
    for name, pick in (("worst", max), ("median", statistics.median)):
        f, a = pick(ci["fixed"]), pick(ci["adaptive"])
        print(f"reported 95% half-width, {name + ':':7} fixed (mean) {100 * f:.2f}%, adaptive (trimmed mean) "
              f"{100 * a:.2f}% -> ratio {a / f:.3f}")
    print(f"configurations with the same or a tighter reported interval adaptively: {tighter} of {len(rows)}")
    print(f"same statistic: the fixed 50 runs' trimmed-mean interval, median {100 * statistics.median(ci['fixed_trimmed']):.2f}%,"
          f" worst {100 * max(ci['fixed_trimmed']):.2f}% (more runs, so tighter than the ±2 % target adaptive stops at)")


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
        rows = _collect(models, args.rounds, args.max_seconds)
    _print(rows)


if __name__ == "__main__":
    main()
