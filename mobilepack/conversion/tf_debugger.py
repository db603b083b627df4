"""The doctor's quantizer for a TensorFlow source: ``tf.lite.experimental.QuantizationDebugger``.

It calibrates the exported SavedModel once, reports each quantized op's own error (RMSE/scale of
its NumericVerify twin), and re-quantizes that calibrated model with ``denylisted_nodes`` per
candidate float set (no recalibration)."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

from mobilepack.conversion.layer_errors import from_debugger_csv
from mobilepack.errors import ConversionError


class DebuggerQuantizer:
    """One calibrated model, re-quantized with a denylist per candidate (TF's debugger)."""

    method = "numeric-verify"
    name = "TensorFlow QuantizationDebugger"

    def __init__(self, saved_model_dir: str, signature_key: str, representative: Callable, input_names: list[str]):
        from mobilepack.model.tfimport import silenced, tensorflow

        tf = tensorflow()
        self.tf = tf
        with silenced():
            try:
                conv = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[signature_key])
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
                conv.representative_dataset = representative

                def debug_dataset():
                    for feeds in representative():
                        yield [feeds[n] for n in self.order]

                self.order = input_names
                self.debugger = tf.lite.experimental.QuantizationDebugger(converter=conv,
                                                                          debug_dataset=debug_dataset)
                details = self.debugger._quant_interpreter.get_input_details()  # noqa: SLF001 - its input order
                self.order = [_match_input(d["name"], input_names) for d in details]
                self.debugger.run()
            except ConversionError:
                raise
            except Exception as exc:  # the converter's and the debugger's own errors
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ConversionError(f"int8-mixed: the quantization debugger failed: {first[:300]}",
                                      "rerun with --verbose to see the converter's log, or drop --doctor") from exc
        buf = io.StringIO()
        self.debugger.layer_statistics_dump(buf)
        self.layers = from_debugger_csv(buf.getvalue())

    def model(self, float_ops: Sequence[str]) -> bytes:
        from mobilepack.model.tfimport import silenced

        # get_nondebug_quantized_model() re-quantizes the calibrated model with the current options; set
        # them without the public setter, which would also rebuild (and re-check) the debug model
        self.debugger._debug_options = self.tf.lite.experimental.QuantizationDebugOptions(  # noqa: SLF001
            denylisted_nodes=list(float_ops) or None)
        try:
            with silenced():
                return self.debugger.get_nondebug_quantized_model()
        except Exception as exc:  # the MLIR quantizer's own errors
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise ConversionError(f"int8-mixed: re-quantizing with {len(float_ops)} float op(s) failed: {first}",
                                  "drop --doctor, or report this model") from exc


def _match_input(detail_name: str, names: list[str]) -> str:
    """``serving_default_pixels:0`` -> ``pixels``."""
    base = detail_name.split(":")[0]
    for n in sorted(names, key=len, reverse=True):
        if base == n or base.endswith("_" + n) or base.endswith(n):
            return n
    raise ConversionError(f"int8-mixed: cannot match the debug model's input {detail_name!r} to {names}",
                          "report this model to the mobilepack developers")
