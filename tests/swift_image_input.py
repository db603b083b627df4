"""The iOS app's image preprocessing (ImageInput in TensorCodec.swift) against mobilepack's reader,
on tree-sitter-swift's parse (no Swift compiler runs here).

Two halves, so that a rule here is never just a string nobody ran:

* :func:`image_input_problems` (part of tests/swift_semantics.py's ``check_sources``) requires that
  each step function of the Swift ``enum ImageInput`` contains the integer formulas of
  :data:`STEP_RULES` (comments and whitespace runs ignored), that no image code interpolates
  (``interpolationQuality`` other than ``.none``, ``UIGraphicsImageRenderer``, ``UIImage.draw(in:)``,
  a Core Image or vImage scaler), and that ``TensorCodec.pixels(from:)`` goes through ImageInput;
* :func:`swift_twin` is those formulas, statement for statement, in Python: tests/test_ios_semantics.py
  runs it on EXIF-rotated images and requires ``mobilepack.data.readers.load_image``'s pixels exactly.
"""

from __future__ import annotations

import re

from tests.swift_semantics import _code, _descendants, _field, _members_of, _text

# (function, fragments its code must contain, what that means)
STEP_RULES = (
    ("exifOrientation", ("case .up: return 1", "case .upMirrored: return 2", "case .down: return 3",
                         "case .downMirrored: return 4", "case .leftMirrored: return 5", "case .right: return 6",
                         "case .rightMirrored: return 7", "case .left: return 8"),
     "UIImage.Orientation maps to the EXIF orientation Pillow's exif_transpose applies"),
    ("storedPixels", ("context.interpolationQuality = .none",
                      "context.draw(image, in: CGRect(x: 0, y: 0, width: image.width, height: image.height))"),
     "the stored pixels are copied 1:1, interpolation off"),
    ("axis", ("let s = flipped ? inSize - 1 - i : i", "let lo = s * outSize, hi = lo + outSize",
              "let first = lo / inSize, last = (hi - 1) / inSize", "min(hi, (o + 1) * inSize) - max(lo, o * inSize)"),
     "integer overlaps of source and output intervals"),
    ("modelPixels", ("let swap = o >= 5", "flipped: [2, 3, 7, 8].contains(o)", "flipped: [3, 4, 6, 7].contains(o)",
                     "axis(inSize: w, outSize: swap ? height : width", "axis(inSize: h, outSize: swap ? width : height",
                     "(r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16", "line[out] += weight * r",
                     "line[out + 1] += weight * g", "line[out + 2] += weight * b", "line[out + 3] += weight * a",
                     "let base = (swap ? k * width + out : out * width + k) * channels",
                     "acc[base + c] += weight * line[k * channels + c]", "let total = w * h",
                     "(2 * $0 + total) / (2 * total)"),
     "one pass: orientation, channels and the area average in exact integers, rounded half up"),
)
# Resizing that interpolates (what the app did before): none of it may appear in the app's Swift.
INTERPOLATION = (
    (re.compile(r"interpolationQuality\s*=\s*\.(?!none\b)\w+"), "sets Core Graphics interpolation"),
    (re.compile(r"\bUIGraphicsImageRenderer\b"), "redraws the image with UIGraphicsImageRenderer"),
    (re.compile(r"\bdraw\(in:"), "draws a UIImage into a rectangle (scaled, interpolated)"),
    (re.compile(r"\b(CILanczosScaleTransform|CIAffineTransform|vImageScale_\w+|preparingThumbnail|"
                r"kCGImageSourceThumbnailMaxPixelSize)\b"), "scales with Core Image, vImage or ImageIO thumbnails"),
)
FLOATS = re.compile(r"\b(Float|Double|CGFloat)\b")


def _image_input(trees: dict[str, object]):
    return [n for tree in trees.values() for n in _descendants(tree.root_node)
            if n.type == "class_declaration" and _field(n, "name") is not None and _text(_field(n, "name")) == "ImageInput"]


def image_input_problems(trees: dict[str, object]) -> list[str]:
    """Where the app's image preprocessing departs from Python's reader (empty for an app without
    TensorCodec.swift)."""
    codec = [name for name in trees if name.endswith("TensorCodec.swift")]
    if not codec:
        return []
    problems = []
    for name, tree in trees.items():
        code = re.sub(r"//[^\n]*", "", _text(tree.root_node))
        problems += [f"{name}: {meaning} ({m.group(0)!r}); ImageInput's integer area average is the one resize"
                     for pattern, meaning in INTERPOLATION for m in pattern.finditer(code)]
    declared = _image_input({n: trees[n] for n in codec})
    if len(declared) != 1:
        return problems + [f"TensorCodec.swift: expected one enum ImageInput, found {len(declared)}"]
    functions, _ = _members_of(declared[0])
    for fn, fragments, meaning in STEP_RULES:
        if fn not in functions:
            problems.append(f"ImageInput has no step '{fn}' ({meaning})")
            continue
        body = _code(functions[fn])
        problems += [f"ImageInput.{fn}: no `{f}` ({meaning})" for f in fragments if f not in body]
        if fn in ("axis", "modelPixels") and FLOATS.search(body):
            problems.append(f"ImageInput.{fn}: floating point ({FLOATS.search(body).group(0)}) in the integer resize")
    pixels = [n for tree in (trees[c] for c in codec) for n in _descendants(tree.root_node)
              if n.type == "function_declaration" and _field(n, "name") is not None and _text(_field(n, "name")) == "pixels"]
    body = _code(pixels[0]) if pixels else ""
    for step in ("ImageInput.storedPixels(", "ImageInput.exifOrientation(image.imageOrientation)", "ImageInput.modelPixels("):
        if step not in body:
            problems.append(f"TensorCodec.pixels(from:): no `{step}` (the image input goes through ImageInput)")
    return problems


def swift_twin(rgba, orientation: int, height: int, width: int, channels: int):
    """ImageInput.axis and ImageInput.modelPixels of TensorCodec.swift, statement for statement, over
    stored (H, W, 4) uint8 pixels: what the Swift computes when STEP_RULES hold."""
    import numpy as np

    def axis(in_size, out_size, flipped):
        out = []
        for i in range(in_size):
            s = in_size - 1 - i if flipped else i
            lo, hi = s * out_size, s * out_size + out_size
            first, last = lo // in_size, (hi - 1) // in_size
            out.append((first, [min(hi, (o + 1) * in_size) - max(lo, o * in_size) for o in range(first, last + 1)]))
        return out

    h, w = rgba.shape[:2]
    o = orientation if 2 <= orientation <= 8 else 1
    swap = o >= 5
    cols = axis(w, height if swap else width, o in (2, 3, 7, 8))
    rows = axis(h, width if swap else height, o in (3, 4, 6, 7))
    line_size = height if swap else width
    acc = np.zeros(width * height * channels, np.int64)
    px = rgba.astype(np.int64)
    lum = (px[..., 0] * 19595 + px[..., 1] * 38470 + px[..., 2] * 7471 + 0x8000) >> 16
    values = lum[..., None] if channels == 1 else px[..., :channels]
    for y in range(h):
        line = np.zeros((line_size, channels), np.int64)
        for x in range(w):
            first, weights = cols[x]
            for j, weight in enumerate(weights):
                line[first + j] += weight * values[y, x]
        first, weights = rows[y]
        for j, weight in enumerate(weights):
            out = first + j
            for k in range(line_size):
                base = (k * width + out if swap else out * width + k) * channels
                acc[base:base + channels] += weight * line[k]
    total = w * h
    return ((2 * acc + total) // (2 * total)).reshape(height, width, channels)
