"""Labelled training and evaluation data for compression: a folder per class of
images, or ``.npz`` with ``x`` and ``y`` (the readers of ``mobilepack.data``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobilepack.compress.errors import UnsupportedModel
from mobilepack.errors import DataError
from mobilepack.model.spec import ModelSpec


@dataclass(frozen=True)
class Labelled:
    x: Any                      # float array (N, ...) ready for the model's single input
    y: Any                      # int64 array (N,) of output indices
    source: str
    mapping: str                # how class folders became output indices

    @property
    def count(self) -> int:
        return int(len(self.y))

    def info(self) -> dict[str, Any]:
        return {"source": self.source, "samples": self.count, "label_mapping": self.mapping}

    def subset(self, index, source: str) -> Labelled:
        return Labelled(self.x[index], self.y[index], source, self.mapping)


def check_classifier(spec: ModelSpec) -> int:
    """The number of classes of a single-input, single-output classifier."""
    if len(spec.inputs) != 1 or len(spec.outputs) != 1 or len(spec.outputs[0].shape) != 2:
        raise UnsupportedModel(f"compression trains single-input classifiers with one (N, classes) output; "
                               f"{spec.name} has {len(spec.inputs)} input(s) and outputs "
                               f"{', '.join(str(list(t.shape)) for t in spec.outputs)}",
                               "compress a single-input classification model")
    return int(spec.outputs[0].shape[-1])


def _labels_file(labels: str | None, spec: ModelSpec) -> Path | None:
    if labels is not None:
        p = Path(labels)
        if not p.is_file():
            raise DataError(f"labels file not found: {p}", "pass a text file with one class name per line")
        return p
    beside = Path(spec.source_path).parent / "labels.txt"
    return beside if beside.is_file() else None


def _mapping(class_names: tuple[str, ...], labels: str | None, spec: ModelSpec) -> tuple[list[int], str]:
    """Output index of each class folder (given in sorted order)."""
    from mobilepack.data.readers import class_indices

    path = _labels_file(labels, spec)
    names = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()] if path else []
    index, how, missing = class_indices(class_names, names)
    if path is not None and missing:
        raise DataError(f"class folder(s) {', '.join(missing)} are not in {path}",
                        "name each class folder after a line of the labels file")
    return index, {"labels": f"class folders by {path.name if path else ''}",
                   "numeric": "class folders named by output index",
                   "sorted": "class folders in sorted order (no labels file)"}[how]


def read_labelled(path: str | Path, spec: ModelSpec, *, labels: str | None = None,
                  what: str = "training") -> Labelled:
    import numpy as np

    from mobilepack.data.readers import read_samples

    classes = check_classifier(spec)
    samples = read_samples(path, spec, what=what)
    if samples.labels is None:
        raise DataError(f"{what} data {path} has no labels",
                        "use a folder per class of images, or a .npz with 'x' and an integer 'y'")
    name = spec.inputs[0].name
    x = np.concatenate([b[name] for b in samples.batches])
    y = np.asarray(samples.labels, dtype=np.int64)
    mapping = "npz y"
    if samples.class_names is not None:
        index, mapping = _mapping(samples.class_names, labels, spec)
        y = np.asarray(index, dtype=np.int64)[y]
    if y.min() < 0 or y.max() >= classes:
        raise DataError(f"{what} labels run from {int(y.min())} to {int(y.max())} but the model has {classes} classes",
                        "give labels as output indices 0..classes-1")
    return Labelled(x, y, str(path), mapping)


def split(data: Labelled, fraction: float, seed: int) -> tuple[Labelled, Labelled]:
    """(train, held-out) with ``fraction`` of the samples held out, seeded."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(data.count)
    n_eval = max(1, int(round(data.count * fraction)))
    if data.count - n_eval < 1:
        raise DataError(f"{data.count} labelled sample(s) are too few to hold some out for evaluation",
                        "give more data, or pass separate --eval data")
    return (data.subset(order[n_eval:], data.source),
            data.subset(order[:n_eval], f"{data.source} ({fraction:.0%} held out, seed {seed})"))
