"""Keypoint (landmark) models: one output holds P points × V values, another may hold a presence score.

The layout (a dict every stage reads the same way: metadata writes it, the evaluator and the apps
read it back)::

    {"format": "keypoints", "output": 0, "points": 21, "values": 3, "presence": 1,
     "units": "pixels", "skeleton": [[0, 1], [1, 2], ...]}

- ``output``: the index (model output order) of the keypoint tensor; its ``P·V`` elements are point
  after point: ``x, y`` then ``V - 2`` further values (z, visibility, presence) that are not drawn;
- ``presence``: the index of a one-element output holding the presence score, or ``-1``;
- ``units``: ``pixels`` of the model input (MediaPipe) or ``ratios`` (0..1 of the input);
- ``skeleton``: index pairs drawn as lines (the 21-point hand topology for a detected hand model).

It is detected from the tensors only where it is unambiguous: one image input, two or more
outputs, the **first** output ``[1, P·V]`` or ``[1, P, V]`` with ``P·V`` one of :data:`KNOWN` (MediaPipe's
landmark models, which put the image landmarks first) and a one-element output beside it (the
first such is the presence score).  Anything else takes ``--task keypoints --keypoints-layout SPEC``
(:func:`parse_option`).

The decode every language implements the same way (this module, ``Results.kt``, ``Results.swift``):
point ``p`` is ``x = out[p·V]``, ``y = out[p·V + 1]``, divided by the input's width and height when
the units are pixels, in double precision; the presence score is the presence output's one value.

Metrics (:func:`point_errors`): a point's error is its Euclidean distance to the reference point in
units of the input size (x over the width, y over the height: pixels ÷ 224 for a 224 × 224 input);
*normalized keypoint error* (NKE) is its mean, *PCK@0.05* the share of points within 0.05.

A leaf like :mod:`mobilepack.tasks.yolo`: numpy is imported lazily and nothing from mobilepack but errors.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mobilepack.errors import UsageError

UNITS = ("pixels", "ratios")
PCK_THRESHOLD = 0.05       # PCK@0.05: a point within 0.05 of the input size counts as correct
AGREEMENT_PCK = 0.95       # without labels, int8 ships only when PCK@0.05 against fp32 reaches this
SKELETON_FILE = "skeleton.txt"
POINTS_NAME = "keypoints"  # the keypoint output's metadata name; the reader recognises the task by it
PRESENCE_NAME = "presence"

# MediaPipe's 21 hand landmarks: the wrist (0) to each finger's base, then along each finger
# (thumb 1-4, index 5-8, middle 9-12, ring 13-16, little 17-20), and the palm across the bases.
HAND_SKELETON = ((0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11),
                 (11, 12), (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20))
# element count of the first output -> (points, values, skeleton): MediaPipe's landmark models
KNOWN = {63: (21, 3, HAND_SKELETON),          # hands: x, y, z
         165: (33, 5, ()), 195: (39, 5, ()),   # pose: x, y, z, visibility, presence
         1404: (468, 3, ()), 1434: (478, 3, ())}   # face mesh (478: with irises)
_SPEC = re.compile(r"^(\d+)x(\d+)$")
OPTION_HELP = "POINTSxVALUES[,output=N][,presence=N|none][,units=pixels|ratios][,skeleton=FILE]"


def _elements(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _points_shape(shape) -> bool:
    """[1, P·V] or [1, P, V]."""
    return len(shape) in (2, 3) and int(shape[0]) == 1


def detect_layout(outputs) -> dict[str, Any] | None:
    """The layout of ``outputs`` (objects with ``.shape``) where it is unambiguous (module docstring)."""
    if len(outputs) < 2 or not _points_shape(outputs[0].shape):
        return None
    known = KNOWN.get(_elements(outputs[0].shape))
    if known is None or (len(outputs[0].shape) == 3 and int(outputs[0].shape[2]) != known[1]):
        return None
    ones = [i for i, t in enumerate(outputs) if i and _elements(t.shape) == 1]
    if not ones:
        return None
    points, values, skeleton = known
    return {"format": "keypoints", "output": 0, "points": points, "values": values, "presence": ones[0],
            "units": "pixels", "skeleton": [list(p) for p in skeleton]}


def detect(sig) -> str | None:
    """The task detector (``TaskSpec.detect``)."""
    layout = detect_layout(sig.outputs) if sig.image else None
    if layout is None:
        return None
    return f"{sig.image_why}; outputs {sig.outs}: {describe(layout, sig.outputs)}"


def describe(layout: dict[str, Any], outputs=None) -> str:
    def name(i):
        return f"output {i}" + (f" ({outputs[i].name})" if outputs is not None and i < len(outputs) else "")

    extra = "x, y" + ("" if layout["values"] == 2 else f" and {layout['values'] - 2} more value(s)")
    text = (f"{name(layout['output'])} is {layout['points']} points × {layout['values']} values ({extra}) "
            f"in {layout['units']} of the input")
    if layout["presence"] >= 0:
        text += f"; {name(layout['presence'])} is the presence score"
    return text + (f"; skeleton of {len(layout['skeleton'])} pairs" if layout["skeleton"] else "")


def spec_text(layout: dict[str, Any]) -> str:
    """The layout as the option spells it (without the skeleton, which travels as a file)."""
    presence = layout["presence"] if layout["presence"] >= 0 else "none"
    return (f"{layout['points']}x{layout['values']},output={layout['output']},presence={presence},"
            f"units={layout['units']}")


def read_skeleton(text: str, points: int, where: str) -> list[list[int]]:
    """Index pairs, one per line (``a b`` or ``a,b``; ``#`` starts a comment)."""
    pairs = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].replace(",", " ").strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise UsageError(f"{where} line {n}: {line!r} is not a pair of point indices",
                             "write one pair per line, e.g. `0 1`")
        a, b = int(parts[0]), int(parts[1])
        if a >= points or b >= points:
            raise UsageError(f"{where} line {n}: index {max(a, b)} is beyond the {points} points",
                             f"indices run from 0 to {points - 1}")
        pairs.append([a, b])
    return pairs


def skeleton_text(pairs) -> str:
    return "".join(f"{a} {b}\n" for a, b in pairs)


def parse_option(text: str, outputs=None) -> dict[str, Any]:
    """``--keypoints-layout`` (:data:`OPTION_HELP`) as a layout; ``outputs`` (objects with ``.shape``),
    when given, are checked against it."""
    bad = f"--keypoints-layout {text!r}"
    head, *rest = [p.strip() for p in str(text).split(",")]
    m = _SPEC.match(head)
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 2:
        raise UsageError(f"{bad}: it must start with POINTSxVALUES (values ≥ 2: x, y first)",
                         f"e.g. --keypoints-layout 21x3,presence=1; the form is {OPTION_HELP}")
    layout = {"format": "keypoints", "output": 0, "points": int(m.group(1)), "values": int(m.group(2)),
              "presence": -1, "units": "pixels", "skeleton": []}
    for part in rest:
        key, _, value = part.partition("=")
        if key in ("output", "presence") and (value.isdigit() or (key == "presence" and value == "none")):
            layout[key] = -1 if value == "none" else int(value)
        elif key == "units" and value in UNITS:
            layout["units"] = value
        elif key == "skeleton" and value:
            path = Path(value)
            if not path.is_file():
                raise UsageError(f"{bad}: skeleton file not found: {path}", "give a text file of index pairs")
            layout["skeleton"] = read_skeleton(path.read_text("utf-8"), layout["points"], str(path))
        else:
            raise UsageError(f"{bad}: cannot read {part!r}", f"the form is {OPTION_HELP}")
    if outputs is not None:
        check_layout(layout, outputs)
    return layout


def check_layout(layout: dict[str, Any], outputs) -> None:
    shapes = ", ".join(f"{getattr(t, 'name', i)}{list(t.shape)}" for i, t in enumerate(outputs))
    k, p = layout["output"], layout["presence"]
    if k >= len(outputs) or _elements(outputs[k].shape) != layout["points"] * layout["values"]:
        raise UsageError(f"the keypoints layout {spec_text(layout)} needs output {k} with "
                         f"{layout['points'] * layout['values']} elements; the outputs are {shapes}",
                         "give --keypoints-layout the points × values and output index of the keypoint tensor")
    if p >= 0 and (p >= len(outputs) or p == k or _elements(outputs[p].shape) != 1):
        raise UsageError(f"the keypoints layout names output {p} as the presence score, but it is not a "
                         f"one-element output other than the points; the outputs are {shapes}",
                         "give presence=N of a [1,1] output, or presence=none")


def decode(outputs, layout: dict[str, Any], width: int, height: int):
    """(points [P, 2] as x, y ratios of the input, presence score or None) of one sample's outputs
    (a list in model output order)."""
    import numpy as np

    flat = np.asarray(outputs[layout["output"]], np.float64).reshape(-1)
    pts = flat[:layout["points"] * layout["values"]].reshape(layout["points"], layout["values"])[:, :2].copy()
    if layout["units"] == "pixels":
        pts /= np.array([float(width), float(height)])
    presence = None
    if layout["presence"] >= 0:
        presence = float(np.asarray(outputs[layout["presence"]], np.float64).reshape(-1)[0])
    return pts, presence


def point_errors(pred, ref):
    """Per-point distance ([..., P]) between two point arrays ([..., P, 2], ratios of the input)."""
    import numpy as np

    return np.sqrt(((np.asarray(pred, np.float64) - np.asarray(ref, np.float64)) ** 2).sum(-1))
