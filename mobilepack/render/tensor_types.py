"""The tensor element types the demo apps feed and read, and the output rules both apps share:
one table from which the Swift ``ElementType`` enum and every Swift/Kotlin switch over element
types are generated, so the enum, its switches and the Kotlin ``when`` branches cannot drift
apart (a template that names a type the table lacks fails to render; see the iOS semantic check
in ``tests/swift_semantics.py`` for the Swift side).

Per type: the ModelSpec/TFLite dtype name, its size, how a stored value is written (the clamp
range of integer types, as floats that convert without trapping), the Swift scalar that holds
it, the ``org.tensorflow.lite.DataType`` constant and the ``ByteBuffer`` accessors on Android,
and the value the benchmark input pattern puts in it (the shared benchmark definition: for flat
element index i, v = (i * 7919) mod 256; float tensors get v / 255, uint8 v, int8 v - 128,
every other integer type and bool v mod 2).

float16 is not in the table: the ``org.tensorflow.lite`` Java API has no FLOAT16 data type, so a
model with float16 inputs or outputs is refused at render time for both apps (one error, see
``render.context.app_io``) rather than accepted by one and miscompiled by the other."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ElementType:
    dtype: str            # ModelSpec / TFLite name, also the Swift enum case
    size: int             # bytes per element
    kind: str             # "float", "int" or "bool"
    low: float            # clamp range of a stored value (integer kinds; floats are not clamped)
    high: float
    swift_scalar: str     # the Swift type the element's bytes hold
    kotlin_data_type: str     # org.tensorflow.lite.DataType constant
    kotlin_put: str           # ByteBuffer method writing one element
    kotlin_narrow: str        # conversion of the clamped Float to what kotlin_put takes
    kotlin_get: str           # expression reading one element of `buffer` as a Float
    bench: str                # benchmark pattern: "unit" v/255, "byte" v, "signed_byte" v-128, "parity" v%2


ELEMENT_TYPES: tuple[ElementType, ...] = (
    ElementType("float32", 4, "float", 0.0, 0.0, "Float", "FLOAT32", "putFloat", "", "buffer.getFloat()", "unit"),
    ElementType("uint8", 1, "int", 0.0, 255.0, "UInt8", "UINT8", "put", ".toInt().toByte()",
                "(buffer.get().toInt() and 0xFF).toFloat()", "byte"),
    ElementType("int8", 1, "int", -128.0, 127.0, "Int8", "INT8", "put", ".toInt().toByte()",
                "buffer.get().toFloat()", "signed_byte"),
    ElementType("int16", 2, "int", -32768.0, 32767.0, "Int16", "INT16", "putShort", ".toInt().toShort()",
                "buffer.getShort().toFloat()", "parity"),
    ElementType("int32", 4, "int", -2147483648.0, 2147483647.0, "Int32", "INT32", "putInt", ".toInt()",
                "buffer.getInt().toFloat()", "parity"),
    # +-9.2e18: the widest Float range whose conversion to a 64-bit integer cannot overflow
    ElementType("int64", 8, "int", -9.2e18, 9.2e18, "Int64", "INT64", "putLong", ".toLong()",
                "buffer.getLong().toFloat()", "parity"),
    ElementType("bool", 1, "bool", 0.0, 1.0, "UInt8", "BOOL", "put", "", "if (buffer.get().toInt() != 0) 1f else 0f",
                "parity"),
)

DTYPE_BYTES: dict[str, int] = {t.dtype: t.size for t in ELEMENT_TYPES}

# The benchmark input pattern, shared with the host benchmark: v = (i * BENCH_PATTERN_STEP) mod 256.
BENCH_PATTERN_STEP = 7919
BENCH_PATTERN_MODULUS = 256

# A one-channel segmentation output is a foreground probability: class 1 where it is at least
# this, else 0.  With two or more channels each pixel's class is the argmax over them.
ONE_CHANNEL_THRESHOLD = 0.5


def bench_value(dtype: str, index: int) -> float:
    """The stored value the benchmark input pattern puts at flat element ``index`` of a tensor."""
    v = (index * BENCH_PATTERN_STEP) % BENCH_PATTERN_MODULUS
    rule = next(t.bench for t in ELEMENT_TYPES if t.dtype == dtype)
    return {"unit": v / 255.0, "byte": float(v), "signed_byte": float(v - 128), "parity": float(v % 2)}[rule]


def integer_kernels(model_bytes: bytes) -> bool:
    """Whether the model computes with integer (quantized) tensors: full-integer and dynamic-range
    variants hold int8/uint8/int16 tensors with a quantization scale (an fp16 variant's float16
    weights are not).  Float-only accelerators (the Core ML delegate) refuse such models."""
    from mobilepack.model.flatbuffer import FlatbufferError, parse_model

    try:
        model = parse_model(model_bytes)
    except FlatbufferError:
        return False
    return any(t.type in ("INT8", "UINT8", "INT16") and t.quantization is not None and t.quantization.scale
               for g in model.subgraphs for t in g.tensors)


def template_tables() -> dict[str, Any]:
    """What the app templates read: the element types (as dicts) and the shared output rules."""
    return {
        "element_types": [asdict(t) for t in ELEMENT_TYPES],
        "bench_pattern": {"step": BENCH_PATTERN_STEP, "modulus": BENCH_PATTERN_MODULUS},
        "one_channel_threshold": ONE_CHANNEL_THRESHOLD,
    }
