"""Metadata of keypoint models (:mod:`mobilepack.tasks.keypoints`).

The keypoint output is described generically (a feature tensor named ``keypoints`` whose
description spells out the layout and ends with ``Keypoints layout 21x3,output=0,presence=1,units=pixels.``),
the presence output is named ``presence`` (a score in [0, 1]), every other output is described as it
is, and the skeleton travels as the associated file ``skeleton.txt`` (one ``a b`` index pair per line)
on the keypoint output.  :func:`layout_of` reads all of it back: the evaluator and the apps take the
layout from there."""

from __future__ import annotations

import re
from typing import Any

from mobilepack.errors import InputError, UsageError
from mobilepack.metadata import schema
from mobilepack.metadata.packing import Draft
from mobilepack.metadata.tasks import WriteRequest, _shapes, draft, image_input_md, plain_md, tensor_md
from mobilepack.tasks import keypoints as kp

TASK = "keypoints"
_LAYOUT = re.compile(r"Keypoints layout (\S+?)\.(?:\s|$)")
SKELETON_DESCRIPTION = "Skeleton: pairs of keypoint indices joined by a line, one pair per line."


def resolve(task: str, option: str | None, outputs, existing=None) -> dict[str, Any] | None:
    """The layout a keypoints model is written with: ``--keypoints-layout``, else the existing
    metadata's, else detected from the outputs; None for other tasks (where the option is refused)."""
    if task != TASK:
        if option:
            raise UsageError(f"--keypoints-layout applies to the keypoints task, not {task}",
                             "drop --keypoints-layout, or pass --task keypoints")
        return None
    if option:
        return kp.parse_option(option, outputs)
    layout = layout_of(existing) if existing is not None else None
    if layout is None:
        layout = kp.detect_layout(outputs)
    if layout is None:
        raise InputError(f"keypoints: the outputs {_shapes(outputs)} do not say which holds the points",
                         f"pass --keypoints-layout {kp.OPTION_HELP}, e.g. 21x3,output=0,presence=1")
    kp.check_layout(layout, outputs)
    return layout


def packed(layout: dict[str, Any] | None) -> dict[str, bytes]:
    """The files the writer packs for ``layout`` (checked when read back)."""
    if not layout or not layout["skeleton"]:
        return {}
    return {kp.SKELETON_FILE: kp.skeleton_text(layout["skeleton"]).encode("utf-8")}


def keypoints_writer(req: WriteRequest) -> Draft:
    layout = req.keypoints
    if layout is None:
        raise InputError("keypoints metadata needs the keypoints layout", f"pass --keypoints-layout {kp.OPTION_HELP}")
    outputs = []
    for i, t in enumerate(req.outputs):
        if i == layout["output"]:
            text = f"{kp.describe(layout).capitalize()}. Keypoints layout {kp.spec_text(layout)}."
            files = [{"name": kp.SKELETON_FILE, "description": SKELETON_DESCRIPTION,
                      "type": schema.FILE_TYPE["DESCRIPTIONS"]}] if layout["skeleton"] else None
            outputs.append(plain_md(kp.POINTS_NAME, text, files=files))
        elif i == layout["presence"]:
            outputs.append(plain_md(kp.PRESENCE_NAME, "Presence score of the object the keypoints belong to.",
                                    min_values=[0.0], max_values=[1.0]))
        else:
            outputs.append(tensor_md(t, "output", req.value_ranges))
    d = draft(req, [image_input_md(req, "Input image whose keypoints are located.")], outputs)
    d.contents.update(packed(layout))
    return d


def is_keypoints_metadata(md) -> bool:
    return any(t.content == "image" for t in md.inputs) and any(t.name == kp.POINTS_NAME for t in md.outputs)


def layout_of(md) -> dict[str, Any] | None:
    """The layout the metadata records (with its skeleton file), or None."""
    if md is None:
        return None
    for t in md.outputs:
        found = _LAYOUT.search(t.description or "") if t.name == kp.POINTS_NAME else None
        if found:
            layout = kp.parse_option(found.group(1))
            data = md.packed_files.get(kp.SKELETON_FILE)
            if data is not None:
                layout["skeleton"] = kp.read_skeleton(data.decode("utf-8", "replace"), layout["points"],
                                                      kp.SKELETON_FILE)
            return layout
    return None


def model_layout(model_bytes: bytes) -> dict[str, Any] | None:
    """:func:`layout_of` a .tflite's metadata (None when it has none or it cannot be read)."""
    from mobilepack.metadata.reader import read_metadata
    from mobilepack.model.flatbuffer import FlatbufferError, parse_model

    try:
        return layout_of(read_metadata(model_bytes, parse_model(model_bytes)))
    except (FlatbufferError, UsageError):
        return None


def written_outputs(model_bytes: bytes):
    """A converted model's outputs in the order the metadata writer describes them and the apps index
    them (the subgraph's), named as the writer names them: what ``--keypoints-layout`` counts in."""
    from mobilepack.metadata.task_evidence import by_signature_name
    from mobilepack.metadata.tasks import with_runtime_shapes
    from mobilepack.model.flatbuffer import parse_model

    fb = parse_model(model_bytes)
    sg = fb.subgraphs[0]
    return by_signature_name(with_runtime_shapes(model_bytes, tuple(sg.tensors[i] for i in sg.outputs)), fb)
