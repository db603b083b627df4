"""Metadata checks that run before conversion (fail fast).

``build`` writes metadata after converting every variant; a missing normalization, a
label count that does not match the model, a task that does not fit its tensors or a
float "token id" input would otherwise surface only after minutes of conversion.
:func:`for_build` runs the same checks :func:`mobilepack.metadata.attach` makes:

* a ``.tflite`` source: at once, by attaching the metadata to its bytes in memory (the
  real writer, so the verdict cannot differ);
* a SavedModel/Keras source: on the loaded model's tensors (the returned callable, which
  ``pipeline.convert_into`` calls right after loading, before export and conversion).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from mobilepack.errors import UsageError
from mobilepack.model.flatbuffer import FbTensor
from mobilepack.model.spec import ModelSpec


def _fb_tensors(tensors) -> tuple[FbTensor, ...]:
    """TensorSpecs as the flatbuffer tensors the task detection reads."""
    return tuple(FbTensor(index=i, name=t.name, type=t.dtype.upper(), shape=tuple(t.shape),
                          shape_signature=t.shape_signature, buffer=0, quantization=None, is_variable=False)
                 for i, t in enumerate(tensors))


def check_spec(spec: ModelSpec, md: dict[str, Any], labels: tuple[str, ...], *, norm_source: str) -> str:
    """What ``attach`` would refuse for this model, from its tensors alone; returns the task."""
    from mobilepack.metadata.labels import check_labels
    from mobilepack.metadata.task_evidence import task_evidence
    from mobilepack.metadata.writer import _resolve_normalization, check_image_input, check_task_labels, choose_task
    from mobilepack.model.normalization import from_flags

    inputs, outputs = _fb_tensors(spec.inputs), _fb_tensors(spec.outputs)
    task, source, reason = choose_task(md.get("task"), inputs, outputs, spec=spec, existing=None)
    with task_evidence(source, reason, inputs, outputs):
        check_image_input(task, inputs)
        if task.check_inputs is not None:
            task.check_inputs(inputs)
        if task.vocab and not md.get("vocab"):
            raise UsageError(f"{task.name} needs a vocabulary", "pass --vocab FILE (one token per line)")
        from mobilepack.metadata.families import check_iou

        check_iou(task.name, md.get("iou_threshold"))   # a bad --iou-threshold stops build before converting
        from mobilepack.metadata.keypoints import resolve

        # so does a keypoints model without a layout; a given layout counts in the converted model's
        # output order, checked against the tensors when the metadata is written (a .tflite: now)
        resolve(task.name, md.get("keypoints_layout"),
                outputs if spec.source_format.value == "tflite" or not md.get("keypoints_layout") else None)
        if task.sample_rate and not md.get("sample_rate"):
            raise UsageError(f"{task.name} needs the sample rate", "pass --sample-rate HZ, e.g. 16000")
        if labels:
            check_task_labels(task, check_labels(labels) if task.labels != "none" else tuple(labels), outputs)
        explicit = from_flags(md.get("mean"), md.get("std"), source=norm_source)
        _resolve_normalization(task, inputs, explicit=explicit, spec=spec, existing=None)
    return task.name


def task_of(spec: ModelSpec, task: str | None = None) -> str:
    """The task ``--task`` names, else the one the metadata stage will detect from the tensors."""
    from mobilepack.metadata.writer import choose_task

    chosen, _, _ = choose_task(task, _fb_tensors(spec.inputs), _fb_tensors(spec.outputs), spec=spec, existing=None)
    return chosen.name


def for_build(source: Any, md: dict[str, Any], labels: tuple[str, ...], plan) -> Callable[[ModelSpec], str]:
    """Check a .tflite source now; return the check for a source that must be loaded first (it
    returns the task the metadata will describe)."""
    if isinstance(source, (str, Path)) and str(source).lower().endswith(".tflite") and Path(source).is_file():
        from mobilepack.metadata import attach
        from mobilepack.model.normalization import from_flags

        result = attach(Path(source).read_bytes(), task=md.get("task"), labels=labels or None,
                        normalization=from_flags(md.get("mean"), md.get("std"), source=plan.normalization_source),
                        score_threshold=md.get("score_threshold"), iou_threshold=md.get("iou_threshold"),
                        keypoints_layout=md.get("keypoints_layout"),
                        vocab=md.get("vocab"),
                        tokenizer=md.get("tokenizer"), sample_rate=md.get("sample_rate"),
                        channels=md.get("channels") or 1)
        return lambda spec: result.task
    return lambda spec: check_spec(spec, md, labels, norm_source=plan.normalization_source)
