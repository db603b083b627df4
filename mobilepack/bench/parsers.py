"""Parsers for results measured elsewhere: the official ``benchmark_model`` binary's text output, and
``adb logcat`` lines tagged ``MobilepackBench`` written by the demo apps."""

from __future__ import annotations

import json
import re

_NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
_STATS_RE = re.compile(r"\bcount=(?P<count>\d+)(?P<rest>(?:\s+\w+=[-+.\deE]+)*)\s*$")
_FIELD_RE = re.compile(r"(\w+)=" + _NUM)
_SUMMARY_RE = re.compile(r"Inference timings in us: Init: " + _NUM + r", First inference: " + _NUM
                         + r", Warmup \(avg\): " + _NUM + r", Inference \(avg\): " + _NUM)
_PEAK_RE = re.compile(r"Peak memory footprint \(MB\): init=" + _NUM + r" overall=" + _NUM)
_DELTA_RE = re.compile(r"Memory footprint delta from the start of the tool \(MB\): init=" + _NUM + r" overall=" + _NUM)
_REPLACING_RE = re.compile(r"Replacing (\d+) out of (\d+) node\(s\) with delegate")
_MIB = 1024 * 1024


def parse_benchmark_model(text: str) -> dict:
    """Fields of the bench record from one ``benchmark_model`` run.

    Returns ``status`` "ok" with the latency fields, or "failed" with ``error`` (the tool's own
    reason).  ``benchmark_model`` prints mean/std/min/max (and, in newer builds, p5/median/p95) but
    no p90/p99: those stay None rather than being guessed."""
    lines = [ln.rstrip("\r") for ln in text.splitlines()]
    stats = []
    for ln in lines:
        s = ln.strip()
        if s.startswith(("Timings (microseconds)", "Memory (bytes)")):
            continue  # per-op profiler tables, not the benchmark's own statistics
        m = _STATS_RE.search(s)
        if m:
            fields = {k: float(v) for k, v in _FIELD_RE.findall(m.group("rest"))}
            fields["count"] = int(m.group("count"))
            stats.append(fields)
    summary = next((m for m in map(_SUMMARY_RE.search, lines) if m), None)
    failed = any("Benchmarking failed" in ln for ln in lines)
    if failed or not summary or not stats:
        reason = next((ln.strip() for ln in lines if re.match(r"\s*Failed to ", ln)), None)
        errors = [ln.strip().removeprefix("ERROR: ") for ln in lines if ln.strip().startswith("ERROR:")]
        message = "; ".join(x for x in (reason, errors[0] if errors else None) if x) or _last_line(lines)
        kind = "delegate_refused" if reason and "delegate" in reason.lower() else "error"
        if any("unresolved custom op" in ln or "Didn't find op" in ln for ln in lines):
            kind = "unsupported_op"
        return {"status": "failed", "failure": kind, "error": message or "benchmark_model produced no result"}
    steady = stats[-1]
    init_us, first_us, warmup_us, mean_us = (float(x) for x in summary.groups())
    out = {
        "status": "ok", "runs": steady["count"], "init_us": init_us, "first_us": first_us,
        "warmup_mean_us": warmup_us, "mean_us": steady.get("avg", mean_us), "std_us": steady.get("std"),
        "min_us": steady.get("min"), "max_us": steady.get("max"), "p50_us": steady.get("median"),
        "p90_us": None, "p99_us": None,
    }
    peak = next((m for m in map(_PEAK_RE.search, lines) if m), None)
    delta = next((m for m in map(_DELTA_RE.search, lines) if m), None)
    out["peak_rss_bytes"] = int(float(peak.group(2)) * _MIB) if peak else None
    out["rss_growth_bytes"] = int(float(delta.group(2)) * _MIB) if delta else None
    rep = next((m for m in map(_REPLACING_RE.search, lines) if m), None)
    if rep:
        out["fully_delegated"] = rep.group(1) == rep.group(2)
    elif any("completely executed by the delegate" in ln for ln in lines):
        out["fully_delegated"] = True
    elif any("partially executed by the delegate" in ln for ln in lines):
        out["fully_delegated"] = False
    return out


def _last_line(lines: list[str]) -> str:
    return next((ln.strip() for ln in reversed(lines) if ln.strip()), "")


def parse_logcat(text: str, tag: str = "MobilepackBench") -> list[dict]:
    """Every JSON document on a line tagged ``tag`` (``adb logcat`` or the iOS console).  Lines that
    carry the tag but no complete JSON object are reported as errors, not skipped."""
    docs, bad = [], []
    for number, line in enumerate(text.splitlines(), 1):
        at = line.find(tag)
        if at < 0:
            continue
        start = line.find("{", at)
        if start < 0:
            continue
        try:
            docs.append(json.loads(line[start:]))
        except ValueError:
            bad.append(number)
    if bad:
        from mobilepack.errors import InputError

        raise InputError(f"{tag} line {bad[0]} does not hold a complete JSON object",
                         "capture the log with `adb logcat -d -s MobilepackBench:I` so lines are not cut")
    return docs
