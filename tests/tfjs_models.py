"""A Keras model out of a TensorFlow.js *layers* model (``model.json`` + weight shards), the form npm
packages ship Keras models in: ``model.json``'s ``modelTopology`` is the Keras model config that
``tensorflowjs_converter`` wrote from the Keras model, and its ``weightsManifest`` lists every weight
(name, shape, dtype) in the order the shards concatenate them.  The model is rebuilt from that config
by Keras itself and saved as ``.keras``: the same layers and numbers, nothing trained here.

Used by tests/zoo/fetch.py (``weights = "tfjs_layers"``) for @upscalerjs/default-model."""

from __future__ import annotations

import json
from pathlib import Path

DTYPES = {"float32": "<f4", "int32": "<i4"}


def read_weights(folder: Path, manifest: list[dict]) -> dict[str, object]:
    """Weight name -> array, from the shards each manifest group names (quantized weights refused)."""
    import numpy as np

    out: dict[str, object] = {}
    for group in manifest:
        data = b"".join((folder / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            if w.get("quantization") or w["dtype"] not in DTYPES:
                raise ValueError(f"weight {w['name']}: {w['dtype']} {w.get('quantization')} is not read")
            count = int(np.prod(w["shape"], dtype=np.int64))
            arr = np.frombuffer(data, DTYPES[w["dtype"]], count, offset).reshape(w["shape"])
            offset += count * 4
            out[w["name"]] = arr
        if offset != len(data):
            raise ValueError(f"shards {group['paths']}: {len(data)} bytes, the manifest reads {offset}")
    return out


def tfjs_layers(weights_dir: Path, out: Path) -> tuple[Path, list[str]]:
    """``model.json`` (+ shards) in ``weights_dir`` -> the Keras model saved at ``out`` (a .keras file)."""
    from keras.src.legacy.saving import saving_utils   # Keras 2 configs (legacy .h5 loading uses it too)

    doc = json.loads((weights_dir / "model.json").read_text(encoding="utf-8"))
    topology = doc["modelTopology"]
    config = topology.get("model_config", topology)
    model = saving_utils.model_from_config(config)
    weights = read_weights(weights_dir, doc["weightsManifest"])
    used = set()
    for layer in model.layers:
        for var in layer.weights:
            key = f"{layer.name}/{var.name.split('/')[-1]}"
            if key not in weights:
                raise ValueError(f"model.json has no weight {key}")
            var.assign(weights[key])
            used.add(key)
    left = sorted(set(weights) - used)
    if left:
        raise ValueError(f"weights not used by the model: {left[:4]}")
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    return out, []
