"""Rebuilding a Keras 3 model description (see ``bridge.describe_graph``) in tf-keras.

Runs only in the worker process (``TF_USE_LEGACY_KERAS=1``).  Each layer config is
translated to tf-keras: dtype policies become dtype names, initializers are dropped
(the weights are copied anyway), options tf-keras does not know are dropped when
unset and refused when set."""

from __future__ import annotations

import inspect
from typing import Any

from mobilepack.compress.errors import SUPPORTED_MODELS, UnsupportedModel

# Keyword arguments the tf-keras base Layer accepts besides those in each class's __init__.
_BASE_KEYS = {"name", "trainable", "dtype", "dynamic", "input_dim", "input_shape", "batch_input_shape",
              "batch_size", "weights", "activity_regularizer", "autocast"}
_SERIALIZED_OBJECTS = ("_regularizer", "_constraint")


def _accepted_keys(cls) -> set[str]:
    keys: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters
        keys |= {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and n != "self"}
    return keys | _BASE_KEYS


def _unset(value: Any) -> bool:
    return value is None or value is False or value == 0 or value == {} or value == []


def _translate(layer_name: str, cls, config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    accepted = _accepted_keys(cls)
    for key, value in config.items():
        if key == "dtype" and isinstance(value, dict):
            value = value.get("config", {}).get("name", "float32")
        elif key.endswith("_initializer"):
            continue
        elif key.endswith(_SERIALIZED_OBJECTS) and isinstance(value, dict):
            value = {"class_name": value["class_name"], "config": value.get("config", {})}
        elif key == "activation" and isinstance(value, dict):
            raise UnsupportedModel(f"layer {layer_name!r} uses a custom activation",
                                   f"use a built-in activation name; supported: {SUPPORTED_MODELS}")
        if key not in accepted:
            if _unset(value):
                continue
            raise UnsupportedModel(f"layer {layer_name!r} ({cls.__name__}) sets {key}={value!r}, which tf-keras "
                                   f"does not support", "leave that option at its default to use this technique")
        out[key] = value
    return out


def build(graph: dict[str, Any], keras) -> Any:
    """A tf-keras functional model equivalent to ``graph``."""
    tensors: dict[tuple[str, int, int], Any] = {}
    inputs: list[Any] = []
    layers: dict[str, Any] = {}
    pending = []
    for entry in graph["layers"]:
        name, class_name, config = entry["name"], entry["class_name"], entry["config"]
        if class_name == "InputLayer":
            shape = config.get("batch_shape") or config.get("batch_input_shape")
            t = keras.Input(batch_shape=tuple(shape), dtype=config.get("dtype", "float32") if isinstance(
                config.get("dtype"), str) else "float32", name=name)
            tensors[(name, 0, 0)] = t
            inputs.append(t)
            continue
        cls = getattr(keras.layers, class_name, None)
        if cls is None or not isinstance(cls, type):
            raise UnsupportedModel(f"layer {name!r} ({class_name}) has no tf-keras equivalent",
                                   f"tensorflow-model-optimization runs on tf-keras; supported: {SUPPORTED_MODELS}")
        try:
            layers[name] = cls.from_config(_translate(name, cls, config))
        except (TypeError, ValueError) as exc:
            raise UnsupportedModel(f"layer {name!r} ({class_name}) cannot be rebuilt in tf-keras: "
                                   f"{str(exc).splitlines()[0][:200]}", f"supported: {SUPPORTED_MODELS}") from exc
        pending.extend((name, i, call) for i, call in enumerate(entry["calls"]))
    while pending:
        progressed = False
        for item in list(pending):
            name, index, call = item
            try:
                args = _resolve(call.get("args", []), tensors)
                kwargs = _resolve(call.get("kwargs", {}), tensors)
            except KeyError:
                continue
            result = layers[name](*args, **kwargs)
            results = result if isinstance(result, (list, tuple)) else [result]
            for j, t in enumerate(results):
                tensors[(name, index, j)] = t
            pending.remove(item)
            progressed = True
        if not progressed:
            raise UnsupportedModel("the model graph could not be rebuilt (unresolved layer inputs)",
                                   f"supported: {SUPPORTED_MODELS}")
    outputs = [tensors[tuple(ref)] for ref in graph["outputs"]]
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs[0] if len(outputs) == 1 else outputs,
                       name=graph["name"])


def _resolve(value: Any, tensors: dict) -> Any:
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            layer, node, index = value["config"]["keras_history"]
            return tensors[(layer, node, index)]
        return {k: _resolve(v, tensors) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, tensors) for v in value]
    return value


def set_weights(model, weights: dict[str, Any]) -> None:
    from mobilepack.compress.bridge import assign_weights

    assign_weights(model, weights, UnsupportedModel("the weights of layer {layer!r} do not map onto its tf-keras "
                                                    "rebuild", f"supported: {SUPPORTED_MODELS}"))
