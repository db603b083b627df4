"""Choosing the variant the apps ship, by the task's metric (a :class:`Criterion`, from the
task's evaluator in ``evaluate.tasks``).

With labelled data: the smallest, then fastest, variant whose labelled metric (top-1
accuracy, mAP@0.5, mIoU) drops by at most ``max_accuracy_drop`` vs fp32 (the worst over
the host delegates that ran, since the app may use any of them).  Without labels, by the task's
agreement rule: ``fallback`` — int8 only if its agreement with fp32 (top-1 agreement, box
agreement, mask IoU, cosine similarity) reaches the task's threshold, else fp16 (else fp32),
that order and the gate from the quantization registry (``ModeSpec.fallback``, ``gated``);
``smallest`` (sentence embeddings) — the smallest, then fastest, variant whose agreement with
fp32 reaches the threshold."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mobilepack.errors import MobilepackError

UNLABELLED_INT8_AGREEMENT = 0.99


@dataclass(frozen=True)
class Criterion:
    """The numbers a task is selected by, named as the reports name them."""

    metric: str = "accuracy"                       # the labelled metric
    agreement_metric: str = "top-1 agreement"      # the agreement with fp32 used without labels
    agreement_threshold: float = UNLABELLED_INT8_AGREEMENT
    agreement_rule: str = "fallback"               # without labels: "fallback" or "smallest" (module docstring)

    @classmethod
    def of_matrix(cls, matrix: dict[str, Any]) -> "Criterion":
        """From an accuracy matrix's dict (``AccuracyMatrix.to_dict``)."""
        return cls(matrix.get("metric") or "accuracy", matrix.get("agreement_metric") or "top-1 agreement",
                   float(matrix.get("agreement_threshold", UNLABELLED_INT8_AGREEMENT)),
                   matrix.get("agreement_rule") or "fallback")


@dataclass(frozen=True)
class Candidate:
    mode: str
    bytes: int
    latency_us: float | None = None                 # best steady-state latency (20 % trimmed mean) over host delegates
    accuracy: dict[str, float] = field(default_factory=dict)   # delegate -> labelled metric (labelled data)
    agreement: float | None = None                  # the task's agreement with fp32 (validation samples)

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


def select(candidates: list[Candidate], *, max_accuracy_drop: float = 0.01,
           criterion: Criterion | None = None) -> Selection:
    crit = criterion or Criterion()
    if not candidates:
        raise MobilepackError("no variants to choose from", "convert at least one quantization mode")
    if len(candidates) == 1:
        c = candidates[0]
        return Selection(c.mode, "only one variant was built", {c.mode: "ships: the only variant"}, ())
    by_mode = {c.mode: c for c in candidates}
    labelled = any(c.accuracy for c in candidates)
    if labelled:
        return _select_labelled(candidates, by_mode, max_accuracy_drop, crit)
    if crit.agreement_rule == "smallest":
        return _select_smallest_agreeing(candidates, crit)
    return _select_unlabelled(candidates, by_mode, crit)


def _select_labelled(candidates, by_mode, max_accuracy_drop, crit: Criterion) -> Selection:
    base = by_mode.get("fp32")
    name = crit.metric
    if base is None or base.worst_accuracy is None:
        raise MobilepackError(f"{name}-based selection needs the fp32 variant, measured, as the baseline",
                              "add fp32 to --quantize (and check why it failed to run)")
    floor = base.worst_accuracy - max_accuracy_drop
    reasons, eligible, rejected = {}, [], []
    for c in candidates:
        if c.worst_accuracy is None:
            rejected.append(c.mode)
            reasons[c.mode] = f"rejected: it did not run on any host delegate, so its {name} is unknown"
            continue
        drop = base.worst_accuracy - c.worst_accuracy
        if c.worst_accuracy + 1e-12 >= floor:
            eligible.append(c)
        else:
            rejected.append(c.mode)
            reasons[c.mode] = (f"rejected: {name} {c.worst_accuracy:.4f} is {drop * 100:.2f} points below "
                               f"fp32 ({base.worst_accuracy:.4f}); the limit is {max_accuracy_drop * 100:.2f}")
    eligible.sort(key=_rank_key)
    winner = eligible[0]
    for c in eligible:
        drop = base.worst_accuracy - c.worst_accuracy
        lat = f", {c.latency_us:.0f} µs" if c.latency_us is not None else ""
        prefix = "ships" if c is winner else "eligible, not chosen"
        reasons[c.mode] = (f"{prefix}: {c.bytes} bytes{lat}, {name} {c.worst_accuracy:.4f} "
                           f"(drop {drop * 100:.2f} points ≤ {max_accuracy_drop * 100:.2f})")
    rule = (f"smallest, then fastest, variant whose {name} (worst over host delegates) is within "
            f"{max_accuracy_drop * 100:.2f} points of fp32 on the labelled evaluation data")
    return Selection(winner.mode, rule, reasons, tuple(rejected))


def _either(names: list[str]) -> str:
    if len(names) == 2:
        return f"neither {names[0]} nor {names[1]}"
    return f"none of {', '.join(names)}" if len(names) > 2 else f"no {names[0] if names else 'fallback mode'}"


def _select_unlabelled(candidates, by_mode, crit: Criterion) -> Selection:
    """The quantization registry orders the modes this rule tries (``ModeSpec.fallback``); a gated
    mode ships only when its agreement with fp32 reaches the task's threshold."""
    from mobilepack.conversion.quantization import no_label_order

    name, limit = crit.agreement_metric, crit.agreement_threshold
    order = no_label_order()
    gated = [s.mode for s in order if s.gated]
    plain = [s.mode for s in order if not s.gated]
    rule = (f"no labelled data: {' / '.join(gated) or 'no mode'} ships only if its {name} with fp32 is ≥ "
            f"{limit:.0%} on the validation samples, else {plain[0] if plain else 'the smallest'}")
    reasons: dict[str, str] = {}
    rejected: list[str] = []
    winner = None
    for spec in order:
        c = by_mode.get(spec.mode)
        if c is None:
            continue
        if not spec.gated:
            winner = c.mode
            reasons[winner] = "ships: the fallback of the no-label rule"
            break
        if c.agreement is not None and c.agreement >= limit:
            winner = c.mode
            reasons[winner] = f"ships: {name} with fp32 {c.agreement:.4f} ≥ {limit}"
            break
        rejected.append(c.mode)
        agree = "unknown" if c.agreement is None else f"{c.agreement:.4f}"
        reasons[c.mode] = f"rejected: {name} with fp32 {agree} < {limit}"
    if winner is None:  # select() handles a single candidate, so something not rejected is left
        winner = min((c for c in candidates if c.mode not in rejected), key=_rank_key).mode
        reasons[winner] = f"ships: {_either(plain)} was built; the smallest remaining variant"
    for c in candidates:
        reasons.setdefault(c.mode, "not considered by the no-label rule")
    return Selection(winner, rule, reasons, tuple(rejected))


def _select_smallest_agreeing(candidates, crit: Criterion) -> Selection:
    """The smallest, then fastest, variant whose agreement with fp32 reaches the threshold (fp32
    agrees with itself, so it is the last resort; without it, the best-agreeing variant)."""
    name, limit = crit.agreement_metric, crit.agreement_threshold
    rule = (f"no labelled data: the smallest, then fastest, variant whose {name} with fp32 (mean over the "
            f"validation samples) is ≥ {limit:.0%}")
    reasons: dict[str, str] = {}
    eligible = sorted((c for c in candidates if c.agreement is not None and c.agreement >= limit), key=_rank_key)
    rejected = [c.mode for c in candidates if c not in eligible]
    for c in candidates:
        if c.mode in rejected:
            agree = "unknown" if c.agreement is None else f"{c.agreement:.4f}"
            reasons[c.mode] = f"rejected: {name} with fp32 {agree} < {limit}"
    if eligible:
        winner = eligible[0]
        for c in eligible:
            prefix = "ships" if c is winner else "eligible, not chosen"
            lat = f", {c.latency_us:.0f} µs" if c.latency_us is not None else ""
            reasons[c.mode] = f"{prefix}: {c.bytes} bytes{lat}, {name} with fp32 {c.agreement:.4f} ≥ {limit}"
        return Selection(winner.mode, rule, reasons, tuple(rejected))
    measured = [c for c in candidates if c.agreement is not None]
    winner = max(measured, key=lambda c: (c.agreement, -c.bytes)) if measured else min(candidates, key=_rank_key)
    reasons[winner.mode] = f"ships: no variant reached {limit}; the closest to fp32 by {name}"
    return Selection(winner.mode, rule, reasons, tuple(m for m in rejected if m != winner.mode))
