"""Reading normalization from a model's leading Keras preprocessing layers."""

from __future__ import annotations

import math

from mobilepack.errors import UsageError
from mobilepack.model.spec import Normalization


def from_flags(mean: list[float] | tuple[float, ...] | None,
               std: list[float] | tuple[float, ...] | None, *, source: str = "flags") -> Normalization | None:
    """Explicit ``--mean/--std``.  Both or neither; one value or one per channel."""
    if mean is None and std is None:
        return None
    if mean is None or std is None:
        raise UsageError("--mean and --std must be given together",
                         "pass both, e.g. --mean 127.5 --std 127.5")
    mean, std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
    if not mean or not std:
        raise UsageError("--mean and --std need at least one value", "e.g. --mean 127.5 --std 127.5")
    if any(s == 0 or not math.isfinite(s) for s in std) or not all(math.isfinite(m) for m in mean):
        raise UsageError(f"--std must be finite and non-zero and --mean finite (got mean={list(mean)}, std={list(std)})",
                         "e.g. --mean 127.5 --std 127.5")
    return Normalization(mean=mean, std=std, source=source, in_model=False)


def from_keras_model(model) -> Normalization | None:
    """A leading ``Rescaling`` or ``Normalization`` layer means the model normalizes
    its own input; the equivalent (mean, std) are recorded with ``in_model=True``."""
    try:
        layers = list(model.layers)
    except Exception:  # subclassed models before build
        return None
    first = None
    for layer in layers:
        if type(layer).__name__ == "InputLayer":
            continue
        first = layer
        break
    if first is None:
        return None
    kind = type(first).__name__
    if kind == "Rescaling":
        scale = _as_tuple(first.scale)
        offset = _as_tuple(first.offset)
        if any(s == 0 for s in scale):
            return None
        n = max(len(scale), len(offset))
        scale = scale * n if len(scale) == 1 else scale
        offset = offset * n if len(offset) == 1 else offset
        mean = tuple((-o / s) + 0.0 for o, s in zip(offset, scale))  # + 0.0 turns -0.0 into 0.0
        std = tuple(1.0 / s for s in scale)
        return Normalization(mean=mean, std=std, source="model_layer", in_model=True)
    if kind == "Normalization":
        import numpy as np

        mean = getattr(first, "mean", None)
        var = getattr(first, "variance", None)
        if mean is None or var is None:
            return None
        mean = tuple(float(v) for v in np.ravel(np.asarray(mean)))
        std = tuple(float(math.sqrt(max(v, 1e-12))) for v in np.ravel(np.asarray(var)))
        return Normalization(mean=mean, std=std, source="model_layer", in_model=True)
    return None


def _as_tuple(value) -> tuple[float, ...]:
    import numpy as np

    return tuple(float(v) for v in np.ravel(np.asarray(value, dtype=np.float64)))
