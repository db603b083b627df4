"""The metadata stage: ``attach(model_bytes, ...) -> MetadataResult``.

Writes TFLite metadata with mobilepack's own writers (one per task, see
:mod:`mobilepack.metadata.tasks`; the flatbuffer is built by :mod:`mobilepack.metadata.schema`
and put into the model by :mod:`mobilepack.metadata.packing`), replaces metadata the model
already had, then reads the result back with mobilepack's reader and compares it with what was
intended.  Pure function over bytes: writes no files (the CLI writes ``-o`` atomically), no TensorFlow."""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mobilepack.errors import InputError, UsageError
from mobilepack.metadata.task_evidence import by_signature_name, image_evidence, signature_names, task_evidence
from mobilepack.metadata.calibration import CALIBRATION_FILE, ScoreCalibration, check as check_calibration
from mobilepack.metadata.families import check_iou
from mobilepack.metadata.keypoints import packed as keypoint_files, resolve as resolve_keypoints
from mobilepack.metadata.labels import check_count, check_labels, labels_file_bytes
from mobilepack.metadata.reader import ModelMetadata, parse_metadata, read_metadata
from mobilepack.metadata.tasks import WriteRequest, class_count, with_runtime_shapes
from mobilepack.metadata.populate import populate as _populate, score_threshold as _score_threshold
from mobilepack.metadata.verify import LABELS_FILE, MetadataMismatch, verify
from mobilepack.model.flatbuffer import parse_model
from mobilepack.model.spec import ModelSpec, Normalization
from mobilepack.report.schema import METADATA_SCHEMA_VERSION
from mobilepack.tasks import TaskSpec, detect, get as get_task, parse as parse_task
from mobilepack.tasks.tensors import signature

@dataclass(frozen=True)
class GeneralInfo:
    name: str | None = None
    description: str | None = None
    version: str | None = None
    author: str | None = None
    license: str | None = None


@dataclass(frozen=True)
class MetadataResult:
    model: bytes = field(repr=False)
    task: str
    task_source: str                       # "option" | "spec" | "metadata" | "detected" | "undetected"
    normalization: dict[str, Any] | None   # chosen values, source, in_model, and what was written
    labels: tuple[str, ...]
    general: dict[str, str | None]
    associated_files: tuple[str, ...]
    replaced_existing: bool
    min_parser_version: str
    warnings: tuple[str, ...] = ()
    task_reason: str = ""                  # why this task (what was detected or guessed, from what)
    sample_rate: int | None = None         # audio: the rate written, and where it came from
    sample_rate_source: str | None = None  # "option" | "metadata"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.model).hexdigest()

    def to_dict(self, *, output: str | None = None) -> dict[str, Any]:
        return {
            "schema_version": METADATA_SCHEMA_VERSION,
            "output": output,
            "bytes": len(self.model),
            "sha256": self.sha256,
            "task": self.task,
            "task_source": self.task_source,
            "task_reason": self.task_reason,
            "sample_rate": self.sample_rate,
            "sample_rate_source": self.sample_rate_source,
            "normalization": self.normalization,
            "labels": {"count": len(self.labels), "first": list(self.labels[:5])} if self.labels else None,
            "general": self.general,
            "associated_files": list(self.associated_files),
            "replaced_existing": self.replaced_existing,
            "min_parser_version": self.min_parser_version,
            "warnings": list(self.warnings),
        }


def strip_associated_files(data: bytes) -> bytes:
    """The flatbuffer without the zip of associated files appended after it."""
    if b"PK\x05\x06" not in data[-(65536 + 22):]:
        return data
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            starts = [i.header_offset for i in zf.infolist()]
    except zipfile.BadZipFile:
        return data
    return data[:min(starts)] if starts else data


def spec_beside(model_path: str | Path) -> ModelSpec | None:
    """The ModelSpec recorded by ``mobilepack convert`` beside this variant, if any."""
    from mobilepack.model.spec import spec_from_dict

    p = Path(model_path)
    record = p.parent / "convert.json"
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        if p.name not in {v.get("path") for v in data.get("variants", [])}:
            return None
        return spec_from_dict(data["model"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _normalization_from_quantization(fb_inputs) -> Normalization | None:
    """A full-integer image input takes the pixel bytes as they are (uint8 q = pixel, int8 q = pixel - 128),
    so its quantization is the normalization: real = scale * (q - zero_point) = (pixel - mean) / std with
    mean = zero_point (+128 for int8) and std = 1 / scale.  None for float or per-axis quantized inputs."""
    t = fb_inputs[0] if len(fb_inputs) == 1 else None
    q = t.quantization if t is not None else None
    if t is None or t.type not in ("UINT8", "INT8") or q is None or len(q.scale) != 1 or not q.scale[0] > 0:
        return None
    zero = (q.zero_point[0] if q.zero_point else 0) + (128 if t.type == "INT8" else 0)
    return Normalization(mean=(float(zero),), std=(1.0 / q.scale[0],), source="quantization", in_model=False)


def _resolve_normalization(task: TaskSpec, fb_inputs, *, explicit: Normalization | None, spec: ModelSpec | None,
                           existing: ModelMetadata | None) -> tuple[Normalization | None, tuple | None]:
    """(chosen normalization, (mean, std) to write).  Order: explicit, model layer / spec, metadata, and for an
    image task the quantization of a full-integer input."""
    chosen = explicit or (spec.normalization if spec else None)
    if chosen is None and existing is not None and existing.normalization is not None:
        mean, std = existing.normalization
        chosen = Normalization(mean=mean, std=std, source="metadata", in_model=False)
    if chosen is None and task.image_input:
        chosen = _normalization_from_quantization(fb_inputs)
    if chosen is None:
        if task.image_input:
            raise UsageError(f"no input normalization known for the {task.name} model's input "
                             f"{fb_inputs[0].name!r} (none given, no Rescaling/Normalization layer recorded, "
                             "none in existing metadata)",
                             "pass --mean/--std, e.g. --mean 127.5 --std 127.5 for inputs in [-1, 1] "
                             "or --mean 0 --std 255 for [0, 1]")
        return None, None
    channels = fb_inputs[0].shape[-1] if fb_inputs and fb_inputs[0].shape else 1
    for what, values in (("mean", chosen.mean), ("std", chosen.std)):
        if len(values) not in (1, channels):
            raise UsageError(f"--{what} has {len(values)} values but input {fb_inputs[0].name!r} has {channels} "
                             "channels", f"give one value or {channels}")
    if chosen.in_model:  # the model normalizes itself: the app feeds raw values
        return chosen, ((0.0,), (1.0,))
    n = max(len(chosen.mean), len(chosen.std))  # one value applies to every channel
    return chosen, (tuple(chosen.mean) * (n // len(chosen.mean)), tuple(chosen.std) * (n // len(chosen.std)))


def choose_task(task: Any, inputs, outputs, *, spec: ModelSpec | None,
                existing: ModelMetadata | None, aliases: dict[int, str] | None = None) -> tuple[TaskSpec, str, str]:
    """(task, source, reason).  Order: --task, the model spec, the model's existing metadata,
    detection from the tensors (``source`` "detected"; ``aliases``: their signature names), else
    generic ("undetected")."""
    chosen = parse_task(task)
    if chosen is not None:
        return get_task(chosen), "option", "given with --task"
    if spec is not None and spec.task != "generic":
        return get_task(spec.task), "spec", "recorded in the model spec (convert.json)"
    if existing is not None and existing.task() != "generic":
        return get_task(existing.task()), "metadata", "described by the model's existing metadata"
    detected, reason = detect(signature(inputs, outputs, image_evidence=image_evidence(spec, existing),
                                        aliases=aliases))
    if detected is None:
        return get_task("generic"), "undetected", reason
    return get_task(detected), "detected", reason


def check_image_input(task: TaskSpec, inputs) -> None:
    """An image task needs one 4-D image input."""
    if task.image_input and not (len(inputs) == 1 and len(inputs[0].shape) == 4):
        raise InputError(f"{task.name} needs one 4-D image input; this model has "
                         f"{', '.join(f'{t.name}{list(t.shape)}' for t in inputs)}", "use --task generic")


def _check_task_fits(task: TaskSpec, inputs, outputs, score_threshold: float | None) -> None:
    check_image_input(task, inputs)
    if task.one_output and len(outputs) != 1:
        raise InputError(f"{task.name} needs one output; this model has {len(outputs)}",
                         "use --task generic or object_detection")
    if score_threshold is not None and not task.score_threshold:
        raise UsageError(f"--score-threshold applies to classification tasks, not {task.name}",
                         "drop --score-threshold")
    if score_threshold is not None and not 0.0 <= score_threshold <= 1.0:
        raise UsageError(f"--score-threshold must be within [0, 1] (got {score_threshold})", "e.g. 0.5")
    if task.check_inputs is not None:
        task.check_inputs(inputs)


def _audio(task: TaskSpec, sample_rate, channels: int, existing, notes: list[str]):
    """(sample rate, where it came from, channels): the option, else the existing metadata's."""
    source = "option" if sample_rate is not None else None
    if task.sample_rate and sample_rate is None and existing is not None:
        audio = [t for t in existing.inputs if t.sample_rate]
        if audio:
            sample_rate, source = audio[0].sample_rate, "metadata"
            channels = audio[0].channels or channels
            notes.append(f"sample rate {sample_rate} Hz and {channels} channel(s) reused from the model's "
                         "existing metadata")
    return sample_rate, source, channels


def _padding(task: TaskSpec, padding: str | None, spec: ModelSpec | None) -> str | None:
    if padding is not None:
        from mobilepack.model.spec import check_padding

        padding = check_padding(padding)
        if not task.padding:
            raise UsageError(f"--padding applies to text_classification and text_embedding (token ids), not {task.name}",
                             "drop --padding, or pass --task text_classification")
        return padding
    return spec.padding if task.padding and spec is not None else None


def check_task_labels(task: TaskSpec, label_tuple: tuple[str, ...], outputs) -> None:
    """Labels need a task that takes them; a task whose labels name the first output's classes gets one each."""
    if task.labels == "none":
        raise UsageError(f"labels need a classification, detection or segmentation task, not {task.name}",
                         "pass --task, or drop --labels")
    if task.labels == "output":
        classes, tensor = class_count(outputs)
        check_count(label_tuple, classes, tensor=tensor)


def _labels(task: TaskSpec, labels, spec: ModelSpec | None, existing, outputs, notes: list[str]) -> tuple[str, ...]:
    """The labels given, else the spec's, else the existing metadata's; checked against the outputs."""
    label_tuple: tuple[str, ...] = ()
    if labels is not None:
        label_tuple = check_labels(labels)
    elif spec is not None and spec.labels:
        label_tuple = check_labels(spec.labels, source="the model spec")
    elif existing is not None and existing.labels():
        label_tuple = existing.labels() or ()
    if label_tuple:
        check_task_labels(task, label_tuple, outputs)
    elif task.labels != "none":
        notes.append("no labels given: apps will show class indices (pass --labels FILE)")
    return label_tuple


def _normalization(task: TaskSpec, inputs, explicit, spec, existing, notes: list[str]):
    norm, written = _resolve_normalization(task, inputs, explicit=explicit, spec=spec, existing=existing)
    from mobilepack.metadata.tasks import generic_image_input

    imagelike = task.name == "generic" and any(generic_image_input(t) for t in inputs)
    if written is not None and not task.image_input and not imagelike:
        # TFLite metadata carries normalization for image(-like) inputs only; other tasks' writers drop it
        written = None
        notes.append(f"normalization is not written into {task.name} metadata (it describes image "
                     "inputs only); it stays in the model spec")
    if norm is not None and norm.in_model:
        notes.append("the model normalizes its input itself (a leading Rescaling/Normalization layer): metadata "
                     "says mean 0 / std 1 so apps feed raw values and do not normalize again")
    return norm, written


def _general(task: TaskSpec, info: GeneralInfo, spec: ModelSpec | None, existing):
    """(the general info written, its name, the model-level metadata fields)."""
    from mobilepack.metadata.tasks import general_md

    if existing is not None:  # re-attaching keeps what the caller does not override
        info = GeneralInfo(**{k: getattr(info, k) or (getattr(existing, k) or None)
                              for k in ("name", "description", "version", "author", "license")})
    name = info.name or (spec.name if spec else None) or "model"
    general = general_md(name=name, version=info.version, description=info.description or
                         f"{task.name.replace('_', ' ')} model packaged by mobilepack",
                         author=info.author, license=info.license)
    return info, name, general


def _calibration(task: TaskSpec, cal: ScoreCalibration | None, outputs) -> bytes | None:
    """The score calibration file's bytes, checked against the task and the class count."""
    if cal is None:
        return None
    if not task.score_threshold:
        raise UsageError(f"--score-calibration applies to classification tasks, not {task.name}",
                         "drop --score-calibration")
    classes, tensor = class_count(outputs)
    return check_calibration(cal, classes, tensor)


def _write(task: TaskSpec, base: bytes, fb, inputs, outputs, general, written, label_tuple, vocab, *, tokenizer,
           sample_rate, channels, value_ranges, padding, score_threshold,
           calibration: tuple[ScoreCalibration, bytes] | None = None,
           iou_threshold: float | None = None, keypoints: dict | None = None) -> tuple[bytes, str | None]:
    """(the model with metadata, the vocabulary file name packed, if any)."""
    with tempfile.TemporaryDirectory(prefix="mobilepack-metadata-") as tmp:
        label_path = None
        if label_tuple:
            label_path = str(Path(tmp) / LABELS_FILE)
            Path(label_path).write_bytes(labels_file_bytes(label_tuple))
        cal = None
        if calibration is not None:
            (Path(tmp) / CALIBRATION_FILE).write_bytes(calibration[1])
            cal = replace(calibration[0], path=str(Path(tmp) / CALIBRATION_FILE))
        vocab_path = _copy_vocab(vocab, tmp) if vocab is not None else None
        req = WriteRequest(model=bytearray(base), fb=fb, inputs=inputs, outputs=outputs, general=general,
                           mean=written[0] if written else None, std=written[1] if written else None,
                           label_path=label_path, vocab_path=vocab_path, tokenizer=tokenizer,
                           sample_rate=sample_rate, channels=channels, value_ranges=dict(value_ranges or {}),
                           aliases=signature_names(fb),
                           padding=padding, score_calibration=cal, iou_threshold=iou_threshold,
                           keypoints=keypoints)
        amendments = []
        if task.amend_metadata is not None:
            amendments.append(task.amend_metadata(req))
        if score_threshold is not None:
            amendments.append(_score_threshold(score_threshold))
        return _populate(base, task.writer(req), amendments), (Path(vocab_path).name if vocab_path else None)


def attach(model: bytes, *, task: str | None = None, spec: ModelSpec | None = None,
           labels: list[str] | tuple[str, ...] | None = None, normalization: Normalization | None = None,
           info: GeneralInfo = GeneralInfo(), score_threshold: float | None = None,
           vocab: str | Path | None = None, tokenizer: str | None = None, sample_rate: int | None = None,
           channels: int = 1, value_ranges: dict[str, tuple[float, float]] | None = None,
           padding: str | None = None, score_calibration: ScoreCalibration | None = None,
           iou_threshold: float | None = None, keypoints_layout: str | None = None) -> MetadataResult:
    """Write TFLite metadata into ``model`` (bytes of a .tflite) and return the new bytes.

    ``normalization`` is the explicit choice (flags or config); otherwise the spec's (a leading
    Rescaling/Normalization layer: written as mean 0 / std 1, since the model normalizes itself),
    otherwise the model's existing metadata; image tasks with none of these are an error."""
    fb = parse_model(model)
    existing = read_metadata(model, fb)
    sg = fb.subgraphs[0]
    # TFLite_Detection_PostProcess outputs have shape [] in the flatbuffer: read them after allocation
    inputs = with_runtime_shapes(model, tuple(sg.tensors[i] for i in sg.inputs))
    outputs = with_runtime_shapes(model, tuple(sg.tensors[i] for i in sg.outputs))
    notes: list[str] = []
    chosen, task_source, task_reason = choose_task(task, inputs, outputs, spec=spec, existing=existing,
                                                   aliases=signature_names(fb))
    if task_source == "undetected":
        notes.append(f"the task could not be detected ({task_reason}): wrote generic metadata "
                     "(pass --task to choose one)")
    # errors name tensors as the preflight on the source model does, with or without a cached conversion
    named_in, named_out = by_signature_name(inputs, fb), by_signature_name(outputs, fb)
    with task_evidence(task_source, task_reason, inputs, outputs, signature_names(fb)):
        _check_task_fits(chosen, named_in, named_out, score_threshold)
        check_iou(chosen.name, iou_threshold)
        kp_layout = resolve_keypoints(chosen.name, keypoints_layout, named_out, existing)
        cal_bytes = _calibration(chosen, score_calibration, outputs)
        sample_rate, sample_rate_source, channels = _audio(chosen, sample_rate, channels, existing, notes)
        padding = _padding(chosen, padding, spec)
        label_tuple = _labels(chosen, labels, spec, existing, named_out, notes)
        norm, written = _normalization(chosen, inputs, normalization, spec, existing, notes)
    info, name, general = _general(chosen, info, spec, existing)
    out, vocab_file = _write(chosen, strip_associated_files(model), fb, inputs, outputs, general, written,
                             label_tuple, vocab, tokenizer=tokenizer, sample_rate=sample_rate, channels=channels,
                             value_ranges=value_ranges, padding=padding, score_threshold=score_threshold,
                             calibration=(score_calibration, cal_bytes) if cal_bytes is not None else None,
                             iou_threshold=iou_threshold, keypoints=kp_layout)
    audio = chosen.sample_rate
    packed = {**({CALIBRATION_FILE: cal_bytes} if cal_bytes is not None else {}), **keypoint_files(kp_layout)}
    written_files = verify(out, name=name, info=info, labels=label_tuple, written=written,
                           score_threshold=score_threshold, sample_rate=sample_rate if audio else None,
                           expected_files=[LABELS_FILE] * bool(label_tuple) + list(packed) +
                           ([vocab_file] if vocab_file else []), contents=packed)
    md = read_metadata(out, parse_model(out))
    norm_dict = None
    if norm is not None:
        norm_dict = {"mean": list(norm.mean), "std": list(norm.std), "source": norm.source, "in_model": norm.in_model,
                     "written": {"mean": list(written[0]), "std": list(written[1])} if written else None}
    return MetadataResult(model=out, task=chosen.name, task_source=task_source, task_reason=task_reason,
                          sample_rate=sample_rate if audio else None,
                          sample_rate_source=sample_rate_source if audio else None, normalization=norm_dict,
                          labels=label_tuple, general={"name": name, "description": md.description,
                                                       "version": info.version, "author": info.author,
                                                       "license": info.license},
                          associated_files=tuple(written_files), replaced_existing=existing is not None,
                          min_parser_version=md.min_parser_version, warnings=tuple(notes))


def _copy_vocab(vocab: str | Path, tmp: str) -> str:
    p = Path(vocab)
    if not p.is_file():
        raise InputError(f"vocabulary file not found: {p}", "pass a text file with one token per line")
    target = Path(tmp) / (p.name if p.name != LABELS_FILE else "vocab.txt")
    target.write_bytes(p.read_bytes())
    return str(target)


def read(model: bytes) -> ModelMetadata | None:
    """The metadata of ``model`` (pure Python), or ``None``."""
    return read_metadata(model, parse_model(model))


__all__ = ["GeneralInfo", "MetadataMismatch", "MetadataResult", "ScoreCalibration", "attach", "parse_metadata", "read",
           "spec_beside", "strip_associated_files"]
