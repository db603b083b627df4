"""Image-to-image models (denoisers, super-resolution, a U-Net that cleans a drawing, style
transfer): one image in, one image out, the output as high as and as wide as the input or an
integer multiple of it (super-resolution), with 1 or 3 channels.

The output's *range* says how its values become pixels: the value ``lo`` of a channel is pixel 0
and ``hi`` is pixel 255, linearly, clamped, rounded half up (:func:`to_pixels`).  By default it is
the inverse of the input normalization, the range pixels 0..255 have once normalized (raw 0..255
when nothing is normalized, 0..255 for a uint8 input); the metadata records it as the output's
value range (``stats``: min, max per channel) and the apps read it from there.  Python
(:func:`to_pixels`, used by the evaluator and the JVM harness), ``Results.kt`` and ``Results.swift``
implement the one rule in double precision.

Detection from the tensors: a float output [1, kH, kW, C] for an image input [1, H, W, C'] with
C in (1, 3) and k ≥ 2 an integer is super-resolution (no segmentation upsamples past its input).  An
output the size of the input (k = 1) is ambiguous: 1 channel may be a foreground mask, 3 channels a
softmax over 3 classes, exactly as an image would look; it stays segmentation and the reason says to
pass ``--task image_to_image`` for a denoiser or style transfer.  C > 3 is never an image here."""

from __future__ import annotations

from typing import Any

OUTPUT_NAME = "output_image"   # the output's name in the metadata (how existing metadata is recognised)
FLOAT_TYPES = ("FLOAT32", "FLOAT16")


def scale_of(in_shape, out_shape) -> int | None:
    """The integer factor k with out = k × in over height and width (both 4-D NHWC), or None."""
    if len(in_shape) != 4 or len(out_shape) != 4 or min(in_shape[1:3]) <= 0:
        return None
    kh, kw = out_shape[1] / in_shape[1], out_shape[2] / in_shape[2]
    if kh != kw or kh < 1 or kh != int(kh):
        return None
    return int(kh)


def image_output(sig) -> str | None:
    """The task detector: why the tensors are an image-to-image model, or None (see the module)."""
    if not sig.image or len(sig.outputs) != 1:
        return None
    inp, out = sig.inputs[0], sig.outputs[0]
    k = scale_of(inp.shape, out.shape)
    if k is None or out.type not in FLOAT_TYPES or out.shape[-1] not in (1, 3):
        return None
    if k >= 2:
        return f"{sig.image_why}; one {out.shape[-1]}-channel float output {sig.outs}, {k}× the input's size"
    return None


def ambiguity(sig) -> str:
    """What a segmentation reason adds when the output could as well be a grayscale image (see the module)."""
    inp, out = sig.inputs[0], sig.outputs[0]
    if out.type in FLOAT_TYPES and out.shape[-1] in (1, 3) and scale_of(inp.shape, out.shape) == 1:
        return (f" ({out.shape[-1]} float channel(s) the size of the input: class scores, or an image — pass "
                "--task image_to_image if the model outputs an image)")
    return ""


def layout_of(out_shape) -> dict[str, int] | None:
    """Height, width and channels of an image output [1, H, W, C] (C in 1, 3), or None."""
    if len(out_shape) != 4 or out_shape[-1] not in (1, 3) or min(out_shape[1:3]) < 1:
        return None
    return {"height": int(out_shape[1]), "width": int(out_shape[2]), "channels": int(out_shape[3])}


def app_layout(outputs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the apps read (``TaskSpec.output_layout``): the one output's height, width and channels."""
    return layout_of(outputs[0]["shape"]) if len(outputs) == 1 else None


def default_range(input_type: str, mean, std, channels: int) -> tuple[list[float], list[float]]:
    """The inverse of the input normalization: what pixels 0 and 255 become, per output channel."""
    if input_type == "FLOAT32" and mean and std:
        lo = [float(0.0 - m) / s for m, s in zip(mean, std)]
        hi = [float(255.0 - m) / s for m, s in zip(mean, std)]
    else:
        lo, hi = [0.0], [255.0]
    return per_channel(lo, channels), per_channel(hi, channels)


def per_channel(values, channels: int) -> list[float]:
    values = [float(v) for v in values]
    if len(values) == channels:
        return values
    if len(values) == 1:
        return values * channels
    return [sum(values) / len(values)] * channels   # an RGB normalization over a grayscale output: its mean


def to_pixels(image, lo, hi):
    """An output image [H, W, C] (C 1 or 3) -> uint8 RGB [H, W, 3]: (v - lo) / (hi - lo) × 255 per
    channel, + 0.5, floored, clamped to 0..255 (NaN -> 0); a grayscale channel is copied to R, G, B."""
    import numpy as np

    y = np.asarray(image, np.float64)
    c = y.shape[-1]
    lo = np.asarray(per_channel(lo, c), np.float64)
    hi = np.asarray(per_channel(hi, c), np.float64)
    x = np.floor((y - lo) / (hi - lo) * 255.0 + 0.5)
    x = np.where(np.isnan(x), 0.0, np.clip(x, 0.0, 255.0)).astype(np.uint8)
    return np.repeat(x, 3, axis=-1) if c == 1 else x


def describe(layout: dict[str, int], lo, hi) -> str:
    colour = "RGB" if layout["channels"] == 3 else "grayscale"
    ranges = ", ".join(f"[{a:g}, {b:g}]" for a, b in zip(lo, hi))
    return (f"The output image, {colour} {layout['height']}x{layout['width']}; values {ranges} per channel are "
            "pixels 0..255 (linear, clamped).")
