"""SVG charts for the HTML bench report (matplotlib, Agg backend; text kept as SVG text, no fonts
or scripts fetched from anywhere)."""

from __future__ import annotations

import io

_SOFT_COLOR = "#b0b0b0"
_COLORS = {"cpu": "#4c72b0", "xnnpack": "#55a868", "gpu": "#c44e52"}


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


def latency_chart(rows: list[dict]) -> str:
    """Horizontal bars: latency (20 % trimmed mean) per configuration, with the p50–p90 range drawn over each bar.
    Software-GPU rows are grey and hatched ("functional only")."""
    plt = _pyplot()
    rows = list(reversed(rows))
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.32 * max(1, len(rows))))
    for y, r in enumerate(rows):
        soft = r["software"]
        color = _SOFT_COLOR if soft else _COLORS.get(r["delegate"], "#8172b2")
        ax.barh(y, r["latency_us"] / 1000, color=color, hatch="//" if soft else None, edgecolor="white")
        ax.hlines(y, r["p50_us"] / 1000, r["p90_us"] / 1000, color="black", linewidth=2)
    ax.set_yticks(range(len(rows)), [r["label"] + ("  (software GPU)" if r["software"] else "") for r in rows])
    ax.set_xlabel("latency, ms (bar: 20 % trimmed mean; black line: p50–p90)")
    ax.set_xscale("log")
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def size_chart(models: list[dict]) -> str:
    """Model size per variant, KiB."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 0.8 + 0.32 * max(1, len(models))))
    ax.barh(range(len(models)), [m["bytes"] / 1024 for m in models], color="#64b5cd")
    ax.set_yticks(range(len(models)), [m["file"] for m in models])
    ax.invert_yaxis()
    ax.set_xlabel("size, KiB")
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def speedup_chart(rows: list[dict]) -> str:
    """Speed-up vs the fp32 variant on ``cpu`` (reference kernels), per configuration."""
    plt = _pyplot()
    rows = [r for r in rows if r.get("speedup") is not None]
    rows = list(reversed(rows))
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.32 * max(1, len(rows))))
    ax.barh(range(len(rows)), [r["speedup"] for r in rows],
            color=[_SOFT_COLOR if r["software"] else _COLORS.get(r["delegate"], "#8172b2") for r in rows])
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)), [r["label"] for r in rows])
    ax.set_xlabel("speed-up vs fp32 on cpu (×)")
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)
