"""The numbers behind each task's evaluation, as plain functions over numpy arrays.

Boxes are ``[ymin, xmin, ymax, xmax]`` in normalized image coordinates (the layout of
``TFLite_Detection_PostProcess`` and of TFLite metadata's default bounding boxes).
Masks are integer class maps ``[H, W]``; ``IGNORE`` (255) marks pixels no metric counts."""

from __future__ import annotations

from mobilepack.data.annotations import Detections
from mobilepack.data.masks import IGNORE as MASK_IGNORE

__all__ = ["Detections", "box_iou", "detection_agreement", "mean_average_precision", "mask_iou",
           "mean_iou_from_confusion", "confusion", "cosine", "max_abs_error", "psnr", "ssim"]

IOU_MATCH = 0.5          # a detection matches a box at IoU >= 0.5 (the "@0.5" of mAP@0.5)
IGNORE = MASK_IGNORE      # mask value of pixels that are not scored


def box_iou(a, b):
    """IoU of every box in ``a`` [N, 4] with every box in ``b`` [M, 4] -> [N, M]."""
    import numpy as np

    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))

    def fix(x):  # tolerate swapped corners
        return np.stack([np.minimum(x[:, 0], x[:, 2]), np.minimum(x[:, 1], x[:, 3]),
                         np.maximum(x[:, 0], x[:, 2]), np.maximum(x[:, 1], x[:, 3])], axis=1)

    a, b = fix(a), fix(b)
    y0 = np.maximum(a[:, None, 0], b[None, :, 0])
    x0 = np.maximum(a[:, None, 1], b[None, :, 1])
    y1 = np.minimum(a[:, None, 2], b[None, :, 2])
    x1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(y1 - y0, 0, None) * np.clip(x1 - x0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _greedy_matches(ref: Detections, other: Detections, iou: float) -> int:
    """Number of ``ref`` boxes (in descending score order) matched one-to-one by a box of
    ``other`` with the same class at IoU >= ``iou``."""
    import numpy as np

    if not len(ref) or not len(other):
        return 0
    ious = box_iou(ref.boxes, other.boxes)
    same = np.asarray(ref.classes)[:, None] == np.asarray(other.classes)[None, :]
    ious = np.where(same, ious, 0.0)
    taken = np.zeros(len(other), bool)
    matched = 0
    for i in np.argsort(-np.asarray(ref.scores, np.float64), kind="stable"):
        cand = np.where(taken, -1.0, ious[i])
        j = int(np.argmax(cand))
        if cand[j] >= iou:
            taken[j] = True
            matched += 1
    return matched


def detection_agreement(reference: Detections, other: Detections, *, iou: float = IOU_MATCH) -> float:
    """One image: boxes of ``other`` matched to ``reference`` (same class, IoU >= ``iou``), divided by
    the larger of the two counts; 1.0 when both are empty.  Missing and extra boxes both lower it."""
    if not len(reference) and not len(other):
        return 1.0
    return _greedy_matches(reference, other, iou) / max(len(reference), len(other))


def average_precision(recall, precision) -> float:
    """Area under the precision/recall curve with precision made monotone (every-point
    interpolation, as in PASCAL VOC 2010 and later)."""
    import numpy as np

    r = np.concatenate([[0.0], np.asarray(recall, np.float64), [1.0]])
    p = np.concatenate([[0.0], np.asarray(precision, np.float64), [0.0]])
    for i in range(len(p) - 2, -1, -1):
        p[i] = max(p[i], p[i + 1])
    steps = np.where(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def mean_average_precision(predictions: list[Detections], truth: list[Detections], *,
                           iou: float = IOU_MATCH) -> tuple[float | None, dict[int, float]]:
    """mAP at IoU ``iou`` over the classes that have at least one labelled box: per class, every
    detection of that class over all images in descending score order is a true positive when it
    matches a not yet matched labelled box of its image (IoU >= ``iou``), else a false positive.
    Returns (mAP, {class: AP}); mAP is None when no image has a labelled box."""
    import numpy as np

    classes = sorted({int(c) for t in truth for c in np.asarray(t.classes)})
    per_class: dict[int, float] = {}
    for c in classes:
        gts = [np.asarray(t.boxes, np.float64)[np.asarray(t.classes) == c] for t in truth]
        n_gt = sum(len(g) for g in gts)
        dets = []  # (score, image, box)
        for img, p in enumerate(predictions):
            mask = np.asarray(p.classes) == c
            for box, score in zip(np.asarray(p.boxes)[mask], np.asarray(p.scores)[mask]):
                dets.append((float(score), img, box))
        dets.sort(key=lambda d: -d[0])  # stable: ties keep image order
        used = [np.zeros(len(g), bool) for g in gts]
        tp = np.zeros(len(dets))
        for k, (_, img, box) in enumerate(dets):
            if not len(gts[img]):
                continue
            ious = box_iou(box[None], gts[img])[0]
            ious = np.where(used[img], -1.0, ious)
            j = int(np.argmax(ious))
            if ious[j] >= iou:
                used[img][j] = True
                tp[k] = 1
        ctp = np.cumsum(tp)
        cfp = np.cumsum(1 - tp)
        recall = ctp / n_gt
        precision = ctp / np.maximum(ctp + cfp, 1e-12)
        per_class[c] = average_precision(recall, precision) if len(dets) else 0.0
    if not per_class:
        return None, {}
    return float(np.mean(list(per_class.values()))), per_class


def confusion(prediction, truth, classes: int):
    """Pixel confusion matrix [truth, prediction] over pixels whose truth is not ``IGNORE``."""
    import numpy as np

    p = np.asarray(prediction, np.int64).ravel()
    t = np.asarray(truth, np.int64).ravel()
    keep = (t != IGNORE) & (t >= 0) & (t < classes) & (p >= 0) & (p < classes)
    return np.bincount(t[keep] * classes + p[keep], minlength=classes * classes).reshape(classes, classes)


def mean_iou_from_confusion(matrix) -> tuple[float | None, dict[int, float]]:
    """Mean over the classes present in the truth or the prediction (union > 0) of
    intersection / union.  Returns (mIoU, {class: IoU}); None when nothing was scored."""
    import numpy as np

    m = np.asarray(matrix, np.float64)
    inter = np.diag(m)
    union = m.sum(0) + m.sum(1) - inter
    per = {int(c): float(inter[c] / union[c]) for c in range(len(m)) if union[c] > 0}
    return (float(np.mean(list(per.values()))) if per else None), per


def mask_iou(reference, other) -> float:
    """One image: mean IoU of ``other``'s class map against ``reference``'s (classes present in either)."""
    import numpy as np

    ref = np.asarray(reference, np.int64)
    oth = np.asarray(other, np.int64)
    classes = int(max(ref.max(initial=0), oth.max(initial=0))) + 1
    value, _ = mean_iou_from_confusion(confusion(oth, ref, classes))
    return 1.0 if value is None else value


def cosine(a, b) -> float:
    """Cosine similarity of two flattened outputs; 1.0 when both are zero, 0.0 when only one is."""
    import numpy as np

    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def max_abs_error(a, b) -> float:
    import numpy as np

    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)), initial=0.0))


PSNR_CAP = 100.0   # dB: identical images (no error) are reported at this value rather than infinity


def psnr(reference, other, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB of ``other`` against ``reference`` (same shape), for values
    spanning ``data_range``; capped at PSNR_CAP; NaN anywhere gives 0."""
    import numpy as np

    a, b = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    mse = float(np.mean((a - b) ** 2)) if a.size else 0.0
    if not np.isfinite(mse):
        return 0.0
    if mse == 0.0:
        return PSNR_CAP
    return float(min(PSNR_CAP, 10.0 * np.log10(data_range * data_range / mse)))


def _gaussian_blur(x, radius: int, sigma: float = 1.5):
    """Separable Gaussian filter over the first two axes of ``x`` [H, W, C], "valid" region only."""
    import numpy as np

    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    n = 2 * radius + 1
    rows = sum(taps[i] * x[i:x.shape[0] - n + 1 + i] for i in range(n))
    return sum(taps[i] * rows[:, i:rows.shape[1] - n + 1 + i] for i in range(n))


def ssim(reference, other, data_range: float) -> float:
    """Structural similarity (Wang et al. 2004: 11-tap Gaussian window, sigma 1.5, K1 0.01, K2 0.03)
    of two images [H, W, C], averaged over the valid window positions and the channels; NaN gives 0."""
    import numpy as np

    a, b = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return 0.0
    radius = max(0, min(5, (min(a.shape[0], a.shape[1]) - 1) // 2))
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = _gaussian_blur(a, radius), _gaussian_blur(b, radius)
    var_a = _gaussian_blur(a * a, radius) - mu_a ** 2
    var_b = _gaussian_blur(b * b, radius) - mu_b ** 2
    cov = _gaussian_blur(a * b, radius) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(s.mean())
