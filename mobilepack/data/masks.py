"""Labelled masks for segmentation: one class-index PNG per image.

Layout of ``--eval-data DIR`` for a segmenter::

    DIR/<name>.png|.jpg       the images (DIR itself, not sub-folders)
    DIR/masks/<name>.png      for each image, a single-channel PNG (mode L or P) whose pixel value
                              is the class index; 255 marks pixels that are not scored

Masks are compared at the model's output resolution (nearest-neighbour resize)."""

from __future__ import annotations

from pathlib import Path

from mobilepack.data.readers import IMAGE_SUFFIXES, Samples, _batched, _image_input, load_image
from mobilepack.errors import DataError
from mobilepack.model.spec import ModelSpec, Normalization

MASKS = "masks"
IGNORE = 255   # mask value of pixels that are not scored (evaluate.metrics.IGNORE)
HINT = f"give --eval-data a folder of images with a {MASKS}/ folder holding <image name>.png class-index masks"


def has_masks(folder: str | Path) -> bool:
    return (Path(folder) / MASKS).is_dir()


def read_mask(path: Path):
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.mode not in ("L", "P", "I", "I;16"):
                raise DataError(f"mask {path} is {img.mode}, not a single-channel class-index image",
                                "save masks as 8-bit grayscale or palette PNGs whose values are class indices")
            return np.asarray(img).astype(np.int64)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read mask {path}: {exc}", HINT) from exc


def resize_nearest(mask, height: int, width: int):
    import numpy as np

    m = np.asarray(mask)
    if m.shape == (height, width):
        return m
    rows = (np.arange(height) * m.shape[0] // height).clip(0, m.shape[0] - 1)
    cols = (np.arange(width) * m.shape[1] // width).clip(0, m.shape[1] - 1)
    return m[rows][:, cols]


def read_mask_set(folder: str | Path, spec: ModelSpec, *,
                  normalization: Normalization | None = None) -> tuple[Samples, list]:
    """Images of ``folder`` as model input and each image's mask (at the mask's own size)."""
    import numpy as np

    folder = Path(folder)
    if not has_masks(folder):
        raise DataError(f"{folder} has no {MASKS}/ folder: segmentation needs labelled masks", HINT)
    t = _image_input(spec)
    norm = normalization or spec.normalization
    if norm is None:
        raise DataError("evaluation images need a normalization and none is known for this model",
                        "pass --mean/--std (e.g. --mean 127.5 --std 127.5)")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"no .png/.jpg images in {folder}", HINT)
    _, h, w, c = t.shape
    pixels, masks = [], []
    for f in files:
        mask_path = folder / MASKS / f"{f.stem}.png"
        if not mask_path.is_file():
            raise DataError(f"image {f.name} has no mask {MASKS}/{f.stem}.png", HINT)
        pixels.append(load_image(f, h, w, c))
        masks.append(read_mask(mask_path))
    if all((m == IGNORE).all() for m in masks):
        raise DataError(f"every mask in {folder / MASKS} is {IGNORE} (not scored)", "label at least one pixel")
    x = norm.apply(np.stack(pixels)).astype(t.dtype)
    batches = _batched({t.name: x}, spec)
    return Samples(batches, str(folder), "masks"), masks[:len(batches) * t.shape[0]]
