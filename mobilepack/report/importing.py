"""``mobilepack report --import``: merge bench results from files into one bench document.

Accepted inputs, each detected from its content:

* a bench JSON document (``mobilepack bench --json`` / ``bench.json``);
* a demo app's export (the same per-record keys, with ``model`` and ``device`` given once);
* ``adb logcat`` (or iOS console) text with lines tagged ``MobilepackBench`` holding such a document.
"""

from __future__ import annotations

import json
from pathlib import Path

from mobilepack.errors import InputError
from mobilepack.report.bench import document, normalize_record
from mobilepack.report.schema import BENCH_SCHEMA_VERSION


def _check_version(doc: dict, where: str) -> None:
    version = str(doc.get("schema_version", ""))
    if not version:
        raise InputError(f"{where}: no schema_version, so not a mobilepack bench result",
                         "import bench.json files, demo-app exports or MobilepackBench logcat lines")
    if version.split(".")[0] != BENCH_SCHEMA_VERSION.split(".")[0]:
        raise InputError(f"{where}: bench schema {version} is not supported (this mobilepack reads {BENCH_SCHEMA_VERSION})",
                         "re-export the results with a matching mobilepack / demo app version")
    if not isinstance(doc.get("results"), list):
        raise InputError(f"{where}: no results list", "import bench.json files or demo-app exports")


def records_from_document(doc: dict, where: str) -> list[dict]:
    _check_version(doc, where)
    source = doc.get("source")
    model, device = doc.get("model"), doc.get("device")
    out = []
    for what, value in (("model", model), ("device", device)):
        if value is not None and not isinstance(value, dict):
            raise InputError(f"{where}: '{what}' must be an object", "the file does not follow the bench schema")
    for i, raw in enumerate(doc["results"]):
        if not isinstance(raw, dict) or "delegate" not in raw:
            raise InputError(f"{where}: result {i} has no delegate", "the file does not follow the bench schema")
        for what in ("model", "device"):
            if raw.get(what) is not None and not isinstance(raw[what], dict):
                raise InputError(f"{where}: result {i}: '{what}' must be an object",
                                 "the file does not follow the bench schema")
        out.append(normalize_record(raw, model=model, device=device, source=source))
    return out


def read_results(path: str | Path) -> list[dict]:
    from mobilepack.bench.parsers import parse_logcat

    p = Path(path)
    if not p.is_file():
        raise InputError(f"file not found: {p}", "pass a bench.json, a demo-app export or a logcat capture")
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror}", "check the path and permissions") from exc
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except ValueError as exc:
            raise InputError(f"{p} is not valid JSON: {exc.msg} (line {exc.lineno})",
                             "pass the file as the app or mobilepack wrote it") from exc
        return records_from_document(doc, str(p))
    docs = parse_logcat(text)
    if not docs:
        raise InputError(f"{p} holds neither bench JSON nor MobilepackBench log lines",
                         "capture with `adb logcat -d -s MobilepackBench:I > bench.log`")
    return [rec for i, d in enumerate(docs) for rec in records_from_document(d, f"{p} (log entry {i + 1})")]


def import_results(paths: list[str | Path]) -> dict:
    if not paths:
        raise InputError("nothing to import", "pass one or more files to --import")
    records = [rec for p in paths for rec in read_results(p)]
    sources = sorted({r["source"] for r in records})
    return document(records, source=sources[0] if len(sources) == 1 else "merged",
                    settings={"imported": [str(p) for p in paths]})
