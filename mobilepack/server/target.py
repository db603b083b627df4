"""``--target server``: registered with the render targets (outside ``all``, which means the phones);
it writes its own tree instead of rendering templates (:func:`write_server`)."""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mobilepack.errors import DataError, UsageError
from mobilepack.progress import ProgressEvent
from mobilepack.render.targets import Target, register

SAVEDMODEL = "savedmodel"


def model_name(name: str) -> str:
    """A name TF Serving, Ray and URLs accept: letters, digits, ``_``, ``-``, ``.``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "model"


def grid_spec(section: dict[str, Any], variants: tuple[str, ...]):
    from mobilepack.server.grid import GridSpec

    return GridSpec(variants, tuple(section["server_batch"]), tuple(section["server_concurrency"]),
                    tuple(section["server_replicas"]), section["server_requests"], section["server_seconds"],
                    section["server_p99_ms"])


def check_section(section: dict[str, Any]) -> None:
    """The ``[server]`` options, checked before any heavy work."""
    for key in ("server_batch", "server_concurrency", "server_replicas"):
        if not section[key] or any(v < 1 for v in section[key]):
            flag = "--" + key.replace("_", "-")
            raise UsageError(f"{flag} must list integers ≥ 1 (got {section[key]})", f"e.g. {flag} 1,8")
    if section["server_requests"] < 1 or section["server_seconds"] <= 0 or section["server_p99_ms"] <= 0:
        raise UsageError("--server-requests must be ≥ 1, --server-seconds and --server-p99-ms > 0",
                         "e.g. --server-requests 300 --server-seconds 3 --server-p99-ms 100")


def preflight(source: str, section: dict[str, Any]) -> None:
    """Before any conversion: the extra is installed, the [server] options hold, the source can be
    exported as a SavedModel."""
    from mobilepack.model.loading import detect_format
    from mobilepack.model.spec import SourceFormat
    from mobilepack.server import require_extra

    require_extra()
    check_section(section)
    if detect_format(source) == SourceFormat.TFLITE:
        raise UsageError("--target server needs a SavedModel or Keras source: TF Serving serves a SavedModel, "
                         "not a .tflite", "build from the SavedModel or .keras the .tflite came from")


def _feeds(spec, sources: tuple[str | None, ...]):
    from mobilepack.data.readers import read_samples
    from mobilepack.server.export import concat_samples

    for source in [s for s in sources if s] + ["random"]:
        try:
            return concat_samples(read_samples(source, spec, limit=32, what="server"))
        except DataError:
            continue
    raise AssertionError("random samples always read")


def _server_variants(models, selection, savedmodel_inputs) -> tuple[str, ...]:
    """The LiteRT variants a client cannot tell from the SavedModel (the same signature inputs and
    dtypes) and within the accuracy budget, phone winner and fp32 first."""
    from mobilepack.server.runners import TfliteRunner

    def same_io(v) -> bool:
        try:
            return sorted((t.name, t.dtype) for t in TfliteRunner(v.path, v.mode).inputs) == savedmodel_inputs
        except ValueError:   # no signature
            return False

    order = [selection.winner, "fp32", *(v.mode for v in models.variants)]
    modes = {v.mode: v for v in models.variants}
    return tuple(m for m in dict.fromkeys(order) if m in modes and m not in selection.rejected and same_io(modes[m]))


def _tfserving(directory: Path, src, name: str, feeds, p99_ms: float, emit) -> dict[str, Any]:
    """The SavedModel (checked), its batch latencies and TF Serving's files: the record's first part."""
    from mobilepack.server import tfserving
    from mobilepack.server.batching import choose_batching, measure_batches
    from mobilepack.server.export import export_savedmodel
    from mobilepack.server.runners import SavedModelRunner

    emit("exporting the SavedModel and checking its serving signature")
    version_dir = directory / "tfserving" / name / "1"
    export = export_savedmodel(src, version_dir, feeds)
    emit("measuring batch sizes for TF Serving")
    runner = SavedModelRunner(version_dir)
    rows = measure_batches(runner, feeds)
    batching = choose_batching(rows, p99_ms)
    for file, text in tfserving.files(name, batching).items():
        (directory / "tfserving" / file).write_text(text, encoding="utf-8")
    per_sample = sum(math.prod(d or 1 for d in t.sample_shape) for t in runner.inputs)
    max_instances = max(batching["max_batch_size"] * 4, 64)
    return {"schema_version": "1.0", "name": name, "export": export,
            "limits": {"max_instances": max_instances, "max_body_bytes": max(1 << 20, max_instances * per_sample * 24)},
            "batch_latency": rows, "batching": batching}


def write_server(directory: Path, state, options, emit: Callable[[str], None]) -> dict[str, Any]:
    """TF Serving's and Ray Serve's files for the build's source model into ``directory``."""
    from mobilepack.model.loading import load
    from mobilepack.server.grid import choose, request_body, run_grid
    from mobilepack.server.serve_files import readme, serve_config

    section, plan = options.resolved["server"], options.convert
    src = load(state.compressed.model or state.source, signature_key=plan.signature, input_shapes=plan.input_shapes,
               batch=plan.batch, safe_mode=not plan.unsafe_load)
    name = model_name(state.models.spec.name)
    feeds = _feeds(src.spec, (plan.validation, plan.calibration))
    record = _tfserving(directory, src, name, feeds, section["server_p99_ms"], emit)
    inputs = sorted((t["name"], t["dtype"]) for t in record["export"]["inputs"])
    lite = _server_variants(state.models, state.selection, inputs)
    (directory / "ray").mkdir()
    record["variants"] = {SAVEDMODEL: f"tfserving/{name}/1"}
    for mode in lite:
        v = state.models.variant(mode)
        shutil.copyfile(v.path, directory / "ray" / v.path.name)
        record["variants"][mode] = f"ray/{v.path.name}"
    wait_s = round(record["batching"]["batch_timeout_micros"] / 1e6, 6)
    record["ray"] = {"variant": lite[0] if lite else SAVEDMODEL, "max_batch_size": record["batching"]["max_batch_size"],
                     "num_replicas": 1, "batch_wait_timeout_s": wait_s, "replica_cpus": 1,
                     "rule": "not measured (the grid did not run)"}
    _write_record(directory, record)   # the Ray app reads it
    spec = grid_spec(section, tuple(dict.fromkeys([SAVEDMODEL, *lite[:2]])))
    emit(f"load test on loopback: {spec.cells()} cells")
    rows = run_grid(directory, spec, request_body(feeds), batch_wait_timeout_s=wait_s,
                    emit=lambda text, i, n: state.emit(ProgressEvent("server", text, i, n)))
    choice = choose(rows, spec.p99_ms, tuple(record["variants"]))
    record["ray"].update({k: choice[k] for k in ("variant", "max_batch_size", "num_replicas", "rule")})
    record["choice"], record["grid"], record["grid_spec"] = choice, rows, spec.to_dict()
    record["files"] = ["README.md", "ray", "serve_config.yaml", "server.json", "tfserving"]
    _write_record(directory, record)
    (directory / "serve_config.yaml").write_text(serve_config(record), encoding="utf-8")
    (directory / "README.md").write_text(readme(record), encoding="utf-8")
    return record


def _write_record(directory: Path, record: dict[str, Any]) -> None:
    (directory / "server.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


register(Target(
    name="server",
    template_dir="server",
    description="TF Serving (SavedModel, configs, docker-compose, KServe) and a Ray Serve app, measured",
    id_key="app_name",
    default_id=model_name,
    validate_id=lambda value: None,
    in_all=False,
    writer=write_server,
))
