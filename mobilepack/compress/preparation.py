"""What every compression stage does first: check paths, load the model, read the
labelled training data and the evaluation data (or hold some training data out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobilepack.compress.errors import UnsupportedModel
from mobilepack.compress.options import TrainOptions
from mobilepack.compress.training_data import Labelled, read_labelled, split
from mobilepack.errors import DataError
from mobilepack.progress import ProgressEvent


@dataclass
class Prepared:
    source: Any               # mobilepack.model.loading.SourceModel
    train: Labelled
    eval: Labelled
    warnings: list[str] = field(default_factory=list)

    @property
    def spec(self):
        return self.source.spec

    @property
    def keras_model(self):
        return self.source._keras_model


def check_paths(model_path, data, train: TrainOptions, *, what: str = "model") -> None:
    from mobilepack.model.loading import detect_format

    detect_format(model_path)
    for label, p in (("training", data), ("evaluation", train.eval_data)):
        if p is not None and not Path(p).exists():
            raise DataError(f"{label} data not found: {p}", "pass a folder per class of images, or .npz with x and y")


def load_keras(model_path, *, unsafe_load: bool, role: str = "model"):
    """A Keras model (``.keras`` or ``.h5``) as a SourceModel."""
    from mobilepack.model.loading import detect_format, load
    from mobilepack.model.spec import SourceFormat

    fmt = detect_format(model_path)
    if fmt not in (SourceFormat.KERAS, SourceFormat.H5):
        raise UnsupportedModel(f"the {role} must be a Keras model (.keras or .h5) to be trained; "
                               f"{model_path} is a {fmt.value}",
                               "pass the Keras model the SavedModel/.tflite was exported from")
    return load(model_path, safe_mode=not unsafe_load)


def prepare(source, data, train: TrainOptions, emit, *, eval_spec=None) -> Prepared:
    emit(ProgressEvent("data", f"reading training data {data}"))
    labelled = read_labelled(data, source.spec, labels=train.labels, what="training")
    warnings: list[str] = []
    if train.eval_data is not None:
        held_out = read_labelled(train.eval_data, eval_spec or source.spec, labels=train.labels, what="evaluation")
    else:
        labelled, held_out = split(labelled, train.holdout, train.seed)
        text = (f"no --eval data: accuracy is measured on {train.holdout:.0%} of --data held out from training "
                f"({held_out.count} samples)")
        warnings.append(text)
        emit(ProgressEvent("warning", text, warning=True))
    for d in (labelled, held_out):
        if d.mapping.startswith("class folders in sorted order"):
            text = (f"{d.source}: class folders were matched to outputs in sorted order; pass --labels (or put "
                    f"labels.txt beside the model) if the model's classes are in another order")
            warnings.append(text)
            emit(ProgressEvent("warning", text, warning=True))
    return Prepared(source, labelled, held_out, warnings)
