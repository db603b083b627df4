"""How the quantization doctor's record is shown: short layer labels and the inline SVG bar
chart of error per layer (RMSE/scale, log scale) for the HTML report.  The Markdown and
HTML tables are the templates ``report/_doctor.md.j2`` and ``report/_doctor.html.j2``."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from mobilepack.conversion.layer_errors import ROUNDING_RMSE_OVER_SCALE


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
    if not shown:
        return ""
    values = [max(float(x["rmse_over_scale"]), 1e-3) for x in shown]
    lo = math.log10(min(min(values), ROUNDING_RMSE_OVER_SCALE) / 2)
    hi = math.log10(max(max(values), ROUNDING_RMSE_OVER_SCALE) * 2)
    left, width, row = 230, 420, 20
    height = row * len(shown) + 40

    def x_of(v: float) -> float:
        return left + (math.log10(max(v, 1e-3)) - lo) / (hi - lo) * width

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" '
           f'viewBox="0 0 {left + width + 80} {height}" role="img" aria-label="quantization error per layer (RMSE/scale)">',
           '<style>text{font:11px sans-serif}</style>']
    for i, (layer, v) in enumerate(zip(shown, values)):
        y = 10 + i * row
        colour = "#d9480f" if layer.get("float") else "#1c7ed6"
        label = f'#{layer["rank"]} {layer["op"]} {layer.get("label", layer["tensor"])}'
        out.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{escape(label[:40])}</text>')
        out.append(f'<rect x="{left}" y="{y + 2}" width="{max(x_of(v) - left, 1):.1f}" height="{row - 6}" '
                   f'fill="{colour}"><title>{escape(layer["tensor"])}: RMSE/scale {v:.3g}</title></rect>')
        out.append(f'<text x="{x_of(v) + 4:.1f}" y="{y + 13}">{v:.3g}</text>')
    xr = x_of(ROUNDING_RMSE_OVER_SCALE)
    bottom = 10 + row * len(shown)
    out.append(f'<line x1="{xr:.1f}" y1="6" x2="{xr:.1f}" y2="{bottom}" stroke="#555" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{xr:.1f}" y="{bottom + 14}" text-anchor="middle">rounding only (0.289)</text>')
    out.append(f'<text x="{left}" y="{bottom + 28}">RMSE / scale per quantized op, log scale'
               f'{"; orange: kept in float by int8-mixed" if any(x.get("float") for x in shown) else ""}</text>')
    out.append("</svg>")
    return "\n".join(out)
