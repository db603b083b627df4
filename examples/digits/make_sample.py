"""Regenerate the bundled digits sample deterministically.

Trains a small Keras CNN on scikit-learn's bundled handwritten-digits dataset
(1,797 real 8x8 scans shipped inside scikit-learn, so nothing is downloaded)
and writes, next to this script:

    digits.keras        the trained model (input "image": 32x32 RGB, raw 0-255 pixels;
                        a leading Rescaling layer does the normalization in-model)
    labels.txt          one label per class, in output order
    samples/            one PNG per class, for the demo apps
    calibration/        PNGs used to calibrate integer quantization
    eval/<label>/       a disjoint, labelled evaluation split (folder per class)

Run:  python examples/digits/make_sample.py
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
os.environ.setdefault("PYTHONHASHSEED", "0")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED = 20261124
SIZE = 32
CALIBRATION_COUNT = 100
EVAL_COUNT = 300
LABELS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _to_rgb_uint8(scan: np.ndarray) -> np.ndarray:
    """An 8x8 scan with values 0..16 -> a SIZExSIZE RGB image, white digit on black."""
    grey = np.clip(np.rint(scan * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    img = Image.fromarray(grey, mode="L").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _save_png(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Stored as greyscale PNG (smaller); readers convert to RGB.
    Image.fromarray(array[..., 0], mode="L").save(path, optimize=True)


def main() -> None:
    import tensorflow as tf
    import keras
    from sklearn.datasets import load_digits

    random.seed(SEED)
    np.random.seed(SEED)
    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)

    digits = load_digits()
    images = np.stack([_to_rgb_uint8(s) for s in digits.images])
    labels = digits.target.astype(np.int64)

    order = np.random.default_rng(SEED).permutation(len(images))
    eval_idx = order[:EVAL_COUNT]
    calib_idx = order[EVAL_COUNT:EVAL_COUNT + CALIBRATION_COUNT]
    train_idx = order[EVAL_COUNT:]  # calibration images are drawn from training data

    inputs = keras.Input(shape=(SIZE, SIZE, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(32, activation="relu")(x)
    outputs = keras.layers.Dense(len(LABELS), activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="digits")
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images[train_idx].astype("float32"), labels[train_idx],
              epochs=30, batch_size=32, shuffle=True, verbose=0)
    _, acc = model.evaluate(images[eval_idx].astype("float32"), labels[eval_idx], verbose=0)
    print(f"evaluation accuracy: {acc:.4f} on {len(eval_idx)} held-out images")

    for name in ("samples", "calibration", "eval"):
        shutil.rmtree(HERE / name, ignore_errors=True)
    model.save(HERE / "digits.keras")
    (HERE / "labels.txt").write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    for cls in range(len(LABELS)):
        first = next(i for i in eval_idx if labels[i] == cls)
        _save_png(images[first], HERE / "samples" / f"{cls}_{LABELS[cls]}.png")
    for n, i in enumerate(calib_idx):
        _save_png(images[i], HERE / "calibration" / f"{n:04d}.png")
    for n, i in enumerate(eval_idx):
        _save_png(images[i], HERE / "eval" / LABELS[labels[i]] / f"{n:04d}.png")


if __name__ == "__main__":
    main()
