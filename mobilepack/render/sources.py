"""Resolving what ``mobilepack render`` was pointed at into :class:`RenderInputs`.

Accepted: a ``convert`` output directory (``convert.json``; the shipped variant is
chosen with ``variant``), or a ``.tflite`` file.  Labels come from ``labels``
(a file) or, for a directory, a ``labels.txt`` beside ``convert.json``."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

from mobilepack.errors import InputError, UsageError
from mobilepack.metadata.labels import read_labels
from mobilepack.model.normalization import from_flags
from mobilepack.model.spec import ModelSpec, SourceFormat, spec_from_dict
from mobilepack.render.context import RenderInputs

SAMPLE_SUFFIXES = (".png", ".jpg", ".jpeg")


def default_app_name(model_name: str) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", model_name) if w]
    return ("".join(w[:1].upper() + w[1:] for w in words) or "Model") + " Demo"


def sample_images(folder: Path | None, limit: int = 10) -> tuple[tuple[str, bytes], ...]:
    if folder is None:
        return ()
    if not folder.is_dir():
        raise InputError(f"sample images folder not found: {folder}", "pass a folder of .png/.jpg images to --samples")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SAMPLE_SUFFIXES)[:limit]
    return tuple((p.name, p.read_bytes()) for p in files)


def resolve(source: str | Path, *, variant: str | None = None, labels: str | Path | None = None,
            mean=None, std=None, samples: str | Path | None = None) -> tuple[ModelSpec, bytes, str, tuple[str, ...],
                                                                               tuple[tuple[str, bytes], ...]]:
    """(spec, model bytes, variant mode, labels, sample images) for ``source``: a `build` output,
    a `convert` output directory, or a .tflite."""
    p = Path(source)
    if not p.exists():
        raise InputError(f"path does not exist: {p}", "pass a `mobilepack convert` output directory or a .tflite")
    built_labels: tuple[str, ...] = ()
    if p.is_dir() and (p / "manifest.json").is_file() and (p / "models" / "convert.json").is_file():
        # a `mobilepack build` output: its models, by default the variant the build selected
        if variant is None:
            variant = _json_get(p / "reports" / "report.json", "selection", "winner")
        built_labels = tuple(_json_get(p / "models" / "convert.json", "model", "labels") or ())
        p = p / "models"
    if p.is_dir():
        spec, model_bytes, variant, labels = _from_convert_dir(p, variant, labels)
    elif p.suffix.lower() == ".tflite":
        spec, model_bytes, variant = _from_tflite(p, variant)
    else:
        raise InputError(f"cannot render from {p}", "pass a `mobilepack convert` output directory or a .tflite")
    norm = from_flags(mean, std)
    if norm is not None:
        spec = replace(spec, normalization=norm, provenance=dict(spec.provenance, normalization="flags"))
    label_tuple = read_labels(labels) if labels is not None else (built_labels or spec.labels)
    if label_tuple:
        classes = spec.outputs[0].shape[-1] if spec.outputs and spec.outputs[0].shape else None
        if len(spec.outputs) == 1 and classes and len(label_tuple) != classes:
            raise InputError(f"{len(label_tuple)} labels for {classes} output classes",
                             "give exactly one label per output class")
        spec = replace(spec, labels=label_tuple)
    return spec, model_bytes, variant, label_tuple, sample_images(Path(samples) if samples else None)


def _json_get(path: Path, *keys):
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
        for k in keys:
            value = value[k]
        return value
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _from_convert_dir(p: Path, variant, labels):
    record = p / "convert.json"
    if not record.is_file():
        raise InputError(f"{p} has no convert.json", "run `mobilepack convert MODEL -o DIR` first, or pass a .tflite")
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        spec = spec_from_dict(data["model"])
        variants = {v["mode"]: v["path"] for v in data["variants"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{record} is not a mobilepack convert record", "re-run `mobilepack convert`") from exc
    if variant is None:
        if len(variants) != 1:
            raise UsageError(f"{p} holds several variants ({', '.join(variants)})",
                             "choose the one the app ships with --variant")
        variant = next(iter(variants))
    if variant not in variants:
        raise UsageError(f"{p} has no {variant!r} variant", f"available: {', '.join(variants)}")
    try:
        model_bytes = (p / variants[variant]).read_bytes()
    except OSError as exc:
        raise InputError(f"{p / variants[variant]} (the {variant} variant listed in convert.json) cannot be read: "
                         f"{exc.strerror or exc}", "re-run `mobilepack convert` into this directory") from exc
    # The app feeds the shipped variant: its I/O dtype and quantization (e.g. --io-dtype int8),
    # not the source model's float tensors that convert.json describes.
    from mobilepack.model.variant import variant_spec

    spec = variant_spec(spec, model_bytes)
    if labels is None and (p / "labels.txt").is_file():
        labels = p / "labels.txt"
    return spec, model_bytes, variant, labels


def _from_tflite(p: Path, variant):
    from mobilepack.runtime.interpreter import describe_tflite

    model_bytes = p.read_bytes()
    if len(model_bytes) < 8 or model_bytes[4:8] != b"TFL3":
        raise InputError(f"{p} is not a TFLite flatbuffer", "pass a .tflite produced by a TFLite converter")
    ins, outs, key = describe_tflite(model_bytes)
    spec = ModelSpec(name=re.sub(r"[^A-Za-z0-9_-]+", "_", p.stem) or "model", source_path=str(p),
                     source_format=SourceFormat.TFLITE, inputs=ins, outputs=outs, signature_key=key)
    return spec, model_bytes, variant or "tflite"


def render_inputs(source, *, app_name=None, app_id=None, default_id=None, **kwargs) -> RenderInputs:
    spec, model_bytes, variant, labels, samples = resolve(source, **kwargs)
    name = app_name or default_app_name(spec.name)
    if not name.strip():
        raise UsageError("--app-name is empty", "give the app a visible name")
    return RenderInputs(spec=spec, model_bytes=model_bytes, variant=variant, labels=labels, app_name=name,
                        app_id=app_id or (default_id(name) if default_id else ""), sample_images=samples)
