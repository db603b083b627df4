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
from mobilepack.report.schema import BENCH_DEFINITION, BENCH_SCHEMA_VERSION

UNSTATED = "unstated"


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


def document_definition(doc: dict) -> str:
    """The benchmark definition a document states (top level, or the same in every record)."""
    stated = {str(doc["definition"])} if doc.get("definition") else set()
    stated |= {str(r["definition"]) for r in doc.get("results") or () if isinstance(r, dict) and r.get("definition")}
    return stated.pop() if len(stated) == 1 else (UNSTATED if not stated else "mixed:" + ",".join(sorted(stated)))


def read_documents(path: str | Path) -> list[tuple[dict, str]]:
    """(bench document, where) for every document in one imported file."""
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
        if not isinstance(doc, dict):
            raise InputError(f"{p} holds JSON that is not a bench document", "import bench.json files or demo-app exports")
        return [(doc, str(p))]
    docs = parse_logcat(text)
    if not docs:
        raise InputError(f"{p} holds neither bench JSON nor MobilepackBench log lines",
                         "capture with `adb logcat -d -s MobilepackBench:I > bench.log`")
    return [(d, f"{p} (log entry {i + 1})") for i, d in enumerate(docs)]


def import_results(paths: list[str | Path]) -> dict:
    if not paths:
        raise InputError("nothing to import", "pass one or more files to --import")
    docs = [d for p in paths for d in read_documents(p)]
    records = [rec for doc, where in docs for rec in records_from_document(doc, where)]
    definitions = {where: document_definition(doc) for doc, where in docs}
    if len(set(definitions.values())) > 1:
        listed = "; ".join(f"{where}: {d}" for where, d in definitions.items())
        raise InputError(f"these results were measured by different benchmark definitions and cannot be merged ({listed})",
                         f"re-measure with the current mobilepack and demo apps, which all follow {BENCH_DEFINITION}")
    sources = sorted({r["source"] for r in records})
    return document(records, source=sources[0] if len(sources) == 1 else "merged",
                    settings={"imported": [str(p) for p in paths],
                              "definition": next(iter(definitions.values()), UNSTATED)})
