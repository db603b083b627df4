"""Populating a writer's metadata into the model, with the amendments a task's writer leaves to
others (a score threshold, detector outputs in another order)."""

from __future__ import annotations

from mobilepack.errors import InputError, MobilepackError
from mobilepack.metadata.packing import Draft, populate as _populate_model
from mobilepack.metadata.schema import SchemaError


def score_threshold(threshold: float):
    """An amendment: the first output gets a score-thresholding process unit."""
    def amend(md: dict) -> None:
        tensor = md["subgraph_metadata"][0]["output_tensor_metadata"][0]
        unit = {"options": ("ScoreThresholdingOptions", {"global_score_threshold": float(threshold)})}
        tensor["process_units"] = [*(tensor.get("process_units") or []), unit]

    return amend


def populate(model: bytes, draft: Draft, amendments) -> bytes:
    """The model with the draft's metadata, after ``amendments`` (functions over the metadata dict)."""
    try:
        for amend in amendments:
            amend(draft.metadata)
        return _populate_model(model, draft)
    except MobilepackError:
        raise
    except (SchemaError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise InputError(f"the metadata cannot be written: {str(exc).strip().splitlines()[0][:300]}",
                         "check --task against the model's inputs/outputs (`mobilepack inspect`)") from None
