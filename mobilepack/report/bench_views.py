"""Bench reports from a bench document: rows sorted by latency, speed-ups, Markdown, HTML, files."""

from __future__ import annotations

import json
from pathlib import Path

from mobilepack.report.bench import config_label, device_label
from mobilepack.runtime.gpu import SOFTWARE_NOTE

REPORT_FILES = ("bench.json", "bench.md", "bench.html")


def _baseline_key(rec: dict) -> tuple:
    return (rec["model"].get("name"), device_label(rec["device"]))


def rows(doc: dict) -> list[dict]:
    """Every record, measured ones first by latency (``latency_us``), failed ones after; each with a ``label`` and
    ``speedup`` (vs the same model's fp32 variant on ``cpu`` on the same device, where measured; never on a
    software-GPU row, whose latency is not representative) and ``departs`` (the delegate doctor's line where
    this record's delegate departs, else None)."""
    base: dict[tuple, float] = {}
    for r in doc["results"]:
        if r["status"] == "ok" and r["delegate"] == "cpu" and r["model"].get("variant") == "fp32" and r["latency_us"]:
            base.setdefault(_baseline_key(r), r["latency_us"])
    out = []
    for r in doc["results"]:
        row = dict(r)
        row["label"] = config_label(r)
        b = base.get(_baseline_key(r))
        row["speedup"] = (b / r["latency_us"] if r["status"] == "ok" and b and r["latency_us"] and not r.get("software")
                          else None)
        dep = (r.get("departure") or {}).get("departure") or {}
        row["departs"] = dep.get("message") if dep.get("delegate") == r["delegate"] else None
        out.append(row)
    ok = sorted((r for r in out if r["status"] == "ok"), key=lambda r: r["latency_us"])
    failed = [r for r in out if r["status"] != "ok"]
    return ok + failed


def models(doc: dict) -> list[dict]:
    seen: dict[str, dict] = {}
    for r in doc["results"]:
        m = r["model"]
        key = m.get("file") or m.get("name") or "?"
        if m.get("bytes") and key not in seen:
            seen[key] = {"file": key, "bytes": m["bytes"], "variant": m.get("variant")}
    return list(seen.values())


def fmt_us(value) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:.3f} ms" if value >= 1000 else f"{value:.1f} µs"


def _context(doc: dict) -> dict:
    all_rows = rows(doc)
    devices = sorted({device_label(r["device"]) for r in doc["results"]})
    return {"doc": doc, "rows": all_rows, "ok": [r for r in all_rows if r["status"] == "ok"],
            "failed": [r for r in all_rows if r["status"] != "ok"], "models": models(doc), "devices": devices,
            "software_note": SOFTWARE_NOTE, "fmt_us": fmt_us,
            "any_software": any(r["software"] for r in all_rows)}


def markdown(doc: dict) -> str:
    from mobilepack.render.environment import render

    return render("report/bench.md.j2", **_context(doc))


def html(doc: dict) -> str:
    from mobilepack.render.environment import render
    from mobilepack.report import charts

    ctx = _context(doc)
    ctx["latency_svg"] = charts.latency_chart(ctx["ok"]) if ctx["ok"] else ""
    ctx["size_svg"] = charts.size_chart(ctx["models"]) if ctx["models"] else ""
    ctx["speedup_svg"] = (charts.speedup_chart(ctx["ok"])
                          if any(r["speedup"] is not None for r in ctx["ok"]) else "")
    ctx["json_text"] = json.dumps(doc, indent=1).replace("</", "<\\/")
    return render("report/bench.html.j2", **ctx)


def write_report(doc: dict, out: str | Path) -> list[Path]:
    """bench.json, bench.md and bench.html into ``out`` (atomically)."""
    from mobilepack.staging import StagedOutput

    doc = dict(doc, files=list(REPORT_FILES))
    with StagedOutput(out, record="bench.json") as stage:
        stage.check_names(list(REPORT_FILES))
        (stage.path / "bench.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        (stage.path / "bench.md").write_text(markdown(doc), encoding="utf-8")
        (stage.path / "bench.html").write_text(html(doc), encoding="utf-8")
        stage.commit()
    return [Path(out) / name for name in REPORT_FILES]


def latency_us(doc: dict, *, timed_only: bool = False) -> dict[str, dict[str, float]]:
    """variant -> delegate -> best steady-state latency (``latency_us``, µs) over that delegate's configurations that
    ran; ``timed_only`` leaves out software-GPU records, whose timing means nothing.  The one
    definition of "latency per variant" (selection, reports and the CLI summary read it)."""
    out: dict[str, dict[str, float]] = {}
    for rec in doc.get("results", []):
        variant = (rec.get("model") or {}).get("variant")
        if rec.get("status") != "ok" or not variant or not rec.get("latency_us") or (timed_only and rec.get("software")):
            continue
        per = out.setdefault(variant, {})
        per[rec["delegate"]] = min(per.get(rec["delegate"], float("inf")), rec["latency_us"])
    return out


def best_latency_us(doc: dict) -> dict[str, float]:
    """variant -> its fastest timed delegate's latency (µs)."""
    return {variant: min(per.values()) for variant, per in latency_us(doc, timed_only=True).items()}
