"""Metadata writers of the model families beyond the seven built-in tasks: YOLO-style detection heads
and image-to-image models.

The head is described as it is (a feature tensor with its layout spelled out in the description,
the labels as value labels) and what the apps and the evaluator need to decode it travels in the
metadata: the score threshold as a ``ScoreThresholdingOptions`` unit (``--score-threshold``) and the
NMS IoU threshold in the description (``NMS IoU threshold 0.45``), read back by :func:`yolo_decode`.

An image-to-image output is described as an image (``ImageProperties``, RGB or grayscale) named
``output_image`` whose value range (``stats`` min/max per channel) maps to pixels 0..255: the inverse
of the input normalization (:mod:`mobilepack.tasks.image_to_image`), read back by
:func:`image_output_range` for the evaluator and the apps."""

from __future__ import annotations

import re

from mobilepack.errors import InputError, UsageError
from mobilepack.metadata.packing import Draft
from mobilepack.metadata import schema
from mobilepack.metadata.tasks import WriteRequest, _label_files, _label_paths, _shapes, draft, image_input_md, plain_md
from mobilepack.tasks import image_to_image, yolo

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


def image_to_image_writer(req: WriteRequest) -> Draft:
    from mobilepack.tasks.tensors import is_image

    out = req.outputs[0] if len(req.outputs) == 1 else None
    layout = image_to_image.layout_of(out.shape) if out is not None else None
    if layout is None or len(req.inputs) != 1 or not is_image(req.inputs[0]) or out.type not in image_to_image.FLOAT_TYPES:
        raise InputError("image_to_image needs one image input [1,H,W,C] and one float image output [1,kH,kW,1 or 3]; "
                         f"this model has {_shapes(req.inputs)} in and {_shapes(req.outputs)} out",
                         "use --task image_segmentation for a class map, or --task generic")
    lo, hi = image_to_image.default_range(req.inputs[0].type, req.mean, req.std, layout["channels"])
    name = req.aliases.get(out.index) or out.name   # the signature's name, else the tensor's
    unknown = sorted(set(req.value_ranges) - {out.name, name})
    if unknown:
        raise UsageError(f"--value-range names {unknown[0]!r}, not the output image {name!r}",
                         f"image_to_image takes the output's range only: --value-range {name}=MIN,MAX")
    stated = [req.value_ranges[n] for n in (name, out.name) if n in req.value_ranges]
    if stated:   # the stated output range, over every channel
        a, b = stated[0]
        if not b > a:
            raise UsageError(f"--value-range {name}={a:g},{b:g}: the output range needs MIN < MAX",
                             f"e.g. --value-range {name}=0,1 for an output in [0, 1]")
        lo, hi = [float(a)] * layout["channels"], [float(b)] * layout["channels"]
    colour = "RGB" if layout["channels"] == 3 else "GRAYSCALE"
    md = plain_md(image_to_image.OUTPUT_NAME, image_to_image.describe(layout, lo, hi), min_values=lo, max_values=hi,
                  content=("ImageProperties", {"color_space": schema.COLOR_SPACE[colour]}))
    return draft(req, [image_input_md(req, "Input image to be transformed.")], [md])


def is_image_to_image_metadata(md) -> bool:
    return any(t.content == "image" for t in md.inputs) and len(md.outputs) == 1 \
        and md.outputs[0].name == image_to_image.OUTPUT_NAME


def output_range(md) -> tuple[list[float], list[float]] | None:
    """The (lo, hi) per channel an image output's metadata records, or None."""
    if md is None or not is_image_to_image_metadata(md) or not md.outputs[0].value_range:
        return None
    lo, hi = md.outputs[0].value_range
    return [float(v) for v in lo], [float(v) for v in hi]


def image_output_range(model_bytes: bytes) -> tuple[list[float], list[float]] | None:
    """:func:`output_range` of a .tflite's metadata; None when it has none or cannot be read."""
    from mobilepack.metadata.reader import read_metadata
    from mobilepack.model.flatbuffer import FlatbufferError, parse_model

    try:
        return output_range(read_metadata(model_bytes, parse_model(model_bytes)))
    except FlatbufferError:
        return None
