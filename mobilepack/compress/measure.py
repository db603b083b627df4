"""Measuring a model before and after compression: its ``.tflite`` (converted by
``mobilepack.convert``), raw and gzip-compressed size, and top-1 accuracy on
labelled data run in LiteRT."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobilepack.compress.training_data import Labelled


@dataclass(frozen=True)
class Measurement:
    """One row of the compression table."""

    role: str                 # e.g. "before", "after", "ptq_int8", "teacher", "student"
    mode: str                 # quantization mode of the .tflite
    tflite: str | None        # file name in OUT when written there
    bytes: int
    gzip_bytes: int
    accuracy: float
    params: int | None = None
    latency_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "mode": self.mode, "tflite": self.tflite, "bytes": self.bytes,
                "gzip_bytes": self.gzip_bytes, "accuracy": round(self.accuracy, 6), "params": self.params,
                "latency_ms": self.latency_ms, **self.extra}


def gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def write_calibration(data: Labelled, input_name: str, path: Path, limit: int = 100) -> Path:
    import numpy as np

    np.savez(path, **{input_name: data.x[:limit]})
    return path


def to_tflite(source: Any, mode: str, work: Path, *, samples: Path, progress) -> bytes:
    """``.tflite`` bytes of ``source`` (a path or in-memory Keras model) in one mode, via ``mobilepack.convert``;
    ``samples`` (see :func:`write_calibration`) calibrate integer modes and validate every mode."""
    from mobilepack.conversion.quantization import get

    from mobilepack.pipeline.convert_command import convert

    out = work / f"convert-{mode}-{len(list(work.glob('convert-*')))}"
    result = convert(source, out, quantize=mode, calibration=str(samples) if get(mode).needs_calibration else None,
                     validation=str(samples), progress=progress)
    return (out / result.variants[0].path).read_bytes()


def accuracy(model: bytes, data: Labelled) -> float:
    """Top-1 accuracy of a ``.tflite`` on ``data``, one sample at a time (batch 1, as on a phone)."""
    import numpy as np

    from mobilepack.model.tfimport import silenced
    from mobilepack.runtime.interpreter import SignatureSession

    with silenced():
        session = SignatureSession(model)
    (name,) = session.inputs
    (out,) = session.outputs
    hits = 0
    for i in range(data.count):
        scores = session.run({name: data.x[i:i + 1]})[out]
        hits += int(np.argmax(scores[0]) == data.y[i])
    return hits / data.count


def measure(role: str, model: bytes, mode: str, data: Labelled, *, tflite: str | None = None,
            params: int | None = None, **extra) -> Measurement:
    return Measurement(role=role, mode=mode, tflite=tflite, bytes=len(model), gzip_bytes=gzip_size(model),
                       accuracy=accuracy(model, data), params=params, extra=extra)


def count_params(model) -> int:
    return int(sum(int(w.size) for w in model.get_weights()))


BENCH_DELEGATE = "xnnpack"


def with_latency(rows: list[Measurement], files: dict[str, Path], progress) -> list[Measurement]:
    """Fill ``latency_ms`` (median, XNNPACK, 1 thread) of each row whose role is in ``files``,
    through the bench engine (each measurement in its own child process).  A failed
    measurement leaves the latency empty and records why."""
    from dataclasses import replace

    from mobilepack.bench.engine import plan_bench, run_bench

    plan = plan_bench([str(p) for p in files.values()], delegates=BENCH_DELEGATE, threads="1", runs=30, warmup=3,
                      min_seconds=0.3)
    result = run_bench(plan, progress=progress)
    by_path = {r["model"]["path"]: r for r in result.records}
    out = []
    for row in rows:
        path = files.get(row.role)
        record = by_path.get(str(Path(path).resolve())) if path is not None else None
        if record is None:
            out.append(row)
        elif record["status"] == "ok":
            out.append(replace(row, latency_ms=round(record["p50_us"] / 1000.0, 4),
                               extra={**row.extra, "latency": f"p50, {BENCH_DELEGATE}, 1 thread"}))
        else:
            out.append(replace(row, extra={**row.extra, "latency_error": record["error"]}))
    return out
