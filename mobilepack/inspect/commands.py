"""The mobilepack commands the lint suggests, written for the model at hand, so that each one runs
as given (a test runs every one of them): the ``--task`` its tensors need, ``--labels`` only for a
task that takes them, ``--mean/--std`` only for an image(-like) float input, ``--input-shape`` with
the signature's own input names (``convert MODEL.tflite --input-shape`` fixes a ``.tflite``'s dynamic
inputs), and ``convert`` pointed at the source model where the fix needs it (``convert`` does not
re-quantize the I/O of a ``.tflite``).

Placeholders left for the user: ``MODEL.tflite``, ``OUT.tflite``, ``SRC`` (the source model),
``DIR`` (an output folder), ``DATA`` (calibration data), ``labels.txt``, ``vocab.txt``, ``M``/``S``
(normalization) and ``N`` (a size only the user knows)."""

from __future__ import annotations

from typing import Any

PLACEHOLDERS = ("MODEL.tflite", "OUT.tflite", "SRC", "DIR", "DATA", "labels.txt", "vocab.txt", "M", "S", "N")


def aliases(fb) -> dict[int, str]:
    from mobilepack.metadata.task_evidence import signature_names

    return signature_names(fb)


def input_shape_flags(fb, tensors) -> str:
    """``--input-shape NAME=1,D,...`` per tensor: the signature's input name (what ``convert`` takes),
    a dynamic batch fixed to 1, any other dynamic dimension ``N``."""
    names = aliases(fb)
    out = []
    for t in tensors:
        sig = t.shape_signature if t.shape_signature is not None else t.shape
        dims = ["1" if i == 0 and d < 0 else ("N" if d < 0 else str(d)) for i, d in enumerate(sig)]
        out.append(f"--input-shape {names.get(t.index, t.name)}={','.join(dims)}")
    return " ".join(out)


def _task_for(fb, inputs, outputs) -> tuple[str, bool]:
    """(the task the metadata writer will take, whether --task must be given for it)."""
    from mobilepack.metadata.task_evidence import likely_task
    from mobilepack.tasks import detect
    from mobilepack.tasks.tensors import signature

    names = aliases(fb)
    detected, _ = detect(signature(inputs, outputs, aliases=names))
    if detected is not None:
        return detected, False
    guess = likely_task(inputs, outputs, names)
    return (guess, True) if guess is not None else ("generic", False)


def metadata_command(fb, inputs, outputs, *, existing: Any = None, only: tuple[str, ...] | None = None) -> str:
    """``mobilepack metadata MODEL.tflite -o OUT.tflite`` with the options this model's task needs
    (``only``: just these of them, e.g. ("normalization",) to re-attach normalization)."""
    from mobilepack.metadata.tasks import generic_image_input
    from mobilepack.tasks import get

    if existing is not None:     # re-attaching keeps the task the metadata describes
        task, flag = existing.task(), False
    else:
        task, flag = _task_for(fb, inputs, outputs)
    spec = get(task)
    parts = ["mobilepack metadata MODEL.tflite -o OUT.tflite"]
    wanted = {
        "task": flag,
        "labels": spec.labels != "none",
        "vocab": spec.vocab,
        "sample_rate": spec.sample_rate,
        "normalization": (spec.image_input and inputs and inputs[0].type in ("FLOAT32", "FLOAT16"))
        or (spec.name == "generic" and any(generic_image_input(t) for t in inputs)),
    }
    text = {"task": f"--task {task}", "labels": "--labels labels.txt", "vocab": "--vocab vocab.txt",
            "sample_rate": "--sample-rate 16000", "normalization": "--mean M --std S"}
    for key, needed in wanted.items():
        if needed and (only is None or key in only or key == "task"):
            parts.append(text[key])
    return " ".join(parts)


def integer_io_fix(inputs) -> str:
    """How to get integer I/O, or why this model cannot have it (a string or token-id input)."""
    other = [t for t in inputs if t.type not in ("FLOAT32", "FLOAT16")]
    if other:
        kinds = ", ".join(f"{t.name} ({t.type.lower()})" for t in other)
        return (f"keep float I/O: integer I/O (--io-dtype) quantizes float inputs only, and input(s) {kinds} "
                "are not float")
    return ("keep float I/O for simplicity, or re-convert the source model with integer I/O "
            "(`mobilepack convert SRC -o DIR -q int8 --calibration DATA --io-dtype int8`; uint8 also works) and "
            "feed quantized values using the input's scale/zero point")
