"""The stages that make the variants: compress (optional), convert, metadata.

``convert`` writes the raw variants into the build's scratch space; ``metadata``
copies them into OUT/models, writes TFLite metadata into each, and writes the one
``convert.json`` that describes them (the convert record plus what was written)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from mobilepack.cache import hash_path, make_key
from mobilepack.pipeline import convert_command as convert_module
from mobilepack.pipeline.caching import LAYOUT, Codec, cached, copy_files
from mobilepack.pipeline.state import Compressed, Models, Variant
from mobilepack.progress import ProgressEvent

# -- compress -------------------------------------------------------------------------------------


def _compress_key(state, options) -> str:
    hashed = dict(options.compress_section)
    for k in ("data", "student"):
        if hashed.get(k):
            hashed[k] = hash_path(hashed[k])
    md = options.metadata
    return make_key("compress", LAYOUT, hash_path(options.source), hashed,
                    hash_path(options.eval_data) if options.eval_data else None,
                    hash_path(md["labels"]) if md["labels"] else None, state.tools)


def _compress_dir(state) -> Path:
    return state.root / "compress"


def _relative(path: str | None) -> str | None:
    """compress/<technique>/<file> -> "<technique>/<file>" (an entry relocates with OUT)."""
    return "/".join(Path(path).parts[-2:]) if path else None


def _dump_compressed(c: Compressed) -> dict[str, Any]:
    return {"stages": list(c.stages), "model": _relative(c.model), "qat_tflite": _relative(c.qat_tflite)}


def _load_compressed(doc: dict[str, Any], state) -> Compressed:
    base = _compress_dir(state)
    return Compressed(tuple(doc["stages"]), str(base / doc["model"]) if doc["model"] else None,
                      str(base / doc["qat_tflite"]) if doc["qat_tflite"] else None)


@cached("compress", _compress_key, Codec(_dump_compressed, _load_compressed, _compress_dir))
def compress_stage(state, options) -> Compressed:
    """The [compress] stages in order, each feeding the next."""
    from mobilepack.compress import STAGES, Technique

    directory = _compress_dir(state)
    directory.mkdir()
    current, stages, model, qat = options.source, [], None, None
    for technique in options.compress.stages:
        folder = directory / technique.value
        result = STAGES[technique](current, options.compress.data, folder, options.compress.options[technique],
                                   state.progress)
        record = {**result.to_dict(), "tflite_sha256": hash_path(folder / result.tflite)}
        stages.append(record)
        if result.model:
            current = model = str(folder / result.model)
        if technique == Technique.QAT:
            qat = str(folder / result.tflite)
    return Compressed(tuple(stages), model, qat)


# -- convert --------------------------------------------------------------------------------------


def _convert_key(state, options) -> str:
    plan = options.convert.to_dict()
    del plan["jobs"]   # one process or two, the same bytes (conversion/parallel.py)
    for k in ("calibration", "validation"):
        if plan[k] is not None:
            plan[k] = hash_path(plan[k])
    return make_key("convert", LAYOUT, hash_path(state.compressed.model or state.source), plan, state.tools,
                    [st["tflite_sha256"] for st in state.compressed.stages])


def _convert_dir(state) -> Path:
    return state.work / "convert"


def _restored_convert(doc: dict, state):
    from mobilepack.pipeline.convert_record import from_source

    return from_source(convert_module.ConvertResult.from_dict(doc), str(Path(state.compressed.model or state.source)))


@cached("convert", _convert_key, Codec(lambda r: r.to_dict(), _restored_convert, _convert_dir))
def convert_stage(state, options):
    """One .tflite per quantization mode (plus QAT's int8 .tflite when [compress] made one)."""
    directory = _convert_dir(state)
    directory.mkdir()
    kept: list = []   # what validation computed, for evaluate (evaluate.reuse): in memory only, never cached
    result = convert_module.convert_into(directory, state.compressed.model or state.source, options.convert,
                                         progress=state.progress, out_label=str(options.out / "models"),
                                         preflight=options.preflight, kept=kept)
    from mobilepack.runtime.child import prestart
    from mobilepack.runtime.pool import child_workers

    # lint's probes and evaluate's cells run one child per core, each forked from its own zygote: the
    # second starts now, while the converters are done and metadata is written, not when lint's
    # first two probes wait for it (~0.4-0.7 s of a 4 M-parameter model's build, #21)
    prestart(child_workers(options.convert.jobs))
    result = replace(result, kept=tuple(kept))
    if state.compressed.qat_tflite:
        result = convert_module.add_variant(result, directory, "qat", Path(state.compressed.qat_tflite),
                                            origin="compress qat")
    return result


# -- metadata -------------------------------------------------------------------------------------


def _models_key(state, options) -> str:
    converted = state.converted
    return make_key("models", LAYOUT, [v.sha256 for v in converted.variants], converted.model,
                    options.metadata.key(), state.tools)


def _models_dir(state) -> Path:
    return state.root / "models"


def models_from_record(record: dict[str, Any], directory: Path, labels: tuple[str, ...], key: str,
                       tensors: list[dict[str, Any]] | None = None) -> Models:
    """The typed view of a convert.json: the source's spec (labels applied) and each variant's own.
    ``tensors``: each variant's ``model.variant.tensors_to_json``, in the record's order, where the
    caller read them already (the metadata stage, before writing metadata, which leaves the tensors
    as they were); else each file is read."""
    from mobilepack.model.spec import spec_from_dict
    from mobilepack.model.variant import variant_spec, with_tensors

    spec = spec_from_dict(record["model"])
    if labels:
        spec = replace(spec, labels=labels)
    specs = ([with_tensors(spec, t) for t in tensors] if tensors is not None else
             [variant_spec(spec, (directory / v["path"]).read_bytes()) for v in record["variants"]])
    variants = tuple(Variant(v["mode"], directory / v["path"], v["bytes"], s, v)
                     for v, s in zip(record["variants"], specs))
    return Models(key=key, record=record, spec=spec, variants=variants)


def _load_models(doc: dict[str, Any], state) -> Models:
    return models_from_record(doc["record"], _models_dir(state), tuple(doc["labels"]), doc["key"])


def _dump_models(m: Models) -> dict[str, Any]:
    return {"record": m.record, "labels": list(m.spec.labels or ()), "key": m.key}


@cached("metadata", _models_key, Codec(_dump_models, _load_models, _models_dir))
def metadata_stage(state, options) -> Models:
    """TFLite metadata into every variant (``metadata_jobs``: in child processes where the variants
    are large); convert.json records what was written."""
    from mobilepack.pipeline.metadata_jobs import attach_all, requests
    from mobilepack.runtime.pool import child_workers

    labels = options.metadata.labels
    directory = _models_dir(state)
    record = state.converted.to_dict()
    directory.mkdir(parents=True, exist_ok=True)
    # the variants are written below, with their metadata: copying them first would copy every byte twice
    copy_files(_convert_dir(state), directory, skip={v["path"] for v in record["variants"]})
    jobs = requests(record, options.metadata, labels, options.convert.normalization_source, _convert_dir(state),
                    directory)

    def announce(done: int, mode: str) -> None:
        state.emit(ProgressEvent("metadata", f"metadata for {mode}", done, len(jobs)))

    answers = attach_all(jobs, child_workers(options.convert.jobs), announce)
    for v, answer in zip(record["variants"], answers):
        v["bytes"], v["sha256"], v["metadata"] = answer["bytes"], answer["sha256"], answer["metadata"]
    record["model"]["task"] = record["variants"][0]["metadata"]["task"] if record["variants"] else "generic"
    if labels:
        record["model"]["labels"] = list(labels)
    (directory / convert_module.RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return models_from_record(record, directory, labels, _models_key(state, options),
                              tensors=[answer["tensors"] for answer in answers])
