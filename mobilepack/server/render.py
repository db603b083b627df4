"""``mobilepack render BUILD_OUT --target server -o DIR``: the server tree from an earlier build.

The build's ``models/convert.json`` names the source model, its loading options and the variants;
``reports/report.json`` the phone selection (which variants are within the accuracy budget) and the
``[server]`` options.  The tree is written atomically into DIR (``server.json`` is its record)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from mobilepack.errors import InputError
from mobilepack.progress import ProgressEvent


def _read(build_dir: Path) -> tuple[dict, dict]:
    convert_json, report_json = build_dir / "models" / "convert.json", build_dir / "reports" / "report.json"
    if not (convert_json.is_file() and report_json.is_file()):
        raise InputError(f"--target server renders from a `mobilepack build` output; {build_dir} is not one "
                         "(no models/convert.json and reports/report.json)",
                         "pass the OUT of `mobilepack build`, or run `mobilepack build MODEL --target server`")
    return (json.loads(convert_json.read_text(encoding="utf-8")),
            json.loads(report_json.read_text(encoding="utf-8")))


def render_server(build_dir: str | Path, out: str | Path, *, progress=None) -> dict[str, Any]:
    from mobilepack.config import resolve
    from mobilepack.pipeline.models import models_from_record
    from mobilepack.server.target import preflight, write_server
    from mobilepack.staging import StagedOutput

    emit_event = progress or (lambda event: None)
    build_dir = Path(build_dir)
    record, report = _read(build_dir)
    source = Path(record["source"]["path"])
    if not source.exists():
        raise InputError(f"the build's source model {source} is not found",
                         "run render from the folder the build ran in (the path is relative to it)")
    section = resolve({}, {"server": report["config"].get("server", {})})["server"]
    preflight(str(source), section)
    models = models_from_record(record, build_dir / "models", tuple(record["model"].get("labels") or ()), "render")
    o = record["options"]
    plan = SimpleNamespace(signature=o["signature"], batch=o["batch"], unsafe_load=o["unsafe_load"],
                           input_shapes={k: tuple(v) for k, v in (o["input_shapes"] or {}).items()},
                           validation=o["validation"], calibration=o["calibration"])
    selection = SimpleNamespace(winner=report["selection"]["winner"], rejected=tuple(report["selection"]["rejected"]))
    state = SimpleNamespace(compressed=SimpleNamespace(model=None), source=str(source), models=models,
                            selection=selection, emit=emit_event)
    options = SimpleNamespace(resolved={"server": section}, convert=plan)
    with StagedOutput(out, record="server.json") as stage:
        result = write_server(stage.path, state, options, lambda text: emit_event(ProgressEvent("render", text)))
        stage.commit()
    return result
