"""The report's bench charts: SVG written by mobilepack.report.charts, read back as XML."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from mobilepack.report import charts

NS = "{http://www.w3.org/2000/svg}"


def _bars(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    return [r for r in root.iter(f"{NS}rect") if r.find(f"{NS}title") is not None]


def _row(label, delegate, ms, software=False, speedup=None):
    return {"label": label, "delegate": delegate, "latency_us": ms * 1000, "p50_us": ms * 900, "p90_us": ms * 1200,
            "software": software, "speedup": speedup}


def test_latency_bars_are_log_scaled_in_order_with_the_software_gpu_hatched():
    rows = [_row("a.tflite · xnnpack ×2", "xnnpack", 0.5), _row("a.tflite · cpu", "cpu", 5.0),
            _row("a.tflite · gpu <soft>", "gpu", 50.0, software=True)]
    svg = charts.latency_chart(rows)
    bars = _bars(svg)
    assert len(bars) == 3
    root = ET.fromstring(svg)   # scaled, not cropped, by the reports' max-width: its viewBox is its size
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    widths = [float(b.get("width")) for b in bars]
    # a decade apart each: equal steps on a log axis
    assert widths[0] < widths[1] < widths[2] and math.isclose(widths[2] - widths[1], widths[1] - widths[0], rel_tol=1e-3)
    assert [b.get("fill") for b in bars] == ["#55a868", "#4c72b0", "url(#latency-hatch)"]
    assert "&lt;soft&gt;" in svg and "(software GPU)" in bars[2].find(f"{NS}title").text
    spans = [ln for ln in ET.fromstring(svg).iter(f"{NS}line") if ln.get("stroke") == "black"]
    assert len(spans) == 3 and all(float(s.get("x1")) < float(s.get("x2")) for s in spans)   # p50 < p90


def test_speedup_chart_marks_one_and_size_chart_scales_linearly():
    rows = [_row("fp32 · cpu", "cpu", 2.0, speedup=1.0), _row("int8 · xnnpack", "xnnpack", 0.5, speedup=4.0),
            _row("gpu", "gpu", 9.0, software=True)]
    root = ET.fromstring(charts.speedup_chart(rows))
    bars = _bars(charts.speedup_chart(rows))
    assert len(bars) == 2   # the software-GPU row has no speed-up
    left = float(bars[0].get("x"))
    mark = [ln for ln in root.iter(f"{NS}line") if ln.get("stroke") == "black"]
    assert len(mark) == 1 and math.isclose(float(mark[0].get("x1")) - left, float(bars[0].get("width")), rel_tol=1e-3)
    sizes = _bars(charts.size_chart([{"file": "a", "bytes": 1024 * 300}, {"file": "b", "bytes": 1024 * 100}]))
    assert math.isclose(float(sizes[0].get("width")), 3 * float(sizes[1].get("width")), rel_tol=1e-3)
    assert charts.size_chart([]) == ""


def test_a_time_that_is_not_finite_draws_no_bar():
    bars = [charts.Bar("nan", float("nan"), "#000"), charts.Bar("ok", 2.0, "#000", span=(1.0, float("inf")))]
    svg = charts.bar_chart(bars, axis="ms", name="t", log=True)
    assert len(_bars(svg)) == 1 and "nan" not in svg and "inf" not in svg
    assert charts.bar_chart(bars[:1], axis="ms", name="t") == ""
