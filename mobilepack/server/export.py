"""The model for TF Serving: a versioned SavedModel (``NAME/1/``) whose ``serving_default`` signature
takes any batch, checked against the source model before anything is written beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mobilepack.errors import ValidationError
from mobilepack.server.runners import SavedModelRunner


def concat_samples(samples, limit: int = 32) -> dict[str, np.ndarray]:
    """A ``data.readers.Samples`` as one batch per input (at most ``limit`` samples)."""
    names = list(samples.batches[0])
    return {k: np.concatenate([b[k] for b in samples.batches])[:limit] for k in names}


def _reference(src, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The source model's outputs, fed in its own batch size (a SavedModel source may fix it)."""
    step = max(1, src.spec.inputs[0].shape[0] or 1)
    n = len(next(iter(feeds.values())))
    parts = [src.predict({k: v[i:i + step] for k, v in feeds.items()}) for i in range(0, n, step)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def export_savedmodel(src, version_dir: Path, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
    """Write ``src`` to ``version_dir`` with an open batch dimension, reload it as TF Serving would,
    and check its serving signature against the source: the same output names, and the same outputs
    on ``feeds`` (run as one batch) within float tolerance.  Raises ``ValidationError`` otherwise."""
    src.export_saved_model(version_dir, any_batch=True)
    runner = SavedModelRunner(version_dir)
    want = sorted(t.name for t in src.spec.outputs)
    got_names = sorted(t.name for t in runner.outputs)
    if got_names != want:
        raise ValidationError(f"the exported serving signature has outputs {got_names}, the source model {want}",
                              "report this model to mobilepack (the export renamed its outputs)")
    reference = _reference(src, feeds)
    served = runner.run(feeds)
    diffs = {}
    for name in want:
        ref, out = np.asarray(reference[name], np.float64), np.asarray(served[name], np.float64)
        if ref.shape != out.shape:
            raise ValidationError(f"the serving signature's output {name!r} has shape {out.shape} for a batch of "
                                  f"{len(out)}, the source model {ref.shape}", "check the model's batch handling")
        diffs[name] = float(np.max(np.abs(ref - out))) if ref.size else 0.0
        scale = 1.0 + float(np.max(np.abs(ref))) if ref.size else 1.0
        if not np.isfinite(diffs[name]) or diffs[name] > 1e-4 * scale:
            raise ValidationError(f"the serving signature's output {name!r} differs from the source model by "
                                  f"{diffs[name]:.3g} on {len(ref)} samples", "check the model for batch-dependent "
                                  "layers (e.g. BatchNormalization in training mode)")
    return {"signature": "serving_default", "inputs": [t.to_dict() for t in runner.inputs],
            "outputs": [t.to_dict() for t in runner.outputs], "checked_samples": len(next(iter(feeds.values()))),
            "max_abs_diff": diffs}
