"""Cold build vs warm rebuild of the bundled sample, in one run.

    .venv/bin/python benchmarks/rebuild.py [--rounds 2]

Each round: a cold `mobilepack build` (empty cache directory) of the digits sample for both
targets, then a warm rebuild into the same OUT where only a render option (the app name)
changed, so conversion, metadata, lint, bench and evaluation come from the cache.  Both are
whole CLI invocations in fresh processes (interpreter start-up included).  Prints the
medians and the ratio warm/cold (target ≤ 0.10)."""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "examples" / "digits"


def _build(out: Path, cache: Path, app_name: str) -> float:
    cmd = [sys.executable, "-m", "mobilepack", "build", str(DIGITS / "digits.keras"), "--target", "all",
           "-o", str(out), "--cache-dir", str(cache), "--calibration", str(DIGITS / "calibration"),
           "--eval-data", str(DIGITS / "eval"), "--labels", str(DIGITS / "labels.txt"), "--samples",
           str(DIGITS / "samples"), "--app-name", app_name, "--quiet", "--force"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    colds, warms = [], []
    with tempfile.TemporaryDirectory(prefix="mp-rebuild-") as tmp:
        for i in range(args.rounds):
            cache = Path(tmp) / f"cache{i}"
            out = Path(tmp) / f"out{i}"
            colds.append(_build(out, cache, "Digits Demo"))
            warms.append(_build(out, cache, f"Digits Demo {i}"))
            shutil.rmtree(cache)
    c, w = statistics.median(colds), statistics.median(warms)
    print(f"rounds: {args.rounds}")
    print(f"cold build    median {c:6.2f} s   runs: {', '.join(f'{x:.2f}' for x in colds)}")
    print(f"warm rebuild  median {w:6.2f} s   runs: {', '.join(f'{x:.2f}' for x in warms)}")
    print(f"ratio warm/cold: {w / c:.3f}  (target ≤ 0.10)")


if __name__ == "__main__":
    main()
