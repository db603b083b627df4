"""The stages that judge the variants: lint (deployability), bench (latency per delegate),
evaluate (the task's metric, or agreement with fp32)."""

from __future__ import annotations

from dataclasses import replace

from mobilepack.cache import hash_path, make_key
from mobilepack.pipeline.caching import LAYOUT, Codec, cached, json_codec
from mobilepack.pipeline.state import Accuracy, Bench, Lint
from mobilepack.progress import ProgressEvent

EVALUATE_VERSION = 9   # part of the evaluation cache key: per-task evaluators, few self-check samples, agreement rule,
                       # the reference kernels' cross-check subset, delegates that disagree (the doctor's trigger),
                       # xnnpack cells reused from convert's validation (Cell.reused, a warning), a large
                       # model's samples bounded as convert's validation (convert_loop.sample_bound);
                       # 9: a large model's cross-check runs LARGE_CROSS_CHECK_SAMPLES
BENCH_VERSION = 4      # part of the bench cache key: 2 = a record's run count may be below settings.runs
                       # (build's run floor past max_seconds); 3 = no warm-up run after a first run that
                       # alone took max_seconds; 4 = a software GPU's record may come from lint's probe
SELF_CHECK_SAMPLES = 8   # samples a single variant is compared with itself on
CROSS_CHECK_SAMPLES = 8  # without labels: samples the non-reference variants run on the reference kernels
                         # (all of them on xnnpack; evaluate.accuracy)
LARGE_CROSS_CHECK_SAMPLES = 4   # ... for a large model (cross_check_samples)


def _lint_key(state, options) -> str:
    return make_key("lint", LAYOUT, state.models.key, "gpu" in options.bench.delegates, _gpu_functional(options),
                    state.tools)


def _gpu_functional(options) -> str | None:
    """The GPU probe's child on a software GPU when bench will give the GPU a functional check (no
    ``gpu_latency``): it runs that check on its own compilation, and bench reuses it (``_gpu_known``)."""
    from mobilepack.bench.measure import PROBE_CHILD

    return PROBE_CHILD if "gpu" in options.bench.delegates and not options.bench.gpu_latency else None


@cached("lint", _lint_key, Codec(lambda r: r.by_mode, lambda doc, state: Lint(doc)))
def lint_stage(state, options) -> Lint:
    """Each variant's load check and GPU probe (children), one variant per core at a time
    (``runtime.pool``; ``--jobs 1``: one at a time).  On a software GPU the probe's child also runs
    bench's functional check on the model it compiled (``_gpu_functional``)."""
    from mobilepack.inspect import inspect_model
    from mobilepack.runtime.pool import child_workers, run_concurrently

    variants = state.models.variants

    def one(v):
        result = inspect_model(v.path, runtime=True, gpu="gpu" in options.bench.delegates,
                               gpu_functional=_gpu_functional(options))
        return {"findings": [f.to_dict() for f in result.findings], "gpu": result.gpu,
                "summary": result.to_dict()["summary"]}

    finished = []

    def done(i, _):
        state.emit(ProgressEvent("inspect", f"lint {variants[i].mode}", len(finished), len(variants)))
        finished.append(i)

    found = run_concurrently(one, list(variants), child_workers(options.convert.jobs), on_done=done)
    return Lint({v.mode: f for v, f in zip(variants, found)})


def _bench_key(state, options) -> str:
    """Latencies are facts about this machine: the host (CPU model, core count) is part of the key."""
    from mobilepack.bench.definition import DEFINITION
    from mobilepack.bench.engine import host_key

    return make_key("bench", LAYOUT, BENCH_VERSION, state.models.key, options.bench.key(), host_key(), DEFINITION,
                    state.tools, sorted(_gpu_known(state).items()))


def _gpu_known(state) -> dict[str, dict]:
    """variant file name -> lint's GPU probe verdict, where that probe's GPU-only compilation (the
    one bench's GPU session makes) already failed: ``rejected``, or ``partial`` with LiteRT's
    refusal (ops it would leave on the CPU; a model that compiled has no message); or where it
    compiled and its child ran bench's functional check on it (``functional``: the check's answer,
    kept where the check ran; bench builds its record from it)."""
    from mobilepack.runtime.gpu import with_cpu_ops

    by_mode = getattr(state.lint, "by_mode", None) or {}
    out = {}
    for v in state.models.variants:
        g = (by_mode.get(v.mode) or {}).get("gpu") or {}
        seen = {"status": g.get("status"), "message": with_cpu_ops(g.get("message") or "", g.get("cpu_ops") or ()),
                "adapter": g.get("adapter"), "software": g.get("software")}
        if g.get("status") == "rejected" or (g.get("status") == "partial" and g.get("message")):
            out[v.path.name] = seen
        elif g.get("status") in ("full", "partial") and (g.get("functional") or {}).get("ok"):
            out[v.path.name] = {**seen, "functional": g["functional"]}
    return out


def _in_out(document: dict, state, options) -> Bench:
    """Bench records name model paths: point them at OUT/models, and name each record's variant by
    its file (``qat`` and pass-through files have no mode suffix)."""
    modes = {v.path.name: v.mode for v in state.models.variants}
    for rec in document.get("results", []):
        model = rec.get("model") or {}
        if model.get("file"):
            model["path"] = str(options.out / "models" / model["file"])
            model["variant"] = modes.get(model["file"], model.get("variant"))
    return Bench(document)


def bench_stage(state, options) -> Bench:
    return _in_out(_bench(state, options).document, state, options)


@cached("bench", _bench_key, json_codec(Bench))
def _bench(state, options) -> Bench:
    from mobilepack.bench.engine import plan_bench, run_bench
    from mobilepack.runtime.pool import child_workers

    bn = options.bench
    plan = plan_bench([v.path for v in state.models.variants], delegates=bn.delegates, threads=bn.threads,
                      runs=bn.runs, warmup=bn.warmup, min_seconds=0.0, target_ci=bn.target_ci,
                      max_seconds=bn.max_seconds, gpu_latency=bn.gpu_latency, max_runs=bn.max_runs,
                      floor_runs=bn.floor_runs)
    known = {(name, "gpu"): seen for name, seen in _gpu_known(state).items()}
    return Bench(run_bench(plan, progress=state.progress, known=known,
                           workers=child_workers(options.convert.jobs)).to_dict())


def evaluate_key(state, options) -> str:
    source = options.eval_source
    return make_key("evaluate", LAYOUT, EVALUATE_VERSION, state.models.spec.task, state.models.key,
                    hash_path(source) if source else None, bool(options.eval_data), list(options.bench.delegates),
                    list(options.metadata.labels), state.tools)


@cached("evaluate", evaluate_key, json_codec(Accuracy))
def evaluate_stage(state, options) -> Accuracy:
    """The task's evaluator judges the variants: its labelled metric on ``eval_data`` (read in the
    task's layout), else its agreement with fp32 on the validation/calibration samples.  Samples are
    read with the source's float description; the child quantizes them for each variant's input."""
    from mobilepack.evaluate.accuracy import evaluate
    from mobilepack.runtime.pool import child_workers

    evaluator, samples, truth, warnings = evaluation_samples(state, options)
    matrix = evaluate(state.models.paths, samples, task=evaluator.task, truth=truth, labels=options.metadata.labels,
                      delegates=list(options.bench.delegates), progress=state.progress,
                      cross_check=cross_check_samples(state), reuse=None if truth is not None else validated(state),
                      workers=child_workers(options.convert.jobs))
    if warnings:
        matrix = replace(matrix, warnings=tuple(warnings) + matrix.warnings)
    return Accuracy(matrix.to_dict())


def cross_check_samples(state) -> int:
    """How many samples the variants other than the reference run on the reference kernels: half as
    many for a large model, one whose validation convert bounded (``convert_loop.sample_bound``: each
    sample's inference grows with the weights).  The reference runs every sample, and the split of its
    samples between two workers (``evaluate.cells``) then evens their loads: BERT-base's evaluate
    stage ran 19 + 3 × 8 reference-kernel inferences, ~1 s each, as two workers of ~20 s; now 19 + 3 × 4."""
    return LARGE_CROSS_CHECK_SAMPLES if _validated_on(state).get("bound") else CROSS_CHECK_SAMPLES


def _validated_on(state) -> dict:
    """convert.json's ``validation_data``: the samples convert validated on and, for a large model,
    why it took only the first of them (``bound``, ``samples``, ``of``)."""
    return getattr(state.converted, "validation_data", None) or {}


def validated(state) -> dict:
    """mode -> the outputs convert's validation computed for it in this process (none when the cache
    answered convert), where they ran on the very bytes the variant was made of: their sha256 is the
    one convert recorded before metadata, and metadata adds no tensor (``evaluate.reuse``)."""
    converted = state.converted
    recorded = {v.mode: v.sha256 for v in converted.variants}
    shipped = {v.mode for v in state.models.variants}
    return {k.mode: k for k in getattr(converted, "kept", ()) if k.mode in shipped and recorded.get(k.mode) == k.sha256}


def evaluation_samples(state, options):
    """(the task's evaluator, the samples evaluate reads, their truth or None, warnings)."""
    from mobilepack.data.readers import read_samples
    from mobilepack.evaluate.tasks import check_eval_data, get as get_evaluator

    spec, labels = state.models.spec, options.metadata.labels
    evaluator = get_evaluator(spec.task)
    truth, warnings = None, []
    if options.eval_data:
        check_eval_data(evaluator.task, options.eval_data)   # the detected task's layout
        samples, truth, warnings = evaluator.read_labelled(options.eval_data, spec, labels)
    else:  # calibration/validation folders are not a test set, even with class folders
        # one variant alone (a pass-through .tflite) is compared with itself: a few samples show it runs
        # on the reference kernels; more would only repeat the same agreement
        limit = SELF_CHECK_SAMPLES if len(state.models.paths) == 1 else 200
        validated_on = _validated_on(state)
        if validated_on.get("bound"):   # a large model: the samples convert validated it on (convert_loop.sample_bound)
            limit = min(limit, validated_on["samples"])
            warnings.append(f"agreement on the first {limit} of {validated_on['of']} samples, "
                            f"those convert validated on ({validated_on['bound']})")
        samples = read_samples(options.eval_source or "random", spec, limit=limit, what="validation")
        samples = replace(samples, labels=None, class_names=None)
    return evaluator, samples, truth, warnings
