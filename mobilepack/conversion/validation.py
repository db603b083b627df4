"""Numerical validation of a converted variant against the source model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mobilepack.conversion.quantization import Tolerance
from mobilepack.errors import RuntimeFailure, ValidationError


@dataclass(frozen=True)
class ValidationResult:
    samples: int
    max_abs_error: float
    mean_abs_error: float
    cosine_similarity: float
    top1_agreement: float | None   # None when no output looks like class scores
    passed: bool
    tolerance: Tolerance
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "max_abs_error": self.max_abs_error,
            "mean_abs_error": self.mean_abs_error,
            "cosine_similarity": self.cosine_similarity,
            "top1_agreement": self.top1_agreement,
            "passed": self.passed,
            "tolerance": {"min_cosine": self.tolerance.min_cosine, "min_top1": self.tolerance.min_top1},
            "warnings": list(self.warnings),
        }


def looks_like_class_scores(shape: tuple[int, ...]) -> bool:
    return len(shape) == 2 and shape[1] > 1


def top1_applies(task: str | None) -> bool:
    """Whether top-1 agreement means anything for ``task``: classifiers only (their labelled metric is
    top-1 accuracy); an embedding's or a generic output's argmax is judged by cosine similarity alone."""
    from mobilepack.evaluate.tasks import get

    return get(task).labelled_metric == "top-1 accuracy"


def compare(references: list[dict[str, Any]], outputs: list[dict[str, Any]], *, label: str,
            tolerance: Tolerance, class_scores: bool = True) -> ValidationResult:
    """Compare variant outputs with source outputs batch by batch (``class_scores``: whether [N, C]
    outputs are class scores, judged by top-1 agreement too)."""
    import numpy as np

    if not references:
        raise ValidationError(f"{label}: no samples to validate with", "pass --validation or --calibration data")
    ref_cat: dict[str, list] = {}
    out_cat: dict[str, list] = {}
    for ref, out in zip(references, outputs):
        if set(ref) != set(out):
            raise ValidationError(f"{label}: outputs {sorted(out)} do not match the source's {sorted(ref)}",
                                  "report this model to the mobilepack developers")
        for k in ref:
            r, o = np.asarray(ref[k]), np.asarray(out[k])
            if r.shape != o.shape:
                raise ValidationError(f"{label}: output {k!r} has shape {list(o.shape)}, the source gives "
                                      f"{list(r.shape)}", "check --input-shape / --batch")
            if not np.all(np.isfinite(o.astype(np.float64))):
                raise ValidationError(f"{label}: output {k!r} contains NaN or Inf",
                                      "the conversion is broken; if this is a subclassed Keras model, "
                                      "save it after calling it once on real data")
            ref_cat.setdefault(k, []).append(r.astype(np.float64))
            out_cat.setdefault(k, []).append(o.astype(np.float64))
    max_err = mean_err = 0.0
    cosines, tops = [], []
    total = 0
    for k in ref_cat:
        r = np.concatenate(ref_cat[k])
        o = np.concatenate(out_cat[k])
        diff = np.abs(r - o)
        max_err = max(max_err, float(diff.max()) if diff.size else 0.0)
        mean_err = max(mean_err, float(diff.mean()) if diff.size else 0.0)
        rf, of = r.reshape(len(r), -1), o.reshape(len(o), -1)
        num = (rf * of).sum(axis=1)
        den = np.linalg.norm(rf, axis=1) * np.linalg.norm(of, axis=1)
        cos = np.where(den > 0, num / np.where(den > 0, den, 1), np.where(np.abs(rf - of).max(axis=1) == 0, 1.0, 0.0))
        cosines.append(float(cos.mean()))
        total = len(r)
        if class_scores and looks_like_class_scores(r.shape):
            tops.append(float((r.argmax(axis=1) == o.argmax(axis=1)).mean()))
    cosine = min(cosines)
    top1 = min(tops) if tops else None
    warnings = []
    if cosine < tolerance.min_cosine:
        warnings.append(f"{label}: cosine similarity {cosine:.5f} < {tolerance.min_cosine} "
                        f"(max abs error {max_err:.4g}, mean {mean_err:.4g})")
    if top1 is not None and top1 < tolerance.min_top1:
        warnings.append(f"{label}: top-1 agreement {top1:.3f} < {tolerance.min_top1} on {total} samples")
    return ValidationResult(samples=total, max_abs_error=max_err, mean_abs_error=mean_err,
                            cosine_similarity=cosine, top1_agreement=top1, passed=not warnings,
                            tolerance=tolerance, warnings=tuple(warnings))


REFERENCE_CHUNK = 64  # validation samples per call of the source model


def reference_outputs(src, batches) -> list[dict[str, Any]]:
    """The source model's outputs per validation batch.  Keras models run on chunks of batches stacked
    together (one eager call per sample costs far more than the arithmetic); a model that refuses a
    larger batch, and every other source, runs batch by batch."""
    import numpy as np

    per = int(next(iter(batches[0].values())).shape[0]) if batches else 1
    step = max(1, REFERENCE_CHUNK // max(1, per))
    if getattr(src, "_keras_model", None) is None or step == 1 or len(batches) == 1:
        return [src.predict(b) for b in batches]
    out: list[dict[str, Any]] = []
    for i in range(0, len(batches), step):
        chunk = batches[i:i + step]
        try:
            y = src.predict({k: np.concatenate([b[k] for b in chunk]) for k in chunk[0]})
        except Exception:  # e.g. a model built for a fixed batch size
            return [src.predict(b) for b in batches]
        if any(np.ndim(v) == 0 or len(v) != len(chunk) * per for v in y.values()):
            return [src.predict(b) for b in batches]   # an output without a batch dimension
        for j in range(len(chunk)):
            out.append({k: v[j * per:(j + 1) * per] for k, v in y.items()})
    return out


@dataclass(frozen=True, eq=False)
class ValidationOutputs:
    """What validating one variant computed, kept in memory for the build's evaluation (its xnnpack
    cell uses them instead of running the variant again: ``evaluate.reuse``).  Never cached."""

    mode: str
    sha256: str                               # of the bytes that ran (the variant before metadata)
    opener: str                               # the session kind (``runtime.delegates``): "default", XNNPACK
    threads: int
    batches: tuple[dict[str, Any], ...] = field(repr=False)   # the samples, batch by batch, as fed
    outputs: tuple[dict[str, Any], ...] = field(repr=False)   # raw outputs (not dequantized), by name

    @property
    def nbytes(self) -> int:
        return sum(int(v.nbytes) for run in self.outputs for v in run.values())

    @property
    def sample_bytes(self) -> int:
        return sum(int(getattr(v, "nbytes", 0)) for b in self.batches for v in b.values())


KEPT_BYTES = 256 * 2 ** 20   # raw validation outputs a build keeps in memory for its evaluation, all variants


def keep_within(kept: list, outputs: ValidationOutputs, budget: int = KEPT_BYTES) -> None:
    """Add ``outputs`` to ``kept`` while all of them, with the samples they share, stay within
    ``budget`` bytes (beyond it the evaluation runs those variants itself: memory stays bounded)."""
    if outputs.sample_bytes + sum(k.nbytes for k in kept) + outputs.nbytes <= budget:
        kept.append(outputs)


def validate_variant(mode: str, data: bytes, batches, references, tolerance: Tolerance, *,
                     class_scores: bool = True, outputs: list | None = None, raw: list | None = None,
                     keep: list | None = None):
    """(validation result, the LiteRT session that ran it): a variant LiteRT cannot run is an error.
    It runs in an XNNPACK session of ``VALIDATION_THREADS`` threads.  ``outputs``: this variant's
    outputs on ``batches``, already computed by the same LiteRT session kind (the doctor scoring it),
    compared as they are; ``raw``: the same before dequantization.  ``keep``: a list that receives
    the :class:`ValidationOutputs` of a variant that passes (``keep_within`` its budget; none without
    raw outputs)."""
    import hashlib

    from mobilepack.model.tfimport import silenced
    from mobilepack.runtime.interpreter import VALIDATION_THREADS, SignatureSession

    try:
        with silenced():
            session = SignatureSession(data, num_threads=VALIDATION_THREADS)
            if outputs is None:
                raw = [session.run_raw(b) for b in batches]
                outputs = [session.dequantized(r) for r in raw]
    except RuntimeFailure as exc:
        raise ValidationError(f"{mode}: the converted model does not run in LiteRT: "
                              f"{exc.message.split(': ', 1)[-1]}",
                              "drop this mode from --quantize, or calibrate with representative data") from exc
    result = compare(references, outputs, label=mode, tolerance=tolerance, class_scores=class_scores)
    if keep is not None and raw is not None:
        keep_within(keep, ValidationOutputs(mode, hashlib.sha256(data).hexdigest(), "default", VALIDATION_THREADS,
                                            tuple(batches), tuple(raw)))
    return result, session
