"""The description of one converted variant: what the app, the metadata, the evaluation and the
reports say about the file that ships.

A variant keeps the source model's meaning (name, task, labels, normalization, provenance) but has
its own tensors: ``--io-dtype int8`` gives an int8 input with the scale and zero point the
converter chose, which the source's float32 description does not know.  The tensors are read
from the variant's flatbuffer by LiteRT itself."""

from __future__ import annotations

from dataclasses import replace

from mobilepack.model.spec import ModelSpec


def variant_spec(source: ModelSpec, model: bytes) -> ModelSpec:
    """``source`` with the inputs, outputs and signature key of the ``.tflite`` bytes ``model``."""
    from mobilepack.runtime.interpreter import describe_tflite

    ins, outs, key = describe_tflite(model)
    return replace(source, inputs=ins, outputs=outs, signature_key=key or source.signature_key)


def tensors_to_json(spec: ModelSpec) -> dict:
    """A variant's own part of its spec (inputs, outputs, signature key) as a JSON document that
    :func:`with_tensors` reads back exactly (the metadata stage's children hand it to the parent)."""
    from dataclasses import asdict

    return {"inputs": [asdict(t) for t in spec.inputs], "outputs": [asdict(t) for t in spec.outputs],
            "signature_key": spec.signature_key}


def with_tensors(source: ModelSpec, doc: dict) -> ModelSpec:
    """``source`` with the tensors and signature key of :func:`tensors_to_json`'s document."""
    from mobilepack.model.spec import Quantization, TensorSpec

    def tensor(t: dict) -> TensorSpec:
        signature, q = t["shape_signature"], t["quantization"]
        return TensorSpec(name=t["name"], shape=tuple(t["shape"]), dtype=t["dtype"],
                          shape_signature=None if signature is None else tuple(signature),
                          quantization=Quantization(q["scale"], q["zero_point"]) if q else None)

    return replace(source, inputs=tuple(tensor(t) for t in doc["inputs"]),
                   outputs=tuple(tensor(t) for t in doc["outputs"]), signature_key=doc["signature_key"])
