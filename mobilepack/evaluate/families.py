"""Evaluators of the model families beyond the seven built-in tasks: YOLO-style detection heads and
image-to-image models.

A YOLO head is decoded (:func:`mobilepack.tasks.yolo.decode`: score threshold, class-wise NMS) into
the SSD-style predictions the object-detection evaluator reads (boxes, classes, scores, count per
sample), so mAP@0.5 against labelled boxes and box agreement with fp32 are computed exactly as for
SSD.  The thresholds come from the model's metadata (``model_hints``).

An image-to-image model is judged against the source model's output image: SSIM (the selection's and
the doctor's number, in [0, 1]) and PSNR in dB, both in pixel units 0..255 through the output's value
range (from its metadata; else the reference image's own min..max)."""

from __future__ import annotations

from dataclasses import replace

from mobilepack.evaluate.tasks import BOXES, Evaluator, LayoutError, _batch_of


def _reduce_yolo(outputs, hints):
    import numpy as np

    from mobilepack.tasks import yolo

    layout = yolo.layout_of_shape((1, *outputs[0][1].shape[1:])) if outputs else None
    if layout is None or len(outputs) != 1:
        shapes = ", ".join(f"{n} {list(y.shape)}" for n, y in outputs)
        raise LayoutError(f"the outputs are not one YOLO head ([1,4+C,N] or [1,N,5+C]): {shapes}")
    b, n = _batch_of(outputs), yolo.MAX_DETECTIONS
    boxes, classes = np.zeros((b, n, 4), np.float32), np.zeros((b, n), np.float32)
    scores, count = np.zeros((b, n), np.float32), np.zeros(b, np.float32)
    width, height = hints.get("input_size") or (1, 1)
    for k, head in enumerate(np.asarray(outputs[0][1], np.float64)):
        bx, cl, sc = yolo.decode(head, layout, width, height,
                                 score_threshold=hints.get("score_threshold", yolo.DEFAULT_SCORE),
                                 iou_threshold=hints.get("iou_threshold", yolo.DEFAULT_IOU))
        m = len(sc)
        boxes[k, :m], classes[k, :m], scores[k, :m], count[k] = bx, cl, sc, m
    return {"boxes": boxes, "classes": classes, "scores": scores, "count": count}


def input_size(model_bytes: bytes) -> dict:
    """``{"input_size": (width, height)}`` of the model's first input ((1, 1) when not an image; {} when unreadable)."""
    from mobilepack.model.flatbuffer import FlatbufferError, parse_model

    try:
        sg = parse_model(model_bytes).subgraphs[0]
        shape = sg.tensors[sg.inputs[0]].shape
        return {"input_size": (int(shape[2]), int(shape[1])) if len(shape) == 4 else (1, 1)}
    except (FlatbufferError, IndexError):
        return {}


def _yolo_hints(model_bytes: bytes) -> dict:
    from mobilepack.metadata.families import yolo_model_decode

    return {**yolo_model_decode(model_bytes), **input_size(model_bytes)}


YOLO_BOXES = replace(BOXES, reduce=_reduce_yolo, model_hints=_yolo_hints)


def yolo_head_shape(shape) -> bool:
    """Whether a batch of outputs ``[B, ...]`` is a YOLO head (the task detector's shape rule)."""
    from mobilepack.tasks import yolo

    return len(shape) == 3 and yolo.layout_of_shape((1, *shape[1:])) is not None


def head_agreement(references, outputs) -> float:
    """The doctor's score of a YOLO head: box agreement with the reference (score ≥ DETECTION_SCORE,
    IoU ≥ 0.5) of the heads decoded with the default thresholds, over every validation sample."""
    import numpy as np

    def reduced(batches):
        heads = np.concatenate([np.asarray(next(iter(b.values())), np.float64) for b in batches])
        return _reduce_yolo([("head", heads)], {})

    return YOLO_BOXES.agreement(reduced(outputs), reduced(references))["box_agreement"]


# -- image to image ----------------------------------------------------------------------------

def _reduce_images(outputs, hints):
    """The output images in pixel units (the output's range mapped to 0..255, not clamped nor rounded)
    when the range is known (``hints["output_range"]``), else as they are (``known`` False)."""
    import numpy as np

    from mobilepack.tasks import image_to_image

    if len(outputs) != 1 or image_to_image.layout_of(outputs[0][1].shape) is None:
        shapes = ", ".join(f"{n} {list(y.shape)}" for n, y in outputs)
        raise LayoutError(f"the outputs are not one image [1,H,W,1 or 3]: {shapes}")
    y = np.asarray(outputs[0][1], np.float64)
    known = bool(hints.get("output_range"))
    if known:
        c = y.shape[-1]
        lo, hi = (np.asarray(image_to_image.per_channel(v, c), np.float64) for v in hints["output_range"])
        y = (y - lo) / (hi - lo) * 255.0
    return {"image": y.astype(np.float32), "known": np.full(len(y), known)}


def _image_agreement(pred, ref):
    """SSIM and PSNR of each variant image against the reference's, in pixel units (0..255): through the
    output's stated range, else the reference image's own min..max taken as 0..255."""
    import numpy as np

    from mobilepack.evaluate.metrics import psnr, ssim

    ssims, psnrs = [], []
    for p, r, known in zip(pred["image"], ref["image"], ref["known"]):
        p, r = np.asarray(p, np.float64), np.asarray(r, np.float64)
        if not known:
            lo, span = float(np.min(r)), float(np.ptp(r)) or 1.0
            p, r = (p - lo) / span * 255.0, (r - lo) / span * 255.0
        ssims.append(ssim(r, p, 255.0))
        psnrs.append(psnr(r, p, 255.0))
    return {"ssim": float(np.mean(ssims)) if ssims else 0.0, "psnr": float(np.mean(psnrs)) if psnrs else 0.0}


def _image_hints(model_bytes: bytes) -> dict:
    from mobilepack.metadata.families import image_output_range

    found = image_output_range(model_bytes)
    return {"output_range": found} if found else {}


SSIM_THRESHOLD = 0.95   # without labels, int8 ships only at or above this SSIM with the source's images
IMAGES = Evaluator("SSIM", "ssim", SSIM_THRESHOLD, None, _reduce_images, _image_agreement, model_hints=_image_hints)
