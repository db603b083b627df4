"""Accuracy of every variant under every host delegate, and agreement with the float model.

Each (variant, delegate) runs in a fresh child process (``runtime.child``) through the
same delegate sessions the benchmark uses, so a crash or a refused delegate is a
recorded failure and the other cells go on.  With labels: accuracy per cell; without:
top-1 agreement with the fp32 variant on the reference CPU kernels only."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobilepack.progress import ProgressCallback, ProgressEvent, or_ignore

REFERENCE = ("fp32", "cpu")
SOFTWARE_GPU_SAMPLES = 16   # a software GPU (SwiftShader) evaluates this many samples, seeded (numerics only)
SOFTWARE_GPU_SEED = 0


def software_subset(count: int, size: int = SOFTWARE_GPU_SAMPLES, seed: int = SOFTWARE_GPU_SEED) -> list[int] | None:
    """The sorted, seeded sample indices a software GPU evaluates (None: all of them)."""
    import numpy as np

    if count <= size:
        return None
    return sorted(int(i) for i in np.random.default_rng(seed).choice(count, size, replace=False))


@dataclass(frozen=True)
class Cell:
    mode: str
    delegate: str
    status: str                       # "ok" | "failed"
    accuracy: float | None = None
    agreement: float | None = None    # top-1 agreement with fp32 on the reference CPU kernels
    samples: int = 0
    error: str | None = None
    software: bool = False            # GPU cell computed on SwiftShader (numerics are real)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "delegate": self.delegate, "status": self.status, "accuracy": self.accuracy,
                "agreement": self.agreement, "samples": self.samples, "error": self.error, "software": self.software}


@dataclass(frozen=True)
class AccuracyMatrix:
    labelled: bool
    data: str
    samples: int
    cells: tuple[Cell, ...]
    warnings: tuple[str, ...] = field(default=())

    def cell(self, mode: str, delegate: str) -> Cell | None:
        return next((c for c in self.cells if c.mode == mode and c.delegate == delegate), None)

    def accuracy_by_mode(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for c in self.cells:
            if c.status == "ok" and c.accuracy is not None:
                out.setdefault(c.mode, {})[c.delegate] = c.accuracy
        return out

    def agreement_of(self, mode: str) -> float | None:
        c = self.cell(mode, "cpu")
        return c.agreement if c else None

    def to_dict(self) -> dict[str, Any]:
        return {"labelled": self.labelled, "data": self.data, "samples": self.samples,
                "cells": [c.to_dict() for c in self.cells], "warnings": list(self.warnings)}


def label_indices(samples, labels: tuple[str, ...]) -> tuple[tuple[int, ...] | None, list[str]]:
    """Map a folder-per-class dataset's class names onto the model's label order."""
    warnings: list[str] = []
    if samples.labels is None:
        return None, warnings
    if samples.class_names is None:  # .npz y: already indices
        return samples.labels, warnings
    from mobilepack.data.readers import class_indices

    names = samples.class_names
    index, how, _ = class_indices(names, labels)
    if how == "sorted":
        warnings.append(f"evaluation folders {list(names)[:4]}... do not match the model's labels; classes were "
                        f"numbered in sorted folder order")
    return tuple(index[i] for i in samples.labels), warnings


def _signature_view(session, model_path: str) -> tuple[list[str], list[tuple[float, int]]]:
    """Per session input: its signature name and (scale, zero point), whatever the session kind."""
    from ai_edge_litert.interpreter import Interpreter

    it = getattr(session, "it", None) or Interpreter(model_path=model_path)
    sigs = it.get_signature_list()
    details = it.get_signature_runner(sorted(sigs)[0] if "serving_default" not in sigs else "serving_default") \
        .get_input_details() if sigs else {}
    by_index = {d["index"]: (name, d) for name, d in details.items()}
    names, quant = [], []
    for i, info in enumerate(session.inputs):
        if "index" in info and info["index"] in by_index:       # interpreter sessions: tensor index
            name, d = by_index[info["index"]]
        elif info.get("name") in details:                       # GPU sessions: signature names
            name, d = info["name"], details[info["name"]]
        else:
            name, d = info.get("name", f"input{i}"), info
        q = d.get("quantization") or (0.0, 0)
        names.append(name)
        quant.append((float(q[0]), int(q[1])))
    return names, quant


def predict_in_child(request: dict) -> dict:
    """Child process: top-1 class of every sample under one delegate."""
    import numpy as np

    from mobilepack.runtime.delegates import open_session

    try:
        session = open_session(request["delegate"], request["model"], request["threads"])
    except Exception as exc:  # the delegate refused the model: a failed cell, not a crash
        return {"ok": False, "error": (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300],
                "adapter": None}
    out_quant = None
    if hasattr(session, "it"):
        d = session.it.get_output_details()[0]
        out_quant = d["quantization"]
    names, quant = _signature_view(session, request["model"])
    with np.load(request["data"]) as z:
        stored = {k[len("in::"):]: z[k] for k in z.files}
    order = list(stored)
    # feed by signature name; positional only when the model has no signature names to match
    arrays = [stored[n] if n in stored else stored[order[i]] for i, n in enumerate(names)]
    preds = []
    for n in range(len(arrays[0])):
        feeds = []
        for info, arr, (scale, zp) in zip(session.inputs, arrays, quant):
            x = arr[n]
            dtype = np.dtype(info["dtype"])
            if np.issubdtype(dtype, np.integer) and scale:
                ii = np.iinfo(dtype)
                x = np.clip(np.rint(x.astype(np.float64) / scale + zp), ii.min, ii.max)
            feeds.append(np.ascontiguousarray(x.astype(dtype)).reshape(info["shape"]))
        session.feed(feeds)
        y = np.asarray(session.run()[0], dtype=np.float64).reshape(len(arrays[0][n]), -1)
        if out_quant and out_quant[0]:
            y = (y - out_quant[1]) * out_quant[0]
        preds.extend(int(v) for v in y.argmax(axis=1))
    return {"ok": True, "predictions": preds, "fully_delegated": session.fully_delegated}


def evaluate(variants: list[tuple[str, Path]], samples, *, labels: tuple[str, ...] = (),
             delegates: list[str] = ("cpu", "xnnpack", "gpu"), threads: int = 2, timeout: float = 300.0,
             progress: ProgressCallback | None = None) -> AccuracyMatrix:
    """``variants``: (mode, .tflite path).  ``samples``: a ``data.readers.Samples``."""
    import numpy as np

    from mobilepack.runtime.child import run_in_child
    from mobilepack.runtime.delegates import get as get_delegate
    from mobilepack.runtime.gpu import discover_vulkan

    emit = or_ignore(progress)
    truth, warnings = label_indices(samples, labels)
    labelled = truth is not None
    names = list(samples.batches[0])
    vulkan = discover_vulkan() if "gpu" in delegates else None
    if not labelled:
        delegates = ["cpu"]  # agreement only: the reference kernels
    cells: list[Cell] = []
    predictions: dict[tuple[str, str], list[int]] = {}
    with tempfile.TemporaryDirectory(prefix="mobilepack-eval-") as tmp:
        data_path = Path(tmp) / "data.npz"
        np.savez(data_path, **{f"in::{n}": np.stack([b[n] for b in samples.batches]) for n in names})
        on_software_gpu = "gpu" in delegates and vulkan is not None and vulkan.software
        per_batch = samples.count // max(1, len(samples.batches))
        chosen = software_subset(len(samples.batches), max(1, SOFTWARE_GPU_SAMPLES // per_batch)) \
            if on_software_gpu else None
        subset = [b * per_batch + k for b in chosen for k in range(per_batch)] if chosen is not None else None
        subset_path = Path(tmp) / "subset.npz"
        if chosen is not None:
            np.savez(subset_path, **{f"in::{n}": np.stack([samples.batches[i][n] for i in chosen]) for n in names})
            warnings.append(f"gpu runs on a software adapter (SwiftShader): evaluated on a seeded subset of "
                            f"{len(subset)} of {samples.count} samples (a numerics check, not used for selection)")
        picked: dict[tuple[str, str], list[int] | None] = {}
        jobs = [(m, p, d) for m, p in variants for d in delegates]
        for i, (mode, path, dname) in enumerate(jobs):
            emit(ProgressEvent("evaluate", f"{mode} · {dname}", i, len(jobs)))
            delegate = get_delegate(dname)
            env: dict[str, str] = {}
            software = False
            if delegate.opener == "gpu":
                if vulkan is None or vulkan.source == "none":
                    cells.append(Cell(mode, dname, "failed", error=vulkan.message if vulkan else "no Vulkan"))
                    continue
                env, software = vulkan.env, vulkan.software
            rows = subset if software else None
            picked[(mode, dname)] = rows
            outcome = run_in_child("mobilepack.evaluate.accuracy:predict_in_child",
                                   {"model": str(path), "delegate": delegate.to_dict(), "threads": threads,
                                    "data": str(subset_path if rows is not None else data_path)},
                                   timeout=timeout, env=env)
            failure = outcome.failure()
            answer = outcome.answer or {}
            if failure or not answer.get("ok"):
                error = failure or answer.get("error")
                if not failure and delegate.opener == "gpu":
                    from mobilepack.runtime.gpu import refusal_message

                    error = f"GPU refused the model: {refusal_message(answer.get('error'), outcome.log)}"
                cells.append(Cell(mode, dname, "failed", error=error, software=software))
                continue
            predictions[(mode, dname)] = answer["predictions"]
            cells.append(Cell(mode, dname, "ok", samples=len(answer["predictions"]), software=software))
        emit(ProgressEvent("evaluate", "done", len(jobs), len(jobs)))
    reference = predictions.get(REFERENCE)
    final = []
    for c in cells:
        if c.status != "ok":
            final.append(c)
            continue
        preds = np.asarray(predictions[(c.mode, c.delegate)])
        rows = picked.get((c.mode, c.delegate))
        want = np.asarray(truth)[rows] if labelled and rows is not None else np.asarray(truth[:len(preds)]) if labelled else None
        acc = float((preds == want).mean()) if labelled else None
        ref = None if reference is None else np.asarray(reference)[rows] if rows is not None else np.asarray(reference)
        agree = float((preds == ref).mean()) if ref is not None else None
        final.append(Cell(c.mode, c.delegate, "ok", acc, agree, c.samples, None, c.software))
    if reference is None:
        warnings.append("the fp32 variant did not run on the reference CPU kernels: agreement is unknown")
    return AccuracyMatrix(labelled, samples.source, samples.count, tuple(final), tuple(warnings))
