"""The build report: ``report.json`` (schema_version 1.0) and its Markdown and HTML views.

``build_document`` assembles the document from the stages' results (plain documents:
this module imports nothing of the pipeline); ``write_reports`` writes the three files;
``report_context`` is what the two templates read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BUILD_SCHEMA_VERSION = "1.0"
REPORTS = ("report.json", "report.md", "report.html")
_VARIANT_KEYS = ("mode", "path", "bytes", "sha256", "input_dtypes", "output_dtypes", "validation", "metadata")


def build_document(*, out: Path, config: dict, record: dict, descriptions: dict[str, dict], lint: dict,
                   bench: dict, accuracy: dict, selection: dict, apps: dict[str, dict], timings: dict[str, float],
                   hits: dict[str, bool], tools: dict, compression: list[dict],
                   server: dict | None = None, delegate_doctor: dict | None = None) -> dict[str, Any]:
    """``record`` is convert.json; ``descriptions`` each variant's own ModelSpec (as a dict);
    ``delegate_doctor`` the doctor's diagnoses of the accuracy matrix's disagreements."""
    found = departures(bench, delegate_doctor or {})
    return {
        "schema_version": BUILD_SCHEMA_VERSION,
        "kind": "build",
        "out_dir": str(out),
        "config": config,
        "model": record["model"],
        "variants": [{**{k: v.get(k) for k in _VARIANT_KEYS},
                      **{k: descriptions[v["mode"]][k] for k in ("inputs", "outputs")}}
                     for v in record["variants"]],
        "lint": lint,
        "bench": bench,
        "accuracy": accuracy,
        "selection": selection,
        "apps": {t: {**info, "path": str(out / t)} for t, info in apps.items()},
        "reports": {name: str(out / "reports" / name) for name in REPORTS},
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "cache_hits": dict(hits),
        "tools": tools,
        "warnings": list(record.get("warnings", [])) + list(accuracy.get("warnings", [])),
        "compression": compression,
        **({"doctor": record["doctor"]} if record.get("doctor") else {}),   # the quantization doctor's record
        **({"delegate_doctor": found} if found else {}),   # who departs, per variant
        **({"failed_modes": record["failed_modes"]} if record.get("failed_modes") else {}),  # not produced
        **({"server": server} if server else {}),   # --target server: its server.json (the Server section)
    }


def departures(bench: dict, matrix: dict | None = None) -> dict[str, dict]:
    """variant (or file) -> the delegate doctor's diagnosis (``runtime.departure``): the one build ran
    on the evaluation data when the accuracy matrix's delegates disagreed (``trigger``, ``explanation``),
    else the one bench's GPU check ran on its input pattern."""
    out: dict[str, dict] = dict(matrix or {})
    for rec in bench.get("results", []):
        if rec.get("departure"):
            model = rec.get("model") or {}
            out.setdefault(model.get("variant") or model.get("file") or "?", rec["departure"])
    return out


def write_reports(directory: Path, report: dict, bench: dict) -> None:
    from mobilepack.render.environment import render

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    ctx = report_context(report, bench)
    (directory / "report.md").write_text(render("report/build.md.j2", **ctx), encoding="utf-8")
    (directory / "report.html").write_text(render("report/build.html.j2", **ctx), encoding="utf-8")


_DELEGATE_ORDER = ("cpu", "xnnpack", "gpu")


def report_context(report: dict, bench: dict) -> dict[str, Any]:
    from mobilepack.report.doctor_view import view as doctor_view
    from mobilepack.evaluate.tasks import METRIC_NAMES
    from mobilepack.report import bench_views, charts, server_view

    rows = bench_views.rows(bench) if bench.get("results") else []
    delegates = sorted({c["delegate"] for c in report["accuracy"]["cells"]},
                       key=lambda d: _DELEGATE_ORDER.index(d) if d in _DELEGATE_ORDER else len(_DELEGATE_ORDER))
    return {
        "r": report, "rows": rows, "modes": [v["mode"] for v in report["variants"]], "delegates": delegates,
        "cells": {(c["mode"], c["delegate"]): c for c in report["accuracy"]["cells"]},
        "metric_names": METRIC_NAMES, "doc": doctor_view(report.get("doctor")),
        "best_latency": bench_views.best_latency_us(bench),
        "fmt_us": bench_views.fmt_us, "software_note": bench_views.SOFTWARE_NOTE,
        "latency_svg": charts.latency_chart([x for x in rows if x["status"] == "ok"]) if rows else "",
        "size_svg": charts.size_chart(bench_views.models(bench)) if rows else "",
        "server": server_view.view(report.get("server")),
        "departs_cells": {(mode, d["departure"]["delegate"]) for mode, d in report.get("delegate_doctor", {}).items()
                          if d.get("departure") and d["departure"].get("delegate")},
        "explained": {mode: d["explanation"] for mode, d in report.get("delegate_doctor", {}).items()
                      if d.get("explanation")},
    }
