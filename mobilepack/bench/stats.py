"""Latency statistics.  Nothing is discarded: every timed run counts, and a high coefficient of
variation is flagged as a noisy measurement instead of being trimmed away.

The 95 % confidence interval of the mean is Student's t interval, ``mean ± t(0.975, n-1) · s/√n``;
adaptive measurement (:class:`RunningStats`) stops once its half-width is within a target
fraction of the mean."""

from __future__ import annotations

import math

NOISY_CV = 0.10   # std / mean above this: the measurement is flagged "noisy"
_Z975 = 1.959963984540054
# Exact t(0.975, df) for small df, where the expansion below is least accurate.
_T975 = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646, 8: 2.3060, 9: 2.2622}


def t975(df: int) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom (≤ 1e-4 off for df ≥ 10)."""
    if df < 1:
        return math.inf
    if df in _T975:
        return _T975[df]
    z = _Z975
    # Cornish-Fisher expansion of the t quantile in 1/df.
    return (z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3))


def ci95_halfwidth(n: int, std: float) -> float:
    """Half-width of the 95 % confidence interval of the mean of ``n`` samples with sample std ``std``."""
    return t975(n - 1) * std / math.sqrt(n) if n > 1 else math.inf


class RunningStats:
    """Welford's running mean/variance, so the stop rule costs O(1) per run."""

    __slots__ = ("n", "mean", "_m2")

    def __init__(self) -> None:
        self.n, self.mean, self._m2 = 0, 0.0, 0.0

    def add(self, x: float) -> None:
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self._m2 += d * (x - self.mean)

    @property
    def std(self) -> float:
        return math.sqrt(self._m2 / (self.n - 1)) if self.n > 1 else 0.0

    def ci_rel(self) -> float:
        """The 95 % half-width as a fraction of the mean (inf until two samples)."""
        if self.n < 2 or self.mean <= 0:
            return math.inf
        return ci95_halfwidth(self.n, self.std) / self.mean


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile (the same definition the demo apps use)."""
    if not sorted_values:
        raise ValueError("no samples")
    rank = min(len(sorted_values), max(1, math.ceil(p / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


def summarize(samples_us: list[float]) -> dict:
    """mean/std/min/max/p50/p90/p99 in microseconds, inferences per second, cv, the noisy flag, and
    the 95 % confidence interval of the mean (``ci95_us`` half-width, ``ci95_rel`` as a fraction)."""
    if not samples_us:
        raise ValueError("no samples")
    values = sorted(float(x) for x in samples_us)
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in values) / (n - 1)) if n > 1 else 0.0
    cv = std / mean if mean > 0 else 0.0
    half = ci95_halfwidth(n, std) if n > 1 else None
    return {
        "runs": n, "mean_us": mean, "std_us": std, "min_us": values[0], "max_us": values[-1],
        "p50_us": percentile(values, 50), "p90_us": percentile(values, 90), "p99_us": percentile(values, 99),
        "ips": 1e6 / mean if mean > 0 else 0.0, "cv": cv, "noisy": cv > NOISY_CV,
        "ci95_us": half, "ci95_rel": (half / mean if half is not None and mean > 0 else None),
    }
