"""The result of one compression stage: ``compress.json`` (versioned) and ``compress.md``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobilepack.compress.measure import Measurement
from mobilepack.report.schema import COMPRESS_SCHEMA_VERSION

RECORD = "compress.json"
SUMMARY = "compress.md"


@dataclass(frozen=True)
class CompressResult:
    technique: str
    out_dir: str
    source: str
    model: str | None             # the compressed model in OUT (.keras), when there is one
    tflite: str                   # the compressed .tflite in OUT
    options: dict[str, Any]
    data: dict[str, Any]
    eval_data: dict[str, Any]
    rows: tuple[Measurement, ...]
    layers: dict[str, Any]
    training: dict[str, Any]
    warnings: tuple[str, ...] = ()
    tools: dict[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()

    def row(self, role: str) -> Measurement:
        return next(r for r in self.rows if r.role == role)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": COMPRESS_SCHEMA_VERSION, "technique": self.technique, "out_dir": self.out_dir,
            "source": self.source, "model": self.model, "tflite": self.tflite, "options": self.options,
            "data": self.data, "eval_data": self.eval_data, "rows": [r.to_dict() for r in self.rows],
            "layers": self.layers, "training": self.training, "warnings": list(self.warnings),
            "tools": self.tools, "files": list(self.files),
        }


def _kib(n: int) -> str:
    return f"{n / 1024:,.1f} KiB"


def markdown(result: CompressResult) -> str:
    lines = [f"# mobilepack compress {result.technique}", "", f"Source: `{result.source}`  ",
             f"Training data: `{result.data['source']}` ({result.data['samples']} samples)  ",
             f"Evaluation data: `{result.eval_data['source']}` ({result.eval_data['samples']} samples)", "",
             "| model | mode | params | .tflite | gzip | accuracy | latency |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in result.rows:
        latency = f"{r.latency_ms:.3f} ms" if r.latency_ms is not None else "–"
        params = f"{r.params:,}" if r.params is not None else "–"
        lines.append(f"| {r.role} | {r.mode} | {params} | {_kib(r.bytes)} | {_kib(r.gzip_bytes)} | "
                     f"{r.accuracy:.2%} | {latency} |")
    if result.layers:
        keys = sorted({k for v in result.layers.values() for k in v})
        lines += ["", "| layer | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
        for name, info in result.layers.items():
            cells = [f"{info[k]:.3f}" if isinstance(info.get(k), float) else str(info.get(k, "")) for k in keys]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if result.warnings:
        lines += ["", "Warnings:", ""] + [f"- {w}" for w in result.warnings]
    return "\n".join(lines) + "\n"


def write(result: CompressResult, directory: Path) -> None:
    (directory / RECORD).write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    (directory / SUMMARY).write_text(markdown(result), encoding="utf-8")
