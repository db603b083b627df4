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
