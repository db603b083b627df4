"""The Android target: a Gradle project (Kotlin, platform widgets, LiteRT's
``org.tensorflow.lite`` Interpreter API) rendered from ``templates/android/``.

This module owns what is Android-specific: application-id rules, the escaping
filters for Kotlin string literals, ``strings.xml`` and Gradle Kotlin scripts,
where the shared assets land.  How the app feeds and reads the model is decided once for
every platform by ``render.context.app_io`` (from the same ModelSpec that wrote the
metadata, so Python and the apps cannot disagree)."""

from __future__ import annotations

import re
from typing import Any

from mobilepack.errors import UsageError
from mobilepack.render.context import VOCAB_ASSET, app_io, common_assets, model_vocabulary
from mobilepack.render.targets import Target, register
from mobilepack.report.schema import BENCH_DEFINITION

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

def extend_context(context: dict[str, Any]) -> dict[str, Any]:
    io = app_io(context, platform="Android")
    app_id = context["app"]["id"]
    project = re.sub(r"[^A-Za-z0-9_-]+", "-", context["app"]["name"]).strip("-.") or "app"
    return {
        "android": {
            "package": app_id,
            "package_path": app_id.replace(".", "/"),
            "project_name": project[:60],
            "bench_definition": BENCH_DEFINITION,
            **io,
        }
    }


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
    id_key="package",
    default_id=default_package,
    validate_id=validate_package,
    filters=FILTERS,
    assets=assets,
    extend_context=extend_context,
))
