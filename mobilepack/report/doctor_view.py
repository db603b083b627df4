"""How the quantization doctor's record is shown: short layer labels and the inline SVG bar
chart of error per layer (RMSE/scale, log scale) for the HTML report.  The Markdown and
HTML tables are the templates ``report/_doctor.md.j2`` and ``report/_doctor.html.j2``."""

from __future__ import annotations

from typing import Any

from mobilepack.conversion.layer_errors import ROUNDING_RMSE_OVER_SCALE
from mobilepack.report.charts import Bar, Mark, bar_chart


def layer_label(tensor: str) -> str:
    """``model_1/entry_1/MatMul;model_1/entry_1/Relu;...`` -> ``entry_1/MatMul``."""
    first = tensor.split(";")[0]
    parts = first.split("/")
    return "/".join(parts[1:3]) if len(parts) > 2 else first


def view(doctor: dict[str, Any] | None) -> dict[str, Any] | None:
    """The record plus what the templates show: labels, which layers stayed float, the chart."""
    if not doctor:
        return None
    floats = set((doctor.get("mixed") or {}).get("float_ops") or [])
    layers = [{**layer, "label": layer_label(layer["tensor"]), "float": layer["tensor"] in floats}
              for layer in doctor.get("layers", [])]
    costs = [{**c, "label": layer_label(c["tensor"])} for c in doctor.get("float_ops", [])]
    others = {mode: {**d, "layers": [{**x, "label": layer_label(x["tensor"])} for x in d["layers"]]}
              for mode, d in (doctor.get("other_variants") or {}).items()}
    return {**doctor, "layers": layers, "float_ops": costs, "svg": layer_chart(layers),
            "rounding": ROUNDING_RMSE_OVER_SCALE, "other_variants": others,
            "method_text": METHOD_TEXT.get(doctor.get("method"), doctor.get("method", ""))}


METHOD_TEXT = {
    "numeric-verify": "RMSE / scale of each quantized op's output, the op alone on its quantized inputs "
                      "(TensorFlow's QuantizationDebugger)",
    "tensor-compare": "RMSE / scale of each quantized op's output against the float model's tensor of the same "
                      "name, both run in LiteRT (cumulative; ranked by the part above the op's inputs', 'added')",
}


def layer_chart(layers: list[dict[str, Any]], *, top: int = 20) -> str:
    """Horizontal bars, worst layer first, on a log axis; the rounding-noise level is a dashed line;
    layers the doctor kept in float are drawn in the accent colour."""
    shown = layers[:top]
    values = [max(float(x["rmse_over_scale"]), 1e-3) for x in shown]
    bars = [Bar(f'#{x["rank"]} {x["op"]} {x.get("label", x["tensor"])}'[:40], v,
                "#d9480f" if x.get("float") else "#1c7ed6", title=f'{x["tensor"]}: RMSE/scale {v:.3g}')
            for x, v in zip(shown, values)]
    floats = "; orange: kept in float by int8-mixed" if any(x.get("float") for x in shown) else ""
    rounding = Mark(ROUNDING_RMSE_OVER_SCALE, f"rounding only ({ROUNDING_RMSE_OVER_SCALE:.3g})", dashed=True)
    return bar_chart(bars, axis=f"RMSE / scale per quantized op, log scale{floats}",
                     name="quantization error per layer (RMSE/scale)", log=True, marks=(rounding,))
