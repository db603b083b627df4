"""The host benchmark: every (model, delegate, threads) configuration in a fresh child process.

A configuration that fails (unresolved custom op, delegate refused, native crash, timeout)
becomes a failed record with its reason; the others go on."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mobilepack.errors import InputError, UsageError
from mobilepack.progress import ProgressCallback, ProgressEvent, or_ignore
from mobilepack.runtime import delegates as registry
from mobilepack.runtime.delegates import Delegate

DEFAULT_DELEGATES = "cpu,xnnpack,gpu"


@dataclass(frozen=True)
class ModelFile:
    path: Path
    name: str                  # "digits" for digits_int8.tflite
    variant: str | None        # "int8" for digits_int8.tflite (mobilepack convert's naming), else None
    bytes: int

    def to_dict(self) -> dict:
        return {"name": self.name, "file": self.path.name, "variant": self.variant, "bytes": self.bytes,
                "path": str(self.path)}


DEFAULT_RUNS = 10            # minimum timed runs per configuration
DEFAULT_TARGET_CI = 0.02     # stop when the 95 % CI of the latency (20 % trimmed mean) is within ±2 % of it
DEFAULT_MAX_RUNS = 50        # ...or at this many runs (the fixed scheme's count: adaptive never spends more;
                             # a larger --runs raises it to --runs)
DEFAULT_MAX_SECONDS = 2.0    # ...or after this long (`build` uses 0.25)
BUILD_FLOOR_RUNS = 3         # `build` without an explicit runs: past max_seconds, adaptive timing may stop at
                             # this many (a 0.7 s configuration: 3 runs, not 10; a 1 ms one still gets ≥ 10)


@dataclass(frozen=True)
class BenchPlan:
    models: tuple[ModelFile, ...]
    delegates: tuple[Delegate, ...]
    threads: tuple[int, ...]
    runs: int = DEFAULT_RUNS
    warmup: int = 5
    min_seconds: float = 0.0
    timeout: float = 120.0
    target_ci: float = DEFAULT_TARGET_CI   # 0: exactly ``runs`` runs (the fixed scheme)
    max_seconds: float = DEFAULT_MAX_SECONDS
    max_runs: int = DEFAULT_MAX_RUNS       # adaptive timing's last run (≥ runs)
    gpu_latency: bool = False              # time the GPU even on a software adapter
    floor_runs: int | None = None          # adaptive timing past max_seconds needs only this many (None: runs)
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()   # --input-shape: dynamic inputs resized

    def configurations(self) -> list[tuple[ModelFile, Delegate, int]]:
        """models x delegates x threads; delegates that take no thread count run once, with 1."""
        out = []
        for m in self.models:
            for d in self.delegates:
                for t in (self.threads if d.threaded else (1,)):
                    out.append((m, d, t))
        return out

    def settings(self) -> dict:
        from mobilepack.bench.definition import DEFINITION

        return {"delegates": [d.name for d in self.delegates], "threads": list(self.threads), "runs": self.runs,
                "warmup": self.warmup, "min_seconds": self.min_seconds, "timeout_s": self.timeout,
                "target_ci": self.target_ci, "max_seconds": self.max_seconds, "max_runs": self.max_runs,
                "floor_runs": self.floor_runs if self.floor_runs is not None else self.runs,
                "gpu_latency": self.gpu_latency,
                "definition": DEFINITION,
                **({"input_shapes": {n: list(v) for n, v in self.input_shapes}} if self.input_shapes else {})}


@dataclass(frozen=True)
class BenchResult:
    plan: BenchPlan
    records: tuple[dict, ...]
    host: dict = field(default_factory=dict)
    source: str = "host"

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.records if r["status"] != "ok"]

    def to_dict(self) -> dict:
        from mobilepack.report.bench import document

        return document(list(self.records), source=self.source, settings=self.plan.settings())


def model_file(path: Path) -> ModelFile:
    stem = path.stem
    name, variant = stem, None
    base, sep, suffix = stem.rpartition("_")
    from mobilepack.conversion.quantization import mode_of_file_suffix

    mode = mode_of_file_suffix(suffix) if sep and base else None
    if mode is not None:
        name, variant = base, mode
    return ModelFile(path=path.resolve(), name=name, variant=variant, bytes=path.stat().st_size)


def collect_models(paths: list[str | Path]) -> tuple[ModelFile, ...]:
    """Files as given; a directory contributes its ``*.tflite`` files.  Each must be a TFLite flatbuffer."""
    if not paths:
        raise UsageError("no model given", "pass one or more .tflite files or a directory of them")
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(p.glob("*.tflite"))
            if not found:
                raise InputError(f"no .tflite files in {p}", "convert a model first: `mobilepack convert MODEL -o DIR`")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"model not found: {p}", "check the path")
    for f in files:
        with open(f, "rb") as fh:
            head = fh.read(8)
        if len(head) < 8 or head[4:8] != b"TFL3":
            raise InputError(f"not a TFLite model: {f}", "bench takes .tflite files; convert first with `mobilepack convert`")
    seen: dict[Path, None] = {}
    for f in files:
        seen.setdefault(f.resolve(), None)
    return tuple(model_file(f) for f in seen)


def _parse_ints(text, what: str) -> tuple[int, ...]:
    """``"1,2"`` or a sequence of integers (the typed build options pass one)."""
    try:
        items = str(text).split(",") if isinstance(text, (str, int)) else list(text)
        values = tuple(int(x) for x in items if str(x).strip())
    except ValueError:
        raise UsageError(f"{what} must be comma-separated integers, got {text!r}", f"e.g. --{what} 1,2,4") from None
    if not values or any(v < 1 for v in values):
        raise UsageError(f"{what} must be positive integers, got {text!r}", f"e.g. --{what} 1,2,4")
    return tuple(dict.fromkeys(values))


def plan_bench(models, *, delegates: str = DEFAULT_DELEGATES, threads: str = "1", runs: int = DEFAULT_RUNS,
               warmup: int = 5, min_seconds: float = 0.0, delegate_libs: list[str] | None = None,
               timeout: float = 120.0, target_ci: float = DEFAULT_TARGET_CI,
               max_seconds: float = DEFAULT_MAX_SECONDS, gpu_latency: bool = False,
               on_phone: bool = False, max_runs: int | None = None, floor_runs: int | None = None,
               input_shapes: dict[str, tuple[int, ...]] | None = None) -> BenchPlan:
    """Validate everything up front (``on_phone``: the plan is for ``--adb``)."""
    external = registry.parse_delegate_libs(delegate_libs)
    if on_phone and external:
        raise UsageError("--delegate-lib loads a library on this machine and cannot be used with --adb",
                         "drop --delegate-lib, or bench on the host without --adb")
    items = delegates.split(",") if isinstance(delegates, str) else list(delegates)
    names = [n.strip() for n in items if n.strip()]
    if not names:
        raise UsageError("no delegate given", f"valid delegates: {', '.join(registry.names())}")
    chosen = tuple(registry.get(n, external) for n in dict.fromkeys(names))
    for d in chosen:
        if not on_phone and not d.host:
            raise UsageError(f"delegate {d.name!r} runs only on phones", "add --adb (with --benchmark-binary)")
        if on_phone and d.adb_flags is None:
            raise UsageError(f"delegate {d.name!r} cannot run on a phone", "on phones: cpu, xnnpack, gpu, nnapi")
    if runs < 1:
        raise UsageError(f"--runs must be at least 1, got {runs}", "e.g. --runs 50")
    if floor_runs is not None and not 1 <= floor_runs <= runs:
        raise UsageError(f"the run floor must be between 1 and --runs ({runs}), got {floor_runs}", "e.g. 3")
    if warmup < 0:
        raise UsageError(f"--warmup must be 0 or more, got {warmup}", "e.g. --warmup 5")
    if min_seconds < 0:
        raise UsageError(f"--min-seconds must be 0 or more, got {min_seconds}", "e.g. --min-seconds 1")
    if timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {timeout}", "e.g. --timeout 120")
    if input_shapes and on_phone:
        raise UsageError("--input-shape applies to the host bench",
                         "drop --input-shape with --adb; `mobilepack convert MODEL.tflite --input-shape …` writes "
                         "the shape into a .tflite a phone can bench")
    refusal = next((d.behaviour.input_shape_refusal for d in chosen if d.behaviour.input_shape_refusal), None) \
        if input_shapes else None
    if refusal:
        raise UsageError(f"--input-shape applies to cpu/xnnpack: {refusal}",
                         "bench with --delegates cpu,xnnpack, or write the shape into the file first "
                         "(`mobilepack convert MODEL.tflite --input-shape …`) and bench that")
    if not 0 <= target_ci < 1:
        raise UsageError(f"--target-ci must be in [0, 1), got {target_ci}",
                         "e.g. --target-ci 0.02 for ±2 %, or 0 for exactly --runs runs")
    if max_seconds <= 0:
        raise UsageError(f"--max-seconds must be positive, got {max_seconds}", "e.g. --max-seconds 5")
    max_runs = check_max_runs(runs, max_runs)
    return BenchPlan(models=collect_models(models), delegates=chosen, threads=_parse_ints(threads, "threads"),
                     runs=runs, warmup=warmup, min_seconds=min_seconds, timeout=timeout, target_ci=target_ci,
                     max_seconds=max_seconds, max_runs=max_runs, gpu_latency=gpu_latency, floor_runs=floor_runs,
                     input_shapes=tuple((n, tuple(v)) for n, v in (input_shapes or {}).items()))


def check_max_runs(runs: int, max_runs: int | None) -> int:
    """The adaptive run cap: ``max_runs``, or by default the larger of 50 and ``runs``; below ``runs`` is an error."""
    if max_runs is None:
        return max(runs, DEFAULT_MAX_RUNS)
    if max_runs < runs:
        raise UsageError(f"--max-runs ({max_runs}) is below --runs ({runs})",
                         "--runs is the minimum and --max-runs the maximum of timed runs per configuration")
    return max_runs


def host_facts() -> dict:
    import platform

    cpu = platform.processor() or None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"platform": "host", "system": platform.system(), "machine": platform.machine(), "cpu": cpu,
            "cpu_count": os.cpu_count(), "hostname": platform.node()}


def host_key() -> dict:
    """What makes host measurements comparable: CPU model and core count (not the host name).
    Part of the build's bench cache key, so numbers measured on another machine are never reused."""
    facts = host_facts()
    return {"machine": facts["machine"], "cpu": facts["cpu"], "cpu_count": facts["cpu_count"]}


def run_bench(plan: BenchPlan, *, progress: ProgressCallback | None = None,
              known: dict[tuple[str, str], dict] | None = None, workers: int = 1) -> BenchResult:
    """``known``: (model file name, delegate name) -> what a probe that opens the model the same way
    (lint's GPU probe compiles with the same GPU-only accelerator) already saw: a failure (its
    ``status`` and ``message``) is recorded as failed with the probe's reason, and a functional check
    the probe's child ran on its compilation (``functional``: :func:`measure_in_child`'s answer) makes
    the record bench's own check would — where bench would make one (a software adapter, no
    ``gpu_latency``) — instead of compiling it again.  ``workers``: the functional checks on a
    software GPU (not timed: compile, at most three invocations, a comparison) run first, that many
    at once; the timed configurations then run one at a time, alone."""
    on_event = or_ignore(progress)
    configs = plan.configurations()
    setups = {d.name: d.behaviour.child_setup() for d in plan.delegates}   # e.g. the GPU's Vulkan driver, found once
    known = {k: seen for k, seen in (known or {}).items() if "functional" not in seen
             or (k[1] in setups and _is_functional(plan, setups[k[1]]))}
    device = host_facts()
    records = []
    early = _functional_first(plan, configs, setups, known, workers, on_event)
    for i, (model, delegate, threads) in enumerate(configs):
        label = f"{model.path.name} · {delegate.name}" + (f" ×{threads}" if delegate.threaded else "")
        on_event(ProgressEvent("bench", label, current=i, total=len(configs)))
        seen = known.get((model.path.name, delegate.name))
        record = (early[i] if i in early else measure_one(plan, model, delegate, threads, setup=setups[delegate.name])
                  if seen is None else known_record(plan, model, delegate, threads, seen))
        record["device"] = dict(device)
        records.append(record)
        if record["status"] != "ok":
            on_event(ProgressEvent("bench", f"{label}: {record['error']}", current=i + 1, total=len(configs),
                                   warning=True))
    from mobilepack.bench.departures import explain_numerics

    explain_numerics(records, plan.delegates, timeout=plan.timeout,
                     progress=lambda message: on_event(ProgressEvent("bench", message)))
    on_event(ProgressEvent("bench", "done", current=len(configs), total=len(configs)))
    return BenchResult(plan=plan, records=tuple(records), host=device)


def _functional_first(plan: BenchPlan, configs, setups, known, workers: int, on_event) -> dict[int, dict]:
    """Index -> record of the configurations that get a functional check rather than a timing (a
    software GPU without ``gpu_latency``), measured ``workers`` at a time; {} for one worker."""
    from mobilepack.runtime.pool import run_concurrently

    if workers < 2 or plan.gpu_latency:
        return {}
    todo = [i for i, (model, delegate, _) in enumerate(configs) if setups[delegate.name].software
            and not setups[delegate.name].unavailable and (model.path.name, delegate.name) not in known]
    if len(todo) < 2:
        return {}
    on_event(ProgressEvent("bench", f"{len(todo)} functional checks on the software GPU, {workers} at a time"))
    found = run_concurrently(lambda i: measure_one(plan, *configs[i], setup=setups[configs[i][1].name]), todo, workers)
    return dict(zip(todo, found))


def measure_one(plan: BenchPlan, model: ModelFile, delegate: Delegate, threads: int, *, setup=None) -> dict:
    """One configuration in a fresh child process -> one record of the bench schema.

    ``setup`` (the delegate's ``behaviour.child_setup()``, asked here when None) says whether it runs
    here and with which environment.  On a software adapter (the GPU on SwiftShader) it gets a
    functional check — compile, at most three invocations, outputs compared with the reference CPU
    kernels — unless ``plan.gpu_latency``."""
    from mobilepack.runtime.child import run_in_child
    from mobilepack.runtime.gpu import SOFTWARE_NOTE

    record = _record(model, delegate, threads, plan.warmup)
    setup = setup or delegate.behaviour.child_setup()
    if setup.unavailable:
        record["note"] = setup.skipped_note
        return fail(record, setup.skipped_kind, setup.unavailable)
    functional = _is_functional(plan, setup)
    request = {"model": str(model.path), "delegate": delegate.to_dict(), "threads": threads, "runs": plan.runs,
               "warmup": plan.warmup, "min_seconds": plan.min_seconds, "target_ci": plan.target_ci,
               "max_seconds": min(plan.max_seconds, plan.timeout * 0.5), "hard_seconds": plan.timeout * 0.5,
               "max_runs": plan.max_runs, "floor_runs": plan.floor_runs,
               "functional": functional, "input_shapes": {n: list(v) for n, v in plan.input_shapes}}
    outcome = run_in_child("mobilepack.bench.measure:measure_in_child", request, timeout=plan.timeout,
                           env=setup.env, forkable=setup.forkable)
    record["adapter"], record["software"] = delegate.behaviour.adapter(outcome.log, setup)
    record["note"] = (FUNCTIONAL_NOTE if functional else SOFTWARE_NOTE) if record["software"] else None
    return _finish(plan, delegate, record, outcome, functional)


def _is_functional(plan: BenchPlan, setup) -> bool:
    """Whether a configuration gets a functional check rather than a timing: a software adapter
    without ``gpu_latency``."""
    return setup.software and not plan.gpu_latency


def _record(model: ModelFile, delegate: Delegate, threads: int, warmup: int) -> dict:
    from mobilepack.bench.definition import DEFINITION

    record = empty_record(model.to_dict(), delegate.name, threads, warmup=warmup)
    record["definition"] = DEFINITION
    return record


KNOWN_NOTE = "not compiled again: lint's GPU probe (the same GPU-only compilation) already failed on it"


def known_record(plan: BenchPlan, model: ModelFile, delegate: Delegate, threads: int, seen: dict) -> dict:
    """The record of a configuration a probe already compiled (``seen``: the probe's ``status``,
    ``message``, ``adapter``, ``software``, and ``functional`` where its child ran the functional
    check): a failure classified as a failure of the bench itself would be, or the functional
    check's record built from the probe child's answer as from bench's own child (:func:`_finish`)."""
    from mobilepack.runtime.child import ChildOutcome

    record = _record(model, delegate, threads, plan.warmup)
    record.update({"adapter": seen.get("adapter"), "software": bool(seen.get("software")), "note": KNOWN_NOTE})
    if "functional" in seen:
        record["note"] = REUSED_NOTE
        outcome = ChildOutcome(answer=seen["functional"], returncode=0, log="", timed_out=False, seconds=0.0)
        return _finish(plan, delegate, record, outcome, True)
    failure = delegate.behaviour.classify_failure(seen.get("message") or seen.get("status"), "")
    return fail(record, failure.kind, failure.message)


def _finish(plan: BenchPlan, delegate: Delegate, record: dict, outcome, functional: bool) -> dict:
    """The record of a child that ran: failed (crash, timeout, the delegate's classified error, numerics)
    or its statistics."""
    from mobilepack.bench.stats import summarize

    if outcome.failure():
        return fail(record, "timeout" if outcome.timed_out else "crashed", outcome.failure())
    answer = outcome.answer
    if not answer["ok"]:
        failure = delegate.behaviour.classify_failure(answer["error"], outcome.log)
        record["note"] = failure.note or record["note"]
        return fail(record, failure.kind, failure.message)
    samples = answer["samples_us"] or [answer["first_us"]]
    stats = summarize(samples)
    warm = answer["warmup_us"]
    record.update(stats)
    record.update({
        "status": "ok", "init_us": answer["init_us"], "first_us": answer["first_us"],
        "warmup_mean_us": sum(warm) / len(warm) if warm else None, "warmup": len(warm),
        "peak_rss_bytes": answer["peak_rss_kib"] * 1024,
        "rss_growth_bytes": (answer["rss_kib_after"] - answer["rss_kib_before"]) * 1024,
        "fully_delegated": answer["fully_delegated"],   # None where the session cannot tell
        "stop": answer.get("stop"), "target_ci": plan.target_ci if not functional else None,
    })
    if functional:
        numerics = answer.get("numerics") or {}
        record.update({"warmup": 0, "numerics": numerics, "noisy": False})
        if not numerics.get("ok"):
            return fail(record, "numerics", f"GPU outputs differ from the reference CPU kernels: "
                                            f"{numerics.get('message') or 'no comparison'}")
    return record


FUNCTIONAL_NOTE = "functional check only (software GPU: ≤ 3 invocations, numerics vs CPU; --gpu-latency times it)"
REUSED_NOTE = FUNCTIONAL_NOTE + " — run by lint's GPU probe on its compilation (not compiled again)"


def empty_record(model: dict, delegate: str, threads: int, *, warmup: int = 0, source: str = "host") -> dict:
    from mobilepack.report.bench import RECORD_KEYS

    record = dict.fromkeys(RECORD_KEYS)
    record.update({"model": model, "delegate": delegate, "threads": threads, "status": "failed", "runs": 0,
                   "warmup": warmup, "source": source, "software": False, "noisy": False})
    return record


def fail(record: dict, kind: str, message: str) -> dict:
    record.update({"status": "failed", "failure": kind, "error": (message or kind).strip()})
    return record

