"""The convert record (``convert.json``): one :class:`VariantResult` per variant, the
:class:`ConvertResult` around them, and :func:`add_variant` for a variant made outside convert."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mobilepack.conversion.failures import ModeFailure
from mobilepack.report.schema import CONVERT_SCHEMA_VERSION

RECORD = "convert.json"


@dataclass(frozen=True)
class VariantResult:
    mode: str
    path: str
    bytes: int
    sha256: str
    input_dtypes: tuple[str, ...]
    output_dtypes: tuple[str, ...]
    conversion_seconds: float
    validation_seconds: float
    validation: dict[str, Any] | None
    tool_versions: dict[str, Any]
    origin: str | None = None      # made outside convert (e.g. "compress qat")

    def to_dict(self) -> dict[str, Any]:
        out = {
            "mode": self.mode, "path": self.path, "bytes": self.bytes, "sha256": self.sha256,
            "input_dtypes": list(self.input_dtypes), "output_dtypes": list(self.output_dtypes),
            "conversion_seconds": round(self.conversion_seconds, 4),
            "validation_seconds": round(self.validation_seconds, 4),
            "validation": self.validation, "tool_versions": self.tool_versions,
        }
        return {**out, "origin": self.origin} if self.origin else out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VariantResult:
        return cls(d["mode"], d["path"], d["bytes"], d["sha256"], tuple(d["input_dtypes"]), tuple(d["output_dtypes"]),
                   d["conversion_seconds"], d["validation_seconds"], d["validation"], d["tool_versions"],
                   d.get("origin"))


@dataclass(frozen=True)
class ConvertResult:
    out_dir: str
    source: dict[str, Any]
    model: dict[str, Any]
    options: dict[str, Any]
    calibration: dict[str, Any] | None
    validation_data: dict[str, Any]
    variants: tuple[VariantResult, ...]
    warnings: tuple[str, ...]
    tools: dict[str, Any]
    files: tuple[str, ...] = field(default=())
    timings: dict[str, float] = field(default_factory=dict)
    doctor: dict[str, Any] | None = None     # the quantization doctor's record (--doctor)
    failed: tuple[ModeFailure, ...] = ()     # modes build could not produce (keep_going)
    # what validation computed, in this process only (conversion.validation.ValidationOutputs): not
    # in the record, so a cached result has none
    kept: tuple[Any, ...] = field(default=(), compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": CONVERT_SCHEMA_VERSION,
            "out_dir": self.out_dir,
            "source": self.source,
            "model": self.model,
            "options": self.options,
            "calibration": self.calibration,
            "validation_data": self.validation_data,
            "variants": [v.to_dict() for v in self.variants],
            "warnings": list(self.warnings),
            "tools": self.tools,
            "files": list(self.files),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            **({"doctor": self.doctor} if self.doctor is not None else {}),
            **({"failed_modes": [f.to_dict() for f in self.failed]} if self.failed else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConvertResult:
        """The inverse of :meth:`to_dict` (a cached convert record)."""
        return cls(out_dir=d["out_dir"], source=d["source"], model=d["model"], options=d["options"],
                   calibration=d["calibration"], validation_data=d["validation_data"],
                   variants=tuple(VariantResult.from_dict(v) for v in d["variants"]), warnings=tuple(d["warnings"]),
                   tools=d["tools"], files=tuple(d["files"]), timings=dict(d["timings"]), doctor=d.get("doctor"),
                   failed=tuple(ModeFailure.from_dict(f) for f in d.get("failed_modes", ())))


def from_source(result: ConvertResult, source: str) -> ConvertResult:
    """A cached record (its key hashes the source's bytes, not its place) as this build's: the source
    model where this build found it, never where the build that filled the cache did."""
    old = result.source.get("path")
    if old == source:
        return result
    model = {**result.model, "source_path": source} if result.model.get("source_path") == old else result.model
    return replace(result, source={**result.source, "path": source}, model=model)


def add_variant(result: ConvertResult, directory: Path, mode: str, tflite: Path, *, origin: str) -> ConvertResult:
    """``result`` plus a variant made outside convert (quantization-aware training's int8 .tflite),
    copied into ``directory`` as ``<model>_<mode>.tflite``; convert.json is rewritten to list it."""
    from dataclasses import replace

    from mobilepack.runtime.interpreter import describe_tflite

    data = tflite.read_bytes()
    name = f"{result.model['name']}_{mode}.tflite"
    (directory / name).write_bytes(data)
    ins, outs, _ = describe_tflite(data)
    variant = VariantResult(mode, name, len(data), hashlib.sha256(data).hexdigest(), tuple(t.dtype for t in ins),
                            tuple(t.dtype for t in outs), 0.0, 0.0, None, result.tools, origin)
    n = len(result.variants)
    out = replace(result, variants=result.variants + (variant,), files=result.files[:n] + (name,) + result.files[n:])
    (directory / RECORD).write_text(json.dumps(out.to_dict(), indent=2) + "\n", encoding="utf-8")
    return out
