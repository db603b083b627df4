"""What the build stages hand each other: frozen, typed results in one :class:`BuildState`.

Each stage reads the results of the stages before it from the state and returns its
own result; the runner (``pipeline.build``) puts it into the state.  Documents that
leave the process (report.json, convert.json, cache entries) are made from these
results at the edges only (``pipeline.caching``, ``report.build``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mobilepack.progress import ProgressCallback


@dataclass(frozen=True)
class Compressed:
    """The [compress] stages: their records, the model they hand to convert, QAT's int8 .tflite."""

    stages: tuple[dict[str, Any], ...] = ()
    model: str | None = None
    qat_tflite: str | None = None


@dataclass(frozen=True)
class Variant:
    """One shipped candidate: its file in OUT/models and its own description (tensors of this
    variant, meaning of the source model)."""

    mode: str
    path: Path
    bytes: int
    spec: Any                                  # model.spec.ModelSpec of this variant
    record: dict[str, Any]                     # its entry in convert.json (sizes, validation, metadata)


@dataclass(frozen=True)
class Models:
    """convert + metadata: the variants in OUT/models and the convert.json that describes them."""

    key: str                                   # cache key of the variants (later stages key on it)
    record: dict[str, Any]                     # convert.json
    spec: Any                                  # the source model's ModelSpec (labels applied)
    variants: tuple[Variant, ...]

    def variant(self, mode: str) -> Variant:
        return next(v for v in self.variants if v.mode == mode)

    @property
    def paths(self) -> list[tuple[str, Path]]:
        return [(v.mode, v.path) for v in self.variants]


@dataclass(frozen=True)
class Lint:
    by_mode: dict[str, dict[str, Any]]         # mode -> findings, gpu, summary


@dataclass(frozen=True)
class Bench:
    document: dict[str, Any]                   # the bench JSON (report.bench schema), paths in OUT

    @property
    def records(self) -> list[dict[str, Any]]:
        return list(self.document.get("results", []))

    def latency_us(self) -> dict[str, dict[str, float]]:
        """variant -> delegate -> best steady-state latency (µs, 20 % trimmed mean) (``report.bench_views.latency_us``)."""
        from mobilepack.report.bench_views import latency_us

        return latency_us(self.document)

    def skipped(self) -> frozenset[tuple[str, str]]:
        """(variant, delegate) pairs not measured because the delegate could not run here (e.g. no Vulkan)."""
        from mobilepack.runtime.behaviour import SKIPPED_KINDS

        return frozenset(((r.get("model") or {}).get("variant"), r["delegate"]) for r in self.records
                         if r.get("failure") in SKIPPED_KINDS)

    def gpu_unavailable(self) -> str | None:
        """Why the GPU could not be measured, when it could not."""
        return next((r["error"] for r in self.records if r.get("failure") == "gpu_unavailable"), None)

    def best_latency_us(self) -> dict[str, float]:
        """variant -> its fastest delegate whose timing means something (not software GPU)."""
        from mobilepack.report.bench_views import best_latency_us

        return best_latency_us(self.document)


@dataclass(frozen=True)
class Accuracy:
    document: dict[str, Any]                   # evaluate.accuracy.AccuracyMatrix.to_dict()

    @property
    def labelled(self) -> bool:
        return bool(self.document["labelled"])

    def scores(self) -> dict[str, dict[str, float | None]]:
        """variant -> delegate -> the labelled metric (with labels) or the agreement with fp32."""
        key = "accuracy" if self.labelled else "agreement"
        out: dict[str, dict[str, float | None]] = {}
        for c in self.document["cells"]:
            out.setdefault(c["mode"], {})[c["delegate"]] = c[key] if c["status"] == "ok" else None
        return out

    def labelled_scores(self, mode: str) -> dict[str, float]:
        """delegate -> labelled metric of ``mode`` (cells that ran on all samples: a software GPU's
        seeded subset checks numerics, it does not select)."""
        if not self.labelled:
            return {}
        return {c["delegate"]: c["accuracy"] for c in self.document["cells"]
                if c["mode"] == mode and c["status"] == "ok" and c["accuracy"] is not None
                and not (c.get("software") and c["samples"] < self.document["samples"])}  # a subset: numerics only

    def agreement(self, mode: str) -> float | None:
        """``mode``'s agreement with fp32 on the reference kernels; without labels the worst over the
        delegates that ran it (the reference kernels, and xnnpack on every sample where the matrix
        cross-checks those kernels on a subset), unknown (None) when any of them failed."""
        cells = [c for c in self.document["cells"] if c["mode"] == mode and (c["delegate"] == "cpu" or
                                                                             not self.labelled)]
        values = [c["agreement"] for c in cells]
        if not cells or any(c["status"] != "ok" or v is None for c, v in zip(cells, values)):
            return None
        return min(values)


@dataclass(frozen=True)
class Departures:
    """The delegate doctor on the variants whose delegates disagree in the accuracy matrix."""

    document: dict[str, dict[str, Any]]        # mode -> the doctor's diagnosis + trigger, explanation


@dataclass(frozen=True)
class App:
    target: str
    files: int
    app_id: str
    app_name: str
    record: dict[str, Any] | None = None       # the server target's server.json (the report's Server section)


@dataclass(frozen=True)
class Report:
    document: dict[str, Any]                   # report.json


@dataclass
class Ledger:
    """Bookkeeping beside the results: seconds per stage and which stages the cache answered."""

    started: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)
    hits: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class BuildState:
    root: Path                                 # the staging tree that becomes OUT
    work: Path                                 # scratch space of this build (deleted at the end)
    cache: Any                                 # mobilepack.cache.Cache
    tools: dict[str, Any]
    progress: ProgressCallback | None
    ledger: Ledger
    source: str                                # the model convert reads (compress may replace it)
    compressed: Compressed = Compressed()
    converted: Any = None                      # pipeline.convert.ConvertResult (+ QAT's variant)
    models: Models | None = None
    lint: Lint | None = None
    bench: Bench | None = None
    accuracy: Accuracy | None = None
    departures: Departures = Departures({})
    selection: Any = None                      # evaluate.selection.Selection
    apps: tuple[App, ...] = ()
    report: Report | None = None

    def with_result(self, name: str, value: Any) -> BuildState:
        return replace(self, **{name: value})

    def emit(self, event) -> None:
        if self.progress is not None:
            self.progress(event)
