"""Per-task evaluators: each task's ``TaskSpec.evaluator`` (see :mod:`mobilepack.tasks`).

An evaluator says how a task is judged:

- ``reduce`` (runs in the evaluation child) turns one batch of dequantized outputs into the
  per-sample predictions the metrics need (class scores, boxes, a class mask, flat outputs);
- ``agreement`` compares a variant's predictions with the reference's (fp32 on the reference
  CPU kernels) and returns named numbers, one of which (``agreement_key``) the selection uses;
- ``read_labelled`` reads labelled ``--eval-data`` in the task's layout and ``score`` computes the
  labelled metric (``labelled_metric``) from predictions and that truth.

| task | labelled metric (--eval-data) | agreement with fp32 (no labels) |
|---|---|---|
| image_classification | top-1 accuracy (folder per class, .npz x/y) | top-1 agreement |
| text_classification, audio_classification | top-1 accuracy (.npz x/y) | cosine similarity |
| text_embedding | – (refused: an embedding has no label) | cosine similarity of the vectors (mean, and the minimum) |
| object_detection | mAP@0.5 (annotations.json, COCO) | box agreement (score ≥ 0.5, IoU ≥ 0.5) |
| image_segmentation | mIoU (masks/<image>.png) | mask IoU |
| keypoints (evaluate/keypoints.py) | PCK@0.05 (keypoints.json) | PCK@0.05, normalized keypoint error |
| image_to_image | – | SSIM and PSNR of the output image (evaluate.families) |
| generic | – | cosine similarity (and max-abs error) |

Without labels the selection follows ``agreement_rule``: ``"fallback"`` tries the modes in the
quantization registry's no-label order (int8 only at or above the threshold, else fp16);
``"smallest"`` (text_embedding) ships the smallest variant whose agreement reaches the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from mobilepack.errors import DataError, UsageError

DETECTION_SCORE = 0.5   # detections below this score are not compared with fp32
# how the reports name each number an evaluator's ``agreement`` returns
METRIC_NAMES = {"top1_agreement": "top-1 agreement", "cosine": "cosine similarity",
                "cosine_min": "minimum cosine similarity", "max_abs_error": "max-abs error",
                "box_agreement": "box agreement", "mask_iou": "mask IoU", "pixel_agreement": "pixel agreement",
                "pck": "PCK@0.05", "nke": "normalized keypoint error", "nke_max": "largest keypoint error",
                "presence_max_abs_error": "presence max-abs error", "ssim": "SSIM", "psnr": "PSNR (dB)"}


class LayoutError(Exception):
    """The model's outputs do not have the layout the task's evaluator reads."""


@dataclass(frozen=True)
class Evaluator:
    agreement_metric: str                 # the name the reports and the selection rule use
    agreement_key: str                    # which number of ``agreement`` that is
    agreement_threshold: float            # without labels, int8 ships only at or above it
    labelled_metric: str | None           # None: the task has no labelled metric
    reduce: Callable[[list[tuple[str, Any]], dict], dict[str, Any]]
    agreement: Callable[[dict[str, Any], dict[str, Any]], dict[str, float]]
    read_labelled: Callable[..., tuple[Any, Any, list[str]]] | None = None
    score: Callable[[dict[str, Any], Any], float | None] | None = None
    labelled_layout: str = ""             # what labelled --eval-data looks like (for hints)
    # labels carried by the samples themselves (class folders, .npz y) -> (truth, warnings)
    truth_of_samples: Callable[..., tuple[Any, list[str]]] | None = None
    # (eval_data path, labelled_layout) -> None; raises DataError when it is not in the task's layout
    check_data: Callable[[Any, str], None] | None = None
    # without labels: "fallback" (the quantization registry's no-label order, gated modes at the
    # threshold) or "smallest" (the smallest variant whose agreement reaches the threshold)
    agreement_rule: str = "fallback"
    # the shipped model's bytes -> what ``reduce`` needs beyond the outputs (decode thresholds, input size)
    model_hints: Callable[[bytes], dict] | None = None
    task: str = ""                        # the task it judges (filled in by :func:`get`)

    def describe(self) -> dict[str, Any]:
        return {"task": self.task, "metric": self.labelled_metric, "agreement_metric": self.agreement_metric,
                "agreement_key": self.agreement_key, "agreement_threshold": self.agreement_threshold,
                "agreement_rule": self.agreement_rule}


def get(task: str | None, *, source: str | None = None) -> Evaluator:
    """The evaluator of the registered task ``task`` (None: generic).  ``source``: the module that
    registers the task, run first when it is not registered (in the evaluation child)."""
    from dataclasses import replace

    from mobilepack import tasks

    name = getattr(task, "value", task) or "generic"
    if source:
        tasks.ensure(name, source)
    spec = tasks.get(name)
    return replace(spec.evaluator, task=spec.name)


def _batch_of(outputs) -> int:
    return int(outputs[0][1].shape[0]) if outputs and outputs[0][1].ndim else 1


# -- classification -----------------------------------------------------------------------------

def _scores_output(outputs, hints):
    """The class-score output: the only one, else the one with one score per label, else the
    first 2-D one."""
    if len(outputs) == 1:
        return outputs[0][1]
    n = len(hints.get("labels") or ())
    for _, y in outputs:
        if n and y.ndim == 2 and y.shape[-1] == n:
            return y
    for _, y in outputs:
        if y.ndim == 2 and y.shape[-1] > 1:
            return y
    return outputs[0][1]


def _reduce_scores(outputs, hints):
    import numpy as np

    y = np.asarray(_scores_output(outputs, hints), np.float32)
    return {"scores": y.reshape(_batch_of(outputs), -1)}


def _per_sample(fn, a, b) -> float:
    import numpy as np

    return float(np.mean([fn(x, y) for x, y in zip(a, b)])) if len(a) else 0.0


def _score_agreement(pred, ref):
    from mobilepack.evaluate.metrics import cosine, max_abs_error

    p, r = pred["scores"], ref["scores"]
    return {"top1_agreement": float((p.argmax(1) == r.argmax(1)).mean()) if len(p) else 0.0,
            "cosine": _per_sample(cosine, p, r), "max_abs_error": max_abs_error(p, r) if len(p) else 0.0}


def label_indices(samples, labels: tuple[str, ...]) -> tuple[tuple[int, ...] | None, list[str]]:
    """Map a folder-per-class dataset's class names onto the model's label order."""
    warnings: list[str] = []
    if samples.labels is None:
        return None, warnings
    if samples.class_names is None:  # .npz y: already indices
        return samples.labels, warnings
    from mobilepack.data.readers import class_indices

    names = samples.class_names
    index, how, _ = class_indices(names, labels)
    if how == "sorted":
        warnings.append(f"evaluation folders {list(names)[:4]}... do not match the model's labels; classes were "
                        f"numbered in sorted folder order")
    return tuple(index[i] for i in samples.labels), warnings


def _class_truth(samples, labels):
    return label_indices(samples, tuple(labels))


def _read_classes(eval_data, spec, labels, *, limit=None):
    from mobilepack.data.readers import read_samples

    samples = read_samples(eval_data, spec, limit=limit, what="evaluation")
    truth, warnings = _class_truth(samples, labels)
    if truth is None:
        raise DataError(f"evaluation data {eval_data} has no labels",
                        "use a folder per class of images, or .npz with x and y")
    return samples, truth, warnings


def _top1(pred, truth):
    import numpy as np

    p = pred["scores"].argmax(1)
    return float((p == np.asarray(truth[:len(p)])).mean()) if len(p) else None


_CLASSES_LAYOUT = "a folder per class of images, or .npz with x and y (class indices)"

# image classification ships int8 on top-1 agreement; text and audio scores on cosine similarity
TOP1 = Evaluator("top-1 agreement", "top1_agreement", 0.99, "top-1 accuracy", _reduce_scores, _score_agreement,
                 _read_classes, _top1, _CLASSES_LAYOUT, _class_truth)
SCORES = Evaluator("cosine similarity", "cosine", 0.99, "top-1 accuracy", _reduce_scores, _score_agreement,
                   _read_classes, _top1, _CLASSES_LAYOUT, _class_truth)


# -- sentence embeddings ------------------------------------------------------------------------

def _reduce_vectors(outputs, hints):
    import numpy as np

    (_, y), = outputs[:1]
    return {"vectors": np.asarray(y, np.float32).reshape(_batch_of(outputs), -1)}


def _vector_agreement(pred, ref):
    """Cosine similarity of each sample's vector with the reference's: the mean (the selection's
    number) and the minimum; never an argmax, which means nothing for an embedding."""
    import numpy as np

    from mobilepack.evaluate.metrics import cosine, max_abs_error

    p, r = pred["vectors"], ref["vectors"]
    per = [cosine(x, y) for x, y in zip(p, r)]
    return {"cosine": float(np.mean(per)) if per else 0.0, "cosine_min": float(min(per)) if per else 0.0,
            "max_abs_error": max_abs_error(p, r) if len(p) else 0.0}


EMBEDDINGS = Evaluator("cosine similarity", "cosine", 0.99, None, _reduce_vectors, _vector_agreement,
                       agreement_rule="smallest")


# -- object detection -------------------------------------------------------------------------

def _reduce_detections(outputs, hints):
    import numpy as np

    from mobilepack.tasks.tensors import ssd_layout  # the apps' reading of SSD outputs

    views = [{"name": n, "shape": list(y.shape), "elements": int(y.size)} for n, y in outputs]
    layout = ssd_layout(views)
    if layout is None:
        shapes = ", ".join(f"{n} {list(y.shape)}" for n, y in outputs)
        raise LayoutError(f"the outputs are not SSD-style (boxes [1,N,4], classes [1,N], scores [1,N], "
                          f"count [1]): {shapes}")
    y = [np.asarray(a, np.float32) for _, a in outputs]
    b = _batch_of(outputs)
    n = layout["max_detections"]
    return {"boxes": y[layout["boxes"]].reshape(b, n, 4), "classes": y[layout["classes"]].reshape(b, n),
            "scores": y[layout["scores"]].reshape(b, n), "count": y[layout["count"]].reshape(b)}


def detections_of(pred) -> list:
    """Per-sample :class:`Detections` (the first ``count`` of each sample)."""
    import numpy as np

    from mobilepack.data.annotations import Detections

    out = []
    for boxes, classes, scores, count in zip(pred["boxes"], pred["classes"], pred["scores"], pred["count"]):
        k = int(np.clip(np.rint(count), 0, len(scores)))
        out.append(Detections(boxes[:k], np.rint(classes[:k]).astype(np.int64), scores[:k]))
    return out


def _detection_agreement(pred, ref):
    from mobilepack.evaluate.metrics import detection_agreement

    p = [d.above(DETECTION_SCORE) for d in detections_of(pred)]
    r = [d.above(DETECTION_SCORE) for d in detections_of(ref)]
    return {"box_agreement": _per_sample(detection_agreement, r, p)}


def _read_boxes(eval_data, spec, labels, *, limit=None):
    from mobilepack.data.annotations import read_coco

    return read_coco(eval_data, spec, labels=tuple(labels))


def _map50(pred, truth):
    from mobilepack.evaluate.metrics import mean_average_precision

    dets = detections_of(pred)
    value, _ = mean_average_precision(dets, list(truth)[:len(dets)])
    return value


def _check_boxes(path, layout: str) -> None:
    from mobilepack.data.annotations import has_annotations

    if not (path.is_dir() and has_annotations(path)):
        raise DataError(f"--eval-data {path}: object detection needs labelled boxes", f"pass {layout}")


BOXES = Evaluator(f"box agreement (score ≥ {DETECTION_SCORE}, IoU ≥ 0.5)", "box_agreement", 0.95, "mAP@0.5",
                  _reduce_detections, _detection_agreement, _read_boxes, _map50,
                  "a folder with annotations.json (COCO: images, annotations, categories) and its images",
                  check_data=_check_boxes)


# -- image segmentation -----------------------------------------------------------------------

def _reduce_mask(outputs, hints):
    import numpy as np

    b = _batch_of(outputs)
    four = [(n, y) for n, y in outputs if y.ndim == 4]
    if four:
        _, y = max(four, key=lambda o: o[1].size)
        y = np.asarray(y, np.float32)
        mask = (y[..., 0] >= 0.5).astype(np.int16) if y.shape[-1] == 1 else y.argmax(-1).astype(np.int16)
    else:
        three = [(n, y) for n, y in outputs if y.ndim == 3]
        if not three:
            shapes = ", ".join(f"{n} {list(y.shape)}" for n, y in outputs)
            raise LayoutError(f"no output is a mask ([1,H,W,classes] scores or [1,H,W] classes): {shapes}")
        mask = np.rint(np.asarray(three[0][1], np.float32)).astype(np.int16)
    return {"mask": mask.reshape(b, *mask.shape[1:3])}


def _mask_agreement(pred, ref):
    from mobilepack.evaluate.metrics import mask_iou

    return {"mask_iou": _per_sample(mask_iou, ref["mask"], pred["mask"]), "pixel_agreement":
            float((pred["mask"] == ref["mask"]).mean()) if len(pred["mask"]) else 0.0}


def _read_masks(eval_data, spec, labels, *, limit=None):
    from mobilepack.data.masks import read_mask_set

    samples, masks = read_mask_set(eval_data, spec)
    return samples, masks, []


def _miou(pred, truth):
    import numpy as np

    from mobilepack.data.masks import resize_nearest
    from mobilepack.evaluate.metrics import IGNORE, confusion, mean_iou_from_confusion

    masks = pred["mask"]
    if not len(masks):
        return None
    h, w = masks.shape[1:3]
    truths = [resize_nearest(t, h, w) for t in list(truth)[:len(masks)]]
    labelled = [t[t != IGNORE] for t in truths]
    classes = int(max(masks.max(), max((x.max(initial=0) for x in labelled), default=0))) + 1
    total = np.zeros((classes, classes), np.int64)
    for p, t in zip(masks, truths):
        total += confusion(p, t, classes)
    value, _ = mean_iou_from_confusion(total)
    return value


def _check_masks(path, layout: str) -> None:
    from mobilepack.data.masks import has_masks

    if not (path.is_dir() and has_masks(path)):
        raise DataError(f"--eval-data {path}: image segmentation needs labelled masks", f"pass {layout}")


MASKS = Evaluator("mask IoU", "mask_iou", 0.95, "mIoU", _reduce_mask, _mask_agreement, _read_masks, _miou,
                  "a folder of images with masks/<image name>.png (class index per pixel)", check_data=_check_masks)


# -- generic ----------------------------------------------------------------------------------

def _reduce_flat(outputs, hints):
    import numpy as np

    b = _batch_of(outputs)
    parts = [np.asarray(y, np.float32).reshape(b, -1) for _, y in sorted(outputs, key=lambda o: o[0])]
    return {"flat": np.concatenate(parts, axis=1) if parts else np.zeros((b, 0), np.float32)}


def _flat_agreement(pred, ref):
    from mobilepack.evaluate.metrics import cosine, max_abs_error

    p, r = pred["flat"], ref["flat"]
    return {"cosine": _per_sample(cosine, p, r), "max_abs_error": max_abs_error(p, r) if len(p) else 0.0}


FLAT = Evaluator("cosine similarity", "cosine", 0.99, None, _reduce_flat, _flat_agreement)


def check_eval_data(task: str | None, path) -> None:
    """Before any heavy work: labelled ``--eval-data`` must have the layout the task reads."""
    from pathlib import Path

    from mobilepack import tasks

    name = getattr(task, "value", task)
    if path is None or name is None or str(name) not in tasks.names():
        return  # a task still to be detected, or an unknown --task: the metadata stage reports it
    ev = get(name)
    if ev.labelled_metric is None:
        raise UsageError(f"a {ev.task} model has no labelled metric, so --eval-data cannot be scored",
                         f"drop --eval-data: the variants are compared with fp32 by {ev.agreement_metric} on the "
                         "--validation (else --calibration) samples, an .npz with one array per input name")
    if ev.check_data is not None:
        ev.check_data(Path(path), ev.labelled_layout)
