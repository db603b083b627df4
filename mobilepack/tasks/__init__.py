"""The task registry: what a task means to every stage, by name.

A task is one :class:`TaskSpec` given to :func:`register`: how it is recognised (from the
tensors, from existing metadata), which metadata writer describes it, what the
model must look like for it (one image input, one output), which metadata options apply
(labels, score threshold, vocabulary, sample rate, padding), what the demo apps feed and show,
and how the variants are evaluated.  The built-in tasks are registered by
``mobilepack.tasks.builtin`` (imported on first use, like the built-in render targets); any
other module that calls :func:`register` adds a task to ``--task``, mobilepack.toml and
``build``.  This module is a leaf: the stages import it, it imports none of them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mobilepack.errors import UsageError

APP_INPUTS = ("image", "text", "audio", "tensor")
APP_OUTPUTS = ("classification", "detection", "segmentation", "image", "embedding", "keypoints", "generic")
LABEL_RULES = ("output", "any", "none")
_BUILTIN = "mobilepack.tasks.builtin"


@dataclass(frozen=True)
class TaskSpec:
    name: str
    description: str
    writer: Callable[[Any], Any]             # metadata.tasks.WriteRequest -> metadata.packing.Draft
    evaluator: Any                           # evaluate.tasks.Evaluator: metrics, agreement, eval-data layout
    # tasks.tensors.Signature -> why the tensors fit this task, or None; None: never detected (a fallback)
    detect: Callable[[Any], str | None] | None = None
    # metadata.reader.ModelMetadata -> whether existing metadata describes this task
    from_metadata: Callable[[Any], bool] | None = None
    priority: int = 100                      # detection order: lower is tried first
    image_input: bool = False                # one 4-D image input; its normalization is required and written
    one_output: bool = False                 # exactly one output
    labels: str = "output"                   # "output": one per element of the first output's last axis;
                                             # "any": not tied to a tensor (detection); "none": refused
    score_threshold: bool = False            # --score-threshold applies (classifiers)
    vocab: bool = False                      # --vocab is required (text)
    sample_rate: bool = False                # --sample-rate is required, or read from audio metadata
    padding: bool = False                    # --padding applies (token ids)
    check_inputs: Callable[[tuple], None] | None = None      # raises InputError for inputs it cannot take
    amend_metadata: Callable[[Any], Callable[[Any], None]] | None = None   # WriteRequest -> amendment
    app_input: str = "tensor"                # what the demo apps feed, when they can (render.context)
    app_output: str = "generic"              # how the demo apps show the outputs, when they can
    output_layout: Callable[[list[dict]], dict | None] | None = None   # output roles the apps and evaluator read
    source: str | None = None                # the module file that registers it (run by child processes)


_TASKS: dict[str, TaskSpec] = {}


def register(spec: TaskSpec) -> TaskSpec:
    for field_name, value, valid in (("app_input", spec.app_input, APP_INPUTS),
                                     ("app_output", spec.app_output, APP_OUTPUTS),
                                     ("labels", spec.labels, LABEL_RULES)):
        if value not in valid:
            raise ValueError(f"task {spec.name!r}: {field_name} {value!r} is not one of {', '.join(valid)}")
    _TASKS[spec.name] = spec
    return spec


def _load_builtin() -> None:
    import importlib

    importlib.import_module(_BUILTIN)   # registers the built-in tasks once (a no-op afterwards)


def names() -> list[str]:
    """Every registered task, in registration order."""
    _load_builtin()
    return list(_TASKS)


def _normal(name: Any) -> str:
    return str(getattr(name, "value", name)).strip().lower().replace("-", "_")


def get(name: Any) -> TaskSpec:
    """The task called ``name`` (a str or a ``model.spec.Task``); an unknown name is a usage error."""
    _load_builtin()
    key = _normal(name)
    if key not in _TASKS:
        close = difflib.get_close_matches(key, list(_TASKS), n=1)
        raise UsageError(f"unknown task {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                         f"valid tasks: {', '.join(_TASKS)}")
    return _TASKS[key]


def parse(name: Any) -> str | None:
    """The registered name ``name`` spells (``None`` stays ``None``)."""
    return None if name is None else get(name).name


def ensure(name: str, source: str | None) -> None:
    """In a child process: run the module that registers ``name`` when it is not registered yet."""
    _load_builtin()
    if name not in _TASKS and source:
        import runpy

        runpy.run_path(source)


def by_priority() -> list[TaskSpec]:
    _load_builtin()
    return sorted(_TASKS.values(), key=lambda s: s.priority)   # stable: equal priorities keep registration order


def detect(signature) -> tuple[str | None, str]:
    """(the first task, by priority, whose detector accepts ``signature``, or None; why)."""
    for spec in by_priority():
        reason = spec.detect(signature) if spec.detect else None
        if reason is not None:
            return spec.name, reason
    return None, signature.no_task_reason()


def from_metadata(metadata) -> str:
    """The task existing metadata describes (TFLite metadata stores none by name); ``generic`` when none."""
    for spec in by_priority():
        if spec.from_metadata is not None and spec.from_metadata(metadata):
            return spec.name
    return "generic"


__all__ = ["TaskSpec", "detect", "ensure", "from_metadata", "get", "names", "parse", "register"]
