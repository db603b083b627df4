"""`mobilepack --help` wall time vs `python -c "import tensorflow"`, alternating in one run.

    .venv/bin/python benchmarks/startup.py [--rounds 7]

Prints the median of each and their ratio (target: ≤ 0.10)."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def _time(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    help_cmd = [sys.executable, "-m", "mobilepack", "--help"]
    tf_cmd = [sys.executable, "-c", "import tensorflow"]
    _time(help_cmd), _time(tf_cmd)  # warm the page cache for both
    helps, tfs = [], []
    for _ in range(args.rounds):
        helps.append(_time(help_cmd))
        tfs.append(_time(tf_cmd))
    h, t = statistics.median(helps), statistics.median(tfs)
    print(f"rounds: {args.rounds} (alternating)")
    print(f"mobilepack --help         median {h * 1000:8.1f} ms  (min {min(helps) * 1000:.1f})")
    print(f"python -c 'import tensorflow' median {t * 1000:8.1f} ms  (min {min(tfs) * 1000:.1f})")
    print(f"ratio help/import-tensorflow: {h / t:.3f}  (target ≤ 0.10)")


if __name__ == "__main__":
    main()
