"""Why the headline latency is the 20 % trimmed mean: how many runs the plain mean and the trimmed
mean need before their 95 % confidence interval is within ±2 %, on this machine, now.

    .venv/bin/python benchmarks/latency_noise.py [--runs 3000] [--window 300] [--models a.tflite,...]

For the digits sample (fp32, int8; converted into a temporary directory) or the given models, per
configuration (cpu, xnnpack ×1, xnnpack ×2): one long series of timed iterations (the benchmark
definition's copy-in + invoke + copy-out, after 5 warm-up runs), with the process's involuntary
context switches read before and after each run (``getrusage``, outside the timed region).  Then,
from each start point every ``--window`` runs, the number of runs each statistic needs to reach ±2 %
(Student's t for the mean, Yuen's interval for the trimmed mean — mobilepack.bench.stats).

Printed per configuration: the share of preempted runs, the mean and trimmed mean of the series, the
cv of all runs and of the runs that were not preempted, and for each statistic in how many windows
it reached ±2 % and the median runs it took."""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CONFIGS = (("cpu", 1), ("xnnpack", 1), ("xnnpack", 2))
TARGET = 0.02


def _series(path: Path, delegate: str, threads: int, runs: int) -> tuple[list[float], list[int]]:
    from mobilepack.bench.definition import pattern_inputs
    from mobilepack.runtime.delegates import get, open_session

    session = open_session(get(delegate).to_dict(), str(path), threads)
    prepared = pattern_inputs(session.inputs)
    for _ in range(6):
        session.feed(prepared)
        session.run()
    now, times, switches = time.perf_counter_ns, [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
        t = now()
        session.feed(prepared)
        session.run()
        times.append((now() - t) / 1000)
        switches.append(resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - before)
    return times, switches


def _runs_to_target(series: list[float], rel) -> int | None:
    for n in range(10, len(series) + 1):
        if rel(series[:n]) <= TARGET:
            return n
    return None


def _mean_rel(xs: list[float]) -> float:
    from mobilepack.bench.stats import ci95_halfwidth

    m = statistics.fmean(xs)
    return ci95_halfwidth(len(xs), statistics.stdev(xs)) / m


def _trimmed_rel(xs: list[float]) -> float:
    from mobilepack.bench.stats import trimmed

    tmean, half = trimmed(sorted(xs))
    return half / tmean


def _report(label: str, times: list[float], switches: list[int], window: int) -> tuple[int, int, int]:
    from mobilepack.bench.stats import trimmed

    clean = [t for t, s in zip(times, switches) if s == 0]
    starts = range(0, len(times) - window, window)
    got = {"mean": [], "trimmed": []}
    for start in starts:
        got["mean"].append(_runs_to_target(times[start:], _mean_rel))
        got["trimmed"].append(_runs_to_target(times[start:], _trimmed_rel))
    text = []
    for name, ns in got.items():
        reached = [n for n in ns if n is not None]
        text.append(f"{name}: {len(reached)}/{len(ns)} windows, median "
                    f"{statistics.median(reached) if reached else float('nan'):.0f} runs")
    cv = statistics.stdev(times) / statistics.fmean(times)
    cv_clean = statistics.stdev(clean) / statistics.fmean(clean) if len(clean) > 1 else float("nan")
    print(f"{label:34} preempted {100 * (len(times) - len(clean)) / len(times):5.1f}%  mean {statistics.fmean(times):8.1f} µs"
          f"  trimmed {trimmed(sorted(times))[0]:8.1f} µs  cv {cv:5.2f} (not preempted {cv_clean:4.2f})  "
          + "; ".join(text))
    return (len(got["mean"]), sum(n is not None for n in got["mean"]), sum(n is not None for n in got["trimmed"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="", help=".tflite files, comma-separated (default: digits fp32, int8)")
    ap.add_argument("--runs", type=int, default=3000)
    ap.add_argument("--window", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mobilepack-noise-") as tmp:
        models = [Path(p) for p in args.models.split(",") if p.strip()]
        if not models:
            import mobilepack

            d = ROOT / "examples" / "digits"
            mobilepack.convert(str(d / "digits.keras"), Path(tmp) / "digits", quantize="fp32,int8",
                               calibration=str(d / "calibration"))
            models = sorted((Path(tmp) / "digits").glob("*.tflite"))
        total = [0, 0, 0]
        for path in models:
            for delegate, threads in CONFIGS:
                times, switches = _series(path, delegate, threads, args.runs)
                label = f"{path.name} · {delegate}" + (f" ×{threads}" if delegate == "xnnpack" else "")
                total = [a + b for a, b in zip(total, _report(label, times, switches, args.window))]
    print(f"\nwindows reaching ±2 %: mean {total[1]} of {total[0]}, trimmed mean {total[2]} of {total[0]}")


if __name__ == "__main__":
    main()
