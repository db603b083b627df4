"""Where the quantization doctor meets the convert stage: planning ``--doctor`` (and build's
automatic doctor), producing each mode's bytes for a TensorFlow or a ``.tflite`` source, and
the ``int8-mixed`` variant with its record (``convert.json``'s ``doctor``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from mobilepack.conversion.doctor import (DEFAULT_SECONDS, Candidate, DoctorOutcome, DoctorSettings, Scorer,
                                         run_doctor)
from mobilepack.conversion.layer_errors import compare_tensors
from mobilepack.conversion.quantization import QuantMode, get
from mobilepack.errors import ConversionError, UsageError
from mobilepack.progress import ProgressEvent

AUTO = "auto"


def plan_doctor(modes: tuple, *, doctor: bool | str, seconds: float, max_accuracy_drop: float,
                source_is_tflite: bool, calibration: str | None = None) -> tuple[tuple, bool | str]:
    """Validate the doctor's options up front; ``--doctor`` adds the ``int8-mixed`` mode (last),
    and asking for ``int8-mixed`` in ``--quantize`` turns the doctor on.

    ``doctor="auto"`` (``build`` when ``[convert] doctor`` is unset): the doctor runs only where
    int8 is converted with real calibration data (not ``random``), and searches only when the
    int8 variant misses the budget (see :func:`doctor_variant`)."""
    if doctor == AUTO and QuantMode.INT8_MIXED not in modes:
        if QuantMode.INT8 not in modes or calibration is None or str(calibration) == "random":
            return modes, False
    else:
        doctor = bool(doctor) or QuantMode.INT8_MIXED in modes
    if not doctor:
        return modes, False
    if not seconds > 0:
        raise UsageError(f"--doctor-seconds must be > 0 (got {seconds})", f"the default is {DEFAULT_SECONDS:g}")
    if not 0 <= max_accuracy_drop < 1:
        raise UsageError(f"--max-accuracy-drop must be in [0, 1) (got {max_accuracy_drop})", "e.g. 0.01 for one point")
    rest = tuple(m for m in modes if m != QuantMode.INT8_MIXED)
    return rest + (QuantMode.INT8_MIXED.value,), doctor


def source_references(src, batches) -> list[dict[str, Any]]:
    """The outputs every variant is validated against: the source model's, or for a float .tflite
    source (quantized with AI Edge Quantizer) its own outputs in LiteRT."""
    if not src.is_tflite:
        from mobilepack.conversion.validation import reference_outputs

        return reference_outputs(src, batches)
    from mobilepack.conversion.tflite_quantization import check_float_source, reference_outputs

    check_float_source(src.tflite_bytes)
    return reference_outputs(src.tflite_bytes, batches)


class VariantProducer:
    """``produce(mode) -> bytes | None`` for the convert loop: TFLiteConverter on the exported
    SavedModel, AI Edge Quantizer for a .tflite source, the doctor for ``int8-mixed`` (None when it
    adds no variant).  ``extra["doctor"]`` receives the doctor's record."""

    def __init__(self, src, saved_model_dir, *, plan, options, representative, cal, val, references, emit, warn,
                 produced: Callable[[], dict[str, bytes]], extra: dict, task: str = "generic"):
        self.src, self.saved, self.plan, self.options = src, saved_model_dir, plan, options
        self.representative, self.cal, self.val, self.references = representative, cal, val, references
        self.emit, self.warn, self.produced, self.extra = emit, warn, produced, extra
        self.task = task
        self.tflite = None
        self.child = None   # conversion.parallel.ChildConverter: the modes a second process converts
        if src.is_tflite:
            from mobilepack.conversion.tflite_quantization import TfliteQuantizer

            self.tflite = TfliteQuantizer(src.tflite_bytes, src.spec.signature_key, cal.batches if cal else ())

    def produce(self, mode: str) -> bytes | None:
        if mode == QuantMode.INT8_MIXED:
            return doctor_variant(self.saved, self.src, self.plan, self.representative, self.val, self.references,
                                  self.emit, self.warn, self.extra, cal_batches=self.cal.batches if self.cal else (),
                                  produced=self.produced(), task=self.task)
        if self.tflite is not None:
            from mobilepack.conversion.tflite_quantization import convert_tflite

            return convert_tflite(self.tflite, mode, self.options)
        from mobilepack.conversion.converter import convert_saved_model

        try:
            if self.child is not None and self.child.owns(mode):
                try:
                    return self.child.take(mode)
                except ConversionError as exc:
                    if mode in self.child.modes or not getattr(exc, "child_exited", False):
                        raise
            return convert_saved_model(self.saved, mode, options=self.options, representative=self.representative)
        except ConversionError as exc:
            if mode == QuantMode.INT8 and getattr(exc, "float_fallback", None) is not None:
                self.extra["int8_float_fallback"] = exc.float_fallback   # int8 with float ops, for int8-mixed
            raise


def diagnose_variants(produced: dict[str, bytes], float_model: Callable[[], bytes],
                      batches: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-layer error of every other integer variant (int16x8; the doctor's own int8 is diagnosed by
    its quantizer), by LiteRT's tensor comparison with the float model."""
    out = {}
    for mode, data in produced.items():
        if mode in (QuantMode.INT8.value, QuantMode.INT8_MIXED.value) or not get(mode).integer:
            continue
        layers = compare_tensors(float_model(), data, list(batches)[:32])
        out[mode] = {"method": "tensor-compare", "layers": [layer.to_dict() for layer in layers]}
    return out


def _score(model: bytes, val, references, settings: DoctorSettings, keep: dict | None = None):
    """(score, budget) of ``model`` on the validation batches, by the budget's metric.  ``keep``
    receives ``{"model": model, "outputs": [...], "raw": [...]}``: the convert loop's validation of the
    same bytes reads those outputs instead of running the model again (the session is validation's:
    XNNPACK, ``VALIDATION_THREADS``; ``raw``: before dequantization)."""
    from mobilepack.model.tfimport import silenced
    from mobilepack.runtime.interpreter import VALIDATION_THREADS, SignatureSession

    scorer = Scorer(references, val.labels, settings.max_accuracy_drop, settings.task, settings.hints)
    with silenced():
        session = SignatureSession(model, num_threads=VALIDATION_THREADS)
        raw = [session.run_raw(b) for b in val.batches]
        outputs = [session.dequantized(r) for r in raw]
        score = scorer.score(outputs)
    if keep is not None:
        keep.update(model=model, outputs=outputs, raw=raw)
    return score, scorer.budget


def _int8_meets(int8: bytes, val, references, settings: DoctorSettings, emit) -> bool:
    """Build's automatic doctor: score the int8 variant just converted; True when it needs no doctor."""
    score, b = _score(int8, val, references, settings)
    meets = b.meets(score)
    emit(ProgressEvent("doctor", f"int8 {'meets' if meets else 'misses'} the budget ({b.metric} {score:.4f} "
                                 f"{'≥' if meets else '<'} {b.floor:.4f})" +
                       (": no doctor needed" if meets else ": running the quantization doctor")))
    return meets


def _float_model_of(src, saved_model_dir, produced: dict[str, bytes]) -> Callable[[], bytes]:
    cache: list[bytes] = []

    def float_model() -> bytes:
        if not cache:
            if src.is_tflite:
                cache.append(src.tflite_bytes)
            elif "fp32" in produced:
                cache.append(produced["fp32"])
            else:
                from mobilepack.conversion.converter import convert_saved_model
                from mobilepack.conversion.quantization import ConverterOptions

                cache.append(convert_saved_model(saved_model_dir, "fp32", options=ConverterOptions()))
        return cache[0]

    return float_model


def fallback_outcome(model: bytes, val, references: Sequence[dict[str, Any]],
                     settings: DoctorSettings, keep: dict | None = None) -> DoctorOutcome:
    """The int8 conversion that kept the ops without an integer kernel in float (the plain int8 mode
    refused it), scored on the validation samples: when it meets the budget it is int8-mixed, with no
    search (one LiteRT pass instead of calibrating the quantization debugger)."""
    from mobilepack.model.flatbuffer import float_compute_ops

    t0 = time.perf_counter()
    score, budget = _score(model, val, references, settings, keep)
    floats = float_compute_ops(model)
    cand = Candidate(tuple(floats), len(model), score, budget.meets(score), time.perf_counter() - t0)
    outcome = DoctorOutcome(model if cand.meets else None, "found" if cand.meets else "not-found", "", [], budget,
                            cand, [cand], chosen=cand, settings=settings, seconds=cand.seconds,
                            method="float-fallback", quantizer="TFLiteConverter (int8, float fallback)")
    outcome.summary = (f"int8-mixed is int8 with only the ops that have no integer kernel in float "
                       f"({', '.join(floats) or 'none'}): {budget.metric} {score:.4f} "
                       f"{'≥' if cand.meets else '<'} {budget.floor:.4f}, {len(model)} bytes")
    return outcome


def _larger_than_float(outcome: DoctorOutcome, float_model: Callable[[], bytes]) -> str | None:
    """Why the found int8-mixed model cannot ship: it is not smaller than fp32 (None when it is)."""
    if outcome.model is None:
        return None
    from mobilepack.model.flatbuffer import float_compute_ops

    fp32 = len(float_model())
    if len(outcome.model) < fp32:
        return None
    floats = ", ".join(float_compute_ops(outcome.model)) or "none"
    return (f"int8-mixed is not smaller than fp32 ({len(outcome.model)} ≥ {fp32} bytes; ops in float: {floats}): "
            "its quantize/dequantize pairs cost more than int8 saves, so it is not added (fp32 or fp16 ships)")


def _reject_larger(outcome: DoctorOutcome, float_model: Callable[[], bytes]) -> DoctorOutcome:
    why = _larger_than_float(outcome, float_model)
    if why is not None:
        outcome.model, outcome.status, outcome.summary = None, "not-smaller", why
    return outcome


def _data_record(val) -> dict[str, Any]:
    return {"source": val.source, "kind": val.kind, "labelled": val.labels is not None}


def _fallback_variant(model: bytes, val, references, settings, float_model, emit, warn, extra) -> bytes | None:
    """int8 with only the kernel-less ops in float, when it meets the budget and is smaller than fp32."""
    outcome = _reject_larger(fallback_outcome(model, val, references, settings, extra.setdefault("scored", {})),
                             float_model)
    if outcome.status == "not-smaller":
        warn(outcome.summary)
    if outcome.model is None:
        return None
    extra["doctor"] = {**outcome.to_dict(), "data": _data_record(val)}
    emit(ProgressEvent("doctor", outcome.summary))
    return outcome.model


def _model_hints(task: str, produced: dict[str, bytes], keypoints_layout: str | None = None,
                 scored: Sequence[str] = ()) -> dict:
    """What the task's evaluator reads from a model beyond its outputs (the input size keypoints are
    scaled by), from any variant produced; {} when there is none or the task needs nothing.  The variants
    have no metadata yet, so a keypoints layout the build was given (``--keypoints-layout``, its indices
    in the converted model's output order, as the metadata and the apps count them) is read here and
    pointed at the same tensors in ``scored``, the outputs the doctor's scorer decodes."""
    from mobilepack.evaluate.tasks import get as evaluator_of

    hints_of = evaluator_of(task).model_hints
    if hints_of is None or not produced:
        return {}
    model = next(iter(produced.values()))
    hints = dict(hints_of(model))
    if keypoints_layout and not hints.get("keypoints"):
        from mobilepack.metadata.keypoints import resolve, written_outputs

        outputs = written_outputs(model)
        layout = resolve(task, keypoints_layout, outputs)
        names = [t.name for t in outputs]
        scored = list(scored) or names
        hints["keypoints"] = {**layout, "output": scored.index(names[layout["output"]]),
                              "presence": scored.index(names[layout["presence"]]) if layout["presence"] >= 0 else -1}
    return hints


def doctor_variant(saved_model_dir: str | None, src, plan, representative, val, references, emit, warn,
                   extra: dict, cal_batches=(), produced: dict[str, bytes] | None = None,
                   task: str = "generic") -> bytes | None:
    """Run the doctor; record it in ``extra["doctor"]`` and return the int8-mixed model (None when int8
    already meets the budget, no set was found, or — build's automatic doctor — it could not run)."""
    from mobilepack.conversion.tflite_quantization import LiteRTQuantizer
    from mobilepack.conversion.tf_debugger import DebuggerQuantizer

    produced = dict(produced or {})
    settings = DoctorSettings(max_accuracy_drop=plan.max_accuracy_drop, seconds=plan.doctor_seconds, task=task,
                              hints=_model_hints(task, produced, plan.keypoints_layout,
                                                 list(references[0]) if references else ()))
    float_model = _float_model_of(src, saved_model_dir, produced)
    if plan.doctor == AUTO and "int8" in produced and _int8_meets(produced["int8"], val, references, settings, emit):
        return None
    fallback_model = extra.pop("int8_float_fallback", None)
    if plan.doctor == AUTO and "int8" not in produced and fallback_model is not None:
        found = _fallback_variant(fallback_model, val, references, settings, float_model, emit, warn, extra)
        if found is not None:
            return found
    emit(ProgressEvent("doctor", "diagnosing int8 per layer (quantization doctor)"))
    fallback: list[str] = []

    def make():
        if src.is_tflite:
            return LiteRTQuantizer(src.tflite_bytes, cal_batches, list(val.batches))
        try:
            return DebuggerQuantizer(saved_model_dir, "serving_default", representative,
                                     [t.name for t in src.spec.inputs])
        except ConversionError as exc:  # e.g. no op the debugger can verify: quantize the fp32 .tflite instead
            fallback.append(exc.message)
            emit(ProgressEvent("doctor", f"{exc.message}; using AI Edge Quantizer on the fp32 conversion"))
            return LiteRTQuantizer(float_model(), cal_batches, list(val.batches))

    try:
        outcome = run_doctor(make, validation_batches=list(val.batches), references=references,
                             labels=val.labels, settings=settings,
                             on_step=lambda text: emit(ProgressEvent("doctor", text)),
                             int8_missing="int8" in plan.modes and "int8" not in produced)
    except ConversionError as exc:
        if plan.doctor != AUTO:
            raise
        warn(f"the quantization doctor could not run: {exc.message}")   # build goes on without int8-mixed
        return None
    outcome = _reject_larger(outcome, float_model)
    record = {**outcome.to_dict(), "data": _data_record(val)}
    if val.labels is not None and outcome.budget.metric != "accuracy":
        warn(f"the doctor did not use the validation labels: a {task} model is judged by {outcome.budget.metric} "
             f"≥ {outcome.budget.floor:g}, as the selection judges it (pass --task image_classification for a "
             "classifier's top-1 accuracy)")
    if fallback:
        record["fallback"] = fallback[0]
    record["other_variants"] = diagnose_variants(produced, float_model, list(val.batches))
    extra["doctor"] = record
    if outcome.model is None:
        (emit(ProgressEvent("doctor", outcome.summary)) if outcome.status == "int8-meets-budget"
         else warn(outcome.summary))
        return None
    emit(ProgressEvent("doctor", outcome.summary))
    return outcome.model
