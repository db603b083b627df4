"""Choosing the variant the apps ship.

With labelled data: the smallest, then fastest, variant whose accuracy drop vs
fp32 is within ``max_accuracy_drop`` (accuracy = the worst over the host
delegates that ran, since the app may use any of them).  Without labels: int8
only if its top-1 agreement with fp32 is ≥ 99 %, else fp16 (else fp32) — the order
and the gate come from the quantization registry (``ModeSpec.fallback``, ``gated``)."""

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


def _either(names: list[str]) -> str:
    if len(names) == 2:
        return f"neither {names[0]} nor {names[1]}"
    return f"none of {', '.join(names)}" if len(names) > 2 else f"no {names[0] if names else 'fallback mode'}"


def _select_unlabelled(candidates, by_mode) -> Selection:
    """The quantization registry orders the modes this rule tries (``ModeSpec.fallback``); a gated
    mode ships only when its agreement with fp32 reaches the threshold."""
    from mobilepack.conversion.quantization import no_label_order

    order = no_label_order()
    gated = [s.mode for s in order if s.gated]
    plain = [s.mode for s in order if not s.gated]
    rule = (f"no labelled data: {' / '.join(gated) or 'no mode'} ships only if its top-1 agreement with fp32 is ≥ "
            f"{UNLABELLED_INT8_AGREEMENT:.0%} on the validation samples, else {plain[0] if plain else 'the smallest'}")
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
        if c.agreement is not None and c.agreement >= UNLABELLED_INT8_AGREEMENT:
            winner = c.mode
            reasons[winner] = f"ships: top-1 agreement with fp32 {c.agreement:.4f} ≥ {UNLABELLED_INT8_AGREEMENT}"
            break
        rejected.append(c.mode)
        agree = "unknown" if c.agreement is None else f"{c.agreement:.4f}"
        reasons[c.mode] = f"rejected: top-1 agreement with fp32 {agree} < {UNLABELLED_INT8_AGREEMENT}"
    if winner is None:  # select() handles a single candidate, so something not rejected is left
        winner = min((c for c in candidates if c.mode not in rejected), key=_rank_key).mode
        reasons[winner] = f"ships: {_either(plain)} was built; the smallest remaining variant"
    for c in candidates:
        reasons.setdefault(c.mode, "not considered by the no-label rule")
    return Selection(winner, rule, reasons, tuple(rejected))
