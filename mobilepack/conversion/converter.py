"""One conversion: a fixed-signature SavedModel + a quantization mode -> .tflite bytes."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mobilepack.conversion.quantization import ConverterOptions, QuantMode, get
from mobilepack.errors import ConversionError
from mobilepack.model.flatbuffer import float_compute_ops
from mobilepack.model.tfimport import silenced, tensorflow as _tf

_OP_PATTERNS = (
    re.compile(r"TF Select ops: ([^\n]+)"),
    re.compile(r"Quantization not yet supported for op: '?([A-Za-z0-9_.]+)'?"),
    re.compile(r"'(tf\.[A-Za-z0-9_]+)' op is neither a custom op nor a flex op"),
    re.compile(r"'(tfl\.[A-Za-z0-9_]+)' op [^\n]*(?:quantiz|not supported)"),
)


def _ops_in_error(text: str) -> list[str]:
    found: list[str] = []
    for pattern in _OP_PATTERNS:
        for m in pattern.finditer(text):
            for name in m.group(1).split(","):
                name = name.strip()
                if name and name not in found:
                    found.append(name)
    return found


@contextlib.contextmanager
def sized_packing() -> Iterator[None]:
    """TFLiteConverter ends by writing its model through the flatbuffers object API once more (to
    deduplicate read-only buffers), with a Builder that starts at 1 KiB and doubles, copying all it
    holds at each step, and whose ``CreateNumpyVector`` copies every weight buffer twice: ~3 s of a
    434 MB fp32 conversion (#21).  Within this block the same serialization runs on
    ``model.tflite_edit.model_builder``, sized up front: the same bytes, each copied once."""
    from tensorflow.lite.tools import flatbuffer_utils as fu

    from mobilepack.model.tflite_edit import model_builder

    original = fu.convert_object_to_bytearray

    def convert_object_to_bytearray(model_object, extra_buffer=b""):
        size = sum(getattr(b.data, "nbytes", 0) for b in (model_object.buffers or ()) if b is not None)
        builder = model_builder(size + (4 << 20))
        builder.Finish(model_object.Pack(builder), file_identifier=fu._TFLITE_FILE_IDENTIFIER)
        return bytes(builder.Output()) + extra_buffer

    fu.convert_object_to_bytearray = convert_object_to_bytearray
    try:
        yield
    finally:
        fu.convert_object_to_bytearray = original


def convert_saved_model(saved_model_dir: str, mode: QuantMode | str, *, options: ConverterOptions,
                        representative: Callable[[], Iterable[list[Any]]] | None = None,
                        signature_key: str = "serving_default") -> bytes:
    """Run ``TFLiteConverter`` once.  Raises ``ConversionError`` naming the ops
    that blocked conversion, or that would silently run in float in an integer mode."""
    tf = _tf()
    spec = get(mode)
    with silenced() as log:
        try:
            conv = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[signature_key])
            spec.configure(conv, tf, options)
            if spec.needs_calibration:
                conv.representative_dataset = representative
            with sized_packing():
                data = conv.convert()
        except Exception as exc:  # ConverterError and friends
            text = str(exc)
            ops = _ops_in_error(text + "\n" + log.text)
            if ops:
                msg = f"{spec.mode}: the converter cannot convert op(s) {', '.join(ops)}"
                hint = ("these ops have no TFLite builtin kernel; replace them in the model"
                        if "neither a custom op" in text or "TF Select" in text
                        else "pass --allow-float-fallback to keep them in float, or drop this mode")
            else:
                first = next((ln for ln in text.splitlines() if "error:" in ln), text.strip().splitlines()[0] if text.strip() else type(exc).__name__)
                msg = f"{spec.mode}: conversion failed: {first.strip()[:300]}"
                hint = "rerun with --verbose to see the converter's log"
            raise ConversionError(msg, hint) from exc
    if spec.integer and not options.allow_float_fallback:
        floats = float_compute_ops(data)
        if floats:
            error = ConversionError(f"{spec.mode}: op(s) {', '.join(floats)} have no integer kernel and would run "
                                  f"in float", "pass --allow-float-fallback to accept mixed kernels, or drop this mode")
            error.float_fallback = data   # the model as converted, those ops in float (build's doctor may ship it)
            raise error
    return data
