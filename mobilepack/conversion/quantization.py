"""The registry of quantization modes.

Each mode knows how to configure a ``tf.lite.TFLiteConverter``, whether it needs
calibration data, which I/O dtypes it accepts, and the tolerances numerical
validation holds it to.  Adding a mode is one ``register(...)`` call.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from mobilepack.errors import UsageError


class QuantMode(str, Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    DYNAMIC = "dynamic"
    INT8 = "int8"
    INT16X8 = "int16x8"
    INT8_MIXED = "int8-mixed"   # produced by the quantization doctor (conversion/doctor.py)


class IODtype(str, Enum):
    FLOAT32 = "float32"
    INT8 = "int8"
    UINT8 = "uint8"


@dataclass(frozen=True)
class Tolerance:
    """A variant passes validation when cosine similarity ≥ ``min_cosine`` and
    top-1 agreement (for class-score outputs) ≥ ``min_top1``."""

    min_cosine: float
    min_top1: float


@dataclass(frozen=True)
class ModeSpec:
    mode: QuantMode
    description: str
    needs_calibration: bool
    integer: bool  # full-integer kernels: --io-dtype and float-fallback checks apply
    io_dtypes: tuple[IODtype, ...]
    tolerance: Tolerance
    configure: Callable  # (converter, tf, options) -> None


_REGISTRY: dict[QuantMode, ModeSpec] = {}


def register(spec: ModeSpec) -> None:
    _REGISTRY[spec.mode] = spec


def get(mode: QuantMode | str) -> ModeSpec:
    return _REGISTRY[QuantMode(mode)]


def all_modes() -> tuple[QuantMode, ...]:
    return tuple(_REGISTRY)


def parse_modes(text: str | list[str]) -> tuple[QuantMode, ...]:
    """``"fp32,int8"`` -> (FP32, INT8); unknown names list the valid ones."""
    items = text.split(",") if isinstance(text, str) else [p for t in text for p in t.split(",")]
    modes: list[QuantMode] = []
    valid = [m.value for m in _REGISTRY]
    for raw in items:
        name = raw.strip().lower()
        if not name:
            continue
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            raise UsageError(f"unknown quantization mode {raw.strip()!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                             f"valid modes: {', '.join(valid)}")
        mode = QuantMode(name)
        if mode not in modes:
            modes.append(mode)
    if not modes:
        raise UsageError("--quantize is empty", f"valid modes: {', '.join(valid)}")
    return tuple(modes)


@dataclass(frozen=True)
class ConverterOptions:
    io_dtype: IODtype = IODtype.FLOAT32
    allow_float_fallback: bool = False


def _fp32(conv, tf, opts: ConverterOptions) -> None:
    conv.optimizations = []


def _fp16(conv, tf, opts: ConverterOptions) -> None:
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_types = [tf.float16]


def _dynamic(conv, tf, opts: ConverterOptions) -> None:
    conv.optimizations = [tf.lite.Optimize.DEFAULT]


def _int8(conv, tf, opts: ConverterOptions) -> None:
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if opts.allow_float_fallback:
        ops.append(tf.lite.OpsSet.TFLITE_BUILTINS)
    conv.target_spec.supported_ops = ops
    io = {IODtype.FLOAT32: tf.float32, IODtype.INT8: tf.int8, IODtype.UINT8: tf.uint8}[opts.io_dtype]
    conv.inference_input_type = io
    conv.inference_output_type = io


def _int16x8(conv, tf, opts: ConverterOptions) -> None:
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    if opts.allow_float_fallback:
        ops.append(tf.lite.OpsSet.TFLITE_BUILTINS)
    conv.target_spec.supported_ops = ops


register(ModeSpec(QuantMode.FP32, "float32 weights and compute (reference)", False, False,
                  (IODtype.FLOAT32,), Tolerance(0.9999, 0.999), _fp32))
register(ModeSpec(QuantMode.FP16, "float16 weights, float32 compute (GPU-friendly, half size)", False, False,
                  (IODtype.FLOAT32,), Tolerance(0.999, 0.99), _fp16))
register(ModeSpec(QuantMode.DYNAMIC, "int8 weights, float activations (dynamic-range)", False, False,
                  (IODtype.FLOAT32,), Tolerance(0.99, 0.95), _dynamic))
register(ModeSpec(QuantMode.INT8, "full-integer int8 weights and activations (calibrated)", True, True,
                  (IODtype.FLOAT32, IODtype.INT8, IODtype.UINT8), Tolerance(0.98, 0.95), _int8))
register(ModeSpec(QuantMode.INT16X8, "int16 activations, int8 weights (calibrated, more accurate)", True, True,
                  (IODtype.FLOAT32,), Tolerance(0.995, 0.98), _int16x8))
register(ModeSpec(QuantMode.INT8_MIXED, "int8 except the ops the quantization doctor keeps in float "
                  "(--doctor: the smallest float set that meets --max-accuracy-drop)", True, False,
                  (IODtype.FLOAT32,), Tolerance(0.98, 0.95), _int8))
