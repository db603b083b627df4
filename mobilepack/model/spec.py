"""``ModelSpec``: the single description of a model that every later stage reads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class SourceFormat(str, Enum):
    SAVED_MODEL = "saved_model"
    KERAS = "keras"          # Keras 3 .keras archive
    H5 = "h5"                # legacy Keras HDF5
    TFLITE = "tflite"        # an existing flatbuffer, passed through
    KERAS_OBJECT = "keras_object"  # an in-memory keras.Model given to the Python API


class Task(str, Enum):
    """The built-in task names.  ``ModelSpec.task`` holds any registered task's name (see
    :mod:`mobilepack.tasks`); a member given in its place is stored as its name."""

    IMAGE_CLASSIFICATION = "image_classification"
    OBJECT_DETECTION = "object_detection"
    YOLO_DETECTION = "yolo_detection"
    KEYPOINTS = "keypoints"
    IMAGE_SEGMENTATION = "image_segmentation"
    IMAGE_TO_IMAGE = "image_to_image"
    TEXT_CLASSIFICATION = "text_classification"
    TEXT_EMBEDDING = "text_embedding"
    AUDIO_CLASSIFICATION = "audio_classification"
    GENERIC = "generic"


@dataclass(frozen=True)
class Quantization:
    scale: float
    zero_point: int


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor.  ``shape`` is concrete; ``shape_signature``
    keeps ``-1`` where the source had a dynamic dimension."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    shape_signature: tuple[int, ...] | None = None
    quantization: Quantization | None = None


@dataclass(frozen=True)
class Normalization:
    """Per-channel ``(x - mean) / std``.  ``in_model`` means the model normalizes
    itself (a leading Rescaling/Normalization layer): the app must feed raw
    pixels and must not normalize again."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str  # "config" | "model_layer" | "metadata" | "flags" | "quantization"
    in_model: bool = False

    def apply(self, pixels):  # numpy array (..., C) -> float32
        import numpy as np

        x = np.asarray(pixels, dtype=np.float32)
        if self.in_model:
            return x
        return (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    source_path: str
    source_format: SourceFormat
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    signature_key: str | None = None
    task: str = "generic"   # a registered task's name (mobilepack.tasks)
    labels: tuple[str, ...] = ()
    normalization: Normalization | None = None
    padding: str = "post"   # text models: token ids padded at the end ("post") or the start ("pre")
    # where each fact came from, e.g. {"task": "detected", "normalization": "model_layer"}
    provenance: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.task, Enum):   # Task.IMAGE_CLASSIFICATION -> "image_classification"
            object.__setattr__(self, "task", self.task.value)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["source_format"] = self.source_format.value
        return _jsonable(d)


PADDINGS = ("pre", "post")


def check_padding(value: str | None) -> str:
    """``pre`` or ``post`` (the default when ``None``); anything else is a usage error."""
    if value is None:
        return "post"
    v = str(value).strip().lower()
    if v not in PADDINGS:
        from mobilepack.errors import UsageError

        raise UsageError(f"unknown --padding {value!r}", "valid: pre (pad token ids at the start), post (at the end)")
    return v


def pad_ids(ids: list[int], length: int, *, padding: str = "post", pad_id: int = 0) -> list[int]:
    """Token ids cut or padded to ``length``, the way the model was trained: ``post`` pads and cuts at
    the end, ``pre`` at the start (Keras ``pad_sequences``' default)."""
    padding = check_padding(padding)
    ids = list(ids)
    if len(ids) > length:
        return ids[-length:] if padding == "pre" else ids[:length]
    fill = [pad_id] * (length - len(ids))
    return fill + ids if padding == "pre" else ids + fill


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Enum):
        return obj.value
    return obj


def spec_from_dict(d: dict[str, Any]) -> ModelSpec:
    """Inverse of :meth:`ModelSpec.to_dict` (e.g. the ``model`` entry of convert.json)."""

    def tensor(t: dict[str, Any]) -> TensorSpec:
        q = t.get("quantization")
        return TensorSpec(name=t["name"], shape=tuple(t["shape"]), dtype=t["dtype"],
                          shape_signature=tuple(t["shape_signature"]) if t.get("shape_signature") else None,
                          quantization=Quantization(q["scale"], q["zero_point"]) if q else None)

    n = d.get("normalization")
    norm = Normalization(mean=tuple(n["mean"]), std=tuple(n["std"]), source=n["source"],
                         in_model=bool(n.get("in_model"))) if n else None
    return ModelSpec(name=d["name"], source_path=d["source_path"], source_format=SourceFormat(d["source_format"]),
                     inputs=tuple(tensor(t) for t in d["inputs"]), outputs=tuple(tensor(t) for t in d["outputs"]),
                     signature_key=d.get("signature_key"), task=str(d.get("task", "generic")),
                     labels=tuple(d.get("labels", ())), normalization=norm,
                     padding=check_padding(d.get("padding", "post")),
                     provenance=dict(d.get("provenance", {})))
