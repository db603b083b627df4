"""Real models whose inspect/lint findings and errors carry hints (tests/test_hints_run.py and
tests/test_messages_say_why.py): a grayscale digits classifier trained here (1 channel, no
Rescaling layer: detected generic), a SavedModel with a dynamic batch, a model with three custom
ops, and a string-input text model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.models import keras, tf


def gray_classifier(work: Path) -> dict[str, Path]:
    """Trained on scikit-learn's digits (8×8 grayscale, raw values 0..16), no normalizing layer."""
    from sklearn.datasets import load_digits

    k = keras()
    k.utils.set_random_seed(0)
    d = load_digits()
    x, y = d.images[..., None].astype(np.float32), d.target
    inp = k.Input((8, 8, 1), name="pixels")
    h = k.layers.Flatten()(k.layers.Conv2D(8, 3, activation="relu")(inp))
    model = k.Model(inp, k.layers.Dense(10, activation="softmax", name="digit")(h))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x[:1400], y[:1400], epochs=8, batch_size=64, verbose=0)
    assert hist.history["accuracy"][-1] > 0.9
    work.mkdir(parents=True, exist_ok=True)
    model.save(work / "gray.keras")
    np.save(work / "gray_cal.npy", x[1400:1450])
    (work / "labels.txt").write_text("\n".join(f"digit {i}" for i in range(10)) + "\n")
    return {"keras": work / "gray.keras", "calibration": work / "gray_cal.npy", "labels": work / "labels.txt"}


def dynamic_batch(work: Path) -> dict[str, Path]:
    """A SavedModel with a dynamic batch and its .tflite converted as it is (batch -1)."""
    from tests.models import saved_model_dynamic

    sm = saved_model_dynamic(work / "dyn_sm", dims=(None, 4))
    (work / "dyn.tflite").write_bytes(tf().lite.TFLiteConverter.from_saved_model(str(sm)).convert())
    return {"saved_model": sm, "tflite": work / "dyn.tflite"}


def custom_ops(work: Path) -> Path:
    """Digamma, Igamma and BesselI1e as custom ops: stock LiteRT resolves none of them, and stops at the first."""
    t = tf()

    class Module(t.Module):
        @t.function(input_signature=[t.TensorSpec([1, 8], t.float32, name="x")])
        def serve(self, x):
            return {"y": t.math.digamma(x + 2.0) + t.math.igamma(2.0, x + 2.0) + t.math.bessel_i1e(x)}

    m = Module()
    conv = t.lite.TFLiteConverter.from_concrete_functions([m.serve.get_concrete_function()], m)
    conv.allow_custom_ops = True
    (work / "custom.tflite").write_bytes(conv.convert())
    return work / "custom.tflite"


def string_input(work: Path) -> Path:
    """A text model fed a string (hashed to buckets, embedded, classified), dynamic-range quantized:
    integer compute inside, float output, a string input."""
    t = tf()
    rng = np.random.default_rng(0)

    class Module(t.Module):
        def __init__(self):
            super().__init__()
            self.emb = t.Variable(rng.normal(size=(64, 32)).astype(np.float32))
            self.w = t.Variable(rng.normal(size=(32, 3)).astype(np.float32))

        @t.function(input_signature=[t.TensorSpec([1], t.string, name="text")])
        def serve(self, s):
            e = t.gather(self.emb, t.strings.to_hash_bucket_fast(s, 64))
            return {"scores": t.nn.softmax(t.matmul(e, self.w))}

    m = Module()
    conv = t.lite.TFLiteConverter.from_concrete_functions([m.serve.get_concrete_function()], m)
    conv.optimizations = [t.lite.Optimize.DEFAULT]   # the embedding table in int8: GATHER gives int8
    conv.allow_custom_ops = True                       # the string hashing, a custom op
    (work / "text.tflite").write_bytes(conv.convert())
    return work / "text.tflite"


def string_saved_model(work: Path) -> Path:
    """A SavedModel fed text: each string is looked up in a five-word vocabulary (one-hot, builtin
    EQUAL and CAST, no custom op) and mixed by a dense layer into three float scores."""
    t = tf()
    rng = np.random.default_rng(0)

    class Module(t.Module):
        def __init__(self):
            super().__init__()
            self.vocab = t.constant(["red", "green", "blue", "cat", "dog"])
            self.w = t.Variable(rng.normal(size=(5, 3)).astype(np.float32))

        @t.function(input_signature=[t.TensorSpec([1, 1], t.string, name="text")])
        def serve(self, s):
            hot = t.cast(t.equal(s, self.vocab), t.float32)          # [1, 5]: which word it is
            return {"scores": t.matmul(hot, self.w) + 0.5}

    m = Module()
    t.saved_model.save(m, str(work / "text_sm"), signatures={"serving_default": m.serve})
    return work / "text_sm"
