"""The Android target: a Gradle project (Kotlin, platform widgets, LiteRT's
``org.tensorflow.lite`` Interpreter API) rendered from ``templates/android/``.

This module owns what is Android-specific: application-id rules, the escaping
filters for Kotlin string literals, ``strings.xml`` and Gradle Kotlin scripts,
where the shared assets land, and the template variables that describe how the
app feeds and reads the model (derived from the same ModelSpec that wrote the
metadata, so Python and the app cannot disagree)."""

from __future__ import annotations

import re
from typing import Any

from mobilepack.errors import UsageError
from mobilepack.render.context import common_assets
from mobilepack.render.targets import Target, register

# Java keywords and literals (JLS §3.9) plus Kotlin's hard keywords: a package segment that is
# one of them breaks R.java or the Kotlin `package` line.
RESERVED = frozenset("""
abstract assert boolean break byte case catch char class const continue default do double else enum
extends final finally float for goto if implements import instanceof int interface long native new
package private protected public return short static strictfp super switch synchronized this throw
throws transient try void volatile while true false null _ as fun in is object typealias typeof val
var when""".split())

_SEGMENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_PACKAGE_HINT = "use a reverse-domain name such as com.example.digits (letters, digits, '_'; each part starts with a letter)"

# Element types the app knows how to feed and read, with their byte sizes.
DTYPE_BYTES = {"float32": 4, "int32": 4, "int64": 8, "uint8": 1, "int8": 1, "bool": 1, "int16": 2}


def validate_package(value: str) -> None:
    """Android application id / Java package rules, with one clear message."""
    if not value:
        raise UsageError("--package is empty", _PACKAGE_HINT)
    parts = value.split(".")
    if len(parts) < 2:
        raise UsageError(f"invalid --package {value!r}: an application id needs at least two parts", _PACKAGE_HINT)
    for part in parts:
        if not part:
            raise UsageError(f"invalid --package {value!r}: empty part between dots", _PACKAGE_HINT)
        if part in RESERVED:
            raise UsageError(f"invalid --package {value!r}: {part!r} is a Java/Kotlin keyword", _PACKAGE_HINT)
        if not _SEGMENT.fullmatch(part):
            raise UsageError(f"invalid --package {value!r}: part {part!r} is not a Java identifier", _PACKAGE_HINT)
    if len(value) > 255:
        raise UsageError(f"invalid --package: {len(value)} characters (at most 255)", _PACKAGE_HINT)


def default_package(app_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]", "", app_name.lower())
    if not slug or not slug[0].isalpha():
        slug = "app" + slug
    if slug in RESERVED:
        slug += "app"
    return f"com.example.{slug[:40]}"


# --- escaping filters ----------------------------------------------------------------------

def _unicode_escape(ch: str) -> str:
    return "".join(f"\\u{unit:04x}" for unit in _utf16_units(ch))


def _utf16_units(ch: str) -> list[int]:
    data = ch.encode("utf-16-be")
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


def kotlin_string(value: object) -> str:
    """A complete Kotlin string literal (quotes included) whose value is ``value``:
    ``\\``, ``"`` and ``$`` are escaped, control characters become ``\\uXXXX``."""
    out = []
    for ch in str(value):
        if ch in '\\"$':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or 0xD800 <= ord(ch) <= 0xDFFF or ch in "\u2028\u2029":
            out.append(_unicode_escape(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def android_string(value: object) -> str:
    """Content of a ``<string>`` element in ``strings.xml`` that aapt2 compiles back to
    exactly ``value``: wrapped in double quotes (keeps spaces), with ``\\``, ``"``, ``'``
    and a leading ``@``/``?`` escaped, newlines/tabs as ``\\n``/``\\t``, control characters
    as ``\\uXXXX`` and XML's ``&``, ``<``, ``>`` as entities.  Use with
    ``formatted="false"`` so ``%`` stays literal."""
    out = []
    for ch in str(value):
        if ch in "\\\"'":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(_unicode_escape(ch))
        else:
            out.append(ch)
    text = "".join(out)
    if text[:1] in ("@", "?"):
        text = "\\" + text
    return '"' + text + '"'


def kotlin_float(value: float) -> str:
    from mobilepack.render.escaping import c_like_float

    return c_like_float(value) + "f"


def kotlin_identifier(value: object) -> str:
    """An identifier made of the value's letters and digits (for generated names)."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", str(value)) or "x"
    return ("_" + ident) if ident[0].isdigit() or ident in RESERVED else ident


FILTERS = {
    "kotlin_string": kotlin_string,
    "gradle_string": kotlin_string,   # Gradle Kotlin DSL string literals obey Kotlin's rules
    "android_string": android_string,
    "kotlin_float": kotlin_float,
    "kotlin_identifier": kotlin_identifier,
}


# --- context ---------------------------------------------------------------------------------

def _detection_outputs(outputs: list[dict[str, Any]]) -> dict[str, int] | None:
    """Indices of the SSD-style outputs (boxes [1,N,4], classes [1,N], scores [1,N], count [1]).
    Names decide where they say which is which; otherwise the TFLite_Detection_PostProcess order."""
    if len(outputs) != 4:
        return None
    boxes = [i for i, t in enumerate(outputs) if len(t["shape"]) == 3 and t["shape"][-1] == 4]
    count = [i for i, t in enumerate(outputs) if t["elements"] == 1]
    if len(boxes) != 1 or len(count) != 1:
        return None
    rest = [i for i in range(4) if i not in (boxes[0], count[0])]
    n = outputs[boxes[0]]["shape"][1]
    if any(outputs[i]["elements"] != n for i in rest):
        return None
    named_scores = [i for i in rest if "score" in outputs[i]["name"].lower()]
    named_classes = [i for i in rest if "class" in outputs[i]["name"].lower()]
    if len(named_scores) == 1 and len(named_classes) == 1 and named_scores != named_classes:
        classes, scores = named_classes[0], named_scores[0]
    else:
        classes, scores = rest
    return {"boxes": boxes[0], "classes": classes, "scores": scores, "count": count[0], "max_detections": n}


def _input_kind(context: dict[str, Any]) -> str:
    model = context["model"]
    task = model["task"]
    first = model["inputs"][0] if model["inputs"] else None
    if model["image_input"] and task in ("image_classification", "object_detection", "image_segmentation", "generic"):
        return "image"
    if task == "text_classification" and first and first["dtype"] in ("int32", "int64", "float32"):
        return "text"
    if task == "audio_classification" and first and first["dtype"] in ("float32", "int16"):
        return "audio"
    return "tensor"


def _output_kind(context: dict[str, Any], detection: dict[str, int] | None) -> str:
    model = context["model"]
    task = model["task"]
    outputs = model["outputs"]
    if task == "object_detection" and detection:
        return "detection"
    if task == "image_segmentation" and len(outputs) == 1 and len(outputs[0]["shape"]) == 4:
        return "segmentation"
    if task in ("image_classification", "text_classification", "audio_classification") and outputs:
        return "classification"
    if task == "generic" and len(outputs) == 1 and context["labels"] and outputs[0]["elements"] == len(context["labels"]):
        return "classification"
    return "generic"


def _bench_schema_version() -> str:
    try:
        from mobilepack.report import schema
    except ImportError:  # pragma: no cover - the report package ships with mobilepack
        return "1.0"
    return str(getattr(schema, "BENCH_SCHEMA_VERSION", "1.0"))


def extend_context(context: dict[str, Any]) -> dict[str, Any]:
    model = context["model"]
    for t in model["inputs"] + model["outputs"]:
        if t["dtype"] not in DTYPE_BYTES:
            raise UsageError(f"tensor {t['name']!r} has dtype {t['dtype']} that the Android app cannot feed or read",
                             f"supported dtypes: {', '.join(sorted(DTYPE_BYTES))}")
    app_id = context["app"]["id"]
    detection = _detection_outputs(model["outputs"]) if model["task"] == "object_detection" else None
    image = model["image_input"]
    norm = context["normalization"]
    channels = image["channels"] if image else 1
    if norm and not norm["in_model"]:
        mean = list(norm["mean"]) * (channels if len(norm["mean"]) == 1 else 1)
        std = list(norm["std"]) * (channels if len(norm["std"]) == 1 else 1)
    else:
        mean, std = [0.0] * channels, [1.0] * channels
    project = re.sub(r"[^A-Za-z0-9_-]+", "-", context["app"]["name"]).strip("-.") or "app"
    return {
        "android": {
            "package": app_id,
            "package_path": app_id.replace(".", "/"),
            "project_name": project[:60],
            "input_kind": _input_kind(context),
            "output_kind": _output_kind(context, detection),
            "detection": detection,
            "pixel_mean": mean,
            "pixel_std": std,
            "normalize_in_app": bool(norm and not norm["in_model"]),
            "dtype_bytes": DTYPE_BYTES,
            "bench_schema_version": _bench_schema_version(),
        }
    }


VOCAB_ASSET = "vocab.txt"


def model_vocabulary(model_bytes: bytes) -> bytes | None:
    """The vocabulary packed in the model's TFLite metadata (an associated file of type
    ``vocabulary``), or ``None``.  The app's tokenizer reads it from ``assets/vocab.txt``."""
    from mobilepack.metadata.reader import read_metadata
    from mobilepack.model.flatbuffer import FlatbufferError, parse_model

    try:
        md = read_metadata(model_bytes, parse_model(model_bytes))
    except FlatbufferError:
        return None   # a model whose metadata cannot be read still renders; the app hashes words
    if md is None:
        return None
    for f in md.files:
        if f.type == "vocabulary" and f.name in md.packed_files:
            return md.packed_files[f.name]
    return None


def assets(inputs, context: dict[str, Any]) -> dict[str, bytes]:
    files = {f"app/src/main/assets/{name}": data for name, data in common_assets(inputs).items()}
    vocab = model_vocabulary(inputs.model_bytes) if context["android"]["input_kind"] == "text" else None
    if vocab is not None:
        files[f"app/src/main/assets/{VOCAB_ASSET}"] = vocab
    return files


register(Target(
    name="android",
    template_dir="android",
    description="Gradle project (Kotlin, LiteRT Interpreter API, platform widgets)",
    id_option="--package",
    default_id=default_package,
    validate_id=validate_package,
    filters=FILTERS,
    assets=assets,
    extend_context=extend_context,
))
