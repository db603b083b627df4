"""Why a model got the task it got, in the errors that task causes.

A model whose task was not detected is ``generic``; an option that needs another task (labels, a
score threshold, normalization of an image) is then refused.  The refusal says what the detection
saw (``tasks.tensors.Signature.no_task_reason``: e.g. a 1-channel input without a Rescaling layer
is not taken as an image) and names the ``--task`` the tensors would fit if that evidence were
given."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from mobilepack.errors import MobilepackError

if TYPE_CHECKING:
    from mobilepack.metadata.reader import ModelMetadata
    from mobilepack.model.spec import ModelSpec


def image_evidence(spec: ModelSpec | None, existing: ModelMetadata | None) -> str | None:
    """What, besides 3 channels, says the input is an image: a normalizing layer or image metadata."""
    if spec is not None and spec.normalization is not None and spec.normalization.source == "model_layer":
        return "a leading Rescaling/Normalization layer"
    if existing is not None and any(t.content == "image" for t in existing.inputs):
        return "image metadata"
    return None


def signature_names(fb) -> dict[int, str]:
    """Tensor index -> its signature name (subgraph 0): what the detectors and writers match by name."""
    return {i: n for s in fb.signatures if s.subgraph == 0 for n, i in s.inputs + s.outputs}


def by_signature_name(tensors, fb) -> tuple:
    """The tensors under their signature names (the source model's names), else their own."""
    from dataclasses import replace as _replace

    return tuple(_replace(t, name=signature_names(fb).get(t.index, t.name)) for t in tensors)


def likely_task(inputs, outputs, aliases: dict[int, str] | None = None) -> str | None:
    """The task the tensors fit when the (only) input is taken as an image, or None."""
    from mobilepack.tasks import detect
    from mobilepack.tasks.tensors import signature

    name, _ = detect(signature(inputs, outputs, image_evidence="--task", aliases=aliases))
    return name


@contextmanager
def task_evidence(source: str, reason: str, inputs, outputs, aliases: dict[int, str] | None = None) -> Iterator[None]:
    """Errors raised inside, for a model whose task was not detected (``source`` "undetected"), say
    why and which ``--task`` to pass."""
    try:
        yield
    except MobilepackError as exc:
        if source != "undetected" or "--task " in exc.hint:
            raise
        guess = likely_task(inputs, outputs, aliases)
        exc.message = f"{exc.message} — the model was taken as generic because {reason}"
        then = f"; otherwise {exc.hint}" if exc.hint else ""
        exc.hint = (f"if it is a {guess.replace('_', ' ')} model, pass --task {guess}{then}" if guess
                    else f"pass --task with the model's task{then}")
        exc.args = (exc.message,)
        raise
