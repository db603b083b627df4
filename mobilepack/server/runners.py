"""The two ways a server variant runs a batch: the SavedModel's serving signature through TensorFlow
(``savedmodel``, what TF Serving serves) and a ``.tflite`` variant through LiteRT with XNNPACK.

Both take ``{input name: batch}`` and give ``{output name: batch}`` under the SavedModel signature's
names (a LiteRT variant converted from it keeps them in its signature), so a client cannot tell which
variant answers.  A ``.tflite`` whose batch dimension cannot be resized runs sample by sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mobilepack.server.protocol import TensorInfo

SAVEDMODEL = "savedmodel"


class SavedModelRunner:
    variant = SAVEDMODEL

    def __init__(self, path: str | Path, signature: str = "serving_default") -> None:
        import tensorflow as tf

        self._tf = tf
        self._loaded = tf.saved_model.load(str(path))
        self._fn = self._loaded.signatures[signature]
        specs = self._fn.structured_input_signature[1]
        self.inputs = tuple(TensorInfo(k, _sample_shape(s.shape.as_list()), s.dtype.as_numpy_dtype.__name__)
                            for k, s in sorted(specs.items()))
        outs = self._fn.structured_outputs
        self.outputs = tuple(TensorInfo(k, _sample_shape(s.shape.as_list()), s.dtype.as_numpy_dtype.__name__)
                             for k, s in sorted(outs.items()))

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        result = self._fn(**{k: self._tf.constant(v) for k, v in feeds.items()})
        return {k: v.numpy() for k, v in result.items()}


class TfliteRunner:
    def __init__(self, path: str | Path, variant: str, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.variant = variant
        self._interpreter = Interpreter(model_path=str(path), num_threads=threads)   # default resolver: XNNPACK
        signatures = self._interpreter.get_signature_list()
        if not signatures:
            raise ValueError(f"{path} has no signature: the server names inputs and outputs by signature")
        key = "serving_default" if "serving_default" in signatures else sorted(signatures)[0]
        self._runner = self._interpreter.get_signature_runner(key)
        ins, outs = self._runner.get_input_details(), self._runner.get_output_details()
        self.inputs = tuple(TensorInfo(k, _sample_shape(list(d["shape"])), np.dtype(d["dtype"]).name)
                            for k, d in sorted(ins.items()))
        self.outputs = tuple(TensorInfo(k, _sample_shape(list(d["shape"])), np.dtype(d["dtype"]).name)
                             for k, d in sorted(outs.items()))
        self.batched = self._batch_resizes()

    def _batch_resizes(self) -> bool:
        try:
            probe = {t.name: np.zeros((2, *(d or 1 for d in t.sample_shape)), t.dtype) for t in self.inputs}
            out = self._runner(**probe)
            return all(v.shape[:1] == (2,) for v in out.values())
        except Exception:   # noqa: BLE001 - LiteRT refuses the resize in its own words; run sample by sample
            return False

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.batched:
            return {k: np.array(v) for k, v in self._runner(**feeds).items()}
        n = len(next(iter(feeds.values())))
        parts = [self._runner(**{k: v[i:i + 1] for k, v in feeds.items()}) for i in range(n)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _sample_shape(shape: list) -> tuple[int | None, ...]:
    return tuple(None if d is None or d < 0 else int(d) for d in shape[1:])


def open_runner(variant: str, path: str | Path, threads: int = 1):
    """``savedmodel`` -> :class:`SavedModelRunner`; a quantization mode -> :class:`TfliteRunner`."""
    return SavedModelRunner(path) if variant == SAVEDMODEL else TfliteRunner(path, variant, threads)
