"""Tiny Keras source models, one per task type, saved as .keras files for `mobilepack build`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.models import keras


def _save(model, path: Path) -> Path:
    model.save(path)
    return path


def _image_head(seed: int, units: int, activation: str | None, name: str):
    """16×16×3 image in (raw pixels, rescaled in the model), a tiny conv body, ``units`` outputs."""
    k = keras()
    k.utils.set_random_seed(seed)
    inp = k.Input((16, 16, 3), name="image")
    x = k.layers.Rescaling(1 / 255.0)(inp)
    x = k.layers.Conv2D(4, 3, activation="relu")(x)
    x = k.layers.GlobalAveragePooling2D()(x)
    return k.Model(inp, k.layers.Dense(units, activation=activation, name=name)(x))


def image_classifier(path: Path) -> Path:
    return _save(_image_head(1, 3, "softmax", "scores"), path)


def labelled_images(path: Path, n: int = 12, classes: int = 3) -> Path:
    """``.npz`` evaluation data for ``image_classifier``: ``x`` uniform raw pixels, ``y`` cycling classes."""
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.uniform(0, 255, (n, 16, 16, 3)).astype("float32"), y=np.arange(n) % classes)
    return path


def detector(path: Path, boxes: int = 5) -> Path:
    """SSD-style post-processed outputs: locations [1,N,4], classes [1,N], scores [1,N], count [1]."""
    k = keras()
    k.utils.set_random_seed(2)
    inp = k.Input((16, 16, 3), name="image")
    x = k.layers.Rescaling(1 / 255.0)(inp)
    x = k.layers.Flatten()(k.layers.Conv2D(2, 3, strides=4, activation="relu")(x))
    loc = k.layers.Reshape((boxes, 4), name="locations")(k.layers.Dense(boxes * 4, activation="sigmoid")(x))
    cls = k.layers.Dense(boxes, activation="relu", name="classes")(x)
    score = k.layers.Dense(boxes, activation="sigmoid", name="scores")(x)
    count = k.layers.Dense(1, activation="relu")(x)
    count = k.layers.Reshape((), name="count")(count)
    return _save(k.Model(inp, [loc, cls, score, count]), path)


def segmenter(path: Path, classes: int = 3) -> Path:
    k = keras()
    k.utils.set_random_seed(3)
    inp = k.Input((16, 16, 3), name="image")
    x = k.layers.Rescaling(1 / 255.0)(inp)
    out = k.layers.Conv2D(classes, 1, activation="softmax", name="mask")(x)
    return _save(k.Model(inp, out), path)


def text_classifier(path: Path, length: int = 8) -> Path:
    k = keras()
    k.utils.set_random_seed(4)
    inp = k.Input((length,), dtype="int32", name="tokens")
    x = k.layers.Embedding(32, 4)(inp)
    x = k.layers.GlobalAveragePooling1D()(x)
    return _save(k.Model(inp, k.layers.Dense(2, activation="softmax", name="scores")(x)), path)


def audio_classifier(path: Path, samples: int = 1600) -> Path:
    k = keras()
    k.utils.set_random_seed(5)
    inp = k.Input((samples,), name="waveform")
    x = k.layers.Dense(8, activation="relu")(inp)
    return _save(k.Model(inp, k.layers.Dense(3, activation="softmax", name="scores")(x)), path)


def generic(path: Path) -> Path:
    k = keras()
    k.utils.set_random_seed(6)
    a = k.Input((5,), name="a")
    b = k.Input((2,), name="b")
    x = k.layers.Concatenate()([a, b])
    return _save(k.Model([a, b], k.layers.Dense(4, name="y")(x)), path)


def vocab(path: Path) -> Path:
    words = ["<PAD>", "<START>", "<UNKNOWN>"] + [f"w{i}" for i in range(29)]
    path.write_text("\n".join(f"{w} {i}" for i, w in enumerate(words)) + "\n")
    return path


def labels(path: Path, n: int) -> Path:
    path.write_text("\n".join(f"class_{i}" for i in range(n)) + "\n")
    return path


def calibration(path: Path, shape, dtype="float32", n: int = 8) -> Path:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (n, *shape)).astype(dtype) if dtype == "float32" else rng.integers(0, 30, (n, *shape)).astype(dtype)
    np.save(path, x)
    return path


def image_regressor(path: Path, values: int = 1) -> Path:
    """One image in, ``values`` real numbers out (no softmax): the plug-in task ``image_regression``."""
    return _save(_image_head(7, values, None, "value"), path)
