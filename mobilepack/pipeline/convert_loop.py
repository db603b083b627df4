"""The convert stage's loop over quantization modes: read the calibration/validation data, run the
source model for the references, export the fixed-shape SavedModel, start the second converter
process where ``--jobs`` allows (``conversion.parallel``), then convert, write and validate each
mode (``convert_command.convert_into`` calls :func:`convert_modes`)."""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path
from typing import Any

from mobilepack.conversion.quantization import ConverterOptions, get as mode_spec
from mobilepack.errors import DataError
from mobilepack.pipeline.convert_record import VariantResult
from mobilepack.progress import ProgressEvent

DEFAULT_VALIDATION_SAMPLES = 200
SAMPLE_WEIGHT_BUDGET = 8 << 30   # by default a model is validated on at most this many weight bytes × samples
MIN_BOUNDED_SAMPLES = 16          # ... and on at least this many (a 436 MB BERT-base: 19; under 43 MB: the default 200)
RELEASE_WEIGHTS = 64 << 20   # from here the source model is released before converting (below, its ~0.2 s of
                             # garbage collection costs more than the memory it frees)


def sample_bound(weights: int) -> int | None:
    """The most validation samples a model with ``weights`` bytes of weights is validated on when the
    count is not given (None: no bound).  Every validation sample runs the source model and every
    variant, and later the accuracy matrix's reference kernels: work per sample that grows with the
    weights, where conversion's own grows only in calibration.  So a large model is validated on its
    first samples only, ``SAMPLE_WEIGHT_BUDGET`` / weights of them and at least ``MIN_BOUNDED_SAMPLES``
    (#21: BERT-base, 436 MB, on 19 of 32)."""
    if weights <= 0:
        return None
    return max(MIN_BOUNDED_SAMPLES, SAMPLE_WEIGHT_BUDGET // weights)


def _first(samples, count: int):
    """``samples`` cut to its first ``count`` samples (whole batches)."""
    from dataclasses import replace

    size = samples.count // max(1, len(samples.batches))
    keep = samples.batches[:max(1, -(-count // max(1, size)))]
    labels = samples.labels[:len(keep) * size] if samples.labels is not None else None
    return replace(samples, batches=keep, labels=labels)


def _read_data(spec, *, calibration, calibration_samples, validation, validation_samples, emit, warn, weights=0):
    """(calibration samples or None, validation samples, their descriptions for convert.json).
    ``validation_samples`` None: up to DEFAULT_VALIDATION_SAMPLES, bounded by :func:`sample_bound`."""
    from mobilepack.data.readers import RANDOM, read_samples

    bound = sample_bound(weights) if validation_samples is None else None
    validation_samples = validation_samples or DEFAULT_VALIDATION_SAMPLES

    cal = cal_info = None
    if calibration is not None:
        emit(ProgressEvent("calibration", f"reading calibration data {calibration}"))
        cal = read_samples(calibration, spec, limit=calibration_samples, what="calibration")
        cal_info = {"source": str(calibration), "kind": cal.kind, "samples": cal.count}
        if cal.kind == "random":
            warn("calibrating with random inputs (--calibration random): int8 accuracy may collapse; "
                 "use real samples for anything you ship")
    if validation is not None:
        val = read_samples(validation, spec, limit=validation_samples, what="validation")
    elif cal is not None:
        val = cal
    else:
        val = read_samples(RANDOM, spec, limit=min(validation_samples, 32), what="validation")
    if val.kind == "random":
        warn("validating on random inputs: pass --validation (or --calibration) data for meaningful numbers")
    info = {"source": val.source, "kind": val.kind, "samples": val.count}
    if bound is not None and val.count > bound:
        total, val = val.count, _first(val, bound)
        why = f"{weights / 1e6:.0f} MB of weights: each sample runs the source model and every variant"
        info.update(samples=val.count, of=total, bound=why)
        emit(ProgressEvent("reference", f"validating on the first {val.count} of {total} samples ({why})"))
    return cal, val, cal_info, info


def _references(src, val) -> list[dict[str, Any]]:
    """The source model's outputs on the validation samples.  Random samples may be values the model
    cannot take (a negative token id, a segment id past the embedding table): its failure on them is a
    data problem with a next step, not an internal error."""
    from mobilepack.conversion.doctor_stage import source_references
    from mobilepack.errors import MobilepackError

    try:
        return source_references(src, val.batches)
    except Exception as exc:
        if val.kind != "random" or isinstance(exc, MobilepackError):
            raise
        noise = ("Graph execution error", "Detected at node", "<stack traces", "[[")
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.strip().startswith(noise)]
        raise DataError(f"the source model fails on random validation inputs: {(lines or [type(exc).__name__])[0]}",
                        "integer inputs (token ids, indices) need real values: pass --validation (or "
                        "--calibration) data, an .npz with one key per input") from exc


def convert_modes(src, modes, staging: Path, planned: list[str], *, calibration, calibration_samples, validation,
                   validation_samples, options: ConverterOptions, tools, emit, warn, timings, plan=None,
                   extra=None, task: str = "generic", warm=None):
    from mobilepack.conversion.doctor_stage import VariantProducer
    from mobilepack.conversion.failures import none_produced

    spec = src.spec
    t0 = time.perf_counter()
    weights = src.weight_bytes()
    cal, val, cal_info, val_info = _read_data(spec, calibration=calibration, calibration_samples=calibration_samples,
                                              validation=validation, validation_samples=validation_samples,
                                              emit=emit, warn=warn, weights=weights)
    timings["data"] = time.perf_counter() - t0
    emit(ProgressEvent("reference", f"running the source model on {val.count} validation samples"))
    t0 = time.perf_counter()
    references = _references(src, val)
    timings["reference"] = time.perf_counter() - t0
    representative = (lambda: ({k: v for k, v in b.items()} for b in cal.batches)) if cal is not None else None
    variants = []
    with tempfile.TemporaryDirectory(prefix="mobilepack-export-") as tmp:
        t0 = time.perf_counter()
        if not src.is_tflite:  # a float .tflite source is quantized as it is (AI Edge Quantizer)
            emit(ProgressEvent("export", "exporting a fixed-shape SavedModel"))
        saved = None if src.is_tflite else src.export_saved_model(Path(tmp) / "saved_model")
        if weights >= RELEASE_WEIGHTS:   # the conversions read the export; the TensorFlow model is not needed again
            src.release()
        producer = VariantProducer(src, saved, plan=plan, options=options, representative=representative, cal=cal,
                                   val=val, references=references, emit=emit, warn=warn, extra=extra, task=task,
                                   produced=lambda: {v.mode: (staging / v.path).read_bytes() for v in variants})
        timings["export"] = time.perf_counter() - t0
        timings["convert"] = timings["validate"] = 0.0
        failed = extra.setdefault("failed", []) if extra is not None else []
        order = _start_child(producer, saved, modes, plan, options, cal, timings["reference"], warm, weights)
        try:
            _convert_each(producer, order, modes, planned, staging, variants, failed, val=val, references=references,
                          spec=spec, plan=plan, task=task, tools=tools, emit=emit, warn=warn, timings=timings,
                          extra=extra)
        finally:
            if producer.child is not None:
                timings["child"] = sum(producer.child.seconds.values())   # the second converter's own time
                producer.child.close()
    if failed and not variants:
        raise none_produced(failed)
    variants.sort(key=lambda v: modes.index(v.mode))
    failed.sort(key=lambda f: modes.index(f.mode) if f.mode in modes else len(modes))
    return cal_info, val_info, variants


def _start_child(producer, saved, modes, plan, options, cal, reference_seconds: float, warm=None,
                 weights: int | None = None) -> list[int]:
    """Start the second converter process where ``plan.jobs`` allows (``conversion.parallel``; ``warm``:
    the one started ahead, if any), and return the order the loop takes the modes in: the parent's
    own first, the child's after."""
    from mobilepack.conversion.parallel import ChildConverter, plan_jobs

    child_modes = plan_jobs(plan.jobs if plan is not None else "1", saved, modes, reference_seconds,
                            warm=warm is not None and warm.poll() is None, weights=weights)
    rank = {m: (m == "int8-mixed", m in child_modes) for m in modes}
    order = sorted(range(len(modes)), key=lambda i: rank[modes[i]])
    if child_modes:   # once its own are done, the child takes the parent's modes it has not begun, last first
        spare = tuple(modes[i] for i in reversed(order) if not any(rank[modes[i]]))
        producer.child = ChildConverter(str(saved), child_modes, options, cal.batches if cal is not None else (),
                                        warm=warm, spare=spare)
    return order


def _convert_each(producer, order, modes, planned, staging, variants, failed, *, val, references, spec, plan,
                  task, tools, emit, warn, timings, extra) -> None:
    from mobilepack.conversion.failures import RECORDED, failure
    from mobilepack.conversion.validation import top1_applies, validate_variant

    pending, deferred = list(order), set()
    while pending:
        i = pending.pop(0)
        mode, filename = modes[i], planned[i]
        child = producer.child
        if child is not None and i not in deferred and mode in child.spare and child.owns(mode):
            pending.append(i)   # the child took it: take the others first, while it converts
            deferred.add(i)
            continue
        emit(ProgressEvent("convert", f"converting {mode}", i + 1, len(modes)))
        t0 = time.perf_counter()
        stage = "convert"
        try:
            data = producer.produce(mode)
            if data is None:  # the doctor added no int8-mixed (conversion/doctor_stage.py)
                continue
            seconds = time.perf_counter() - t0
            if producer.child is not None and mode in producer.child.seconds:
                seconds = producer.child.seconds[mode]   # its own conversion time, not the wait for it
            (staging / filename).write_bytes(data)
            emit(ProgressEvent("validate", f"validating {mode}", i + 1, len(modes)))
            stage, t1 = "validate", time.perf_counter()
            scored = (extra or {}).pop("scored", None) or {}   # the doctor ran these bytes already
            given = {k: scored.get(k) for k in ("outputs", "raw")} if scored.get("model") is data else {}
            result, session = validate_variant(mode, data, val.batches, references, mode_spec(mode).tolerance,
                                               class_scores=top1_applies(task), keep=(extra or {}).get("kept"), **given)
        except RECORDED as exc:
            if plan is None or not plan.keep_going:
                raise
            failed.append(failure(mode, stage, exc))
            warn(failed[-1].line)
            (staging / filename).unlink(missing_ok=True)   # a variant that failed validation is not kept
            continue
        vseconds = time.perf_counter() - t1
        timings["convert"] += seconds
        timings["validate"] += vseconds
        for w in result.warnings:
            warn(w)
        variants.append(VariantResult(
            mode=mode, path=filename, bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
            input_dtypes=tuple(str(session.inputs[t.name]["dtype"].__name__) for t in spec.inputs),
            output_dtypes=tuple(str(session.outputs[t.name]["dtype"].__name__) for t in spec.outputs),
            conversion_seconds=seconds, validation_seconds=vseconds, validation=result.to_dict(),
            tool_versions=tools))
