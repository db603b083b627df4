"""The template context: built from a ModelSpec (+ results), the same facts the
metadata writer reads, so the app and Python can never disagree about
preprocessing, labels or tensor layout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobilepack._version import __version__
from mobilepack.model.spec import ModelSpec, TensorSpec
from mobilepack.render.tensor_types import DTYPE_BYTES, integer_kernels, template_tables
# VOCAB_ASSET (the vocabulary's file name in the apps) is also imported from here by the targets
from mobilepack.render.tokenization import VOCAB_ASSET, packed_vocabulary, tokenizer_context  # noqa: F401
from mobilepack.tasks import get as get_task


@dataclass(frozen=True)
class RenderInputs:
    """Everything a target needs; produced by :mod:`mobilepack.render.sources`."""

    spec: ModelSpec
    model_bytes: bytes
    variant: str                    # quantization mode of the shipped variant ("fp32", "int8", ...)
    labels: tuple[str, ...]
    app_name: str
    app_id: str                     # Android application id or iOS bundle id
    sample_images: tuple[tuple[str, bytes], ...] = ()   # (file name, PNG/JPEG bytes)


def _tensor(t: TensorSpec) -> dict[str, Any]:
    return {
        "name": t.name,
        "shape": list(t.shape),
        "dtype": t.dtype,
        "quantization": ({"scale": t.quantization.scale, "zero_point": t.quantization.zero_point}
                         if t.quantization else None),
        "elements": _prod(t.shape),
    }


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def image_input(spec: ModelSpec) -> dict[str, int] | None:
    """Height/width/channels when the model has one NHWC image input."""
    if len(spec.inputs) != 1:
        return None
    shape = spec.inputs[0].shape
    if len(shape) == 4 and shape[-1] in (1, 3, 4):
        return {"batch": int(shape[0]), "height": int(shape[1]), "width": int(shape[2]), "channels": int(shape[3])}
    return None


def build_context(inputs: RenderInputs) -> dict[str, Any]:
    spec = inputs.spec
    norm = spec.normalization
    return {
        "generator": {"name": "mobilepack", "version": __version__},
        "app": {"name": inputs.app_name, "id": inputs.app_id},
        "model": {
            "name": spec.name,
            "file": "model.tflite",
            "variant": inputs.variant,
            "bytes": len(inputs.model_bytes),
            "task": spec.task,
            "inputs": [_tensor(t) for t in spec.inputs],
            "outputs": [_tensor(t) for t in spec.outputs],
            "image_input": image_input(spec),
            # the signature the input/output names belong to (None: tensor order, no signature)
            "signature_key": spec.signature_key,
            # int8/uint8/int16 quantized tensors inside (float-only accelerators refuse the model)
            "integer_kernels": integer_kernels(inputs.model_bytes),
            # text models: where the tokenizer pads/cuts token ids ("pre" | "post"), as the model was trained
            "padding": spec.padding,
            # YOLO heads: the decode thresholds the model's metadata records (None for other tasks)
            "decode": _decode_options(spec, inputs.model_bytes),
            # keypoint models: the layout (points, values, presence, units, skeleton) the metadata records
            "keypoints": _keypoints(spec, inputs.model_bytes),
        },
        "labels": list(inputs.labels),
        "labels_file": "labels.txt",
        "normalization": ({"mean": list(norm.mean), "std": list(norm.std), "in_model": norm.in_model,
                           "source": norm.source} if norm else None),
        "samples": [name for name, _ in inputs.sample_images],
        # text models: which tokenizer the apps run, over which vocabulary, into which inputs
        "tokenizer": tokenizer_context(spec, inputs.model_bytes),
    }


def _decode_options(spec: ModelSpec, model_bytes: bytes) -> dict[str, Any] | None:
    task = str(getattr(spec.task, "value", spec.task))
    if task == "image_to_image":
        return _image_range(spec, model_bytes)
    if task != "yolo_detection":
        return None
    from mobilepack.metadata.families import yolo_model_decode
    from mobilepack.tasks import yolo

    return {**yolo_model_decode(model_bytes), "max_detections": yolo.MAX_DETECTIONS,
            "pixel_coordinates": yolo.PIXEL_COORDINATES}


def _keypoints(spec: ModelSpec, model_bytes: bytes) -> dict[str, Any] | None:
    if str(getattr(spec.task, "value", spec.task)) != "keypoints":
        return None
    from mobilepack.metadata.keypoints import model_layout

    return model_layout(model_bytes)


def _image_range(spec: ModelSpec, model_bytes: bytes) -> dict[str, Any]:
    """An image output's value range, per channel, that the apps map to pixels 0..255: the one its
    metadata records, else the inverse of the input normalization the app feeds."""
    from mobilepack.metadata.families import image_output_range
    from mobilepack.tasks import image_to_image

    channels = spec.outputs[0].shape[-1] if spec.outputs and spec.outputs[0].shape else 3
    found = image_output_range(model_bytes)
    if found is None:
        norm = spec.normalization
        fed = norm is not None and not norm.in_model
        dtype = (spec.inputs[0].dtype if spec.inputs else "float32").upper()
        found = image_to_image.default_range(dtype, norm.mean if fed else None, norm.std if fed else None, channels)
    lo, hi = found
    return {"output_min": image_to_image.per_channel(lo, channels), "output_max": image_to_image.per_channel(hi, channels)}


def common_assets(inputs: RenderInputs) -> dict[str, bytes]:
    """Model, labels and sample images, keyed by their plain file names; targets
    place them (e.g. ``app/src/main/assets/`` on Android)."""
    assets = {"model.tflite": inputs.model_bytes,
              "labels.txt": ("\n".join(inputs.labels) + "\n").encode("utf-8") if inputs.labels else b""}
    for name, data in inputs.sample_images:
        assets[f"samples/{Path(name).name}"] = data
    return assets


# -- how an app feeds and reads the model (the same decisions on every platform) ----------------

# what an app can feed for each input kind a task asks for (else it feeds a generated tensor)
_FEEDS = {"image": lambda model, first: bool(model["image_input"]),
          "text": lambda model, first: bool(first) and first["dtype"] in ("int32", "int64", "float32"),
          "audio": lambda model, first: bool(first) and first["dtype"] in ("float32", "int16")}


def _input_kind(context: dict[str, Any], task) -> str:
    model = context["model"]
    first = model["inputs"][0] if model["inputs"] else None
    feeds = _FEEDS.get(task.app_input)
    return task.app_input if feeds is not None and feeds(model, first) else "tensor"


def _output_kind(context: dict[str, Any], task, layout: dict[str, int] | None) -> str:
    """The task's output kind when the outputs have its shape; otherwise a summary of every output
    ("generic"), or classification when one output has one element per label."""
    outputs = context["model"]["outputs"]
    kind = task.app_output
    if kind == "detection":
        return kind if layout else "generic"
    if kind == "keypoints":
        return kind if context["model"].get("keypoints") else "generic"
    if kind == "segmentation":
        return kind if len(outputs) == 1 and len(outputs[0]["shape"]) == 4 else "generic"
    if kind == "image":   # the output image beside the input
        return kind if layout else "generic"
    if kind == "classification":
        return kind if outputs else "generic"
    if kind == "embedding":   # one vector per sentence: the apps compare two by cosine similarity
        return kind if len(outputs) == 1 and outputs[0]["elements"] >= 2 else "generic"
    if len(outputs) == 1 and context["labels"] and outputs[0]["elements"] == len(context["labels"]):
        return "classification"
    return "generic"


def app_io(context: dict[str, Any], *, platform: str) -> dict[str, Any]:
    """Input kind, output kind, SSD output order and pixel normalization for the demo apps, so
    every platform treats a model the same way.  A dtype no app can feed is an error."""
    from mobilepack.errors import UsageError
    from mobilepack.report.schema import BENCH_DEFINITION, BENCH_SCHEMA_VERSION

    model = context["model"]
    for t in model["inputs"] + model["outputs"]:
        if t["dtype"] not in DTYPE_BYTES:
            raise UsageError(f"tensor {t['name']!r} has dtype {t['dtype']} that the {platform} app cannot feed or read",
                             f"supported dtypes: {', '.join(sorted(DTYPE_BYTES))}")
    task = get_task(model["task"])
    detection = task.output_layout(model["outputs"]) if task.output_layout else None
    if detection is not None and model.get("decode"):
        detection = {**detection, **model["decode"]}
    image_output = None
    if task.app_output == "image":   # not a detection: the output image's size, channels and value range
        image_output, detection = detection, None
    image = model["image_input"]
    norm = context["normalization"]
    channels = image["channels"] if image else 1
    if norm and not norm["in_model"]:
        mean = list(norm["mean"]) * (channels if len(norm["mean"]) == 1 else 1)
        std = list(norm["std"]) * (channels if len(norm["std"]) == 1 else 1)
    else:
        mean, std = [0.0] * channels, [1.0] * channels
    return {
        "input_kind": _input_kind(context, task),
        "output_kind": _output_kind(context, task, detection or image_output),
        "detection": detection,
        "keypoints": model.get("keypoints"),   # tasks.keypoints layout, or None
        "image_output": image_output,
        "pixel_mean": mean,
        "pixel_std": std,
        "normalize_in_app": bool(norm and not norm["in_model"]),
        "dtype_bytes": DTYPE_BYTES,
        "bench_schema_version": BENCH_SCHEMA_VERSION,
        "bench_definition": BENCH_DEFINITION,
        **template_tables(),   # element types, benchmark input pattern, one-channel mask rule
    }


def model_vocabulary(model_bytes: bytes) -> bytes | None:
    """The vocabulary packed in the model's TFLite metadata (an associated file of type
    ``vocabulary``), or ``None``.  The apps' tokenizers read it from ``vocab.txt``."""
    from mobilepack.metadata.reader import read_metadata
    from mobilepack.model.flatbuffer import FlatbufferError, parse_model

    try:
        md = read_metadata(model_bytes, parse_model(model_bytes))
    except FlatbufferError:
        return None   # a model whose metadata cannot be read still renders; the app hashes words
    if md is None:
        return None
    return packed_vocabulary(md)
