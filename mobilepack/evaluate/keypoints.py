"""The keypoints evaluator: points decoded as :mod:`mobilepack.tasks.keypoints` says, judged by
PCK@0.05 and the normalized keypoint error (NKE), against fp32 and against labelled points.

The layout comes from the shipped model's metadata (``model_hints``), so each variant is decoded
as the apps decode it.  Labelled ``--eval-data`` is a folder of images with ``keypoints.json``::

    {"hand1.jpg": [[x0, y0], [x1, y1], ...], ...}

one ``[x, y]`` per point, in pixels of the (upright) image, ``null`` for a point that is not
labelled; images not named in the file are not scored."""

from __future__ import annotations

import json
from pathlib import Path

from mobilepack.errors import DataError
from mobilepack.evaluate.tasks import Evaluator, LayoutError
from mobilepack.tasks import keypoints as kp

LABELS_FILE = "keypoints.json"
HINT = f"give --eval-data a folder of images with {LABELS_FILE}: {{\"image.jpg\": [[x, y], ...]}} in image pixels"


def _hints(model_bytes: bytes) -> dict:
    from mobilepack.evaluate.families import input_size
    from mobilepack.metadata.keypoints import model_layout

    return {"keypoints": model_layout(model_bytes), **input_size(model_bytes)}


def _reduce(outputs, hints):
    import numpy as np

    layout = hints.get("keypoints") or kp.detect_layout([y for _, y in outputs])
    if layout is None:
        raise LayoutError("the model's metadata records no keypoints layout and the outputs "
                          f"{', '.join(f'{n} {list(y.shape)}' for n, y in outputs)} do not show one")
    width, height = hints.get("input_size") or (1, 1)
    b = int(outputs[0][1].shape[0]) if outputs[0][1].ndim else 1
    points, presence = np.zeros((b, layout["points"], 2)), np.full(b, np.nan)
    for k in range(b):
        pts, score = kp.decode([np.asarray(y)[k] for _, y in outputs], layout, width, height)
        points[k] = pts
        presence[k] = np.nan if score is None else score
    return {"points": points, "presence": presence}


def _agreement(pred, ref):
    import numpy as np

    err = kp.point_errors(pred["points"], ref["points"])
    if not err.size:
        return {"pck": 0.0, "nke": 0.0, "nke_max": 0.0}
    out = {"pck": float((err <= kp.PCK_THRESHOLD).mean()), "nke": float(err.mean()), "nke_max": float(err.max())}
    both = ~(np.isnan(pred["presence"]) | np.isnan(ref["presence"]))
    if both.any():
        out["presence_max_abs_error"] = float(np.abs(pred["presence"][both] - ref["presence"][both]).max())
    return out


def read_points(folder: Path) -> dict[str, list]:
    path = folder / LABELS_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}", HINT) from None
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise DataError(f"{path} is not an object of image name -> list of [x, y]", HINT)
    for name, pts in data.items():
        for p in pts:
            if p is not None and not (isinstance(p, list) and len(p) == 2 and
                                      all(isinstance(v, (int, float)) for v in p)):
                raise DataError(f"{path}: point {p!r} of {name} is not [x, y] or null", HINT)
    return data


def _read_labelled(eval_data, spec, labels, *, limit=None):
    import numpy as np
    from PIL import Image, ImageOps

    from mobilepack.data.readers import Samples, _batched, _image_input, load_image

    folder = Path(eval_data)
    points = read_points(folder)
    t = _image_input(spec)
    if spec.normalization is None:
        raise DataError("evaluation images need a normalization and none is known for this model",
                        "pass --mean/--std (e.g. --mean 0 --std 255)")
    _, h, w, c = t.shape
    pixels, truth = [], []
    for name in sorted(points)[:limit]:
        f = folder / name
        if not f.is_file():
            raise DataError(f"{LABELS_FILE} names {name}, which is not in {folder}", HINT)
        with Image.open(f) as img:
            iw, ih = ImageOps.exif_transpose(img).size
        pixels.append(load_image(f, h, w, c))
        truth.append(np.array([[np.nan, np.nan] if p is None else [p[0] / iw, p[1] / ih] for p in points[name]]))
    if not truth:
        raise DataError(f"{folder / LABELS_FILE} labels no image", HINT)
    x = spec.normalization.apply(np.stack(pixels)).astype(t.dtype)
    batches = _batched({t.name: x}, spec)
    return Samples(batches, str(folder), "keypoints"), truth[:len(batches) * t.shape[0]], []


def _pck(pred, truth):
    """PCK@0.05 over the labelled points (a label file with another point count is a data error)."""
    import numpy as np

    hits, total = 0, 0
    for p, t in zip(pred["points"], truth):
        if len(t) != len(p):
            raise DataError(f"a {LABELS_FILE} entry has {len(t)} points, the model gives {len(p)}", HINT)
        keep = ~np.isnan(t).any(1)
        hits += int((kp.point_errors(p[keep], t[keep]) <= kp.PCK_THRESHOLD).sum())
        total += int(keep.sum())
    return hits / total if total else None


def _check(path, layout: str) -> None:
    if not (Path(path) / LABELS_FILE).is_file():
        raise DataError(f"--eval-data {path}: keypoints needs labelled points", f"pass {layout}")


KEYPOINTS = Evaluator(f"keypoint agreement (PCK@{kp.PCK_THRESHOLD:g})", "pck", kp.AGREEMENT_PCK, f"PCK@{kp.PCK_THRESHOLD:g}",
                      _reduce, _agreement, _read_labelled, _pck,
                      f"a folder of images with {LABELS_FILE} ({{image name: [[x, y] in image pixels, ...]}})",
                      check_data=_check, model_hints=_hints)
