"""Labelled boxes for object detection: a COCO-style ``annotations.json`` beside the images.

Layout of ``--eval-data DIR`` for a detector::

    DIR/annotations.json      {"images": [...], "annotations": [...], "categories": [...]}
    DIR/<file_name>           each image's ``file_name`` (relative to DIR, or to DIR/images/)

``annotations[*].bbox`` is COCO's ``[x, y, width, height]`` in pixels of the original image
(``images[*].width/height``, else the file's own size); boxes become normalized
``[ymin, xmin, ymax, xmax]``, the detector output layout.  ``iscrowd`` boxes are skipped.
A category maps to the model's class index by its ``name`` in ``--labels`` when every
category is named there, else its ``id`` is the class index."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mobilepack.data.readers import Samples, _batched, _image_input, load_image
from mobilepack.errors import DataError
from mobilepack.model.spec import ModelSpec, Normalization

ANNOTATIONS = "annotations.json"


@dataclass(frozen=True)
class Detections:
    """One image's detections (or labelled boxes, with ``scores`` all 1)."""

    boxes: object    # float array [K, 4]
    classes: object  # int array [K]
    scores: object   # float array [K]

    def above(self, threshold: float) -> "Detections":
        import numpy as np

        keep = np.asarray(self.scores) >= threshold
        return Detections(np.asarray(self.boxes)[keep], np.asarray(self.classes)[keep], np.asarray(self.scores)[keep])

    def __len__(self) -> int:
        return len(self.classes)


HINT = (f"give --eval-data a folder with {ANNOTATIONS} (COCO: images, annotations, categories) "
        "and the images it names")


def has_annotations(folder: str | Path) -> bool:
    return (Path(folder) / ANNOTATIONS).is_file()


def _load(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {str(exc).splitlines()[0][:200]}", HINT) from exc
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in ("images", "annotations",
                                                                                     "categories")):
        raise DataError(f"{path} is not COCO-style: it needs lists 'images', 'annotations' and 'categories'", HINT)
    return doc


def category_indices(categories: list[dict], labels: tuple[str, ...]) -> tuple[dict[int, int], list[str]]:
    """COCO category id -> model class index (see the module docstring), and warnings."""
    names = {int(c["id"]): str(c.get("name", c["id"])) for c in categories}
    if labels and all(n in labels for n in names.values()):
        return {cid: labels.index(n) for cid, n in names.items()}, []
    warnings = []
    if labels:
        missing = sorted(n for n in names.values() if n not in labels)[:4]
        warnings.append(f"categories {missing} are not in the labels; category ids are used as class indices")
    return {cid: cid for cid in names}, warnings


def read_coco(folder: str | Path, spec: ModelSpec, *, labels: tuple[str, ...] = (),
              normalization: Normalization | None = None) -> tuple[Samples, list[Detections], list[str]]:
    """Images of ``folder``'s annotations.json as model input, and each image's labelled boxes."""
    import numpy as np
    from PIL import Image

    folder = Path(folder)
    path = folder / ANNOTATIONS
    if not path.is_file():
        raise DataError(f"{folder} has no {ANNOTATIONS}: detection needs labelled boxes", HINT)
    doc = _load(path)
    t = _image_input(spec)
    norm = normalization or spec.normalization
    if norm is None:
        raise DataError("evaluation images need a normalization and none is known for this model",
                        "pass --mean/--std (e.g. --mean 127.5 --std 127.5)")
    try:
        index, warnings = category_indices(doc["categories"], tuple(labels))
        by_image: dict[int, list[dict]] = {}
        for a in doc["annotations"]:
            by_image.setdefault(int(a["image_id"]), []).append(a)
        images = [(int(i["id"]), str(i["file_name"]), i.get("width"), i.get("height")) for i in doc["images"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: an entry lacks a field COCO requires ({exc})",
                        "images need id and file_name; annotations image_id, category_id, bbox; "
                        "categories id and name") from exc
    if not images:
        raise DataError(f"{path} lists no images", HINT)
    _, h, w, c = t.shape
    pixels, truth = [], []
    for image_id, name, width, height in images:
        file = folder / name if (folder / name).is_file() else folder / "images" / name
        if not file.is_file():
            raise DataError(f"{path} names image {name!r}, which is not in {folder} or {folder / 'images'}", HINT)
        if not width or not height:
            with Image.open(file) as img:
                width, height = img.size
        pixels.append(load_image(file, h, w, c))
        boxes, classes = [], []
        for a in by_image.get(image_id, []):
            if a.get("iscrowd"):
                continue
            try:
                x, y, bw, bh = (float(v) for v in a["bbox"])
                cls = index[int(a["category_id"])]
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"{path}: annotation {a.get('id', '?')} of image {image_id} has no valid bbox "
                                f"[x, y, w, h] or a category_id not in categories", HINT) from exc
            boxes.append([y / height, x / width, (y + bh) / height, (x + bw) / width])
            classes.append(cls)
        truth.append(Detections(np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(classes, np.int64),
                                np.ones(len(classes))))
    if not any(len(d) for d in truth):
        raise DataError(f"{path} labels no boxes (every annotation is missing or iscrowd)",
                        "mAP@0.5 needs at least one labelled box")
    x = norm.apply(np.stack(pixels)).astype(t.dtype)
    batches = _batched({t.name: x}, spec)
    return Samples(batches, str(folder), "coco"), truth[:len(batches) * t.shape[0]], warnings
