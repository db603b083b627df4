"""The quantization doctor's budget: the task's metric (the one the build's selection uses, from
``evaluate.tasks``) and the floor a candidate must reach on the validation samples."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Budget:
    """What a candidate must reach on the validation samples."""

    metric: str            # "accuracy" | "top-1 agreement" | "cosine similarity"
    reference: float       # the source model's accuracy (labelled), else 1.0 (perfect agreement)
    max_drop: float
    samples: int

    @property
    def floor(self) -> float:
        return self.reference - self.max_drop

    def meets(self, score: float) -> bool:
        return score + 1e-12 >= self.floor

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "reference": round(self.reference, 6), "max_drop": self.max_drop,
                "floor": round(self.floor, 6), "samples": self.samples}


class Scorer:
    """Scores a model's outputs on the validation batches by the task's metric — the one the build's
    selection uses (``evaluate.tasks``): with labels, a classifier's top-1 accuracy within
    ``max_drop`` of the source's; without, the task's agreement with the source (top-1 agreement,
    mask IoU, box agreement, cosine similarity) at the task's threshold.  Outputs with NaN or Inf
    score 0 (a miss, never an error: the search goes on)."""

    def __init__(self, references: Sequence[dict[str, Any]], labels: Sequence[int] | None, max_drop: float,
                 task: str | None = None, hints: dict | None = None) -> None:
        import numpy as np

        from mobilepack.evaluate.tasks import get as evaluator_of

        self.evaluator = evaluator_of(task)
        self.hints = dict(hints or {})   # the evaluator's model hints (input size, decode thresholds)
        self.names = list(references[0])
        self.reference = self._predictions(references)
        count = sum(int(np.asarray(next(iter(r.values()))).shape[0]) for r in references)
        self.labels = np.asarray(labels) if labels is not None else None
        if (self.labels is None or self.evaluator.labelled_metric != "top-1 accuracy"
                or "scores" not in self.reference or len(self.labels) != count):
            self.labels = None
        if self.labels is not None:
            self.budget = Budget("accuracy", self._accuracy(self.reference), max_drop, count)
        else:
            # the no-label selection needs the task's threshold; with labels it needs the task's metric
            # within max_drop, which agreement below 1 - max_drop does not ensure: the stricter of the two
            self.budget = Budget(self.evaluator.agreement_metric, 1.0,
                                 round(min(1.0 - self.evaluator.agreement_threshold, max_drop), 6), count)

    def _predictions(self, outputs: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import numpy as np

        per_batch = [self.evaluator.reduce([(n, np.asarray(o[n], np.float64)) for n in self.names], self.hints)
                     for o in outputs]
        return {k: np.concatenate([np.asarray(p[k]) for p in per_batch]) for k in per_batch[0]}

    def _accuracy(self, pred) -> float:
        return float((pred["scores"].argmax(axis=-1) == self.labels).mean())

    def non_finite(self, outputs: Sequence[dict[str, Any]]) -> bool:
        import numpy as np

        return any(not np.all(np.isfinite(np.asarray(o[n], np.float64))) for o in outputs for n in self.names)

    def score(self, outputs: Sequence[dict[str, Any]]) -> float:
        import numpy as np

        if self.non_finite(outputs):
            return 0.0
        pred = self._predictions(outputs)
        if self.labels is not None:
            return self._accuracy(pred)
        value = float(self.evaluator.agreement(pred, self.reference)[self.evaluator.agreement_key])
        return value if np.isfinite(value) else 0.0
