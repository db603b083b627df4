"""YOLO-style detection heads: one output tensor that needs decoding and class-wise NMS.

Two layouts, told apart by shape (an image input and one 3-D float output):

- ``anchor_free`` (YOLOv8/v11 exports): ``[1, 4+C, N]`` with ``4+C < N``; anchor ``i`` is column
  ``i``: ``cx, cy, w, h`` then ``C`` class scores;
- ``anchor_based`` (YOLOv5 exports): ``[1, N, 5+C]`` with ``N > 5+C``; anchor ``i`` is row ``i``:
  ``cx, cy, w, h``, an objectness, then ``C`` class scores (score = objectness × class score).

The decode every language implements the same way (this module, ``Results.kt``,
``Results.swift``):

1. a candidate's class is its highest class score (the first on a tie), its score that class
   score (× objectness when anchor-based); candidates below the score threshold are dropped;
2. box coordinates are ratios of the input; when any coordinate of the output exceeds
   :data:`PIXEL_COORDINATES` they are taken as pixels and divided by the input's width/height;
3. boxes become ``[ymin, xmin, ymax, xmax]`` (the SSD order the rest of mobilepack reads);
4. class-wise NMS: candidates by score, highest first (the lower anchor index first on a tie); one is
   kept unless a kept box of its class overlaps it by IoU > the IoU threshold; at most
   :data:`MAX_DETECTIONS` are kept.  Arithmetic in double precision.

A leaf like :mod:`mobilepack.tasks.tensors`: numpy is imported lazily and nothing from mobilepack.
"""

from __future__ import annotations

from typing import Any

ANCHOR_FREE, ANCHOR_BASED = "anchor_free", "anchor_based"
MIN_ANCHORS = 64           # fewer anchors than this is not taken as a detection head by detection
DEFAULT_SCORE = 0.25       # score threshold when the metadata records none (--score-threshold)
DEFAULT_IOU = 0.45         # NMS IoU threshold when the metadata records none (--iou-threshold)
MAX_DETECTIONS = 100
PIXEL_COORDINATES = 2.0    # box coordinates above this are pixels, not ratios
HEAD_NAME = "yolo_head"    # the output's metadata name; the reader recognises the task by it


def layout_of_shape(shape) -> dict[str, Any] | None:
    """``{"layout", "anchors", "classes"}`` of a ``[1, A, B]`` head, or None when it is not one."""
    shape = [int(d) for d in shape]
    if len(shape) != 3 or shape[0] != 1:
        return None
    a, b = shape[1], shape[2]
    if 5 <= a < b and b >= MIN_ANCHORS:
        return {"layout": ANCHOR_FREE, "anchors": b, "classes": a - 4}
    if 6 <= b < a and a >= MIN_ANCHORS:
        return {"layout": ANCHOR_BASED, "anchors": a, "classes": b - 5}
    return None


def describe(layout: dict[str, Any]) -> str:
    n, c = layout["anchors"], layout["classes"]
    if layout["layout"] == ANCHOR_FREE:
        return f"anchor-free YOLO head [1, 4+{c}, {n}] (cx, cy, w, h, {c} class scores per anchor)"
    return f"anchor-based YOLO head [1, {n}, 5+{c}] (cx, cy, w, h, objectness, {c} class scores per anchor)"


def head_of(sig) -> str | None:
    """The task detector: one image input and one float [1, 4+C, N] or [1, N, 5+C] output."""
    if not sig.image or len(sig.outputs) != 1:
        return None
    out = sig.outputs[0]
    layout = layout_of_shape(out.shape)
    if layout is None or out.type not in ("FLOAT32", "FLOAT16", "INT8", "UINT8"):
        return None
    return f"{sig.image_why}; one output {sig.outs}: an {describe(layout)}"


def app_layout(outputs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The apps' reading of the outputs (``TaskSpec.output_layout``)."""
    if len(outputs) != 1:
        return None
    layout = layout_of_shape(outputs[0]["shape"])
    return None if layout is None else {"format": "yolo", "output": 0, **layout}


def _iou(a, b) -> float:
    ih = min(a[2], b[2]) - max(a[0], b[0])
    iw = min(a[3], b[3]) - max(a[1], b[1])
    if ih <= 0.0 or iw <= 0.0:
        return 0.0
    inter = ih * iw
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0.0 else 0.0


def candidates(head, layout: dict[str, Any], width: int, height: int, score_threshold: float):
    """(boxes [K, 4] as ymin, xmin, ymax, xmax ratios, classes [K], scores [K], anchor indices [K])
    of the anchors at or above the score threshold, in anchor order."""
    import numpy as np

    y = np.asarray(head, np.float64).reshape(layout_shape(layout))
    rows = y.T if layout["layout"] == ANCHOR_FREE else y          # [N, 4+C] or [N, 5+C]
    first = 4 if layout["layout"] == ANCHOR_FREE else 5
    cls = rows[:, first:]
    classes = cls.argmax(1)
    scores = cls[np.arange(len(rows)), classes]
    if layout["layout"] == ANCHOR_BASED:
        scores = rows[:, 4] * scores
    xywh = rows[:, :4].copy()
    if xywh.size and np.abs(xywh).max() > PIXEL_COORDINATES:
        xywh /= np.array([width, height, width, height], np.float64)
    keep = np.flatnonzero(scores >= score_threshold)
    cx, cy, w, h = (xywh[keep, k] for k in range(4))
    boxes = np.stack([cy - h / 2.0, cx - w / 2.0, cy + h / 2.0, cx + w / 2.0], 1)
    return boxes, classes[keep], scores[keep], keep


def layout_shape(layout: dict[str, Any]) -> tuple[int, int]:
    n, c = layout["anchors"], layout["classes"]
    return (4 + c, n) if layout["layout"] == ANCHOR_FREE else (n, 5 + c)


def nms(boxes, classes, scores, iou_threshold: float, max_detections: int = MAX_DETECTIONS) -> list[int]:
    """Class-wise greedy NMS: positions kept, highest score first (stable on ties)."""
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    kept: list[int] = []
    for i in order:
        if len(kept) >= max_detections:
            break
        if all(classes[j] != classes[i] or _iou(boxes[i], boxes[j]) <= iou_threshold for j in kept):
            kept.append(i)
    return kept


def decode(head, layout: dict[str, Any], width: int, height: int, *, score_threshold: float = DEFAULT_SCORE,
           iou_threshold: float = DEFAULT_IOU, max_detections: int = MAX_DETECTIONS):
    """(boxes [K, 4] ymin, xmin, ymax, xmax ratios, classes [K], scores [K]) after class-wise NMS,
    highest score first."""
    import numpy as np

    boxes, classes, scores, _ = candidates(head, layout, width, height, score_threshold)
    kept = nms(boxes, classes, scores, iou_threshold, max_detections)
    return boxes[kept].reshape(-1, 4), classes[kept].astype(np.int64), scores[kept]
