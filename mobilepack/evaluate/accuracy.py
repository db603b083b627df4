"""Every variant under every host delegate, judged by its task's evaluator.

Each (variant, delegate) runs in a fresh child process (``runtime.child``) through the
same delegate sessions the benchmark uses, so a crash or a refused delegate is a
recorded failure and the other cells go on.  The child reduces the outputs to the
predictions its task's evaluator reads (``evaluate.tasks``: class scores, boxes, a
class mask, flat outputs) and saves them; the parent computes the metrics.  With
labels: the task's labelled metric per cell (top-1 accuracy, mAP@0.5, mIoU); always:
agreement with the reference (fp32 on the reference CPU kernels; for a single
pass-through ``.tflite``, the source itself), by the task's agreement metric.
Without labels only the reference kernels run — or, with ``cross_check=N`` (what ``build`` asks),
the reference (fp32) on every sample of the reference kernels, every variant on every sample of
XNNPACK (the kernels a CPU app runs), and the other variants on the reference kernels on a seeded
subset of N samples, a cross-check that shows where those kernels depart (issue 26).  Each cell
says how many samples it ran; the matrix's warnings say which subset."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mobilepack.evaluate.cells import Cell
from mobilepack.progress import ProgressCallback, ProgressEvent, or_ignore

REFERENCE = ("fp32", "cpu")
NOT_APPLICABLE = "not applicable"
SOFTWARE_GPU_SAMPLES = 16   # a software GPU (SwiftShader) evaluates this many samples, seeded (numerics only)
SOFTWARE_GPU_SEED = 0


def software_subset(count: int, size: int = SOFTWARE_GPU_SAMPLES, seed: int = SOFTWARE_GPU_SEED) -> list[int] | None:
    """The sorted, seeded sample indices a software GPU evaluates (None: all of them)."""
    import numpy as np

    if count <= size:
        return None
    return sorted(int(i) for i in np.random.default_rng(seed).choice(count, size, replace=False))


@dataclass(frozen=True)
class AccuracyMatrix:
    labelled: bool
    data: str
    samples: int
    cells: tuple[Cell, ...]
    warnings: tuple[str, ...] = field(default=())
    task: str = "image_classification"
    metric: str | None = "top-1 accuracy"            # name of ``Cell.accuracy``
    agreement_metric: str = "top-1 agreement"        # name of ``Cell.agreement``
    agreement_key: str = "top1_agreement"
    agreement_threshold: float = 0.99
    agreement_rule: str = "fallback"                 # how agreement selects without labels (evaluate.tasks)
    reference: str | None = "fp32"                   # the mode agreement is measured against
    agreement_note: str | None = None                # why agreement is not applicable, or what it is against
    disagreements: tuple[dict[str, Any], ...] = ()   # delegates of one variant that score differently (labelled)

    def cell(self, mode: str, delegate: str) -> Cell | None:
        return next((c for c in self.cells if c.mode == mode and c.delegate == delegate), None)

    def to_dict(self) -> dict[str, Any]:
        return {"labelled": self.labelled, "data": self.data, "samples": self.samples,
                "cells": [c.to_dict() for c in self.cells], "warnings": list(self.warnings), "task": self.task,
                "metric": self.metric, "agreement_metric": self.agreement_metric,
                "agreement_key": self.agreement_key, "agreement_threshold": self.agreement_threshold,
                "agreement_rule": self.agreement_rule, "reference": self.reference, "agreement_note": self.agreement_note,
                "disagreements": list(self.disagreements)}


def predict_in_child(request: dict) -> dict:
    """Child process: run every sample under one delegate and save the task's predictions
    (``evaluate.tasks``: ``reduce``) to ``request["out"]`` (.npz)."""
    import numpy as np

    from mobilepack.evaluate.outputs import reduce_runs, signature_view
    from mobilepack.evaluate.tasks import LayoutError, get as get_evaluator
    from mobilepack.runtime.delegates import open_session

    try:
        session = open_session(request["delegate"], request["model"], request["threads"])
    except Exception as exc:  # the delegate refused the model: a failed cell, not a crash
        return {"ok": False, "error": (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300],
                "adapter": None}
    evaluator = get_evaluator(request["task"], source=request.get("task_source"))   # a plug-in task registers here
    ins, outs = signature_view(session, request["model"])
    with np.load(request["data"]) as z:
        stored = {k[len("in::"):]: z[k] for k in z.files}
    order = list(stored)
    # feed by name (signature or naming rule); positional only when the stored data has other names
    arrays = [stored[n] if n in stored else stored[order[i]] for i, (n, _) in enumerate(ins)]

    def runs():
        for n in range(len(arrays[0])):
            yield _run_one(session, ins, arrays, n)

    try:
        predictions = reduce_runs(evaluator, request.get("hints") or {}, outs, runs())
    except LayoutError as exc:
        return {"ok": False, "error": f"cannot evaluate as {evaluator.task}: {exc}"[:300]}
    np.savez(request["out"], **predictions)
    return {"ok": True, "samples": int(len(next(iter(predictions.values()), []))),
            "fully_delegated": session.fully_delegated}


def _run_one(session, ins, arrays, n: int) -> list:
    """Sample ``n`` through ``session``: its outputs in the session's order."""
    import numpy as np

    feeds = []
    for info, arr, (_, (scale, zp)) in zip(session.inputs, arrays, ins):
        x = arr[n]
        dtype = np.dtype(info["dtype"])
        if np.issubdtype(dtype, np.integer) and scale and np.issubdtype(x.dtype, np.floating):
            # real values for a quantized input; integer samples (a quantized source) go in as they are
            ii = np.iinfo(dtype)
            x = np.clip(np.rint(x.astype(np.float64) / scale + zp), ii.min, ii.max)
        feeds.append(np.ascontiguousarray(x.astype(dtype)).reshape(info["shape"]))
    session.feed(feeds)
    return session.run()


def _reference(variants) -> tuple[tuple[str, str] | None, str | None]:
    """(the (mode, delegate) agreement is measured against, a note when it is not fp32)."""
    modes = [m for m, _ in variants]
    if "fp32" in modes:
        return REFERENCE, None
    if len(variants) == 1:  # a pass-through .tflite: no float model to compare with
        return (modes[0], "cpu"), (f"no fp32 variant: agreement is measured against the source itself "
                                   f"({modes[0]} on the reference CPU kernels)")
    return None, f"{NOT_APPLICABLE}: no fp32 variant to compare with"


def _software_subset(samples, names, tmp: Path, setups: dict, warnings: list[str]):
    """(sample rows, their .npz) the delegates on a software adapter (the GPU on SwiftShader) evaluate,
    or (None, None) when every delegate evaluates them all."""
    import numpy as np

    soft = [(name, s.adapter) for name, s in setups.items() if s.software and not s.unavailable]
    if not soft:
        return None, None
    per_batch = samples.count // max(1, len(samples.batches))
    chosen = software_subset(len(samples.batches), max(1, SOFTWARE_GPU_SAMPLES // per_batch))
    if chosen is None:
        return None, None
    subset = [b * per_batch + k for b in chosen for k in range(per_batch)]
    path = tmp / "subset.npz"
    np.savez(path, **{f"in::{n}": np.stack([samples.batches[i][n] for i in chosen]) for n in names})
    who = " and ".join(f"{name} runs on a software adapter" + (f" ({adapter})" if adapter else "")
                       for name, adapter in soft)
    warnings.append(f"{who}: evaluated on a seeded subset of "
                    f"{len(subset)} of {samples.count} samples (a numerics check, not used for selection)")
    return subset, path


def _cross_subset(samples, names, tmp: Path, size: int, warnings: list[str]):
    """(sample rows, their .npz) of the reference kernels' cross-check, or (None, None) when there
    are no more than ``size`` samples (then every variant runs them all)."""
    import numpy as np

    per_batch = samples.count // max(1, len(samples.batches))
    chosen = software_subset(len(samples.batches), max(1, size // max(1, per_batch)))
    if chosen is None:
        return None, None
    rows = [b * per_batch + k for b in chosen for k in range(per_batch)]
    path = tmp / "cross.npz"
    np.savez(path, **{f"in::{n}": np.stack([samples.batches[i][n] for i in chosen]) for n in names})
    warnings.append(f"without labels, every variant is evaluated on all {samples.count} samples on xnnpack; on the "
                    f"reference CPU kernels (cpu) the reference runs all {samples.count} and the other variants a "
                    f"seeded subset of {len(rows)} (a cross-check of those kernels)")
    return rows, path


def _sample_files(samples, tmp: Path, setups: dict, warnings: list[str], cross_check, cross_modes: set) -> dict:
    """The .npz files the children read: every sample, the software GPU's subset, and the reference
    kernels' cross-check subset for ``cross_modes`` (empty: no cross-check)."""
    import numpy as np

    names = list(samples.batches[0])
    data_path = tmp / "data.npz"
    arrays = {f"in::{n}": np.stack([b[n] for b in samples.batches]) for n in names}
    np.savez(data_path, **arrays)
    subset, subset_path = _software_subset(samples, names, tmp, setups, warnings)
    rows, rows_path = _cross_subset(samples, names, tmp, cross_check, warnings) if cross_modes else (None, None)
    return {"all": data_path, "arrays": arrays, "subset": subset, "subset_path": subset_path, "cross": rows, "cross_path": rows_path,
            "cross_modes": cross_modes}


def _scored(cells, predictions, picked, evaluator, truth, labelled: bool, ref_pred) -> list[Cell]:
    final = []
    for c in cells:
        if c.status != "ok":
            final.append(c)
            continue
        pred = predictions[(c.mode, c.delegate)]
        rows = picked.get((c.mode, c.delegate))
        acc = evaluator.score(pred, _take(truth, rows)) if labelled else None
        ref = None if ref_pred is None else {k: _take(v, rows) for k, v in ref_pred.items()}
        metrics = evaluator.agreement(pred, ref) if ref is not None else {}
        final.append(replace(c, accuracy=acc, agreement=metrics.get(evaluator.agreement_key), metrics=metrics))
    return final


def evaluate(variants: list[tuple[str, Path]], samples, *, task: str | None = None, truth=None,
             labels: tuple[str, ...] = (), delegates: list[str] = ("cpu", "xnnpack", "gpu"), threads: int = 2,
             timeout: float = 300.0, progress: ProgressCallback | None = None,
             cross_check: int | None = None, reuse: dict | None = None, workers: int | None = None) -> AccuracyMatrix:
    """``variants``: (mode, .tflite path).  ``samples``: a ``data.readers.Samples``.  ``task`` picks the
    evaluator (default image_classification).  ``truth``: the labels in the evaluator's form (class
    indices, per-image boxes, masks); for classification, folder/.npz labels of ``samples`` are used
    when it is None.  ``cross_check``: without labels, and with xnnpack among ``delegates``, the
    variants other than the reference run on the reference kernels on this many seeded samples only
    (and on xnnpack on all of them).  ``reuse``: mode -> its validation's outputs
    (``conversion.validation.ValidationOutputs``), which its cells use instead of a child run where
    they are exactly what that child would compute, without labels (``evaluate.reuse``).  ``workers``:
    children at once (default ``runtime.pool.child_workers()``)."""
    from mobilepack.evaluate.cells import run_cells
    from mobilepack.evaluate.reuse import reuse_note, reused_prediction
    from mobilepack.evaluate.tasks import get as get_evaluator
    from mobilepack.runtime.delegates import get as get_delegate
    from mobilepack.tasks import get as get_task

    emit = or_ignore(progress)
    evaluator = get_evaluator(task or "image_classification")
    warnings: list[str] = []
    if truth is None and evaluator.truth_of_samples is not None:
        truth, warnings = evaluator.truth_of_samples(samples, labels)
    labelled = truth is not None and evaluator.score is not None
    cross = not labelled and bool(cross_check) and "xnnpack" in delegates and len(variants) > 1
    if not labelled:   # agreement only: the reference kernels (and xnnpack for a cross-checked matrix)
        delegates = ["cpu", "xnnpack"] if cross else ["cpu"]
    setups = {d: get_delegate(d).behaviour.child_setup() for d in dict.fromkeys(delegates)}   # e.g. the GPU's Vulkan
    reference, note = _reference(variants)
    cells: list[Cell] = []
    predictions: dict[tuple[str, str], dict[str, Any]] = {}
    picked: dict[tuple[str, str], list[int] | None] = {}
    request = {"threads": threads, "task": evaluator.task, "task_source": get_task(evaluator.task).source,
               "hints": {"labels": list(labels)}}
    if evaluator.model_hints is not None and variants:
        request["hints"].update(evaluator.model_hints(Path(variants[0][1]).read_bytes()))
    with tempfile.TemporaryDirectory(prefix="mobilepack-eval-") as tmp:
        cross_modes = {m for m, _ in variants if reference is None or (m, "cpu") != reference} if cross else set()
        data = _sample_files(samples, Path(tmp), setups, warnings, cross_check, cross_modes)
        jobs = [(m, p, d) for m, p in variants for d in delegates]
        results = run_cells(jobs, Path(tmp), data, setups, request, timeout, emit, workers, reuse=None if labelled
                             else lambda i, m, p, d, out: reused_prediction(m, d, (reuse or {}).get(m), p, threads,
                                                                            samples, evaluator, request["hints"], out))
        for (mode, path, dname), (cell, prediction, rows) in zip(jobs, results):
            cells.append(cell)
            if cell.status == "ok" or rows is not None:
                picked[(mode, dname)] = rows
            if prediction is not None:
                predictions[(mode, dname)] = prediction
        emit(ProgressEvent("evaluate", "done", len(jobs), len(jobs)))
    warnings.extend(reuse_note(cells, samples.count, threads))
    ref_pred = predictions.get(reference) if reference else None
    if reference and ref_pred is None:
        note = f"{NOT_APPLICABLE}: the {reference[0]} variant did not run on the reference CPU kernels"
        warnings.append(f"the {reference[0]} variant did not run on the reference CPU kernels: agreement is "
                        f"{NOT_APPLICABLE}")
    split = tuple(_disagreements(cells, predictions, picked, evaluator, truth)) if labelled else ()
    return AccuracyMatrix(labelled, samples.source, samples.count,
                          tuple(_scored(cells, predictions, picked, evaluator, truth, labelled, ref_pred)),
                          tuple(warnings), task=evaluator.task, metric=evaluator.labelled_metric,
                          agreement_metric=evaluator.agreement_metric, agreement_key=evaluator.agreement_key,
                          agreement_threshold=evaluator.agreement_threshold,
                          agreement_rule=evaluator.agreement_rule, reference=reference[0] if reference else None, agreement_note=note,
                          disagreements=split)


def _take(values, rows):
    """``values`` (an array or a per-sample list) restricted to the sample indices ``rows`` (None: all)."""
    if rows is None:
        return values
    import numpy as np

    if isinstance(values, np.ndarray):
        return values[rows]
    return [values[i] for i in rows]


def _disagreements(cells, predictions, picked, evaluator, truth):
    """Each pair of delegates of one variant whose labelled metric differs on the samples both ran:
    both scores there and the sample on which their predictions differ most (the delegate doctor's
    input, ``pipeline.delegate_check``)."""
    from mobilepack.runtime.departure import distance

    ran = [c for c in cells if (c.mode, c.delegate) in predictions]
    for i, a in enumerate(ran):
        for b in (b for b in ran[i + 1:] if b.mode == a.mode):
            ra, rb = picked.get((a.mode, a.delegate)), picked.get((b.mode, b.delegate))
            rows = ra if ra is not None else rb          # a software GPU's subset, else every sample
            pa, pb = (_on(predictions[(c.mode, c.delegate)], own, rows) for c, own in ((a, ra), (b, rb)))
            sa, sb = evaluator.score(pa, _take(truth, rows)), evaluator.score(pb, _take(truth, rows))
            if sa is None or sb is None or sa == sb:
                continue
            count = len(next(iter(pa.values())))
            far = [max(distance(pa[k][j], pb[k][j]) for k in pa) for j in range(count)]
            worst = max(range(count), key=lambda j: far[j])
            yield {"mode": a.mode, "delegates": [a.delegate, b.delegate],
                   "scores": {a.delegate: float(sa), b.delegate: float(sb)}, "samples": count,
                   "sample": int(rows[worst]) if rows is not None else worst}


def _on(prediction: dict, own_rows, rows) -> dict:
    """``prediction`` (made on ``own_rows``; None: every sample) on ``rows``."""
    if rows is None or own_rows is not None:
        return prediction
    return {k: _take(v, rows) for k, v in prediction.items()}
