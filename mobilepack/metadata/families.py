"""Metadata writers of the model families beyond the seven built-in tasks: YOLO-style detection heads.

The head is described as it is (a feature tensor with its layout spelled out in the description,
the labels as value labels) and what the apps and the evaluator need to decode it travels in the
metadata: the score threshold as a ``ScoreThresholdingOptions`` unit (``--score-threshold``) and the
NMS IoU threshold in the description (``NMS IoU threshold 0.45``), read back by :func:`yolo_decode`."""

from __future__ import annotations

import re

from mobilepack.errors import InputError, UsageError
from mobilepack.metadata.packing import Draft
from mobilepack.metadata.tasks import WriteRequest, _label_files, _label_paths, _shapes, draft, image_input_md, plain_md
from mobilepack.tasks import yolo

_IOU = re.compile(r"NMS IoU threshold ([0-9.]+)")


def yolo_writer(req: WriteRequest) -> Draft:
    out = req.outputs[0] if len(req.outputs) == 1 else None
    layout = yolo.layout_of_shape(out.shape) if out is not None else None
    if layout is None:
        raise InputError("yolo_detection needs one output [1, 4+C, N] (anchor-free) or [1, N, 5+C] (anchor-based) "
                         f"with N ≥ {yolo.MIN_ANCHORS} anchors; this model has {_shapes(req.outputs)}",
                         "use --task generic, or --task object_detection for SSD-style outputs")
    iou = req.iou_threshold if req.iou_threshold is not None else yolo.DEFAULT_IOU
    head_text = yolo.describe(layout)
    text = (f"{head_text[0].upper()}{head_text[1:]}. Boxes are ratios of the input (pixels when a coordinate "
            f"exceeds {yolo.PIXEL_COORDINATES:g}); decoded with class-wise NMS, NMS IoU threshold {iou:g}.")
    head = plain_md(yolo.HEAD_NAME, text, files=_label_files(req, "TENSOR_VALUE_LABELS"))
    return draft(req, [image_input_md(req, "Input image to be detected.")], [head], files=_label_paths(req))


def is_yolo_metadata(md) -> bool:
    return any(t.content == "image" for t in md.inputs) and len(md.outputs) == 1 \
        and md.outputs[0].name == yolo.HEAD_NAME


def yolo_decode(md) -> dict[str, float]:
    """The decode thresholds the metadata records (defaults where it records none)."""
    score, iou = yolo.DEFAULT_SCORE, yolo.DEFAULT_IOU
    if md is not None and md.outputs:
        out = md.outputs[0]
        if out.score_threshold is not None:
            score = float(out.score_threshold)
        found = _IOU.search(out.description or "")
        if found:
            iou = float(found.group(1).rstrip("."))
    return {"score_threshold": score, "iou_threshold": iou}


def yolo_model_decode(model_bytes: bytes) -> dict[str, float]:
    """:func:`yolo_decode` of a .tflite's metadata; defaults when it has none or cannot be read."""
    from mobilepack.metadata.reader import read_metadata
    from mobilepack.model.flatbuffer import FlatbufferError, parse_model

    try:
        return yolo_decode(read_metadata(model_bytes, parse_model(model_bytes)))
    except FlatbufferError:
        return yolo_decode(None)


def check_iou(task: str, iou_threshold: float | None) -> None:
    """``--iou-threshold`` applies to YOLO heads only, within (0, 1]."""
    if iou_threshold is None:
        return
    if task != "yolo_detection":
        raise UsageError(f"--iou-threshold applies to yolo_detection (NMS of a YOLO head), not {task}",
                         "drop --iou-threshold, or pass --task yolo_detection")
    if not 0.0 < iou_threshold <= 1.0:
        raise UsageError(f"--iou-threshold must be within (0, 1] (got {iou_threshold})", "e.g. 0.45")
