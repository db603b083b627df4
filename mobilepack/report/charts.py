"""Charts for the HTML reports.

The bench charts (latency, speed-up, size) and the quantization doctor's error per layer
(``report.doctor_view``) are horizontal bars written as SVG here (:func:`bar_chart`): no library, no
fonts or scripts fetched from anywhere, text kept as SVG text.  Writing them costs milliseconds, where
matplotlib's import and rendering took ~0.8 s of every build (#21: a 4 M-parameter model's build is
~12 s).  The server section's scatter plot (``report.server_view``, ``--target server`` only) still
uses matplotlib (:func:`_pyplot`, Agg backend)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, replace
from html import escape

_SOFT_COLOR = "#b0b0b0"
_COLORS = {"cpu": "#4c72b0", "xnnpack": "#55a868", "gpu": "#c44e52"}
_PLOT_WIDTH, _ROW, _TOP = 460, 22, 8


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    colour: str
    hatched: bool = False                     # a software-GPU row: its time is a functional check's
    span: tuple[float, float] | None = None   # drawn over the bar as a black line (p50-p90)
    title: str = ""                           # its tooltip; by default "label: value"


@dataclass(frozen=True)
class Mark:
    """A vertical reference line across the bars: solid (a speed-up's 1.0) or dashed, with its text
    under the axis."""
    value: float
    text: str = ""
    dashed: bool = False


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "mobilepack", "font.size": 9})
    return plt


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    _pyplot().close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def _scale(values: list[float], log: bool):
    """(x of a value in 0..1, the ticks) for a log axis (decades) or a linear one from 0."""
    if log:
        lo = math.floor(math.log10(min(values)))
        hi = max(math.ceil(math.log10(max(values))), lo + 1)
        return (lambda v: (math.log10(max(v, 10.0 ** lo)) - lo) / (hi - lo)), [10.0 ** k for k in range(lo, hi + 1)]
    top = max(values) or 1.0
    step = 10 ** math.floor(math.log10(top / 4))
    step *= next(m for m in (1, 2, 5, 10) if top / (step * m) <= 5)
    ticks = [step * k for k in range(int(math.ceil(top / step)) + 1)]
    return (lambda v: v / ticks[-1]), ticks


def bar_chart(bars: list[Bar], *, axis: str, name: str, log: bool = False, marks: tuple[Mark, ...] = ()) -> str:
    """Horizontal bars, first at the top, one per row, each with its value at its end; ``log``: a
    decade axis (values must be > 0); ``marks``: vertical reference lines, inside the axis' range;
    ``name``: the chart's accessible name, also the prefix of its ids (charts share one HTML page)."""
    bars = [b if b.span is None or all(map(math.isfinite, b.span)) else replace(b, span=None)
            for b in bars if math.isfinite(b.value)]   # a NaN or infinite time is no bar
    if not bars:
        return ""
    values = [b.value for b in bars] + [v for b in bars if b.span for v in b.span] + [m.value for m in marks]
    log = log and any(v > 0 for v in values)   # a decade axis needs a value above zero
    frac, ticks = _scale([v for v in values if v > 0] if log else values, log)
    left = 12 + 6.2 * max(len(b.label) for b in bars)
    bottom = _TOP + _ROW * len(bars)
    axis_y = bottom + (46 if any(m.text for m in marks) else 32)   # the marks' texts above the axis' name

    def x(v: float) -> float:
        return left + frac(v) * _PLOT_WIDTH

    pid = f"{name.split()[0]}-hatch"
    width, height = round(left + _PLOT_WIDTH + 70), axis_y + 8
    # the viewBox lets the reports' `svg {max-width: 100%; height: auto}` scale it rather than crop it
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'role="img" aria-label="{escape(name)}">',
           '<style>text{font:11px sans-serif}</style>']
    if any(b.hatched for b in bars):
        out.append(f'<defs><pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse" '
                   f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{_SOFT_COLOR}"/>'
                   f'<line x1="0" y1="0" x2="0" y2="6" stroke="white" stroke-width="2"/></pattern></defs>')
    for t in ticks:
        out.append(f'<line x1="{x(t):.1f}" y1="{_TOP - 4}" x2="{x(t):.1f}" y2="{bottom}" stroke="#e6e6e6"/>')
        out.append(f'<text x="{x(t):.1f}" y="{bottom + 14}" text-anchor="middle">{_fmt(t)}</text>')
    for i, b in enumerate(bars):
        y = _TOP + i * _ROW
        end = x(b.value)
        fill = f"url(#{pid})" if b.hatched else b.colour
        out.append(f'<text x="{left - 6:.1f}" y="{y + 14}" text-anchor="end">{escape(b.label)}</text>')
        out.append(f'<rect x="{left:.1f}" y="{y + 3}" width="{max(end - left, 1):.1f}" height="{_ROW - 6}" '
                   f'fill="{fill}"><title>{escape(b.title or f"{b.label}: {_fmt(b.value)}")}</title></rect>')
        if b.span:
            out.append(f'<line x1="{x(b.span[0]):.1f}" y1="{y + _ROW / 2}" x2="{x(b.span[1]):.1f}" '
                       f'y2="{y + _ROW / 2}" stroke="black" stroke-width="2"/>')
        out.append(f'<text x="{max(end, x(b.span[1]) if b.span else end) + 4:.1f}" y="{y + 14}">{_fmt(b.value)}</text>')
    for m in marks:
        stroke = '"#555" stroke-dasharray="4 3"' if m.dashed else '"black"'
        out.append(f'<line x1="{x(m.value):.1f}" y1="{_TOP - 4}" x2="{x(m.value):.1f}" y2="{bottom}" stroke={stroke}/>')
        if m.text:
            out.append(f'<text x="{x(m.value):.1f}" y="{bottom + 28}" text-anchor="middle">{escape(m.text)}</text>')
    out.append(f'<text x="{left:.1f}" y="{axis_y}">{escape(axis)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _colour(row: dict) -> str:
    return _SOFT_COLOR if row["software"] else _COLORS.get(row["delegate"], "#8172b2")


def latency_chart(rows: list[dict]) -> str:
    """Latency (20 % trimmed mean) per configuration on a log axis, the p50–p90 range drawn over each bar.
    Software-GPU rows are grey and hatched ("functional only")."""
    bars = [Bar(r["label"] + ("  (software GPU)" if r["software"] else ""), r["latency_us"] / 1000, _colour(r),
                hatched=bool(r["software"]),
                span=(r["p50_us"] / 1000, r["p90_us"] / 1000) if r.get("p50_us") and r.get("p90_us") else None)
            for r in rows]
    return bar_chart(bars, axis="latency, ms, log scale (bar: 20 % trimmed mean; black line: p50–p90)",
                     name="latency per configuration", log=True)


def size_chart(models: list[dict]) -> str:
    """Model size per variant, KiB."""
    return bar_chart([Bar(m["file"], m["bytes"] / 1024, "#64b5cd") for m in models], axis="size, KiB",
                     name="size per variant")


def speedup_chart(rows: list[dict]) -> str:
    """Speed-up vs the fp32 variant on ``cpu`` (reference kernels), per configuration."""
    bars = [Bar(r["label"], r["speedup"], _colour(r)) for r in rows if r.get("speedup") is not None]
    return bar_chart(bars, axis="speed-up vs fp32 on cpu (×)", name="speed-up per configuration",
                     marks=(Mark(1.0),))
