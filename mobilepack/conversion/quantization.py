"""The registry of quantization modes.

Each mode knows how to configure a ``tf.lite.TFLiteConverter``, whether it needs
calibration data, which I/O dtypes it accepts, the tolerances numerical validation
holds it to, its variant file suffix, whether it is converted by default, and its
place in the no-label selection fallback.  Adding a mode is one ``register(...)``
call: ``--quantize``, ``mobilepack.toml``, convert, build, bench file naming and
selection all read this registry.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

from mobilepack.errors import UsageError


class QuantMode(str, Enum):
    """The built-in modes' names (a registered mode may have any other name)."""

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
    mode: str                # the name given to --quantize / [convert] quantize
    description: str
    needs_calibration: bool
    integer: bool            # full-integer kernels: --io-dtype and float-fallback checks apply
    io_dtypes: tuple[IODtype, ...]   # the I/O dtypes --io-dtype may give it (an integer mode refuses others)
    tolerance: Tolerance
    configure: Callable      # (converter, tf, options) -> None
    suffix: str = ""         # the variant file is <model>_<suffix>.tflite; "" means the mode's name
    default: bool = False    # converted when --quantize is not given (a calibrated mode only with calibration data)
    # the no-label selection rule tries modes by ascending ``fallback`` (None: never chosen by it); a
    # ``gated`` mode ships only when its agreement with fp32 reaches the task's threshold
    fallback: int | None = None
    gated: bool = False
    io_note: str = ""        # why an integer mode refuses the other I/O dtypes (shown in that error)

    @property
    def file_suffix(self) -> str:
        return self.suffix or self.mode

    def variant_file(self, model_name: str) -> str:
        return f"{model_name}_{self.file_suffix}.tflite"


_REGISTRY: dict[str, ModeSpec] = {}


def _name(mode: QuantMode | str) -> str:
    return mode.value if isinstance(mode, Enum) else str(mode)


def register(spec: ModeSpec) -> None:
    """Add (or replace) a mode: from then on --quantize, mobilepack.toml, convert, build, bench
    file naming and selection know it."""
    _REGISTRY[_name(spec.mode)] = replace(spec, mode=_name(spec.mode))


def get(mode: QuantMode | str) -> ModeSpec:
    name = _name(mode)
    if name not in _REGISTRY:
        raise UsageError(f"unknown quantization mode {name!r}", f"valid modes: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def io_dtype_names() -> tuple[str, ...]:
    """Every I/O dtype some registered mode accepts, in registry order."""
    return tuple(dict.fromkeys(d.value for s in _REGISTRY.values() for d in s.io_dtypes))


def default_modes(*, calibrated: bool) -> tuple[str, ...]:
    return tuple(s.mode for s in _REGISTRY.values() if s.default and (calibrated or not s.needs_calibration))


def mode_of_file_suffix(suffix: str) -> str | None:
    """The mode whose variant files end in ``_<suffix>.tflite``, else None."""
    return next((s.mode for s in _REGISTRY.values() if s.file_suffix == suffix), None)


def no_label_order() -> tuple[ModeSpec, ...]:
    """The modes the no-label selection rule tries, first to last."""
    return tuple(sorted((s for s in _REGISTRY.values() if s.fallback is not None), key=lambda s: s.fallback))


def parse_modes(text: str | list | tuple) -> tuple[str, ...]:
    """``"fp32,int8"`` -> ("fp32", "int8"); unknown names list the valid ones."""
    raw_items = [text] if isinstance(text, str) else [_name(t) for t in text]
    items = [p for t in raw_items for p in t.split(",")]
    modes: list[str] = []
    valid = list(_REGISTRY)
    for raw in items:
        name = raw.strip().lower()
        if not name:
            continue
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            raise UsageError(f"unknown quantization mode {raw.strip()!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                             f"valid modes: {', '.join(valid)}")
        if name not in modes:
            modes.append(name)
    if not modes:
        raise UsageError("--quantize is empty", f"valid modes: {', '.join(valid)}")
    return tuple(modes)


def check_io_dtype(io: IODtype, modes: tuple[str, ...]) -> None:
    """A non-float ``--io-dtype`` needs a selected mode that accepts it, and no selected integer
    mode that refuses it."""
    if io == IODtype.FLOAT32:
        return
    takers = [s.mode for s in _REGISTRY.values() if io in s.io_dtypes]
    if not any(m in takers for m in modes):
        which = " / ".join(takers) or "no"
        raise UsageError(f"--io-dtype {io.value} applies to the {which} mode{'s' if len(takers) > 1 else ''}, "
                         f"which {'are' if len(takers) > 1 else 'is'} not selected",
                         f"add {takers[0] if takers else 'an integer mode'} to --quantize or drop --io-dtype")
    for m in modes:
        spec = get(m)
        if spec.integer and io not in spec.io_dtypes:
            note = f" ({spec.io_note})" if spec.io_note else ""
            raise UsageError(f"--io-dtype {io.value} cannot apply to {m}{note}",
                             f"convert {m} in a separate run with float32 I/O")


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
                  (IODtype.FLOAT32,), Tolerance(0.9999, 0.999), _fp32, default=True, fallback=2))
register(ModeSpec(QuantMode.FP16, "float16 weights, float32 compute (GPU-friendly, half size)", False, False,
                  (IODtype.FLOAT32,), Tolerance(0.999, 0.99), _fp16, default=True, fallback=1))
register(ModeSpec(QuantMode.DYNAMIC, "int8 weights, float activations (dynamic-range)", False, False,
                  (IODtype.FLOAT32,), Tolerance(0.99, 0.95), _dynamic, default=True))
register(ModeSpec(QuantMode.INT8, "full-integer int8 weights and activations (calibrated)", True, True,
                  (IODtype.FLOAT32, IODtype.INT8, IODtype.UINT8), Tolerance(0.98, 0.95), _int8, default=True,
                  fallback=0, gated=True))
register(ModeSpec(QuantMode.INT16X8, "int16 activations, int8 weights (calibrated, more accurate)", True, True,
                  (IODtype.FLOAT32,), Tolerance(0.995, 0.98), _int16x8, io_note="its integer I/O would be int16"))
# the quantization doctor's variant (conversion/doctor.py): converted only by --doctor (or build's automatic
# doctor), tried by the no-label rule right after int8 (same fallback rank, registered later)
register(ModeSpec(QuantMode.INT8_MIXED, "int8 except the ops the quantization doctor keeps in float "
                  "(--doctor: the smallest float set that meets --max-accuracy-drop)", True, False,
                  (IODtype.FLOAT32,), Tolerance(0.98, 0.95), _int8, fallback=0, gated=True))
