"""Choosing the variant the apps ship.

With labelled data: the smallest, then fastest, variant whose accuracy drop vs
fp32 is within ``max_accuracy_drop`` (accuracy = the worst over the host
delegates that ran, since the app may use any of them).  Without labels: int8
only if its top-1 agreement with fp32 is ≥ 99 %, else fp16 (else fp32)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mobilepack.errors import MobilepackError

UNLABELLED_INT8_AGREEMENT = 0.99


@dataclass(frozen=True)
class Candidate:
    mode: str
    bytes: int
    latency_us: float | None = None                 # best steady-state mean over host delegates
    accuracy: dict[str, float] = field(default_factory=dict)   # delegate -> accuracy (labelled data)
    agreement: float | None = None                  # top-1 agreement with fp32 (validation samples)

    @property
    def worst_accuracy(self) -> float | None:
        return min(self.accuracy.values()) if self.accuracy else None


@dataclass(frozen=True)
class Selection:
    winner: str
    rule: str
    reasons: dict[str, str]          # mode -> why it won / was rejected / lost on size or speed
    rejected: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"winner": self.winner, "rule": self.rule, "reasons": dict(self.reasons),
                "rejected": list(self.rejected)}


def _rank_key(c: Candidate):
    return (c.bytes, c.latency_us if c.latency_us is not None else float("inf"), c.mode)


def select(candidates: list[Candidate], *, max_accuracy_drop: float = 0.01) -> Selection:
    if not candidates:
        raise MobilepackError("no variants to choose from", "convert at least one quantization mode")
    if len(candidates) == 1:
        c = candidates[0]
        return Selection(c.mode, "only one variant was built", {c.mode: "ships: the only variant"}, ())
    by_mode = {c.mode: c for c in candidates}
    labelled = any(c.accuracy for c in candidates)
    if labelled:
        return _select_labelled(candidates, by_mode, max_accuracy_drop)
    return _select_unlabelled(candidates, by_mode)


def _select_labelled(candidates, by_mode, max_accuracy_drop) -> Selection:
    base = by_mode.get("fp32")
    if base is None or base.worst_accuracy is None:
        raise MobilepackError("accuracy-based selection needs the fp32 variant, measured, as the baseline",
                              "add fp32 to --quantize (and check why it failed to run)")
    floor = base.worst_accuracy - max_accuracy_drop
    reasons, eligible, rejected = {}, [], []
    for c in candidates:
        if c.worst_accuracy is None:
            rejected.append(c.mode)
            reasons[c.mode] = "rejected: it did not run on any host delegate, so its accuracy is unknown"
            continue
        drop = base.worst_accuracy - c.worst_accuracy
        if c.worst_accuracy + 1e-12 >= floor:
            eligible.append(c)
        else:
            rejected.append(c.mode)
            reasons[c.mode] = (f"rejected: accuracy {c.worst_accuracy:.4f} is {drop * 100:.2f} points below "
                               f"fp32 ({base.worst_accuracy:.4f}); the limit is {max_accuracy_drop * 100:.2f}")
    eligible.sort(key=_rank_key)
    winner = eligible[0]
    for c in eligible:
        drop = base.worst_accuracy - c.worst_accuracy
        lat = f", {c.latency_us:.0f} µs" if c.latency_us is not None else ""
        prefix = "ships" if c is winner else "eligible, not chosen"
        reasons[c.mode] = (f"{prefix}: {c.bytes} bytes{lat}, accuracy {c.worst_accuracy:.4f} "
                           f"(drop {drop * 100:.2f} points ≤ {max_accuracy_drop * 100:.2f})")
    rule = (f"smallest, then fastest, variant whose accuracy (worst over host delegates) is within "
            f"{max_accuracy_drop * 100:.2f} points of fp32 on the labelled evaluation data")
    return Selection(winner.mode, rule, reasons, tuple(rejected))


def _select_unlabelled(candidates, by_mode) -> Selection:
    rule = (f"no labelled data: int8 ships only if its top-1 agreement with fp32 is ≥ "
            f"{UNLABELLED_INT8_AGREEMENT:.0%} on the validation samples, else fp16")
    reasons: dict[str, str] = {}
    rejected: list[str] = []
    int8 = by_mode.get("int8")
    if int8 is not None and int8.agreement is not None and int8.agreement >= UNLABELLED_INT8_AGREEMENT:
        winner = "int8"
        reasons["int8"] = f"ships: top-1 agreement with fp32 {int8.agreement:.4f} ≥ {UNLABELLED_INT8_AGREEMENT}"
    else:
        if int8 is not None:
            rejected.append("int8")
            agree = "unknown" if int8.agreement is None else f"{int8.agreement:.4f}"
            reasons["int8"] = f"rejected: top-1 agreement with fp32 {agree} < {UNLABELLED_INT8_AGREEMENT}"
        fallback = [m for m in ("fp16", "fp32") if m in by_mode]
        if fallback:
            winner = fallback[0]
            reasons[winner] = "ships: the fallback of the no-label rule"
        else:  # select() handles a single candidate, so something besides int8 is left
            winner = min((c for c in candidates if c.mode not in rejected), key=_rank_key).mode
            reasons[winner] = "ships: neither fp16 nor fp32 was built; the smallest remaining variant"
    for c in candidates:
        reasons.setdefault(c.mode, "not considered by the no-label rule")
    return Selection(winner, rule, reasons, tuple(rejected))
