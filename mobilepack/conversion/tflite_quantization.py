"""Quantizing a float ``.tflite`` source with Google's AI Edge Quantizer (``ai-edge-quantizer``).

There is no TensorFlow graph behind a ``.tflite`` file, so ``TFLiteConverter`` cannot
quantize it; AI Edge Quantizer rewrites the flatbuffer itself (recipes per op, calibration
through LiteRT).  The modes map onto its recipes:

| mode | recipe |
|---|---|
| ``fp32`` | the source, unchanged |
| ``fp16`` | weight-only float16 weights (``FLOAT_CASTING``, 16 bits), float compute |
| ``dynamic`` | ``dynamic_wi8_afp32``: int8 weights, activations quantized at run time |
| ``int8`` | ``static_wi8_ai8``: int8 weights and activations, calibrated; int8 I/O |
| ``int16x8`` | ``static_wi8_ai16``: int16 activations, int8 weights, calibrated; int16 I/O |
| ``int8-mixed`` | ``static_wi8_ai8`` with ``NO_QUANTIZE`` on the ops the doctor keeps in float |

A source without a SignatureDef (every MediaPipe model) is given one first, named by the rule of
``runtime.tensor_io``; its variants keep it, so they answer to the source's input/output names.
Float16 weights behind ``DEQUANTIZE`` ops (MediaPipe's format) are folded into float32 constants first
(``model.tflite_edit``): AEQ leaves them alone otherwise, and its int8 recipe fails on them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mobilepack.conversion.layer_errors import compare_tensors
from mobilepack.errors import ConversionError, UsageError

SUPPORTED = ("fp32", "fp16", "dynamic", "int8", "int16x8", "int8-mixed")
DIAGNOSIS_SAMPLES = 32


def check_float_source(data: bytes) -> None:
    """A source to quantize must be float: an integer tensor with a quantization scale means it
    already is quantized, and quantizing twice is refused."""
    from ai_edge_litert import schema_py_generated as s

    model = s.Model.GetRootAs(data, 0)
    floats = (s.TensorType.FLOAT32, s.TensorType.FLOAT16)
    for g in range(model.SubgraphsLength()):
        sg = model.Subgraphs(g)
        for i in range(sg.TensorsLength()):
            t = sg.Tensors(i)
            q = t.Quantization()
            if t.Type() not in floats and q is not None and q.ScaleLength():
                raise UsageError(f"--quantize needs a float .tflite; this one is already quantized (tensor "
                                 f"{(t.Name() or b'?').decode('utf-8', 'replace')!r} is {_type(t.Type())})",
                                 "quantize the float model instead, or drop --quantize to pass it through")


def _type(code: int) -> str:
    from ai_edge_litert import schema_py_generated as s

    return next((k for k, v in vars(s.TensorType).items() if v == code), str(code)).lower()


def _aeq():
    try:
        from ai_edge_quantizer import qtyping, quantizer, recipe
        from ai_edge_quantizer.algorithm_manager import AlgorithmName
    except ImportError as exc:  # a dependency of mobilepack; missing only in a broken install
        raise ConversionError(f"quantizing a .tflite needs ai-edge-quantizer, which cannot be imported: {exc}",
                              "pip install 'ai-edge-quantizer==0.10.*' (it pins ai-edge-litert 2.3.0)") from exc
    return quantizer, recipe, qtyping, AlgorithmName


class TfliteQuantizer:
    """One float .tflite; calibrated once (when the mode needs it), quantized per request."""

    def __init__(self, data: bytes, signature_key: str | None, calibration: Sequence[dict[str, Any]] = ()) -> None:
        from mobilepack.model.tflite_edit import for_quantizer
        from mobilepack.runtime.tensor_io import SERVING

        self.source = data
        self.data = for_quantizer(data)
        self.key, self.calibration = signature_key or SERVING, list(calibration)
        self._qsv = None

    def _calibrated(self, q):
        from mobilepack.model.tfimport import silenced

        if self._qsv is None:
            if not self.calibration:
                raise UsageError("int8/int16x8 of a .tflite need calibration data", "pass --calibration")
            with silenced():
                self._qsv = q.calibrate({self.key: [dict(b) for b in self.calibration]})
        return self._qsv

    def quantize(self, mode: str, float_ops: Sequence[str] = ()) -> bytes:
        from mobilepack.model.tfimport import silenced

        if mode not in SUPPORTED:
            raise UsageError(f"mode {mode!r} cannot be applied to a .tflite source", f"valid: {', '.join(SUPPORTED)}")
        if mode == "fp32":
            return self.source
        quantizer, recipe, qtyping, algo = _aeq()
        try:
            if mode == "fp16":
                q = quantizer.Quantizer(self.data)
                q.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                         num_bits=16, algorithm_key=algo.FLOAT_CASTING)
            elif mode == "dynamic":
                q = quantizer.Quantizer(self.data, recipe.dynamic_wi8_afp32())
            elif mode == "int16x8":
                q = quantizer.Quantizer(self.data, recipe.static_wi8_ai16())
            else:
                q = quantizer.Quantizer(self.data, recipe.static_wi8_ai8())
                for name in float_ops:  # AEQ scopes are output names + ";"; the latest matching scope wins
                    q._recipe_manager.add_quantization_config(  # noqa: SLF001 - NO_QUANTIZE scope, as its API does
                        regex="^" + re.escape(name) + ";", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                        algorithm_key=algo.NO_QUANTIZE)
            qsv = self._calibrated(q) if q.need_calibration else None
            with silenced():
                result = q.quantize(qsv, enable_progress_report=False)
        except (UsageError, ConversionError):
            raise
        except Exception as exc:  # AEQ raises ValueError/RuntimeError/KeyError with its own words
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise ConversionError(f"{mode}: AI Edge Quantizer failed on this .tflite: {first}",
                                  "drop this mode from --quantize, or quantize the original model") from exc
        return bytes(result.quantized_model)


class LiteRTQuantizer:
    """The doctor's quantizer for a .tflite source: AEQ int8, per-layer error from LiteRT's
    tensor-by-tensor comparison with the float source, float sets as ``NO_QUANTIZE`` scopes."""

    method = "tensor-compare"
    name = "AI Edge Quantizer + LiteRT tensor comparison"

    def __init__(self, data: bytes, calibration: Sequence[dict[str, Any]], validation: Sequence[dict[str, Any]]):
        from mobilepack.runtime.interpreter import describe_tflite

        _, _, key = describe_tflite(data)
        self.q = TfliteQuantizer(data, key, calibration)
        int8 = self.q.quantize("int8")
        self.layers = compare_tensors(data, int8, list(validation)[:DIAGNOSIS_SAMPLES])
        self._int8 = int8

    def model(self, float_ops: Sequence[str]) -> bytes:
        return self._int8 if not float_ops else self.q.quantize("int8-mixed", float_ops)


def reference_outputs(data: bytes, batches: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The float .tflite's own outputs (LiteRT, reference kernels): what its variants are validated against."""
    from mobilepack.model.tfimport import silenced
    from mobilepack.runtime.interpreter import SignatureSession

    with silenced():
        session = SignatureSession(data, reference_kernels=True)
        return [session.run(b) for b in batches]


def convert_tflite(q: TfliteQuantizer, mode, options) -> bytes:
    """One mode of a float .tflite, with the TF path's check: an integer mode whose ops would
    silently compute in float fails unless ``allow_float_fallback``."""
    from mobilepack.conversion.quantization import get
    from mobilepack.model.flatbuffer import float_compute_ops

    name = getattr(mode, "value", mode)
    data = q.quantize(name)
    if get(name).integer and not options.allow_float_fallback:
        floats = float_compute_ops(data)
        if floats:
            error = ConversionError(f"{name}: op(s) {', '.join(floats)} have no integer kernel in AI Edge "
                                  f"Quantizer's {name} and would run in float",
                                  "pass --allow-float-fallback to accept mixed kernels, or drop this mode")
            error.float_fallback = data   # the model as converted, those ops in float (build's doctor may ship it)
            raise error
    return data
