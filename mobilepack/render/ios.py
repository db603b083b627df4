"""The iOS target: an Xcode project (SwiftUI, CocoaPods' ``TensorFlowLiteSwift`` with the
Metal and Core ML delegates) rendered from ``templates/ios/``.

This module owns what is iOS-specific: bundle-id rules, the escaping filters for Swift
string literals, property lists and ``project.pbxproj``, where the shared assets land,
and the pbxproj object graph (files, groups, build phases) whose object IDs are derived
deterministically from file paths, so the same inputs give a byte-identical project.
How the app feeds and reads the model (input kind, output kind, SSD output order,
per-channel normalization) is decided by the same helpers as the Android app's, so
both apps behave the same; the tensor element types, the benchmark input pattern and the
one-channel mask rule come from the one table in ``render.tensor_types``."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from mobilepack.errors import UsageError
from mobilepack.render.context import VOCAB_ASSET, app_io, common_assets, model_vocabulary
from mobilepack.render.escaping import xml_text
from mobilepack.render.targets import Target, register

# TensorFlowLiteSwift 2.17.0 is the newest release on CocoaPods trunk (Google's later LiteRT
# releases ship no CocoaPods pods); its podspec still declares iOS 12, so the Podfile raises
# the generated pod targets to the app's deployment target (Xcode 26 refuses < 15.0).
POD_NAME = "TensorFlowLiteSwift"
POD_VERSION = "2.17.0"
POD_SUBSPECS = ("CoreML", "Metal")
IOS_DEPLOYMENT_TARGET = "16.0"     # SwiftUI PhotosPicker and ShareLink need iOS 16

_BUNDLE_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
_BUNDLE_HINT = ("use a reverse-DNS identifier such as com.example.digits "
                "(letters, digits and '-', parts separated by '.')")


def validate_bundle_id(value: str) -> None:
    """Apple's CFBundleIdentifier rules (alphanumerics, '-', '.'), reverse-DNS with >= 2 parts."""
    if not value:
        raise UsageError("--bundle-id is empty", _BUNDLE_HINT)
    if len(value) > 155:
        raise UsageError(f"invalid --bundle-id: {len(value)} characters (at most 155)", _BUNDLE_HINT)
    bad = sorted({ch for ch in value if not (ch.isascii() and (ch.isalnum() or ch in ".-"))})
    if bad:
        raise UsageError(f"invalid --bundle-id {value!r}: character(s) {' '.join(map(repr, bad))} not allowed",
                         _BUNDLE_HINT)
    parts = value.split(".")
    if len(parts) < 2:
        raise UsageError(f"invalid --bundle-id {value!r}: a reverse-DNS identifier needs at least two parts",
                         _BUNDLE_HINT)
    for part in parts:
        if not part:
            raise UsageError(f"invalid --bundle-id {value!r}: empty part between dots", _BUNDLE_HINT)
        if not _BUNDLE_PART.fullmatch(part):
            raise UsageError(f"invalid --bundle-id {value!r}: part {part!r} starts or ends with '-'", _BUNDLE_HINT)


def default_bundle_id(app_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]", "", app_name.lower()) or "demo"
    return f"com.example.{slug[:60]}"


# The target name is also the app's Swift module name: it must not be a module the app imports,
# a type it declares, or CocoaPods' own folder.
_RESERVED_PROJECT_NAMES = frozenset(n.lower() for n in """
Pods Podfile Swift SwiftUI UIKit Foundation PhotosUI AVFoundation CoreGraphics CoreML Metal Darwin Accelerate
TensorFlowLite TensorFlowLiteC TensorFlowLiteCMetal TensorFlowLiteCCoreML Combine Dispatch
Accelerator AudioRecorder BenchConfig Benchmark BenchmarkView CameraPicker ContentView DemoApp DemoModel Detection
ElementType ImageInput InferenceResult Labels MaskPainter ModelInfo ModelInput ModelRunner OutputImage OutputValues
ResultDecoder ResultView
RunnerError ScoreList ScoredLabel SegmentationMask TensorCodec TensorInfo TensorSummary Tokenizer WordPiece""".split())


def project_name(app_name: str) -> str:
    """The Xcode project/target/folder name: the app name's ASCII letters and digits in
    CamelCase ("Digits Demo" -> "DigitsDemo"); the visible name stays the app name."""
    words = re.findall(r"[A-Za-z0-9]+", app_name)
    name = "".join(w[:1].upper() + w[1:] for w in words)[:40]
    if not name:
        return "MobilepackDemo"
    if name[0].isdigit():
        name = "App" + name
    return name + "App" if name.lower() in _RESERVED_PROJECT_NAMES else name


# --- escaping filters ----------------------------------------------------------------------

# Bidirectional controls are written as escapes so the source reads as it compiles ("Trojan Source").
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_C_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _quoted(value: object, unsafe: Callable[[str], bool], code: Callable[[str], str],
            extra: dict[str, str] | None = None) -> str:
    """``"..."`` with C-style escapes for backslash, quote, newline, CR and tab (and ``extra``),
    and ``code(ch)`` for every other character that ``unsafe`` rejects."""
    table = {**_C_ESCAPES, **(extra or {})}
    return '"' + "".join(table.get(ch) or (code(ch) if unsafe(ch) else ch) for ch in str(value)) + '"'


def _swift_unsafe(ch: str) -> bool:
    cp = ord(ch)
    return cp < 0x20 or cp == 0x7F or ch in _BIDI_CONTROLS or ch in "\u2028\u2029" or 0xD800 <= cp <= 0xDFFF


def swift_string(value: object) -> str:
    """A complete Swift string literal (quotes included) whose value is ``value``: ``\\`` and
    ``"`` are escaped (so ``\\(x)`` stays text, never interpolation), control and bidi
    characters become ``\\u{..}``; emoji and right-to-left letters stay as they are."""
    return _quoted(value, _swift_unsafe, lambda ch: f"\\u{{{ord(ch):x}}}")


_PBX_BARE = re.compile(r"[A-Za-z0-9._/]+")


def pbx_string(value: object) -> str:
    """A string in ``project.pbxproj`` (an old-style ASCII property list), written as Xcode and
    pip ``pbxproj`` write it: bare when made of letters, digits, ``.``, ``_`` and ``/`` only,
    otherwise quoted with ``\\``, ``"``, ``'``, NUL and control characters escaped."""
    s = str(value)
    if _PBX_BARE.fullmatch(s):
        return s
    return _quoted(s, lambda ch: ord(ch) < 0x20, lambda ch: f"\\U{ord(ch):04x}", {"'": "\\'", "\0": "\\0"})


def pbx_comment(value: object) -> str:
    """Text inside a ``/* ... */`` comment of ``project.pbxproj`` (cannot close it early)."""
    return re.sub(r"[\x00-\x1f]", " ", str(value)).replace("*/", "*_/")


# Info.plist text is XML element content (shared ``xml_text``); Swift floats use ``float_literal``.
FILTERS = {"swift_string": swift_string, "plist_string": xml_text, "pbx_string": pbx_string,
           "pbx_comment": pbx_comment}


# --- the pbxproj object graph ------------------------------------------------------------------

def object_id(kind: str, path: str) -> str:
    """A 24-hex-digit pbxproj object ID derived from what the object is and the file path it
    belongs to: stable across renders and machines, distinct for distinct (kind, path)."""
    return hashlib.sha256(f"mobilepack:{kind}:{path}".encode("utf-8")).hexdigest()[:24].upper()


_FILE_TYPES = {".swift": "sourcecode.swift", ".plist": "text.plist.xml", ".xcassets": "folder.assetcatalog",
               ".tflite": "file", ".txt": "text", ".png": "image.png", ".xcprivacy": "text.xml", ".jpg": "image.jpeg",
               ".jpeg": "image.jpeg", ".app": "wrapper.application"}


def _file_type(name: str) -> str:
    for suffix, kind in _FILE_TYPES.items():
        if name.lower().endswith(suffix):
            return kind
    return "file"


def _swift_sources() -> list[str]:
    from mobilepack.render.environment import templates_root

    folder = templates_root() / "ios" / "{{ ios.project }}"
    return sorted(p.name[:-3] if p.name.endswith(".j2") else p.name
                  for p in folder.glob("*.swift*") if p.is_file())


# Build settings, written sorted by key as Xcode writes them.
_PROJECT_SETTINGS = {
    "ALWAYS_SEARCH_USER_PATHS": "NO", "CLANG_ENABLE_MODULES": "YES", "CLANG_ENABLE_OBJC_ARC": "YES",
    "COPY_PHASE_STRIP": "NO", "ENABLE_STRICT_OBJC_MSGSEND": "YES",
    # CocoaPods' [CP] script phases copy frameworks: Xcode's user-script sandbox would block them.
    "ENABLE_USER_SCRIPT_SANDBOXING": "NO", "GCC_C_LANGUAGE_STANDARD": "gnu17",
    "IPHONEOS_DEPLOYMENT_TARGET": IOS_DEPLOYMENT_TARGET, "MTL_FAST_MATH": "YES", "SDKROOT": "iphoneos",
}
_PROJECT_CONFIG_SETTINGS = {
    "Debug": {"DEBUG_INFORMATION_FORMAT": "dwarf", "ENABLE_TESTABILITY": "YES", "GCC_OPTIMIZATION_LEVEL": "0",
              "GCC_PREPROCESSOR_DEFINITIONS": ["DEBUG=1", "$(inherited)"], "ONLY_ACTIVE_ARCH": "YES",
              "SWIFT_ACTIVE_COMPILATION_CONDITIONS": "DEBUG", "SWIFT_OPTIMIZATION_LEVEL": "-Onone"},
    "Release": {"DEBUG_INFORMATION_FORMAT": "dwarf-with-dsym", "ENABLE_NS_ASSERTIONS": "NO",
                "SWIFT_COMPILATION_MODE": "wholemodule", "SWIFT_OPTIMIZATION_LEVEL": "-O", "VALIDATE_PRODUCT": "YES"},
}


def _target_settings(project: str, bundle_id: str) -> dict[str, Any]:
    return {
        "ASSETCATALOG_COMPILER_APPICON_NAME": "AppIcon", "ASSETCATALOG_COMPILER_GLOBAL_ACCENT_COLOR_NAME": "AccentColor",
        "CODE_SIGN_STYLE": "Automatic", "CURRENT_PROJECT_VERSION": "1",
        "DEVELOPMENT_TEAM": "",   # chosen in Xcode (Signing & Capabilities), see the project's README
        "ENABLE_PREVIEWS": "YES", "GENERATE_INFOPLIST_FILE": "NO", "INFOPLIST_FILE": f"{project}/Info.plist",
        "IPHONEOS_DEPLOYMENT_TARGET": IOS_DEPLOYMENT_TARGET,
        "LD_RUNPATH_SEARCH_PATHS": ["$(inherited)", "@executable_path/Frameworks"], "MARKETING_VERSION": "1.0",
        "PRODUCT_BUNDLE_IDENTIFIER": bundle_id, "PRODUCT_NAME": "$(TARGET_NAME)", "SWIFT_EMIT_LOC_STRINGS": "YES",
        "SWIFT_VERSION": "5.0", "TARGETED_DEVICE_FAMILY": "1,2",
    }


def _pbx_graph(project: str, bundle_id: str, samples: list[str], vocabulary: bool) -> dict[str, Any]:
    """Files, groups, build phases and configurations of the app target, each with its object ID,
    listed in the order Xcode writes them (objects sorted by ID within each section)."""

    def ref(path: str, name: str, role: str | None) -> dict[str, Any]:
        return {"id": object_id("file", path), "build_id": object_id("build", path), "path": name,
                "full_path": path, "type": _file_type(name), "role": role}

    def group(path: str, comment: str, children: list[dict[str, Any]], name: str | None = None) -> dict[str, Any]:
        return {"id": object_id("group", path), "comment": comment, "path": path.rsplit("/", 1)[-1] if path else None,
                "name": name, "children": [{"id": c["id"], "comment": c["comment"]} for c in children]}

    sources = [ref(f"{project}/{n}", n, "sources") for n in _swift_sources()]
    top = [ref(f"{project}/Assets.xcassets", "Assets.xcassets", "resources"),
           ref(f"{project}/PrivacyInfo.xcprivacy", "PrivacyInfo.xcprivacy", "resources")]
    bundled = [ref(f"{project}/Resources/model.tflite", "model.tflite", "resources"),
               ref(f"{project}/Resources/labels.txt", "labels.txt", "resources")]
    if vocabulary:
        bundled.append(ref(f"{project}/Resources/{VOCAB_ASSET}", VOCAB_ASSET, "resources"))
    sample_refs = [ref(f"{project}/Resources/samples/{s}", s, "resources") for s in samples]
    info_plist = ref(f"{project}/Info.plist", "Info.plist", None)
    product = {"id": object_id("product", f"{project}.app"), "path": f"{project}.app", "product": True}
    for f in [*sources, *top, *bundled, *sample_refs, info_plist, product]:
        f["comment"] = f["path"]

    samples_group = group(f"{project}/Resources/samples", "samples", sample_refs) if sample_refs else None
    resources_group = group(f"{project}/Resources", "Resources", bundled + ([samples_group] if samples_group else []))
    app_group = group(project, project, [*sources, *top, info_plist, resources_group])
    products_group = group("Products", "Products", [product], name="Products")
    products_group["path"] = None
    main_group = group("", "", [app_group, products_group])
    groups = [g for g in (main_group, products_group, app_group, resources_group, samples_group) if g]

    ids = {k: object_id(k, project) for k in (
        "project", "target", "sources_phase", "resources_phase", "frameworks_phase", "project_configs",
        "target_configs", "project_debug", "project_release", "target_debug", "target_release")}
    settings = {"project": {n: {**_PROJECT_SETTINGS, **_PROJECT_CONFIG_SETTINGS[n]} for n in ("Debug", "Release")},
                "target": {n: _target_settings(project, bundle_id) for n in ("Debug", "Release")}}
    configs = [{"id": ids[f"{kind}_{name.lower()}"], "name": name, "settings": sorted(settings[kind][name].items())}
               for kind in ("project", "target") for name in ("Debug", "Release")]
    config_lists = [{"id": ids["project_configs"], "owner": f'PBXProject "{project}"', "kind": "project"},
                    {"id": ids["target_configs"], "owner": f'PBXNativeTarget "{project}"', "kind": "target"}]
    files = [*sources, *top, *bundled, *sample_refs, info_plist]
    by_id = lambda items, key="id": sorted(items, key=lambda item: item[key])  # noqa: E731
    return {"build_files": by_id([f for f in files if f["role"]], "build_id"),
            "file_refs": by_id(files + [product]), "sources": sources, "resources": top + bundled + sample_refs,
            "info_plist": info_plist, "product": product, "groups": by_id(groups), "main_group": main_group["id"],
            "products_group": products_group["id"], "configs": by_id(configs),
            "config_lists": by_id(config_lists), "ids": ids}


def _check_app_name(name: str) -> None:
    """Info.plist is XML 1.0: most control characters cannot be written in it at all."""
    bad = sorted({ch for ch in name if (ord(ch) < 0x20 and ch not in "\t\n\r") or ord(ch) in (0xFFFE, 0xFFFF)
                  or 0xD800 <= ord(ch) <= 0xDFFF})
    if bad:
        raise UsageError(f"--app-name {name!r} contains control character(s) "
                         f"{', '.join(f'U+{ord(c):04X}' for c in bad)} that an iOS property list cannot hold",
                         "remove them from the app name")


# The platform-neutral decisions (render.context.app_io) about input kind, output kind, SSD
# output order and pixel normalization: shared so that both apps treat a model the same way.
_SHARED_KEYS = ("input_kind", "output_kind", "detection", "keypoints", "image_output", "normalize_in_app", "pixel_mean",
                "pixel_std", "bench_schema_version", "bench_definition", "element_types", "bench_pattern", "one_channel_threshold")


def extend_context(context: dict[str, Any]) -> dict[str, Any]:
    shared = app_io(context, platform="iOS")
    _check_app_name(context["app"]["name"])
    project = project_name(context["app"]["name"])
    return {
        "ios": {
            "project": project,
            "bundle_id": context["app"]["id"],
            "deployment_target": IOS_DEPLOYMENT_TARGET,
            "pod": {"name": POD_NAME, "version": POD_VERSION, "subspecs": list(POD_SUBSPECS)},
            **{key: shared[key] for key in _SHARED_KEYS},
            "uses_microphone": shared["input_kind"] == "audio",
            "pbx": _pbx_graph(project, context["app"]["id"], list(context["samples"]),
                              vocabulary=shared["input_kind"] == "text"),
        }
    }


def assets(inputs, context: dict[str, Any]) -> dict[str, bytes]:
    """Model, labels and samples; for text apps also vocab.txt, the vocabulary packed in the
    model's metadata (empty when it has none: the app then hashes words, as on Android)."""
    project = context["ios"]["project"]
    files = {f"{project}/Resources/{name}": data for name, data in common_assets(inputs).items()}
    if context["ios"]["input_kind"] == "text":
        files[f"{project}/Resources/{VOCAB_ASSET}"] = model_vocabulary(inputs.model_bytes) or b""
    return files


register(Target(
    name="ios",
    template_dir="ios",
    description="Xcode project (SwiftUI, TensorFlowLiteSwift with Metal and Core ML delegates, CocoaPods)",
    id_key="bundle_id",
    default_id=default_bundle_id,
    validate_id=validate_bundle_id,
    filters=FILTERS,
    assets=assets,
    extend_context=extend_context,
))
