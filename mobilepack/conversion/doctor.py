"""The quantization doctor: which layers break int8, and the smallest set of ops to keep in float.

1. **Diagnose** full int8 per layer (:mod:`mobilepack.conversion.layer_errors`): TensorFlow's
   ``QuantizationDebugger`` calibrates once and reports, for every quantized op, the error it
   adds (RMSE / scale), ranked worst first.
2. **Judge** a candidate on the validation samples, in the real LiteRT runtime, by the task's
   metric — the one the build's selection uses (:class:`Scorer`): with labels, a classifier's
   top-1 accuracy may drop at most ``max_accuracy_drop`` below the source model's; without
   labels, its agreement with the source (top-1 agreement, mask IoU, box agreement, cosine
   similarity) must reach the task's threshold.  A candidate with NaN/Inf outputs, or one
   LiteRT cannot run, is a miss and the search goes on.
3. **Search** (bounded by ``seconds``): keep the k worst layers in float
   (``QuantizationDebugOptions(denylisted_nodes=...)``, re-quantizing the one calibrated model,
   no recalibration), k = 1, 2, 4, ... until the budget is met, then the smallest k by bisection,
   then a pruning pass that returns every op to int8 whose removal still meets the budget.  Each
   op left in float is recorded with what it costs: bytes, latency and the score it buys.

The result ships as the variant ``int8-mixed`` (float I/O; int8 everywhere but the listed ops),
unless it is not smaller than fp32 (``doctor_stage``: status ``not-smaller``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mobilepack.conversion.doctor_budget import Budget, Scorer  # noqa: F401 - re-exported
from mobilepack.conversion.layer_errors import LayerError

DEFAULT_SECONDS = 120.0
LATENCY_RUNS = 50


@dataclass(frozen=True)
class DoctorSettings:
    max_accuracy_drop: float = 0.01
    seconds: float = DEFAULT_SECONDS
    task: str = "generic"      # whose metric the budget is (evaluate.tasks), as the selection's
    hints: dict = field(default_factory=dict)   # the evaluator's model hints (input size, decode layout)

    def to_dict(self) -> dict[str, Any]:
        return {"max_accuracy_drop": self.max_accuracy_drop, "seconds": self.seconds, "task": self.task}


@dataclass(frozen=True)
class Candidate:
    float_ops: tuple[str, ...]      # tensor (node) names kept in float
    bytes: int
    score: float
    meets: bool
    seconds: float
    failure: str = ""               # why it scored 0: NaN/Inf outputs, or LiteRT could not run it

    def to_dict(self) -> dict[str, Any]:
        out = {"float_ops": list(self.float_ops), "bytes": self.bytes, "score": round(self.score, 6),
               "meets": self.meets, "seconds": round(self.seconds, 4)}
        return {**out, "failure": self.failure} if self.failure else out


@dataclass
class DoctorOutcome:
    model: bytes | None              # the int8-mixed .tflite, or None (int8 meets the budget / not found)
    status: str                      # "int8-meets-budget" | "found" | "not-found" | "timeout" | "not-smaller"
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
            "latency_us": {k: (round(v, 2) if v is not None else None) for k, v in self.latency_us.items()},
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


def release_memory() -> None:
    """Return freed memory to the OS: a candidate model and its interpreter are hundreds of MB for a
    transformer, and glibc keeps freed arenas mapped unless asked (RSS would grow per candidate)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


class _Search:
    """The candidates tried by one doctor run (cached by float set), against one budget.

    Memory stays bounded: every candidate's score is kept, but model bytes only for the last
    ``KEEP_MODELS`` candidates (one is rebuilt if asked for again), and each candidate's interpreter
    is freed before the next."""

    KEEP_MODELS = 2

    def __init__(self, quant, scorer: Scorer, validation_batches: Sequence[dict[str, Any]], deadline: float,
                 clock: Callable[[], float] = time.perf_counter):
        self.quant, self.scorer, self.batches, self.deadline = quant, scorer, validation_batches, deadline
        self.clock = clock
        self.step = 0.0                                  # the longest candidate so far, seconds
        self.lat_step = 0.0                              # the longest latency measurement so far
        self.budget = scorer.budget
        self.cache: dict[frozenset, Candidate] = {}
        self.models: dict[frozenset, bytes] = {}      # the last KEEP_MODELS candidates' bytes, oldest first
        self.trail: list[Candidate] = []
        self.order = [layer.tensor for layer in quant.layers]   # worst first

    def late(self, cost: float | None = None) -> bool:
        """Whether work costing ``cost`` seconds (default: the longest candidate so far) would end past
        the deadline: the limit holds because nothing is started that would overrun it."""
        return self.clock() + (self.step if cost is None else cost) > self.deadline

    def _keep(self, key: frozenset, data: bytes) -> None:
        self.models.pop(key, None)
        self.models[key] = data
        while len(self.models) > self.KEEP_MODELS:
            self.models.pop(next(iter(self.models)))

    def evaluate(self, ops: Sequence[str]) -> tuple[Candidate, bytes]:
        from mobilepack.errors import RuntimeFailure
        from mobilepack.model.tfimport import silenced
        from mobilepack.runtime.interpreter import SignatureSession

        key = frozenset(ops)
        if key in self.cache and key in self.models:
            return self.cache[key], self.models[key]
        if key in self.cache:                          # scored before, bytes dropped: rebuild them
            data = self.quant.model(ops)
            self._keep(key, data)
            return self.cache[key], data
        t0 = self.clock()
        data = self.quant.model(ops)
        failure = ""
        try:
            with silenced():
                session = SignatureSession(data)
                outputs = [session.run(b) for b in self.batches]
            del session
            score = self.scorer.score(outputs)
            if self.scorer.non_finite(outputs):
                failure = "NaN or Inf outputs"
            del outputs
        except RuntimeFailure as exc:     # a miss: the search goes on with the next candidate
            score, failure = 0.0, f"does not run in LiteRT: {exc.message}"[:200]
        release_memory()
        cand = Candidate(tuple(ops), len(data), score, self.budget.meets(score) and not failure,
                         self.clock() - t0, failure)
        self.step = max(self.step, cand.seconds)
        self.cache[key] = cand
        self._keep(key, data)
        self.trail.append(cand)
        return cand, data

    def grow(self, note) -> tuple[int | None, int, bool]:
        """k = 1, 2, 4, ... worst layers in float until the budget is met: (k that meets or None,
        the largest k that missed, timed out)."""
        last_miss, k = 0, 1
        while self.order:
            k = min(k, len(self.order))
            if self.late():
                return None, last_miss, True
            cand, _ = self.evaluate(self.order[:k])
            note(f"{k} op(s) in float: {self.budget.metric} {cand.score:.4f}"
                 + (f" (a miss: {cand.failure})" if cand.failure else ""))
            if cand.meets:
                return k, last_miss, False
            last_miss = k
            if k == len(self.order):
                break
            k *= 2
        return None, last_miss, False

    def shrink(self, lo: int, hi: int) -> list[str]:
        """Bisect the smallest prefix that meets (``lo`` misses, ``hi`` meets), then return each op to
        int8 whose removal still meets the budget (least harmful first)."""
        while hi - lo > 1 and not self.late():
            mid = (lo + hi) // 2
            if self.evaluate(self.order[:mid])[0].meets:
                hi = mid
            else:
                lo = mid
        chosen = list(self.order[:hi])
        for op in reversed(list(chosen)):
            if len(chosen) == 1 or self.late():
                break
            trial = [o for o in chosen if o != op]
            if self.evaluate(trial)[0].meets:
                chosen = trial
        return chosen

    def _latency(self, data: bytes, sample: dict[str, Any]) -> float | None:
        """``latency_us`` when it fits the time left (estimated by the last measurement, at first by the
        longest candidate), else None."""
        if self.late(self.lat_step if self.lat_step else self.step):
            return None
        t0 = self.clock()
        value = latency_us(data, sample)
        self.lat_step = max(self.lat_step, self.clock() - t0)
        return value

    def costs(self, chosen: list[str], sample: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, float]]:
        """What each float op costs: the variant with it minus the variant without it.  Within the
        time limit only: an op whose cost was not measured in time has ``None`` for bytes, latency
        and score gain."""
        final, data = self.evaluate(chosen)
        by_tensor = {layer.tensor: layer for layer in self.quant.layers}
        lat_final = self._latency(data, sample)
        out = []
        for op in chosen:
            layer = by_tensor[op]
            row = {"tensor": op, "op": layer.op, "rank": layer.rank,
                   "rmse_over_scale": layer.to_dict()["rmse_over_scale"], "bytes": None, "latency_us": None,
                   "score_gain": None}
            if lat_final is not None and not self.late(self.step + self.lat_step):
                without, without_data = self.evaluate([o for o in chosen if o != op])
                lat_without = self._latency(without_data, sample)
                row.update(bytes=final.bytes - without.bytes, score_gain=round(final.score - without.score, 6),
                           latency_us=round(lat_final - lat_without, 2) if lat_without is not None else None)
            out.append(row)
        lat_int8 = None
        if lat_final is not None and not self.late(self.step + self.lat_step):
            lat_int8 = self._latency(self.evaluate(())[1], sample)
        return out, {"int8": lat_int8, "int8-mixed": lat_final}


def run_doctor(make_quantizer: Callable[[], Any], *, validation_batches: Sequence[dict[str, Any]],
               references: Sequence[dict[str, Any]], labels: Sequence[int] | None, settings: DoctorSettings,
               on_step: Callable[[str], None] | None = None, int8_missing: bool = False,
               clock: Callable[[], float] = time.perf_counter) -> DoctorOutcome:
    """Diagnose int8 per layer, then search the smallest float set that meets the budget.

    ``int8_missing``: the plain int8 variant could not be produced (ops without an integer kernel);
    if the quantizer's int8 — those ops in float, every other op integer — meets the budget, it is
    the int8-mixed variant.

    ``make_quantizer()`` calibrates once and returns an object with ``layers`` (ranked
    :class:`LayerError`), ``model(float_ops) -> bytes``, ``method`` and ``name``.

    The time limit (``settings.seconds``, diagnosis included) holds: no candidate, and no latency
    measurement, is started that would end past it by the longest one so far (``clock``: the time)."""
    note = on_step or (lambda _text: None)
    t_start = clock()
    quant = make_quantizer()
    search = _Search(quant, Scorer(references, labels, settings.max_accuracy_drop, settings.task, settings.hints),
                     validation_batches, t_start + settings.seconds, clock)
    budget = search.budget
    int8, _ = search.evaluate(())
    outcome = DoctorOutcome(None, "", "", quant.layers, budget, int8, search.trail, settings=settings,
                            diagnosis_seconds=clock() - t_start, method=quant.method,
                            quantizer=quant.name)

    def done(status: str, summary: str) -> DoctorOutcome:
        outcome.status, outcome.summary, outcome.seconds = status, summary, clock() - t_start
        return outcome

    if int8.meets and int8_missing:
        from mobilepack.model.flatbuffer import float_compute_ops

        outcome.chosen, outcome.model = search.evaluate(())
        floats = ", ".join(float_compute_ops(outcome.model)) or "none"
        return done("found", f"int8-mixed is int8 with only the ops that have no integer kernel in float "
                             f"({floats}): {budget.metric} {int8.score:.4f} ≥ {budget.floor:.4f}, "
                             f"{int8.bytes} bytes")
    if int8.meets:
        return done("int8-meets-budget", f"int8 meets the budget ({budget.metric} {int8.score:.4f} ≥ "
                                         f"{budget.floor:.4f}); nothing to keep in float")
    if quant.layers:
        worst = quant.layers[0]
        note(f"int8 {budget.metric} {int8.score:.4f} < {budget.floor:.4f}; worst layer {worst.op} "
             f"(RMSE/scale {worst.rmse_over_scale:.2f})")
    found, last_miss, timed_out = search.grow(note)
    if found is None:
        return done("timeout" if timed_out else "not-found",
                    f"int8-mixed: no float set met the budget within {settings.seconds:g} s (--doctor-seconds)"
                    if timed_out else
                    f"int8-mixed: even with all {len(search.order)} quantized ops in float, {budget.metric} "
                    f"misses {budget.floor:.4f}: the loss is in the input/output quantization")
    chosen = search.shrink(last_miss, found)
    final, outcome.model = search.evaluate(chosen)
    outcome.chosen = final
    outcome.float_ops, outcome.latency_us = search.costs(chosen, validation_batches[0])
    return done("found", f"int8-mixed keeps {len(chosen)} of {len(search.order)} quantized op(s) in float: "
                         f"{budget.metric} {final.score:.4f} (int8 {int8.score:.4f}, floor {budget.floor:.4f}), "
                         f"{final.bytes} bytes")
