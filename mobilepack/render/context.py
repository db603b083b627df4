"""The template context: built from a ModelSpec (+ results), the same facts the
metadata writer reads, so the app and Python can never disagree about
preprocessing, labels or tensor layout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobilepack._version import __version__
from mobilepack.model.spec import ModelSpec, TensorSpec


@dataclass(frozen=True)
class RenderInputs:
    """Everything a target needs; produced by :mod:`mobilepack.render.sources`."""

    spec: ModelSpec
    model_bytes: bytes
    variant: str                    # quantization mode of the shipped variant ("fp32", "int8", ...)
    labels: tuple[str, ...]
    app_name: str
    app_id: str                     # Android application id or iOS bundle id
    sample_images: tuple[tuple[str, bytes], ...] = ()   # (file name, PNG/JPEG bytes)
    bench: dict[str, Any] | None = None                 # bench results, when known


def _tensor(t: TensorSpec) -> dict[str, Any]:
    return {
        "name": t.name,
        "shape": list(t.shape),
        "dtype": t.dtype,
        "quantization": ({"scale": t.quantization.scale, "zero_point": t.quantization.zero_point}
                         if t.quantization else None),
        "elements": _prod(t.shape),
    }


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def image_input(spec: ModelSpec) -> dict[str, int] | None:
    """Height/width/channels when the model has one NHWC image input."""
    if len(spec.inputs) != 1:
        return None
    shape = spec.inputs[0].shape
    if len(shape) == 4 and shape[-1] in (1, 3, 4):
        return {"batch": int(shape[0]), "height": int(shape[1]), "width": int(shape[2]), "channels": int(shape[3])}
    return None


def build_context(inputs: RenderInputs) -> dict[str, Any]:
    spec = inputs.spec
    norm = spec.normalization
    return {
        "generator": {"name": "mobilepack", "version": __version__},
        "app": {"name": inputs.app_name, "id": inputs.app_id},
        "model": {
            "name": spec.name,
            "file": "model.tflite",
            "variant": inputs.variant,
            "bytes": len(inputs.model_bytes),
            "task": spec.task.value,
            "inputs": [_tensor(t) for t in spec.inputs],
            "outputs": [_tensor(t) for t in spec.outputs],
            "image_input": image_input(spec),
            # the signature the input/output names belong to (None: tensor order, no signature)
            "signature_key": spec.signature_key,
        },
        "labels": list(inputs.labels),
        "labels_file": "labels.txt",
        "normalization": ({"mean": list(norm.mean), "std": list(norm.std), "in_model": norm.in_model,
                           "source": norm.source} if norm else None),
        "samples": [name for name, _ in inputs.sample_images],
        "bench": inputs.bench,
    }


def common_assets(inputs: RenderInputs) -> dict[str, bytes]:
    """Model, labels and sample images, keyed by their plain file names; targets
    place them (e.g. ``app/src/main/assets/`` on Android)."""
    assets = {"model.tflite": inputs.model_bytes,
              "labels.txt": ("\n".join(inputs.labels) + "\n").encode("utf-8") if inputs.labels else b""}
    for name, data in inputs.sample_images:
        assets[f"samples/{Path(name).name}"] = data
    return assets
