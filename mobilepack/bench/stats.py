"""Latency statistics.

The headline latency (``latency_us``) is the **20 % trimmed mean** of every timed run: the mean of
the middle 60 % of the sorted runs.  On a shared machine a few runs are hit by preemption (an
involuntary context switch costs a whole scheduler slice, 100× a µs-scale inference), and those few
decide the plain mean and its interval; the trimmed mean is the mean of the runs the model itself
determined.  Its 95 % confidence interval is Yuen's: ``tmean ± t(0.975, h-1) · s_w / ((1-2k/n)·√n)``,
with ``k`` = floor(0.2·n) runs cut at each end, ``h`` = n - 2k the runs kept and ``s_w`` the standard
deviation of the runs winsorized at the same ``k``.  Below five runs ``k`` = 0: the plain mean and
Student's t, and the record says ``latency_statistic: "mean"``.
Adaptive measurement (:class:`TrimmedStop`) stops once that half-width is within a target fraction.

Nothing is dropped from the record: the plain mean (``mean_us``) and its Student's t interval
(``ci95_rel``), std, min/max and percentiles are computed over every run, and a high coefficient
of variation is flagged as noisy."""

from __future__ import annotations

import math

LATENCY_STATISTIC = "trimmed_mean_20"   # what ``latency_us`` is, in every host record
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


TRIM = 0.2   # fraction cut from each end for the headline latency (Yuen's usual choice)


def trimmed_per_end(n: int, g: float = TRIM) -> int:
    """How many of ``n`` sorted runs the trimmed mean cuts at each end: floor(g·n)."""
    return int(math.floor(g * n))


def trimmed(sorted_values: list[float], g: float = TRIM) -> tuple[float, float]:
    """(``g``-trimmed mean, half-width of its 95 % confidence interval (Yuen)) of sorted values.
    With ``floor(g·n)`` = 0 this is the plain mean and Student's t interval; the half-width is inf
    below two kept values."""
    n = len(sorted_values)
    if not n:
        raise ValueError("no samples")
    k = trimmed_per_end(n, g)
    kept = sorted_values[k:n - k]
    h = len(kept)
    tmean = sum(kept) / h
    if h < 2:
        return tmean, math.inf
    lo, hi = sorted_values[k], sorted_values[n - k - 1]
    wins = [lo] * k + kept + [hi] * k
    wmean = sum(wins) / n
    sw = math.sqrt(sum((x - wmean) ** 2 for x in wins) / (n - 1))
    return tmean, t975(h - 1) * sw / ((1 - 2 * k / n) * math.sqrt(n))


class TrimmedStop:
    """Runs kept sorted as they arrive, for the adaptive stop rule on the trimmed mean's interval.
    Each insertion moves O(n) list slots (a memmove: ~1 µs at 10 000 runs, outside the timed region);
    the interval is recomputed every run up to 64 runs and then every n/32 runs (O(n) each, so O(1)
    amortized per run).  Only adaptive timing keeps one."""

    __slots__ = ("values", "_next_check", "_last")

    def __init__(self) -> None:
        self.values: list[float] = []
        self._next_check = 0
        self._last = math.inf

    @property
    def n(self) -> int:
        return len(self.values)

    def add(self, x: float) -> None:
        import bisect

        bisect.insort(self.values, x)

    def ci_rel(self) -> float:
        """The 95 % half-width of the trimmed mean as a fraction of it (inf until two runs kept)."""
        n = len(self.values)
        if n >= self._next_check:
            tmean, half = trimmed(self.values)
            self._last = half / tmean if tmean > 0 else math.inf
            self._next_check = n + (1 if n < 64 else n // 32)
        return self._last


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile (the same definition the demo apps use)."""
    if not sorted_values:
        raise ValueError("no samples")
    rank = min(len(sorted_values), max(1, math.ceil(p / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


def summarize(samples_us: list[float]) -> dict:
    """mean/std/min/max/p50/p90/p99 in microseconds over every run, inferences per second, cv, the
    noisy flag, the 95 % confidence interval of the mean (``ci95_us`` half-width, ``ci95_rel`` as a
    fraction), and the headline latency (``latency_us``, the 20 % trimmed mean) with its own interval
    (``latency_ci95_us``, ``latency_ci95_rel``)."""
    if not samples_us:
        raise ValueError("no samples")
    values = sorted(float(x) for x in samples_us)
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in values) / (n - 1)) if n > 1 else 0.0
    cv = std / mean if mean > 0 else 0.0
    mean_half = ci95_halfwidth(n, std) if n > 1 else None
    tmean, half = trimmed(values)
    half = half if math.isfinite(half) else None
    return {
        "runs": n, "mean_us": mean, "std_us": std, "min_us": values[0], "max_us": values[-1],
        "p50_us": percentile(values, 50), "p90_us": percentile(values, 90), "p99_us": percentile(values, 99),
        "ips": 1e6 / mean if mean > 0 else 0.0, "cv": cv, "noisy": cv > NOISY_CV,
        "ci95_us": mean_half, "ci95_rel": (mean_half / mean if mean_half is not None and mean > 0 else None),
        "latency_us": tmean, "latency_statistic": LATENCY_STATISTIC if trimmed_per_end(n) else "mean",
        "latency_ci95_us": half,
        "latency_ci95_rel": (half / tmean if half is not None and tmean > 0 else None),
    }
