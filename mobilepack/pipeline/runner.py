"""``mobilepack build``: one command from a model to reports and app projects.

The build is the ordered list :data:`STAGES` — compress (when [compress] names
stages), convert, metadata, lint, bench, evaluate, delegates (the delegate doctor, when the
accuracy matrix's delegates disagree), select, render, report — each
``stage(state, options) -> result`` over a :class:`~mobilepack.pipeline.state.BuildState`
of the typed results so far.  Everything is written into a staging tree beside OUT
and swapped in at the end (``staging.StagedTree``), so a failure or Ctrl-C at any
stage leaves OUT exactly as it was.  Files the user added to OUT are carried over;
generated files the user edited stop the build unless ``force`` (see
``manifest.check_out_dir``)."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobilepack.pipeline.delegate_check import delegate_check_stage
from mobilepack.pipeline.measure import bench_stage, evaluate_stage, lint_stage
from mobilepack.pipeline.models import compress_stage, convert_stage, metadata_stage
from mobilepack.pipeline.options import BuildOptions, resolve_build_options
from mobilepack.pipeline.ship import render_stage, report_stage, select_stage
from mobilepack.pipeline.state import BuildState, Ledger
from mobilepack.progress import ProgressCallback, ProgressEvent


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[BuildState, BuildOptions], Any]
    result: str                                        # the BuildState field it fills
    when: Callable[[BuildOptions], bool] = lambda options: True


STAGES: tuple[Stage, ...] = (
    Stage("compress", compress_stage, "compressed", when=lambda o: bool(o.compress.stages)),
    Stage("convert", convert_stage, "converted"),
    Stage("metadata", metadata_stage, "models"),
    Stage("lint", lint_stage, "lint"),
    Stage("bench", bench_stage, "bench"),
    Stage("evaluate", evaluate_stage, "accuracy"),
    Stage("delegates", delegate_check_stage, "departures"),
    Stage("select", select_stage, "selection"),
    Stage("render", render_stage, "apps"),
    Stage("report", report_stage, "report"),
)


@dataclass(frozen=True)
class VariantSummary:
    mode: str
    bytes: int


@dataclass(frozen=True)
class BuildResult:
    """What a build decided and measured, typed; ``report`` is report.json (``to_dict``)."""

    out_dir: str
    report: dict[str, Any]
    model_name: str
    variants: tuple[VariantSummary, ...]
    selection: Any                                     # evaluate.selection.Selection
    latency_us: dict[str, dict[str, float]]            # variant -> delegate -> best latency µs (20 % trimmed mean)
    accuracy: dict[str, dict[str, float | None]]       # variant -> delegate -> metric (or agreement)
    labelled: bool
    skipped: frozenset[tuple[str, str]] = frozenset()  # (variant, delegate) not run: the GPU was unavailable
    gpu_software: bool = False                         # the GPU ran on a software adapter (SwiftShader)
    gpu_functional_only: bool = False                  # ... and got a functional check, not a timing
    gpu_unavailable: str | None = None                 # why the GPU was skipped
    timings: dict[str, float] = field(default_factory=dict)
    cache_hits: dict[str, bool] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return self.report


def run_stages(state: BuildState, options: BuildOptions, stages: tuple[Stage, ...] = STAGES) -> BuildState:
    for stage in stages:
        if not stage.when(options):
            continue
        t0 = time.perf_counter()
        state = state.with_result(stage.result, stage.run(state, options))
        state.ledger.timings[stage.name] = time.perf_counter() - t0
    return state


def _carry_user_files(root: Path, out: Path, foreign) -> None:
    for rel in foreign:
        dest = root / rel
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(out / rel, dest)


def _write_manifest(state: BuildState, options: BuildOptions, foreign) -> None:
    from mobilepack.cache import hash_path
    from mobilepack.manifest import write_manifest

    root = state.root
    generated = [p.relative_to(root).as_posix() for p in sorted(root.rglob("*"))
                 if p.is_file() and p.relative_to(root).as_posix() not in foreign]
    inputs = [{"path": str(options.source), "sha256": hash_path(options.source)}]
    for label, path in (("calibration", options.convert.calibration), ("validation", options.convert.validation),
                        ("eval_data", options.eval_data), ("labels", options.metadata["labels"])):
        if path and path != "random":
            inputs.append({"role": label, "path": str(path), "sha256": hash_path(path)})
    write_manifest(root, inputs=inputs, config=options.resolved, tools=state.tools, generated=generated)


def result_of(state: BuildState, options: BuildOptions) -> BuildResult:
    records = state.bench.records
    return BuildResult(
        out_dir=str(options.out), report=state.report.document, model_name=state.models.spec.name,
        variants=tuple(VariantSummary(v.mode, v.bytes) for v in state.models.variants), selection=state.selection,
        latency_us=state.bench.latency_us(), accuracy=state.accuracy.scores(), labelled=state.accuracy.labelled,
        skipped=state.bench.skipped(), gpu_software=any(r.get("software") for r in records),
        gpu_functional_only=any(r.get("stop") == "functional" for r in records),
        gpu_unavailable=state.bench.gpu_unavailable(),
        timings=dict(state.ledger.timings), cache_hits=dict(state.ledger.hits))


def build(source: Any = None, *, config: str | Path | None = None, progress: ProgressCallback | None = None,
          **options: Any) -> BuildResult:
    """Run every stage on ``source`` and write OUT (see the module docstring).

    ``options`` are the keys of mobilepack.toml (``out``, ``target``, ``quantize``, ``calibration``,
    ``labels``, ``delegates``, ``app_name``, ...); they override the config file."""
    from mobilepack.cache import Cache
    from mobilepack.manifest import check_out_dir
    from mobilepack.report.schema import tool_versions
    from mobilepack.staging import StagedTree

    ledger = Ledger()
    opts = resolve_build_options(source, config=config, **options)   # everything checked before heavy work
    out_state = check_out_dir(opts.out, force=opts.force)
    from mobilepack.runtime.child import prestart

    prestart()  # the native-inference zygote imports LiteRT while conversion runs
    with StagedTree(opts.out) as staged, tempfile.TemporaryDirectory(prefix="mobilepack-build-") as work:
        state = BuildState(root=staged.path, work=Path(work), cache=Cache(opts.cache_dir), tools=tool_versions(),
                           progress=progress, ledger=ledger, source=opts.source)
        state = run_stages(state, opts)
        _carry_user_files(state.root, opts.out, out_state.foreign)
        _write_manifest(state, opts, out_state.foreign)
        state.emit(ProgressEvent("write", f"writing {opts.out}"))
        staged.commit()
    return result_of(state, opts)
