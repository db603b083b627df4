"""A YOLO-layout detector the tests train themselves on shapes they draw (no YOLO weights ship in any
registry package: the packages that claim YOLO download weights at run time).

The data: 96×96 RGB pictures of a noisy background with one to three filled shapes (square, disc,
triangle), each of its own random colour and size; the labels are their boxes, written as COCO
``annotations.json`` for ``--eval-data``.  The model: a small CNN to a 12×12 grid (stride 8) and an
anchor-free head ``[1, 4+3, 144]`` like YOLOv8's export: per cell ``cx, cy`` (the cell plus a sigmoid
offset), ``w, h`` (sigmoid ratios of the image) and three sigmoid class scores.  Trained for real
(the cell holding a shape's centre is its positive, BCE on the scores, L1 on its box) in well under a
minute on two cores; the same head transposed ([1, 144, 5+3] with an objectness) is the
anchor-based layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SIZE, GRID, CLASSES = 96, 12, ("square", "disc", "triangle")
STRIDE = SIZE // GRID


def _shape_mask(kind: int, h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    if kind == 0:
        return np.ones((h, w), bool)
    if kind == 1:
        return ((x - (w - 1) / 2) / (w / 2)) ** 2 + ((y - (h - 1) / 2) / (h / 2)) ** 2 <= 1.0
    return np.abs(x - (w - 1) / 2) <= (y + 1) * (w / 2) / h     # apex at the top, base at the bottom


def draw(rng: np.random.Generator, max_shapes: int = 3):
    """(a uint8 picture [96, 96, 3], its boxes [K, 4] as ymin, xmin, ymax, xmax ratios, classes [K])."""
    img = rng.integers(0, 70, (SIZE, SIZE, 3)).astype(np.uint8)
    boxes, classes, taken = [], [], np.zeros((GRID, GRID), bool)
    for _ in range(int(rng.integers(1, max_shapes + 1))):
        for _try in range(20):
            h, w = (int(v) for v in rng.integers(14, 40, 2))
            top, left = int(rng.integers(0, SIZE - h)), int(rng.integers(0, SIZE - w))
            cell = ((top + h / 2) // STRIDE, (left + w / 2) // STRIDE)
            if not taken[int(cell[0]), int(cell[1])]:
                break
        else:
            continue
        taken[int(cell[0]), int(cell[1])] = True
        kind = int(rng.integers(0, len(CLASSES)))
        colour = rng.integers(120, 256, 3).astype(np.uint8)
        region = img[top:top + h, left:left + w]
        region[_shape_mask(kind, h, w)] = colour
        boxes.append([top / SIZE, left / SIZE, (top + h) / SIZE, (left + w) / SIZE])
        classes.append(kind)
    return img, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(classes, np.int64)


def dataset(count: int, seed: int):
    rng = np.random.default_rng(seed)
    return [draw(rng) for _ in range(count)]


def _targets(data):
    """Per cell: [positive, cx, cy, w, h, one-hot classes] for the training loss."""
    t = np.zeros((len(data), GRID * GRID, 5 + len(CLASSES)), np.float32)
    for i, (_, boxes, classes) in enumerate(data):
        for (y0, x0, y1, x1), c in zip(boxes, classes):
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            cell = int(cy * GRID) * GRID + int(cx * GRID)
            t[i, cell, :5] = (1.0, cx, cy, x1 - x0, y1 - y0)
            t[i, cell, 5 + c] = 1.0
    return t


def _model(k):
    inp = k.Input(shape=(SIZE, SIZE, 3), name="image")
    x = k.layers.Rescaling(1 / 127.5, offset=-1.0)(inp)
    for filters in (16, 32, 48):
        x = k.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
        x = k.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    raw = k.layers.Conv2D(4 + len(CLASSES), 1, name="raw")(x)                      # [B, 12, 12, 7]
    raw = k.layers.Reshape((GRID * GRID, 4 + len(CLASSES)))(raw)
    gy, gx = np.mgrid[0:GRID, 0:GRID]
    grid = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)[None]           # [1, 144, 2]
    centre = (k.ops.sigmoid(raw[..., :2]) + grid) / GRID
    size = k.ops.sigmoid(raw[..., 2:4])
    scores = k.ops.sigmoid(raw[..., 4:])
    rows = k.ops.concatenate([centre, size, scores], -1)                            # [B, 144, 4+C]
    return k.Model(inp, k.ops.transpose(rows, (0, 2, 1)), name="shapes_yolo")     # [B, 4+C, 144]


def _loss(k):
    def loss(target, pred):
        rows = k.ops.transpose(pred, (0, 2, 1))
        pos = target[..., 0]
        cls = k.ops.mean(k.losses.binary_crossentropy(target[..., 5:, None], rows[..., 4:, None]), -1)
        box = k.ops.sum(k.ops.abs(rows[..., :4] - target[..., 1:5]), -1) * pos
        return k.ops.sum(cls * (1.0 + 4.0 * pos) + 5.0 * box, -1) / GRID
    return loss


def train(epochs: int = 12, count: int = 1500, seed: int = 0):
    """The trained Keras model (anchor-free head)."""
    from tests.models import keras

    k = keras()
    k.utils.set_random_seed(seed)
    data = dataset(count, seed)
    x = np.stack([d[0] for d in data]).astype(np.float32)
    model = _model(k)
    model.compile(optimizer=k.optimizers.Adam(3e-3), loss=_loss(k))
    model.fit(x, _targets(data), batch_size=32, epochs=epochs, verbose=0)
    return model


def write_coco(folder: Path, data) -> Path:
    """Pictures as PNGs and their boxes as annotations.json (COCO: bbox = x, y, w, h in pixels)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i, (img, boxes, classes) in enumerate(data):
        name = f"shapes_{i:03d}.png"
        Image.fromarray(img).save(folder / name)
        images.append({"id": i, "file_name": name, "width": SIZE, "height": SIZE})
        for (y0, x0, y1, x1), c in zip(boxes, classes):
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": int(c) + 1,
                                "bbox": [float(x0 * SIZE), float(y0 * SIZE), float((x1 - x0) * SIZE),
                                         float((y1 - y0) * SIZE)], "area": 1.0, "iscrowd": 0})
    categories = [{"id": c + 1, "name": n} for c, n in enumerate(CLASSES)]
    (folder / "annotations.json").write_text(json.dumps({"images": images, "annotations": annotations,
                                                         "categories": categories}))
    return folder


_TRAINED: dict = {}


def trained():
    """The trained detector, once per test session (shared by test_yolo.py and the JVM harness)."""
    if "model" not in _TRAINED:
        _TRAINED["model"] = train()
    return _TRAINED["model"]


def tflite(score_threshold: float = 0.3) -> bytes:
    """The trained detector converted (real TFLiteConverter, fp32) with its metadata (labels, the
    score threshold; the input normalization is the model's own Rescaling layer)."""
    from mobilepack.metadata.writer import attach
    from mobilepack.model.spec import Normalization
    from tests.models import tf

    model = tf().lite.TFLiteConverter.from_keras_model(trained()).convert()
    norm = Normalization(mean=(0.0,), std=(1.0,), source="model_layer", in_model=True)
    return attach(model, task="yolo_detection", labels=CLASSES, score_threshold=score_threshold,
                  normalization=norm).model


def pictures(folder: Path, count: int = 4, seed: int = 11) -> list[Path]:
    """Shape pictures as PNGs (samples the apps decode)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (img, _, _) in enumerate(dataset(count, seed)):
        Image.fromarray(img).save(folder / f"shapes_{i}.png")
        out.append(folder / f"shapes_{i}.png")
    return out
