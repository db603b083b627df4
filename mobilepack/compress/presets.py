"""Student models for distillation, registered by name.

Every preset takes the teacher's input shape, class count, in-model normalization
(replayed as a leading Rescaling layer, so the student is fed exactly what the
teacher is fed) and whether the teacher ends in a softmax, and returns an untrained
flat functional Keras 3 model (which prune, cluster and QAT can then take)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mobilepack.model.spec import Normalization


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    build: Callable  # (keras, input_shape, classes, normalization, softmax) -> keras.Model


_REGISTRY: dict[str, Preset] = {}


def register(preset: Preset) -> None:
    _REGISTRY[preset.name] = preset


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get(name: str) -> Preset:
    return _REGISTRY[name]


def _front(keras, input_shape, normalization: Normalization | None):
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    if normalization is not None and normalization.in_model:
        scale = [1.0 / s for s in normalization.std]
        offset = [-mu / s for mu, s in zip(normalization.mean, normalization.std)]
        x = keras.layers.Rescaling(scale[0] if len(set(scale)) == 1 else scale,
                                   offset[0] if len(set(offset)) == 1 else offset, name="rescale")(x)
    return inputs, x


def _head(keras, inputs, features, classes: int, softmax: bool, name: str):
    outputs = keras.layers.Dense(classes, activation="softmax" if softmax else None, name="probabilities"
                                 if softmax else "logits")(features)
    return keras.Model(inputs, outputs, name=name)


def _small_cnn(keras, input_shape, classes, normalization, softmax):
    inputs, x = _front(keras, input_shape, normalization)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.SeparableConv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.SeparableConv2D(56, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return _head(keras, inputs, x, classes, softmax, "student_small_cnn")


def _mobilenet(factory: str, alpha: float, **kwargs):
    def build(keras, input_shape, classes, normalization, softmax):
        inputs, x = _front(keras, input_shape, normalization)
        base = getattr(keras.applications, factory)(input_tensor=x, include_top=False, weights=None, alpha=alpha,
                                                    **kwargs)
        features = keras.layers.GlobalAveragePooling2D()(base.output)
        return _head(keras, inputs, features, classes, softmax, f"student_{factory.lower()}_{alpha}")
    return build


register(Preset("small-cnn", "a conv and two depthwise-separable conv layers (16-32-56 filters), ~4k parameters", _small_cnn))
register(Preset("mobilenetv2-0.35", "MobileNetV2 at width 0.35 (~0.4M parameters), random init",
                _mobilenet("MobileNetV2", 0.35)))
register(Preset("mobilenetv3-small-0.5", "MobileNetV3-Small at width 0.5, minimalistic, random init",
                _mobilenet("MobileNetV3Small", 0.5, minimalistic=True, include_preprocessing=False)))
