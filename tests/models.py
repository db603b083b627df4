"""Tiny models built in the tests (real TensorFlow/Keras, a few KB each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def keras():
    from mobilepack.model.tfimport import keras as _keras

    return _keras()


def tf():
    from mobilepack.model.tfimport import tensorflow

    return tensorflow()


def functional(seed: int = 0):
    k = keras()
    k.utils.set_random_seed(seed)
    inp = k.Input(shape=(6,), name="features")
    x = k.layers.Dense(8, activation="relu")(inp)
    out = k.layers.Dense(3, activation="softmax", name="scores")(x)
    return k.Model(inp, out, name="tiny_functional")


def sequential(seed: int = 0):
    k = keras()
    k.utils.set_random_seed(seed)
    return k.Sequential([k.Input(shape=(8, 8, 1)), k.layers.Conv2D(4, 3, activation="relu"),
                         k.layers.Flatten(), k.layers.Dense(5)], name="tiny_sequential")


def _subclassed_class():
    k = keras()

    @k.saving.register_keras_serializable(package="mobilepack_tests")
    class TinySubclassed(k.Model):
        def __init__(self, units: int = 4, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.hidden = k.layers.Dense(units, activation="tanh")
            self.head = k.layers.Dense(2)

        def call(self, x, training=False):
            return self.head(self.hidden(x))

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return TinySubclassed


def subclassed(seed: int = 0):
    keras().utils.set_random_seed(seed)
    cls = _subclassed_class()
    model = cls(units=4, name="tiny_subclassed")
    model(np.zeros((1, 5), np.float32))  # build
    return model


def saved_model_dynamic(path: Path, *, dims=(None, 4), name: str = "x") -> Path:
    """A SavedModel whose signature has dynamic dimensions."""
    t = tf()

    class Module(t.Module):
        def __init__(self):
            super().__init__()
            self.w = t.Variable(np.linspace(-1, 1, dims[-1] * 3, dtype=np.float32).reshape(dims[-1], 3))

        @t.function(input_signature=[t.TensorSpec(list(dims), t.float32, name=name)])
        def serve(self, x):
            return {"y": t.nn.relu(t.tensordot(x, self.w, axes=1))}

    m = Module()
    t.saved_model.save(m, str(path), signatures={"serving_default": m.serve.get_concrete_function()})
    return path


def saved_model_sin(path: Path) -> Path:
    """SIN has no integer kernel: full-integer conversion must not silently keep it in float."""
    t = tf()

    class Module(t.Module):
        @t.function(input_signature=[t.TensorSpec([1, 8], t.float32, name="x")])
        def serve(self, x):
            return {"y": t.sin(x * 2.0) + x}

    m = Module()
    t.saved_model.save(m, str(path), signatures={"serving_default": m.serve.get_concrete_function()})
    return path


def saved_model_nan(path: Path) -> Path:
    """Produces NaN for every input: validation must treat it as fatal."""
    t = tf()

    class Module(t.Module):
        @t.function(input_signature=[t.TensorSpec([1, 4], t.float32, name="x")])
        def serve(self, x):
            return {"y": t.sqrt(-1.0 - t.abs(x))}

    m = Module()
    t.saved_model.save(m, str(path), signatures={"serving_default": m.serve.get_concrete_function()})
    return path
