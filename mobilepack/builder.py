"""``mobilepack build``: one command from a model to reports and app projects.

Stages, in order (each reports progress through the callback and never prints):
load+convert+validate (cached) -> metadata -> inspect/lint -> bench (cached) ->
evaluate (accuracy / agreement matrix) -> select -> render (android, ios) ->
report (json, md, html) -> manifest.  Everything is written into a staging tree
beside OUT and swapped in at the end (``staging.StagedTree``), so a failure or
Ctrl-C at any stage leaves OUT exactly as it was.  Files the user added to OUT
are carried over; generated files the user edited stop the build unless
``force`` (see ``manifest.check_out_dir``)."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mobilepack.cache import Cache, hash_path, make_key
from mobilepack.config import SCHEMA, load_config, resolve
from mobilepack.errors import InputError, UsageError
from mobilepack.manifest import check_out_dir, write_manifest
from mobilepack.progress import ProgressCallback, ProgressEvent, or_ignore
from mobilepack.report.schema import tool_versions

BUILD_SCHEMA_VERSION = "1.0"
EVALUATE_VERSION = 2   # part of the evaluation cache key: per-task evaluators
_SECTION_OF = {key: section for section, options in SCHEMA.items() for key in options}


@dataclass(frozen=True)
class BuildResult:
    out_dir: str
    report: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    cache_hits: dict[str, bool] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return self.report


def split_overrides(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"quantize": [...], "runs": 5}`` -> ``{"convert": {...}, "bench": {...}}``; unknown names are errors."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        if key not in _SECTION_OF:
            import difflib

            close = difflib.get_close_matches(key, list(_SECTION_OF), n=1)
            raise UsageError(f"unknown build option {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                             "see `mobilepack build --help`")
        out.setdefault(_SECTION_OF[key], {})[key] = value
    return out


def resolve_options(source: Any = None, *, config: str | Path | None = None, **flat: Any) -> dict[str, dict[str, Any]]:
    file_cfg = load_config(config) if config else {}
    overrides = split_overrides({k: v for k, v in flat.items() if v is not None})
    if source is not None:
        overrides.setdefault("build", {})["source"] = str(source)
    opts = resolve(file_cfg, overrides)
    if not opts["build"]["source"]:
        raise UsageError("no model given", "pass SRC, or set [build] source in mobilepack.toml")
    from mobilepack.render.targets import names as target_names

    valid_targets = (*target_names(), "all")
    if opts["build"]["target"] not in valid_targets:
        raise UsageError(f"unknown --target {opts['build']['target']!r}", f"valid: {', '.join(valid_targets)}")
    drop = opts["build"]["max_accuracy_drop"]
    if not 0 <= drop < 1:
        raise UsageError(f"--max-accuracy-drop must be in [0, 1) (got {drop})", "e.g. 0.01 for one point")
    return opts


def _targets(opts) -> tuple[str, ...]:
    from mobilepack.render.targets import expand

    return expand(opts["build"]["target"])


def build(source: Any = None, *, config: str | Path | None = None, progress: ProgressCallback | None = None,
          **options: Any) -> BuildResult:
    """Run every stage on ``source`` and write OUT (see the module docstring).

    ``options`` are the keys of mobilepack.toml (``out``, ``target``, ``quantize``, ``calibration``,
    ``labels``, ``delegates``, ``app_name``, ...); they override the config file."""
    from mobilepack.pipeline import plan_convert
    from mobilepack.render.targets import get as get_target
    from mobilepack.staging import StagedTree

    emit = or_ignore(progress)
    t_start = time.perf_counter()
    opts = resolve_options(source, config=config, **options)
    b, c, md, bn, r = opts["build"], opts["convert"], opts["metadata"], opts["bench"], opts["render"]
    src = b["source"]
    out = Path(b["out"]).absolute()
    # -- validate everything before heavy work ------------------------------------------
    plan = plan_convert(src, quantize=c["quantize"], calibration=c["calibration"],
                        calibration_samples=c["calibration_samples"], validation=c["validation"],
                        io_dtype=c["io_dtype"], signature=c["signature"],
                        input_shapes={k: tuple(v) for k, v in (c["input_shape"] or {}).items()}, batch=c["batch"],
                        mean=md["mean"], std=md["std"], allow_float_fallback=c["allow_float_fallback"],
                        unsafe_load=c["unsafe_load"])
    labels = _labels(md["labels"])
    targets = _targets(opts)
    for name in targets:
        tgt = get_target(name)
        given = r[tgt.id_key]
        if given is not None:
            tgt.validate_id(given)
    if b["eval_data"] is not None and plan.modes and "fp32" not in plan.modes:
        raise UsageError("--eval-data selects against the fp32 variant, which --quantize leaves out",
                         "add fp32 to --quantize")
    if r["samples"] is not None and not Path(r["samples"]).is_dir():
        raise InputError(f"sample images folder not found: {r['samples']}",
                         "pass a folder of .png/.jpg images to --samples")
    if b["eval_data"] is not None and not Path(b["eval_data"]).exists():
        raise InputError(f"evaluation data not found: {b['eval_data']}",
                         "pass a folder per class of images or .npz with x and y (classification), a folder "
                         "with annotations.json (detection) or with masks/ (segmentation)")
    from mobilepack.evaluate.tasks import check_eval_data

    check_eval_data(md["task"], b["eval_data"])  # the layout the task's labelled metric reads
    from mobilepack.runtime.delegates import get as get_delegate

    for name in bn["delegates"]:
        get_delegate(name)
    if bn["runs"] < 1 or bn["warmup"] < 0 or any(t < 1 for t in bn["threads"]):
        raise UsageError("[bench] runs must be ≥ 1, warmup ≥ 0 and threads ≥ 1", "e.g. --runs 50 --threads 1,2")
    from mobilepack.compress.options import CompressConfig, Technique

    compress_cfg = CompressConfig.from_section(opts["compress"], eval_data=b["eval_data"], labels=md["labels"])
    if Technique.QAT in compress_cfg.stages and compress_cfg.stages[-1] != Technique.QAT:
        raise UsageError("[compress] qat must be the last stage (it produces the int8 .tflite itself)",
                         "move qat to the end of stages")
    out_state = check_out_dir(out, force=b["force"])
    cache = Cache(b["cache_dir"])
    tools = tool_versions()
    timings: dict[str, float] = {}
    hits: dict[str, bool] = {}

    def timed(stage: str):
        return _Timer(timings, stage)

    with StagedTree(out) as stage:
        root = stage.path
        models_dir = root / "models"
        # -- compress (optional, cached) ------------------------------------------------------
        compressed: dict[str, Any] = {"stages": [], "qat_tflite": None}
        if compress_cfg.stages:
            with timed("compress"):
                compressed = _compress(root / "compress", src, compress_cfg, opts["compress"], b, md, tools, cache,
                                       progress, hits)
                if compressed["model"]:
                    src = compressed["model"]
        # -- convert (cached) -----------------------------------------------------------------
        with timed("convert"):
            plan_dict = plan.to_dict()
            for k in ("calibration", "validation"):
                if plan_dict[k] is not None:
                    plan_dict[k] = hash_path(plan_dict[k])
            convert_key = make_key("convert", hash_path(src), plan_dict, tools, compressed["stages"] and
                                   [st["tflite_sha256"] for st in compressed["stages"]])
            md_opts = {k: md[k] for k in md if k != "labels"}
            if md["vocab"]:
                md_opts["vocab"] = hash_path(md["vocab"])
            models_key = make_key("models", convert_key, md_opts, list(labels))
            cached = cache.get("models", models_key)
            hits["convert"] = cached is not None
            if cached:
                emit(ProgressEvent("convert", "conversion and metadata: cached"))
                shutil.copytree(cached, models_dir, ignore=shutil.ignore_patterns(".complete"))
                record = json.loads((models_dir / "convert.json").read_text(encoding="utf-8"))
            else:
                from mobilepack.pipeline import convert_into

                models_dir.mkdir()
                convert_into(models_dir, src, plan, progress=progress, out_label=str(out / "models"))
                record = json.loads((models_dir / "convert.json").read_text(encoding="utf-8"))
                if compressed["qat_tflite"]:
                    record = _add_variant(models_dir, record, "qat", Path(compressed["qat_tflite"]))
                record = _attach_metadata(models_dir, record, md, labels, emit)
                cache.put("models", models_key, models_dir)
        from mobilepack.model.spec import spec_from_dict

        spec = spec_from_dict(record["model"])
        if labels:
            spec = replace(spec, labels=labels)
        variants = [(v["mode"], models_dir / v["path"]) for v in record["variants"]]
        from mobilepack.model.variant import variant_spec

        # one description per variant: its own tensors (I/O dtype, quantization) + the source's meaning;
        # the apps and the reports describe the variants with it
        variant_specs = {mode: variant_spec(spec, path.read_bytes()) for mode, path in variants}
        # -- inspect / lint (cached) ------------------------------------------------------------
        with timed("inspect"):
            lint = _cached_json(cache, "inspect", make_key("inspect", models_key, "gpu" in bn["delegates"], tools),
                                lambda: _inspect(variants, gpu="gpu" in bn["delegates"], emit=emit), hits)
        # -- bench (cached) -------------------------------------------------------------------
        with timed("bench"):
            bench_settings = {k: bn[k] for k in ("delegates", "threads", "runs", "warmup")}
            bench_doc = _cached_json(cache, "bench", make_key("bench", models_key, bench_settings, tools),
                                     lambda: _bench(variants, bn, progress), hits)
            bench_doc = _relocate(bench_doc, out / "models", {v["path"]: v["mode"] for v in record["variants"]})
        # -- evaluate (cached) -----------------------------------------------------------------
        with timed("evaluate"):
            eval_source = b["eval_data"] or c["validation"] or c["calibration"]
            eval_key = make_key("evaluate", EVALUATE_VERSION, spec.task.value, models_key,
                                hash_path(eval_source) if eval_source else None, bool(b["eval_data"]),
                                bn["delegates"], list(labels), tools)
            matrix = _cached_json(cache, "evaluate", eval_key,
                                  lambda: _evaluate(variants, spec, b["eval_data"], eval_source, labels,
                                                    bn["delegates"], progress), hits)
        # -- select ---------------------------------------------------------------------------
        with timed("select"):
            selection = _select(record, bench_doc, matrix, b["max_accuracy_drop"])
            emit(ProgressEvent("select", f"the apps ship {selection['winner']}"))
        # -- render ---------------------------------------------------------------------------
        with timed("render"):
            winner = next(v for v in record["variants"] if v["mode"] == selection["winner"])
            rendered = _render(root, targets, variant_specs[selection["winner"]], models_dir / winner["path"],
                               selection["winner"], labels, r, emit)
        # -- report ---------------------------------------------------------------------------
        with timed("report"):
            timings["total"] = time.perf_counter() - t_start
            report = _report_document(opts, record, lint, bench_doc, matrix, selection, rendered, out, timings,
                                      hits, tools, variant_specs)
            report["compression"] = compressed["stages"]
            _write_reports(root / "reports", report, bench_doc)
        # -- user files, manifest, swap -------------------------------------------------------
        for rel in out_state.foreign:
            dest = root / rel
            if dest.exists():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(out / rel, dest)
        generated = [p.relative_to(root).as_posix() for p in sorted(root.rglob("*"))
                     if p.is_file() and p.relative_to(root).as_posix() not in out_state.foreign]
        inputs = [{"path": str(b["source"]), "sha256": hash_path(b["source"])}]
        for label, path in (("calibration", c["calibration"]), ("validation", c["validation"]),
                            ("eval_data", b["eval_data"]), ("labels", md["labels"])):
            if path and path != "random":
                inputs.append({"role": label, "path": str(path), "sha256": hash_path(path)})
        write_manifest(root, inputs=inputs, config=opts, tools=tools, generated=generated)
        emit(ProgressEvent("write", f"writing {out}"))
        stage.commit()
    return BuildResult(out_dir=str(out), report=report, timings=timings, cache_hits=hits)


def _compress(directory: Path, src: str, cfg, section: dict, b: dict, md: dict, tools, cache: Cache, progress,
              hits: dict[str, bool]) -> dict[str, Any]:
    """Run the [compress] stages in order (each feeds the next); cached as a whole."""
    from mobilepack.compress import STAGES, Technique

    hashed = dict(section)
    for k in ("data", "student"):
        if hashed.get(k):
            hashed[k] = hash_path(hashed[k])
    key = make_key("compress", hash_path(src), hashed, hash_path(b["eval_data"]) if b["eval_data"] else None,
                   hash_path(md["labels"]) if md["labels"] else None, tools)
    entry = cache.get("compress", key)
    hits["compress"] = entry is not None
    if entry is not None:
        shutil.copytree(entry, directory, ignore=shutil.ignore_patterns(".complete"))
    else:
        directory.mkdir()
        current = src
        for technique in cfg.stages:
            result = STAGES[technique](current, cfg.data, directory / technique.value, cfg.options[technique], progress)
            if result.model:
                current = str(directory / technique.value / result.model)
        cache.put("compress", key, directory)
    stages, model, qat = [], None, None
    for technique in cfg.stages:
        record = json.loads((directory / technique.value / "compress.json").read_text(encoding="utf-8"))
        tfl = directory / technique.value / record["tflite"]
        record["tflite_sha256"] = hash_path(tfl)
        stages.append(record)
        if record["model"]:
            model = str(directory / technique.value / record["model"])
        if technique == Technique.QAT:
            qat = str(tfl)
    return {"stages": stages, "model": model, "qat_tflite": qat}


def _add_variant(models_dir: Path, record: dict, mode: str, tflite: Path) -> dict:
    """A variant produced outside convert (quantization-aware training's int8 .tflite)."""
    import hashlib

    from mobilepack.runtime.interpreter import describe_tflite

    data = tflite.read_bytes()
    name = f"{record['model']['name']}_{mode}.tflite"
    (models_dir / name).write_bytes(data)
    ins, outs, _ = describe_tflite(data)
    record["variants"].append({"mode": mode, "path": name, "bytes": len(data),
                               "sha256": hashlib.sha256(data).hexdigest(),
                               "input_dtypes": [t.dtype for t in ins], "output_dtypes": [t.dtype for t in outs],
                               "conversion_seconds": 0.0, "validation_seconds": 0.0, "validation": None,
                               "tool_versions": record["tools"], "origin": "compress qat"})
    record["files"].insert(len(record["variants"]) - 1, name)
    (models_dir / "convert.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


class _Timer:
    def __init__(self, timings: dict[str, float], stage: str) -> None:
        self.timings, self.stage = timings, stage

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.timings[self.stage] = time.perf_counter() - self.t0


def _labels(path) -> tuple[str, ...]:
    if not path:
        return ()
    from mobilepack.metadata.labels import read_labels

    return tuple(read_labels(path))


def _cached_json(cache: Cache, stage: str, key: str, compute, hits: dict[str, bool]):
    entry = cache.get(stage, key)
    hits[stage] = entry is not None
    if entry is not None:
        return json.loads((entry / "result.json").read_text(encoding="utf-8"))
    value = compute()
    with tempfile.TemporaryDirectory(prefix="mobilepack-cache-") as tmp:
        (Path(tmp) / "result.json").write_text(json.dumps(value), encoding="utf-8")
        cache.put(stage, key, Path(tmp))
    return value


def _attach_metadata(models_dir: Path, record: dict, md: dict, labels, emit) -> dict:
    """Write TFLite metadata into every variant; record what was written; refresh sizes/hashes."""
    import hashlib

    from mobilepack.metadata import GeneralInfo, attach
    from mobilepack.model.normalization import from_flags
    from mobilepack.model.spec import spec_from_dict
    from mobilepack.model.variant import variant_spec

    spec = spec_from_dict(record["model"])

    norm = from_flags(md["mean"], md["std"], source="config") or spec.normalization
    info = GeneralInfo(name=md["name"] or spec.name, version=md["version"], author=md["author"],
                       license=md["license"], description=f"{spec.name}, converted by mobilepack")
    for i, v in enumerate(record["variants"]):
        emit(ProgressEvent("metadata", f"metadata for {v['mode']}", i, len(record["variants"])))
        path = models_dir / v["path"]
        data = path.read_bytes()
        result = attach(data, task=md["task"], spec=variant_spec(spec, data), labels=labels or None,
                        normalization=norm,
                        info=info, score_threshold=md["score_threshold"], vocab=md["vocab"],
                        tokenizer=md["tokenizer"], sample_rate=md["sample_rate"], channels=md["channels"])
        path.write_bytes(result.model)
        v["bytes"], v["sha256"] = len(result.model), hashlib.sha256(result.model).hexdigest()
        v["metadata"] = result.to_dict(output=v["path"])
    record["model"]["task"] = record["variants"][0]["metadata"]["task"] if record["variants"] else "generic"
    if labels:
        record["model"]["labels"] = list(labels)
    (models_dir / "convert.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def _inspect(variants, *, gpu: bool, emit) -> dict:
    from mobilepack.inspect import inspect_model

    out = {}
    for i, (mode, path) in enumerate(variants):
        emit(ProgressEvent("inspect", f"lint {mode}", i, len(variants)))
        result = inspect_model(path, runtime=True, gpu=gpu)
        out[mode] = {"findings": [f.to_dict() for f in result.findings], "gpu": result.gpu,
                     "summary": result.to_dict()["summary"]}
    return out


def _bench(variants, bn: dict, progress) -> dict:
    from mobilepack.bench.engine import plan_bench, run_bench

    plan = plan_bench([p for _, p in variants], delegates=",".join(bn["delegates"]),
                      threads=",".join(str(t) for t in bn["threads"]), runs=bn["runs"], warmup=bn["warmup"],
                      min_seconds=0.0)
    return run_bench(plan, progress=progress).to_dict()


def _relocate(doc: dict, final: Path, modes: dict[str, str]) -> dict:
    """Bench records name model paths; point them at the final OUT location, and name each
    record's variant by its file (``qat`` and pass-through files have no mode suffix)."""
    for rec in doc.get("results", []):
        model = rec.get("model") or {}
        if model.get("file"):
            model["path"] = str(final / model["file"])
            model["variant"] = modes.get(model["file"], model.get("variant"))
    return doc


def _evaluate(variants, spec, eval_data, source, labels, delegates, progress) -> dict:
    """The task's evaluator judges the variants: its labelled metric on ``eval_data`` (read in the
    task's layout), else its agreement with fp32 on the validation/calibration samples.  Samples are
    read with the source's float description; the child quantizes them for each variant's input."""
    from mobilepack.data.readers import read_samples
    from mobilepack.evaluate.accuracy import evaluate
    from mobilepack.evaluate.tasks import check_eval_data, get as get_evaluator

    evaluator = get_evaluator(spec.task.value)
    truth, warnings = None, []
    if eval_data:
        check_eval_data(evaluator.task, eval_data)
        samples, truth, warnings = evaluator.read_labelled(eval_data, spec, labels)
    else:  # calibration/validation folders are not a test set, even with class folders
        samples = read_samples(source or "random", spec, limit=200, what="validation")
        samples = replace(samples, labels=None, class_names=None)
    matrix = evaluate(variants, samples, task=evaluator.task, truth=truth, labels=labels,
                      delegates=list(delegates), progress=progress)
    if warnings:
        matrix = replace(matrix, warnings=tuple(warnings) + matrix.warnings)
    return matrix.to_dict()


def _select(record: dict, bench_doc: dict, matrix: dict, max_drop: float) -> dict:
    from mobilepack.evaluate.selection import Candidate, Criterion, select

    best: dict[str, float] = {}
    for rec in bench_doc.get("results", []):
        variant = (rec.get("model") or {}).get("variant")
        if rec.get("status") == "ok" and variant and rec.get("mean_us") and not rec.get("software"):
            best[variant] = min(best.get(variant, float("inf")), rec["mean_us"])
    cands = []
    for v in record["variants"]:
        acc = {c["delegate"]: c["accuracy"] for c in matrix["cells"]
               if c["mode"] == v["mode"] and c["status"] == "ok" and c["accuracy"] is not None}
        agree = next((c["agreement"] for c in matrix["cells"] if c["mode"] == v["mode"] and c["delegate"] == "cpu"),
                     None)
        cands.append(Candidate(v["mode"], v["bytes"], best.get(v["mode"]), acc if matrix["labelled"] else {}, agree))
    return select(cands, max_accuracy_drop=max_drop, criterion=Criterion.of_matrix(matrix)).to_dict()


def _render(root: Path, targets, spec, model_path: Path, mode: str, labels, r: dict, emit) -> dict:
    """``spec`` is the shipped variant's description (its own I/O dtypes and quantization)."""
    from mobilepack.render.context import RenderInputs
    from mobilepack.render.renderer import render_into
    from mobilepack.render.sources import default_app_name, sample_images
    from mobilepack.render.targets import get as get_target

    out = {}
    name = r["app_name"] or default_app_name(spec.name)
    samples = sample_images(Path(r["samples"])) if r["samples"] else ()
    model_bytes = model_path.read_bytes()
    for t in targets:
        emit(ProgressEvent("render", f"{t} project"))
        tgt = get_target(t)
        app_id = r[tgt.id_key] or tgt.default_id(name)
        inputs = RenderInputs(spec=spec, model_bytes=model_bytes, variant=mode, labels=labels,
                              app_name=name, app_id=app_id, sample_images=samples)
        (root / t).mkdir()
        result = render_into(root / t, t, inputs)
        out[t] = {"files": len(result.files), "app_id": app_id, "app_name": name}
    return out


def _report_document(opts, record, lint, bench_doc, matrix, selection, rendered, out: Path, timings, hits,
                     tools, variant_specs) -> dict:
    return {
        "schema_version": BUILD_SCHEMA_VERSION,
        "kind": "build",
        "out_dir": str(out),
        "config": opts,
        "model": record["model"],
        "variants": [{**{k: v.get(k) for k in ("mode", "path", "bytes", "sha256", "input_dtypes", "output_dtypes",
                                                "validation", "metadata")},
                      **{k: variant_specs[v["mode"]].to_dict()[k] for k in ("inputs", "outputs")}}
                     for v in record["variants"]],
        "lint": lint,
        "bench": bench_doc,
        "accuracy": matrix,
        "selection": selection,
        "apps": {t: {**info, "path": str(out / t)} for t, info in rendered.items()},
        "reports": {name: str(out / "reports" / name) for name in ("report.json", "report.md", "report.html")},
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "cache_hits": hits,
        "tools": tools,
        "warnings": list(record.get("warnings", [])) + list(matrix.get("warnings", [])),
    }


def _write_reports(directory: Path, report: dict, bench_doc: dict) -> None:
    from mobilepack.render.environment import render

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    ctx = _report_context(report, bench_doc)
    (directory / "report.md").write_text(render("report/build.md.j2", **ctx), encoding="utf-8")
    (directory / "report.html").write_text(render("report/build.html.j2", **ctx), encoding="utf-8")


def _report_context(report: dict, bench_doc: dict) -> dict:
    from mobilepack.report import bench_views, charts

    rows = bench_views.rows(bench_doc) if bench_doc.get("results") else []
    modes = [v["mode"] for v in report["variants"]]
    delegates = sorted({c["delegate"] for c in report["accuracy"]["cells"]},
                       key=lambda d: ["cpu", "xnnpack", "gpu"].index(d) if d in ("cpu", "xnnpack", "gpu") else 9)
    cells = {(c["mode"], c["delegate"]): c for c in report["accuracy"]["cells"]}
    latency: dict[str, dict[str, dict]] = {}
    for row in rows:
        variant = (row.get("model") or {}).get("variant")
        latency.setdefault(variant, {})[row["label"]] = row
    from mobilepack.evaluate.tasks import METRIC_NAMES

    return {
        "r": report, "rows": rows, "modes": modes, "delegates": delegates, "cells": cells,
        "metric_names": METRIC_NAMES,
        "fmt_us": bench_views.fmt_us, "software_note": bench_views.SOFTWARE_NOTE,
        "latency_svg": charts.latency_chart([x for x in rows if x["status"] == "ok"]) if rows else "",
        "size_svg": charts.size_chart(bench_views.models(bench_doc)) if rows else "",
    }
