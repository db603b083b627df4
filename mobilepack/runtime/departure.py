"""The delegate doctor: the first op at which one delegate's output departs from the others.

Delegates can disagree on a model's outputs (a GPU that computes an op at reduced precision, or
LiteRT's reference CPU kernels computing a large FULLY_CONNECTED wrongly).  Comparing final outputs
cannot say who is wrong, nor where.  The doctor runs the same inputs on every delegate and compares
op by op:

* where intermediate tensors are readable (the reference CPU kernels, opened with
  ``experimental_preserve_all_tensors``), every op's outputs come from one run;
* where they are not (XNNPACK and the GPU replace the graph with their own kernels), op ``k``'s outputs
  come from a sub-model cut at op ``k`` (:func:`mobilepack.model.submodel.cut_at`), and the first
  departing op is found by bisection over ``k``, then walked back along the op's inputs until every
  input agrees (so a departure on one branch is never blamed on a later op of another).

At an op, two delegates agree when their largest difference is within ``tolerance`` of the op's
value range (non-finite values where the other has finite ones never agree); one delegate
*departs* when it disagrees with every other while those agree among themselves.  Every run is a
child process (:mod:`mobilepack.runtime.child`) with the delegate's own environment, one per core."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from mobilepack.model.submodel import OpInfo, cut_at, op_table, producers

TOLERANCE = 0.05        # largest difference / the op's value range
ABS_FLOOR = 1e-6        # value ranges below this count as this (noise around zero never departs)
READABLE_OPENERS = frozenset({"reference"})   # delegates whose intermediate tensors can be read
_DTYPES = {"FLOAT32": "float32", "FLOAT16": "float16", "FLOAT64": "float64", "INT8": "int8", "UINT8": "uint8",
           "INT16": "int16", "INT32": "int32", "INT64": "int64", "BOOL": "bool"}


@dataclass(frozen=True)
class Departure:
    op: OpInfo
    delegate: str | None            # the delegate that departs (None: no majority says which)
    label: str                      # how the reports name it ("the reference CPU kernels (cpu)")
    agreeing: tuple[str, ...]       # the delegates it departs from, which agree among themselves
    max_abs_diff: float             # inf: non-finite values where the others have finite ones
    magnitude: float                # the largest |value| of the others at that op
    relative: float

    def message(self) -> str:
        shapes = " + ".join(_shape(s) for s in self.op.input_shapes[:1]) + " → " + \
            ", ".join(_shape(s) for s in self.op.output_shapes)
        where = f"op {self.op.index} {self.op.type} ({shapes})"
        diff = ("non-finite values" if self.max_abs_diff == float("inf")
                else f"differences up to {self.max_abs_diff:.4g} on values up to {self.magnitude:.4g}")
        if self.delegate is None:
            return f"{' and '.join(self.agreeing)} disagree first at {where}: {diff}"
        agree = " and ".join(self.agreeing)
        return f"{self.label} departs at {where}: {diff} ({agree} agree{'s' if len(self.agreeing) == 1 else ''})"

    def to_dict(self) -> dict:
        return {"op": self.op.to_dict(), "delegate": self.delegate, "label": self.label,
                "agreeing": list(self.agreeing), "max_abs_diff": _num(self.max_abs_diff),
                "magnitude": _num(self.magnitude), "relative": _num(self.relative), "message": self.message()}


@dataclass(frozen=True)
class Diagnosis:
    model: str
    delegates: tuple[str, ...]       # those that ran
    tolerance: float
    departure: Departure | None
    outputs_agree: bool              # within tolerance at every model output
    probes: int                      # ops compared
    seconds: float
    method: str
    skipped: dict[str, str] = field(default_factory=dict)   # delegate -> why it took no part
    complete: bool = True            # False: the search stopped at its time budget

    def message(self) -> str:
        if not self.complete:
            stop = f"the search stopped at its time budget, after {self.seconds:.1f} s"
            return (f"{self.departure.message()} ({stop}: the first departing op is this one or an earlier one)"
                    if self.departure is not None else f"{stop} before any op was found to depart")
        if self.departure is not None:
            return self.departure.message()
        if len(self.delegates) < 2:
            return "fewer than two delegates ran: nothing to compare"
        return (f"{', '.join(self.delegates)} agree at every output within {self.tolerance:.0%}"
                if self.outputs_agree else "the outputs differ, but no single op departs beyond the tolerance")

    def to_dict(self) -> dict:
        return {"model": self.model, "delegates": list(self.delegates), "tolerance": self.tolerance,
                "departure": self.departure.to_dict() if self.departure else None,
                "outputs_agree": self.outputs_agree, "probes": self.probes, "seconds": round(self.seconds, 3),
                "method": self.method, "skipped": dict(self.skipped), "complete": self.complete,
                "message": self.message()}


def _num(x: float):
    return None if x != x or x in (float("inf"), float("-inf")) else float(x)


def _shape(s) -> str:
    return "[" + ",".join(str(d) for d in s) + "]"


# -- inside the child process ------------------------------------------------------------------

def _load_feeds(path: str) -> dict[int, object]:
    import numpy as np

    with np.load(path) as z:
        return {int(k): z[k] for k in z.files}


def tensors_in_child(request: dict) -> dict:
    """The reference kernels with every tensor kept: the outputs of every op, one run."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        it = Interpreter(model_path=request["model"], experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        it.allocate_tensors()
        for index, value in _load_feeds(request["feeds"]).items():
            it.set_tensor(index, value)
        it.invoke()
        np.savez(request["out"], **{str(t): it.get_tensor(t) for t in request["tensors"]})
    except Exception as exc:  # LiteRT raises ValueError/RuntimeError with its reason
        return {"ok": False, "error": str(exc)}
    return {"ok": True}


def outputs_in_child(request: dict) -> dict:
    """One (sub-)model on one delegate: its outputs, in the subgraph's output order."""
    import numpy as np

    from mobilepack.runtime.delegates import open_session

    try:
        session = open_session(request["delegate"], request["model"], 1)
        feeds = _load_feeds(request["feeds"])
        names = request["signature_inputs"]
        session.feed([feeds[int(d["index"]) if "index" in d else names[d["name"]]] for d in session.inputs])
        outs = session.run()
        shapes = request["shapes"]
        np.savez(request["out"], **{str(j): np.asarray(o).reshape(shapes[j]) if np.size(o) == np.prod(shapes[j])
                                    else np.asarray(o) for j, o in enumerate(outs)})
    except Exception as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True}


# -- comparing ---------------------------------------------------------------------------------

def distance(a, b) -> float:
    """The largest difference of ``a`` and ``b`` over their value range (inf: shapes or non-finite differ)."""
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size != b.size:
        return float("inf")
    a, b = a.ravel(), b.ravel()
    fa, fb = np.isfinite(a), np.isfinite(b)
    if not np.array_equal(fa, fb) or not np.array_equal(a[~fa], b[~fb]):
        return float("inf")
    if not fa.any():
        return 0.0
    diff = float(np.max(np.abs(a[fa] - b[fb])))
    scale = max(float(np.max(np.abs(a[fa]))), float(np.max(np.abs(b[fb]))), ABS_FLOOR)
    return diff / scale


def _dequantize(arrays, op: OpInfo) -> list:
    import numpy as np

    def one(value, q):
        value = np.asarray(value)
        scaled = q is not None and q[0] and np.issubdtype(value.dtype, np.integer)
        return (value.astype(np.float64) - q[1]) * q[0] if scaled else value.astype(np.float64)

    return [one(v, q) for v, q in zip(arrays, op.output_quantization)]


def verdict(op: OpInfo, values: dict[str, list], tolerance: float, labels: dict[str, str]) -> Departure | None:
    """Who departs at ``op`` given each delegate's outputs there (None: they all agree)."""
    import numpy as np

    names = list(values)
    far = {(x, y): max((distance(a, b) for a, b in zip(values[x], values[y])), default=0.0)
           for i, x in enumerate(names) for y in names[i + 1:]}
    if all(d <= tolerance for d in far.values()):
        return None
    pair = lambda x, y: far.get((x, y), far.get((y, x), 0.0))  # noqa: E731
    culprit = None
    for d in names:
        rest = [o for o in names if o != d]
        if (len(rest) >= 2 and all(pair(d, o) > tolerance for o in rest)
                and all(pair(x, y) <= tolerance for i, x in enumerate(rest) for y in rest[i + 1:])):
            culprit = d
    rest = [o for o in names if o != culprit] if culprit else names
    mine = values[culprit] if culprit else values[names[0]]
    theirs = values[rest[0]] if culprit else values[names[1]]
    diff = magnitude = 0.0
    for a, b in zip(mine, theirs):
        a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
        if a.size != b.size or not np.array_equal(np.isfinite(a), np.isfinite(b)):
            diff = float("inf")
        finite = np.isfinite(a) & np.isfinite(b) if a.size == b.size else np.isfinite(b)
        if a.size == b.size and finite.any():
            diff = max(diff, float(np.max(np.abs(a[finite] - b[finite]))))
        if np.isfinite(b).any():
            magnitude = max(magnitude, float(np.max(np.abs(b[np.isfinite(b)]))))
    return Departure(op, culprit, labels.get(culprit, culprit) if culprit else "", tuple(rest), diff, magnitude,
                     diff / max(magnitude, ABS_FLOOR))


# -- the search (parent process) ----------------------------------------------------------------

class _OutOfTime(Exception):
    """The doctor's time budget is spent."""


class _Runs:
    """Op ``k``'s outputs per delegate, each read once: from the kept tensors, or a sub-model's run."""

    def __init__(self, data: bytes, ops: list[OpInfo], delegates: list, setups: dict, feeds: dict, tmp: Path,
                 timeout: float, deadline: float = float("inf")) -> None:
        import numpy as np

        from mobilepack.model.flatbuffer import parse_model

        self.data, self.ops, self.delegates, self.setups, self.tmp, self.timeout = \
            data, ops, delegates, setups, tmp, timeout
        self.feeds = str(tmp / "feeds.npz")
        np.savez(self.feeds, **{str(k): v for k, v in feeds.items()})
        model = parse_model(data)
        sig = model.signatures[0] if model.signatures else None
        self.signature_inputs = {n: t for n, t in sig.inputs} if sig else {}
        self.kept: dict[str, dict[int, object]] = {}
        self.cache: dict[int, dict[str, list]] = {}
        self.failed: dict[str, str] = {}
        self.deadline = deadline
        self.earliest: int | None = None     # the first op found to depart so far

    def _child(self, target: str, request: dict, delegate) -> dict | None:
        import numpy as np

        from mobilepack.runtime.child import run_in_child

        setup = self.setups[delegate.name]
        request = {**request, "feeds": self.feeds, "out": str(self.tmp / f"out-{delegate.name}.npz")}
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _OutOfTime
        outcome = run_in_child(f"mobilepack.runtime.departure:{target}", request, timeout=min(self.timeout, left),
                               env=setup.env, forkable=setup.forkable)
        answer = outcome.answer
        if answer is None and time.monotonic() >= self.deadline:
            raise _OutOfTime
        if answer is None or not answer["ok"]:
            reason = outcome.failure() or delegate.behaviour.classify_failure(answer["error"], outcome.log).message
            self.failed.setdefault(delegate.name, reason)
            return None
        with np.load(request["out"]) as z:
            return {k: z[k] for k in z.files}

    def _kept(self, delegate) -> dict | None:
        if delegate.name not in self.kept:
            tensors = sorted({t for op in self.ops for t in op.outputs})
            got = self._child("tensors_in_child", {"model": str(self.tmp / "model.tflite"), "tensors": tensors},
                              delegate)
            self.kept[delegate.name] = {int(k): v for k, v in got.items()} if got is not None else None
        return self.kept[delegate.name]

    def at(self, k: int) -> dict[str, list]:
        if k in self.cache:
            return self.cache[k]
        from mobilepack.runtime.pool import child_workers, run_concurrently

        op = self.ops[k]
        path = self.tmp / f"op{k}.tflite"
        if any(d.opener not in READABLE_OPENERS for d in self.delegates) and not path.exists():
            path.write_bytes(cut_at(self.data, k))

        def raw_of(d):   # one child per delegate, each writing its own file: the first op's run them side by side
            if d.opener in READABLE_OPENERS:
                kept = self._kept(d)
                return [kept[t] for t in op.outputs] if kept is not None else None
            got = self._child("outputs_in_child", {"model": str(path), "delegate": d.to_dict(),
                                                   "signature_inputs": self.signature_inputs,
                                                   "shapes": [list(s) for s in op.output_shapes]}, d)
            return [got[str(j)] for j in range(len(got))] if got is not None else None

        found = run_concurrently(raw_of, list(self.delegates), child_workers())
        values = {d.name: _dequantize(raw, op) for d, raw in zip(self.delegates, found) if raw is not None}
        self.cache[k] = values
        return values


def default_feeds(data: bytes) -> dict[int, object]:
    """The bench's input pattern (:mod:`mobilepack.bench.definition`) for every input of subgraph 0."""
    from mobilepack.bench.definition import pattern_array
    from mobilepack.model.flatbuffer import parse_model

    sg = parse_model(data).subgraphs[0]
    return {t: pattern_array(sg.tensors[t].shape, _DTYPES.get(sg.tensors[t].type, "float32")) for t in sg.inputs}


def feeds_from_batch(data: bytes, batch: dict) -> dict[int, object]:
    """The first sample of ``batch`` (float values by input name, or in input order), quantized for
    each input of subgraph 0."""
    import numpy as np

    from mobilepack.model.flatbuffer import parse_model

    model = parse_model(data)
    sg = model.subgraphs[0]
    by_name = {n: t for n, t in model.signatures[0].inputs} if model.signatures else {}
    values = list(batch.values())
    feeds = {}
    for i, t in enumerate(sg.inputs):
        name = next((n for n, idx in by_name.items() if idx == t and n in batch), sg.tensors[t].name)
        x = np.asarray(batch.get(name, values[i] if i < len(values) else None))[:1]
        tensor = sg.tensors[t]
        dtype = np.dtype(_DTYPES.get(tensor.type, "float32"))
        q = tensor.quantization
        if np.issubdtype(dtype, np.integer) and q and q.scale and q.scale[0] and np.issubdtype(x.dtype, np.floating):
            info = np.iinfo(dtype)
            x = np.clip(np.rint(x / q.scale[0] + (q.zero_point[0] if q.zero_point else 0)), info.min, info.max)
        feeds[t] = x.reshape(tensor.shape).astype(dtype)
    return feeds


def diagnose(model_path, delegates: list, *, feeds: dict | None = None, tolerance: float = TOLERANCE,
             timeout: float = 120.0, budget: float | None = None, progress=None) -> Diagnosis:
    """Compare ``delegates`` (registry :class:`~mobilepack.runtime.delegates.Delegate`\\ s) op by op on
    ``model_path`` with ``feeds`` (tensor index -> array; default: the bench's input pattern).
    ``timeout``: the longest run of one delegate; ``budget``: the longest whole search (seconds; at
    its end the search stops and names the first op found to depart so far, ``complete`` False)."""
    start = time.perf_counter()
    data = Path(model_path).read_bytes()
    ops = op_table(data)
    setups = {d.name: d.behaviour.child_setup() for d in delegates}
    skipped = {d.name: setups[d.name].unavailable for d in delegates if setups[d.name].unavailable}
    present = [d for d in delegates if d.name not in skipped]
    labels = {d.name: f"{d.name} ({d.label})" if d.label else d.name for d in present}
    method = " and ".join(filter(None, (
        "per-op comparison of the tensors kept on " + ", ".join(d.name for d in present if d.opener in READABLE_OPENERS)
        if any(d.opener in READABLE_OPENERS for d in present) else "",
        "bisection over sub-models cut at op k on " + ", ".join(d.name for d in present
                                                                if d.opener not in READABLE_OPENERS)
        if any(d.opener not in READABLE_OPENERS for d in present) else "")))
    with tempfile.TemporaryDirectory(prefix="mobilepack-doctor-") as tmp:
        (Path(tmp) / "model.tflite").write_bytes(data)
        runs = _Runs(data, ops, present, setups, feeds if feeds is not None else default_feeds(data), Path(tmp),
                     timeout, time.monotonic() + budget if budget is not None else float("inf"))
        complete = True
        try:
            departure, agree = _search(runs, ops, tolerance, labels, progress)
        except _OutOfTime:   # the first op found to depart so far (a later op's inputs may depart earlier)
            complete, agree = False, False
            departure = (verdict(ops[runs.earliest], runs.cache[runs.earliest], tolerance, labels)
                         if runs.earliest is not None else None)
    ran = tuple(d.name for d in present if any(d.name in v for v in runs.cache.values()))
    skipped.update({d: why for d, why in runs.failed.items() if d not in ran})
    return Diagnosis(str(model_path), ran, tolerance, departure, agree, len(runs.cache),
                     time.perf_counter() - start, method, skipped, complete)


def _search(runs: _Runs, ops: list[OpInfo], tolerance: float, labels: dict, progress) -> tuple:
    """(the first departure, whether the model's outputs agree): bisection, then a walk back along inputs."""
    from mobilepack.model.flatbuffer import parse_model

    def departs(k: int) -> Departure | None:
        if progress and k not in runs.cache:
            progress(f"comparing op {k} {ops[k].type}")
        values = runs.at(k)
        found = verdict(ops[k], values, tolerance, labels) if len(values) >= 2 else None
        if found is not None and (runs.earliest is None or k < runs.earliest):
            runs.earliest = k
        return found

    writer = producers(ops)
    outputs = parse_model(runs.data).subgraphs[0].outputs
    hi = next((k for k in sorted({writer[t] for t in outputs if t in writer}, reverse=True) if departs(k)), None)
    if hi is None:
        return None, True
    lo = -1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if departs(mid):
            hi = mid
        else:
            lo = mid
    moved = True
    while moved:   # an input that already departs was written by an earlier op on another branch
        moved = False
        for t in ops[hi].inputs:
            if t in writer and departs(writer[t]):
                hi, moved = writer[t], True
                break
    return departs(hi), False
