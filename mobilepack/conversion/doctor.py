"""The quantization doctor: which layers break int8, and the smallest set of ops to keep in float.

1. **Diagnose** full int8 per layer (:mod:`mobilepack.conversion.layer_errors`): TensorFlow's
   ``QuantizationDebugger`` calibrates once and reports, for every quantized op, the error it
   adds (RMSE / scale), ranked worst first.
2. **Judge** a candidate against the accuracy budget on the validation samples, in the real
   LiteRT runtime: with labels, its top-1 accuracy may drop at most ``max_accuracy_drop``
   below the source model's; without labels, its top-1 agreement with the source (cosine
   similarity when no output looks like class scores) must reach ``1 - max_accuracy_drop``.
3. **Search** (bounded by ``seconds``): keep the k worst layers in float
   (``QuantizationDebugOptions(denylisted_nodes=...)``, re-quantizing the one calibrated model,
   no recalibration), k = 1, 2, 4, ... until the budget is met, then the smallest k by bisection,
   then a pruning pass that returns every op to int8 whose removal still meets the budget.  Each
   op left in float is recorded with what it costs: bytes, latency and the score it buys.

The result ships as the variant ``int8-mixed`` (float I/O; int8 everywhere but the listed ops).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mobilepack.conversion.layer_errors import LayerError, compare_tensors, from_debugger_csv
from mobilepack.errors import ConversionError

DEFAULT_SECONDS = 120.0
LATENCY_RUNS = 50


@dataclass(frozen=True)
class DoctorSettings:
    max_accuracy_drop: float = 0.01
    seconds: float = DEFAULT_SECONDS

    def to_dict(self) -> dict[str, Any]:
        return {"max_accuracy_drop": self.max_accuracy_drop, "seconds": self.seconds}


@dataclass(frozen=True)
class Budget:
    """What a candidate must reach on the validation samples."""

    metric: str            # "accuracy" | "top-1 agreement" | "cosine similarity"
    reference: float       # the source model's accuracy (labelled), else 1.0 (perfect agreement)
    max_drop: float
    samples: int

    @property
    def floor(self) -> float:
        return self.reference - self.max_drop

    def meets(self, score: float) -> bool:
        return score + 1e-12 >= self.floor

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "reference": round(self.reference, 6), "max_drop": self.max_drop,
                "floor": round(self.floor, 6), "samples": self.samples}


class Scorer:
    """Scores a model's outputs on the validation batches by the budget's metric."""

    def __init__(self, references: Sequence[dict[str, Any]], labels: Sequence[int] | None, max_drop: float) -> None:
        import numpy as np

        from mobilepack.conversion.validation import looks_like_class_scores

        self.references = list(references)
        first = self.references[0]
        self.class_output = next((k for k in sorted(first) if looks_like_class_scores(np.asarray(first[k]).shape)),
                                 None)
        self.labels = np.asarray(labels) if labels is not None and self.class_output else None
        count = sum(int(np.asarray(next(iter(r.values()))).shape[0]) for r in self.references)
        if self.labels is not None and len(self.labels) != count:
            self.labels = None
        if self.labels is not None:
            self.budget = Budget("accuracy", self._accuracy(self.references), max_drop, count)
        elif self.class_output:
            self.budget = Budget("top-1 agreement", 1.0, max_drop, count)
        else:
            self.budget = Budget("cosine similarity", 1.0, max_drop, count)

    def _accuracy(self, outputs) -> float:
        import numpy as np

        pred = np.concatenate([np.asarray(o[self.class_output]).argmax(axis=-1) for o in outputs])
        return float((pred == self.labels).mean())

    def score(self, outputs: Sequence[dict[str, Any]]) -> float:
        from mobilepack.conversion.quantization import Tolerance
        from mobilepack.conversion.validation import compare

        if self.budget.metric == "accuracy":
            return self._accuracy(outputs)
        result = compare(self.references, list(outputs), label="int8-mixed", tolerance=Tolerance(0.0, 0.0))
        if self.budget.metric == "top-1 agreement":
            return float(result.top1_agreement)
        return float(result.cosine_similarity)


@dataclass(frozen=True)
class Candidate:
    float_ops: tuple[str, ...]      # tensor (node) names kept in float
    bytes: int
    score: float
    meets: bool
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"float_ops": list(self.float_ops), "bytes": self.bytes, "score": round(self.score, 6),
                "meets": self.meets, "seconds": round(self.seconds, 4)}


@dataclass
class DoctorOutcome:
    model: bytes | None              # the int8-mixed .tflite, or None (int8 meets the budget / not found)
    status: str                      # "int8-meets-budget" | "found" | "not-found" | "timeout"
    summary: str
    layers: list[LayerError]
    budget: Budget
    int8: Candidate
    trail: list[Candidate] = field(default_factory=list)
    float_ops: list[dict[str, Any]] = field(default_factory=list)
    chosen: Candidate | None = None
    seconds: float = 0.0
    diagnosis_seconds: float = 0.0
    settings: DoctorSettings = field(default_factory=DoctorSettings)
    latency_us: dict[str, float] = field(default_factory=dict)
    method: str = "numeric-verify"
    quantizer: str = "TensorFlow QuantizationDebugger"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status, "summary": self.summary, "settings": self.settings.to_dict(),
            "budget": self.budget.to_dict(), "diagnosed": "int8", "method": self.method,
            "quantizer": self.quantizer,
            "layers": [layer.to_dict() for layer in self.layers],
            "int8": self.int8.to_dict(),
            "mixed": self.chosen.to_dict() if self.chosen and self.model is not None else None,
            "float_ops": self.float_ops,
            "latency_us": {k: round(v, 2) for k, v in self.latency_us.items()},
            "search": {"candidates": [c.to_dict() for c in self.trail], "seconds": round(self.seconds, 3),
                       "diagnosis_seconds": round(self.diagnosis_seconds, 3)},
        }


def latency_us(model: bytes, batch: dict[str, Any], runs: int = LATENCY_RUNS) -> float:
    """Median µs of one iteration (copy inputs in, invoke, copy outputs out) on LiteRT's default
    CPU path, one thread, after 5 warm-up runs: the figure the doctor charges each float op with."""
    import numpy as np

    from mobilepack.runtime.interpreter import _interpreter

    it = _interpreter(model, num_threads=1)
    ins = it.get_input_details()
    values = list(batch.values())
    prepared = []
    for i, d in enumerate(ins):
        x = np.asarray(batch.get(d["name"], values[i]))
        scale, zp = d["quantization"]
        dtype = np.dtype(d["dtype"])
        if np.issubdtype(dtype, np.integer) and scale:
            info = np.iinfo(dtype)
            x = np.clip(np.rint(x / scale + zp), info.min, info.max)
        prepared.append((d["index"], np.ascontiguousarray(x.astype(dtype))))
    outs = [d["index"] for d in it.get_output_details()]

    def once() -> None:
        for index, x in prepared:
            it.set_tensor(index, x)
        it.invoke()
        for index in outs:
            it.get_tensor(index)

    for _ in range(5):
        once()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        once()
        times.append(time.perf_counter_ns() - t0)
    return float(np.median(times)) / 1000.0


class DebuggerQuantizer:
    """One calibrated model, re-quantized with a denylist per candidate (TF's debugger)."""

    method = "numeric-verify"
    name = "TensorFlow QuantizationDebugger"

    def __init__(self, saved_model_dir: str, signature_key: str, representative: Callable, input_names: list[str]):
        from mobilepack.model.tfimport import silenced, tensorflow

        tf = tensorflow()
        self.tf = tf
        with silenced():
            try:
                conv = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[signature_key])
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
                conv.representative_dataset = representative

                def debug_dataset():
                    for feeds in representative():
                        yield [feeds[n] for n in self.order]

                self.order = input_names
                self.debugger = tf.lite.experimental.QuantizationDebugger(converter=conv,
                                                                          debug_dataset=debug_dataset)
                details = self.debugger._quant_interpreter.get_input_details()  # noqa: SLF001 - its input order
                self.order = [_match_input(d["name"], input_names) for d in details]
                self.debugger.run()
            except ConversionError:
                raise
            except Exception as exc:  # the converter's and the debugger's own errors
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ConversionError(f"int8-mixed: the quantization debugger failed: {first[:300]}",
                                      "rerun with --verbose to see the converter's log, or drop --doctor") from exc
        buf = io.StringIO()
        self.debugger.layer_statistics_dump(buf)
        self.layers = from_debugger_csv(buf.getvalue())

    def model(self, float_ops: Sequence[str]) -> bytes:
        from mobilepack.model.tfimport import silenced

        # get_nondebug_quantized_model() re-quantizes the calibrated model with the current options; set
        # them without the public setter, which would also rebuild (and re-check) the debug model
        self.debugger._debug_options = self.tf.lite.experimental.QuantizationDebugOptions(  # noqa: SLF001
            denylisted_nodes=list(float_ops) or None)
        try:
            with silenced():
                return self.debugger.get_nondebug_quantized_model()
        except Exception as exc:  # the MLIR quantizer's own errors
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise ConversionError(f"int8-mixed: re-quantizing with {len(float_ops)} float op(s) failed: {first}",
                                  "drop --doctor, or report this model") from exc


def _match_input(detail_name: str, names: list[str]) -> str:
    """``serving_default_pixels:0`` -> ``pixels``."""
    base = detail_name.split(":")[0]
    for n in sorted(names, key=len, reverse=True):
        if base == n or base.endswith("_" + n) or base.endswith(n):
            return n
    raise ConversionError(f"int8-mixed: cannot match the debug model's input {detail_name!r} to {names}",
                          "report this model to the mobilepack developers")


def run_doctor(make_quantizer: Callable[[], Any], *, validation_batches: Sequence[dict[str, Any]],
               references: Sequence[dict[str, Any]], labels: Sequence[int] | None, settings: DoctorSettings,
               on_step: Callable[[str], None] | None = None) -> DoctorOutcome:
    """Diagnose int8 per layer, then search the smallest float set that meets the budget.

    ``make_quantizer()`` calibrates once and returns an object with ``layers`` (ranked
    :class:`LayerError`), ``model(float_ops) -> bytes``, ``method`` and ``name``."""
    from mobilepack.errors import RuntimeFailure
    from mobilepack.model.tfimport import silenced
    from mobilepack.runtime.interpreter import SignatureSession

    note = on_step or (lambda _text: None)
    t_start = time.perf_counter()
    deadline = t_start + settings.seconds
    quant = make_quantizer()
    diagnosis_seconds = time.perf_counter() - t_start
    scorer = Scorer(references, labels, settings.max_accuracy_drop)
    budget = scorer.budget
    cache: dict[frozenset, tuple[Candidate, bytes]] = {}
    trail: list[Candidate] = []

    def evaluate(ops: Sequence[str]) -> tuple[Candidate, bytes]:
        key = frozenset(ops)
        if key in cache:
            return cache[key]
        t0 = time.perf_counter()
        data = quant.model(ops)
        try:
            with silenced():
                session = SignatureSession(data)
                outputs = [session.run(b) for b in validation_batches]
        except RuntimeFailure as exc:
            raise ConversionError(f"int8-mixed: a candidate does not run in LiteRT: {exc.message}",
                                  "drop --doctor and report this model") from exc
        score = scorer.score(outputs)
        cand = Candidate(tuple(ops), len(data), score, budget.meets(score), time.perf_counter() - t0)
        cache[key] = (cand, data)
        trail.append(cand)
        return cand, data

    order = [layer.tensor for layer in quant.layers]   # worst first
    int8, int8_bytes = evaluate(())
    outcome = DoctorOutcome(None, "", "", quant.layers, budget, int8, trail, settings=settings,
                            diagnosis_seconds=diagnosis_seconds, method=quant.method, quantizer=quant.name)
    worst = quant.layers[0] if quant.layers else None
    if int8.meets:
        outcome.status = "int8-meets-budget"
        outcome.summary = (f"int8 meets the budget ({budget.metric} {int8.score:.4f} ≥ {budget.floor:.4f}); "
                           f"nothing to keep in float")
        outcome.seconds = time.perf_counter() - t_start
        return outcome
    note(f"int8 {budget.metric} {int8.score:.4f} < {budget.floor:.4f}; worst layer "
         f"{worst.op if worst else '?'} (RMSE/scale {worst.rmse_over_scale:.2f})" if worst else "")

    # -- grow: k = 1, 2, 4, ... worst layers in float, until the budget is met ----------------
    found: int | None = None
    last_miss = 0
    k = 1
    timed_out = False
    while order:
        k = min(k, len(order))
        if time.perf_counter() > deadline:
            timed_out = True
            break
        cand, _ = evaluate(order[:k])
        note(f"{k} op(s) in float: {budget.metric} {cand.score:.4f}")
        if cand.meets:
            found = k
            break
        last_miss = k
        if k == len(order):
            break
        k *= 2
    if found is None:
        outcome.status = "timeout" if timed_out else "not-found"
        outcome.summary = (f"int8-mixed: no float set met the budget within {settings.seconds:g} s "
                           f"(--doctor-seconds)" if timed_out else
                           f"int8-mixed: even with all {len(order)} quantized ops in float, {budget.metric} "
                           f"misses {budget.floor:.4f}: the loss is in the input/output quantization")
        outcome.seconds = time.perf_counter() - t_start
        return outcome
    # -- bisect the smallest prefix ------------------------------------------------------------
    lo, hi = last_miss, found          # lo misses (0 = int8), hi meets
    while hi - lo > 1 and time.perf_counter() < deadline:
        mid = (lo + hi) // 2
        cand, _ = evaluate(order[:mid])
        if cand.meets:
            hi = mid
        else:
            lo = mid
    chosen = list(order[:hi])
    # -- prune: return each op to int8 if the budget still holds (least harmful first) ---------
    for op in reversed(list(chosen)):
        if len(chosen) == 1 or time.perf_counter() > deadline:
            break
        trial = [o for o in chosen if o != op]
        cand, _ = evaluate(trial)
        if cand.meets:
            chosen = trial
    final, data = evaluate(chosen)
    # -- what each float op costs: the model with it minus the model without it ---------------
    by_tensor = {layer.tensor: layer for layer in quant.layers}
    sample = validation_batches[0]
    lat_final = latency_us(data, sample)
    lat = {"int8": latency_us(int8_bytes, sample), "int8-mixed": lat_final}
    costs = []
    for op in chosen:
        without, without_data = evaluate([o for o in chosen if o != op])
        layer = by_tensor[op]
        costs.append({"tensor": op, "op": layer.op, "rank": layer.rank,
                      "rmse_over_scale": layer.to_dict()["rmse_over_scale"],
                      "bytes": final.bytes - without.bytes,
                      "latency_us": round(lat_final - latency_us(without_data, sample), 2),
                      "score_gain": round(final.score - without.score, 6)})
    outcome.model = data
    outcome.chosen = final
    outcome.float_ops = costs
    outcome.latency_us = lat
    outcome.status = "found"
    outcome.summary = (f"int8-mixed keeps {len(chosen)} of {len(order)} quantized op(s) in float: "
                       f"{budget.metric} {final.score:.4f} (int8 {int8.score:.4f}, floor {budget.floor:.4f}), "
                       f"{final.bytes} bytes")
    outcome.seconds = time.perf_counter() - t_start
    return outcome


AUTO = "auto"


def plan_doctor(modes: tuple, *, doctor: bool | str, seconds: float, max_accuracy_drop: float,
                source_is_tflite: bool, calibration: str | None = None) -> tuple[tuple, bool | str]:
    """Validate the doctor's options up front; ``--doctor`` adds the ``int8-mixed`` mode (last),
    and asking for ``int8-mixed`` in ``--quantize`` turns the doctor on.

    ``doctor="auto"`` (``build`` when ``[convert] doctor`` is unset): the doctor runs only where
    int8 is converted with real calibration data (not ``random``), and searches only when the
    int8 variant misses the budget (see :func:`doctor_variant`)."""
    from mobilepack.conversion.quantization import QuantMode
    from mobilepack.errors import UsageError

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


def diagnose_variants(produced: dict[str, bytes], float_model: Callable[[], bytes],
                      batches: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-layer error of every other integer variant (int16x8; the doctor's own int8 is diagnosed by
    its quantizer), by LiteRT's tensor comparison with the float model."""
    from mobilepack.conversion.quantization import QuantMode, get

    out = {}
    for mode, data in produced.items():
        if mode in (QuantMode.INT8.value, QuantMode.INT8_MIXED.value) or not get(mode).integer:
            continue
        layers = compare_tensors(float_model(), data, list(batches)[:32])
        out[mode] = {"method": "tensor-compare", "layers": [layer.to_dict() for layer in layers]}
    return out


def doctor_variant(saved_model_dir: str | None, src, plan, representative, val, references, emit, warn,
                   extra: dict, cal_batches=(), produced: dict[str, bytes] | None = None) -> bytes | None:
    """The pipeline's hook: run the doctor on the exported SavedModel; record it in ``extra["doctor"]``
    and return the int8-mixed model (None when int8 already meets the budget or no set was found)."""
    from mobilepack.progress import ProgressEvent

    settings = DoctorSettings(max_accuracy_drop=plan.max_accuracy_drop, seconds=plan.doctor_seconds)
    if plan.doctor == AUTO and produced and "int8" in produced:
        # build's automatic doctor: only when the int8 variant just converted misses the budget
        scorer = Scorer(references, val.labels, settings.max_accuracy_drop)
        from mobilepack.model.tfimport import silenced
        from mobilepack.runtime.interpreter import SignatureSession

        with silenced():
            session = SignatureSession(produced["int8"])
            score = scorer.score([session.run(b) for b in val.batches])
        if scorer.budget.meets(score):
            emit(ProgressEvent("doctor", f"int8 meets the budget ({scorer.budget.metric} {score:.4f} ≥ "
                                         f"{scorer.budget.floor:.4f}): no doctor needed"))
            return None
        emit(ProgressEvent("doctor", f"int8 misses the budget ({scorer.budget.metric} {score:.4f} < "
                                     f"{scorer.budget.floor:.4f}): running the quantization doctor"))
    emit(ProgressEvent("doctor", "diagnosing int8 per layer (quantization doctor)"))
    float_cache: list[bytes] = []

    def float_model() -> bytes:
        if not float_cache:
            if src.is_tflite:
                float_cache.append(src.tflite_bytes)
            elif produced and "fp32" in produced:
                float_cache.append(produced["fp32"])
            else:
                from mobilepack.conversion.converter import convert_saved_model
                from mobilepack.conversion.quantization import ConverterOptions, QuantMode

                float_cache.append(convert_saved_model(saved_model_dir, QuantMode.FP32, options=ConverterOptions()))
        return float_cache[0]

    from mobilepack.conversion.tflite_quantization import LiteRTQuantizer

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
                             on_step=lambda text: emit(ProgressEvent("doctor", text)))
    except ConversionError as exc:
        if plan.doctor != AUTO:
            raise
        warn(f"the quantization doctor could not run: {exc.message}")   # build goes on without int8-mixed
        return None
    record = outcome.to_dict()
    record["data"] = {"source": val.source, "kind": val.kind, "labelled": val.labels is not None}
    if fallback:
        record["fallback"] = fallback[0]
    record["other_variants"] = diagnose_variants(dict(produced or {}), float_model, list(val.batches))
    extra["doctor"] = record
    if outcome.model is None:
        if outcome.status == "int8-meets-budget":
            emit(ProgressEvent("doctor", outcome.summary))
        else:
            warn(outcome.summary)
        return None
    emit(ProgressEvent("doctor", outcome.summary))
    return outcome.model
