"""A cell of the accuracy matrix (``evaluate.accuracy``), and running them: the reused ones from outputs computed
earlier (``evaluate.reuse``), the others each in a child process, up to one per core at a time
(``runtime.pool``).  A cell that runs every sample while the others run subsets (the reference,
fp32 on the reference kernels, beside the cross-check's 8 samples) is the longest: with two workers
it runs as two children, one on the first share of the samples while the other worker runs the
rest of them and the other cells (so both carry about as many samples), and its predictions are the
two shares joined in order — the same arrays, since each sample's outputs depend on that sample only."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobilepack.progress import ProgressEvent

MIN_SPLIT_SAMPLES = 8   # fewer: the second child's start costs what it saves


@dataclass(frozen=True)
class Cell:
    mode: str
    delegate: str
    status: str                       # "ok" | "failed"
    accuracy: float | None = None     # the task's labelled metric (top-1 accuracy, mAP@0.5, mIoU)
    agreement: float | None = None    # the task's agreement metric vs the reference; None: not applicable
    samples: int = 0
    error: str | None = None
    software: bool = False            # GPU cell computed on SwiftShader (numerics are real)
    metrics: dict[str, float] = field(default_factory=dict)   # every agreement number (cosine, max-abs, ...)
    reused: str | None = None         # the outputs came from this earlier run, not a child (evaluate.reuse)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "delegate": self.delegate, "status": self.status, "accuracy": self.accuracy,
                "agreement": self.agreement, "samples": self.samples, "error": self.error, "software": self.software,
                "metrics": dict(self.metrics), **({"reused": self.reused} if self.reused else {})}


def _predict(mode: str, path, dname: str, out_path: Path, data: dict, setup, request: dict, timeout: float,
             part: str | None = None):
    """One (variant, delegate) in a child: (its cell, its predictions or None, the sample rows it ran).
    ``setup``: the delegate's ``behaviour.child_setup()``; ``part``: the .npz of a share of every
    sample (:func:`run_cells`), run instead of all of them."""
    import numpy as np

    from mobilepack.runtime.child import run_in_child
    from mobilepack.runtime.delegates import get as get_delegate

    delegate = get_delegate(dname)
    if setup.unavailable:
        return Cell(mode, dname, "failed", error=setup.unavailable), None, None
    software = setup.software
    rows = _rows(mode, dname, data, setup)
    subset_path = data["subset_path"] if software else data["cross_path"]
    outcome = run_in_child("mobilepack.evaluate.accuracy:predict_in_child",
                           {**request, "model": str(path), "delegate": delegate.to_dict(), "out": str(out_path),
                            "data": str(subset_path if rows is not None else part or data["all"])},
                           timeout=timeout, env=setup.env, forkable=setup.forkable)
    failure = outcome.failure()
    answer = outcome.answer or {}
    if failure or not answer.get("ok"):
        error = failure or delegate.behaviour.cell_error(answer.get("error"), outcome.log)
        return Cell(mode, dname, "failed", error=error, software=software), None, rows
    with np.load(out_path) as z:
        prediction = {k: z[k] for k in z.files}
    return Cell(mode, dname, "ok", samples=answer["samples"], software=software), prediction, rows


def _rows(mode: str, dname: str, data: dict, setup) -> list[int] | None:
    """The sample rows the (variant, delegate) child runs: a software GPU's subset, the reference
    kernels' cross-check subset, or None (every sample)."""
    if setup.software:
        return data["subset"]
    cross = dname == "cpu" and mode in data["cross_modes"] and data["cross"] is not None
    return data["cross"] if cross else None


def _share(mode: str, dname: str, data: dict, setups: dict, count: int) -> int | None:
    """How many samples the (variant, delegate) child runs; None: no child (the delegate is unavailable)."""
    if setups[dname].unavailable:
        return None
    rows = _rows(mode, dname, data, setups[dname])
    return count if rows is None else len(rows)


def _parts(jobs, todo: list[int], data: dict, setups: dict, tmp: Path, workers: int) -> dict[int, list]:
    """job index -> the .npz of each share of the samples, for the one job (if any) that runs every
    sample while the others run subsets: its first share runs alone on one worker while the second
    worker runs the rest of it and every other child, so both carry about as many samples (two
    workers; with one, or a matrix without such a single job, none)."""
    import numpy as np

    if workers != 2 or len(todo) < 2:
        return {}
    arrays = data["arrays"]   # what data["all"] holds
    count = len(next(iter(arrays.values())))
    shares = {i: _share(jobs[i][0], jobs[i][2], data, setups, count) for i in todo}
    whole = [i for i in todo if shares[i] == count]
    if len(whole) != 1 or count < MIN_SPLIT_SAMPLES:
        return {}
    cut = (count + sum(n for i, n in shares.items() if i != whole[0] and n)) // 2
    if cut >= count:
        return {}
    paths = []
    for k, (a, b) in enumerate(((0, cut), (cut, count))):
        paths.append(tmp / f"part-{k}.npz")
        np.savez(paths[-1], **{name: v[a:b] for name, v in arrays.items()})
    return {whole[0]: paths}


def _joined(results: list):
    """One cell from the cells of its shares: the first failure, or the predictions joined in order."""
    import numpy as np
    from dataclasses import replace

    failed = [r for r in results if r[0].status != "ok"]
    if failed:
        return failed[0]
    cell = replace(results[0][0], samples=sum(r[0].samples for r in results))
    return cell, {k: np.concatenate([r[1][k] for r in results]) for k in results[0][1]}, None


def run_cells(jobs, tmp: Path, data: dict, setups: dict, request: dict, timeout: float, emit, workers: int | None,
              reuse=None) -> list:
    """(cell, predictions or None, sample rows) per (mode, path, delegate) of ``jobs``, in their order:
    the reused ones (``reuse(i, mode, path, delegate, out)``: (samples, predictions) or None) at once,
    the others in children, up to ``workers`` at a time (default ``runtime.pool.child_workers()``; the
    results do not depend on it)."""
    from mobilepack.evaluate.reuse import REUSED
    from mobilepack.runtime.pool import child_workers, run_concurrently

    workers = child_workers() if workers is None else workers
    results: list = [None] * len(jobs)
    for i, (mode, path, dname) in enumerate(jobs):
        made = reuse(i, mode, path, dname, tmp / f"pred-{i}.npz") if reuse is not None else None
        if made:
            results[i] = (Cell(mode, dname, "ok", samples=made[0], reused=REUSED), made[1], None)
    todo = [i for i, r in enumerate(results) if r is None]
    parts = _parts(jobs, todo, data, setups, tmp, workers)
    items = [(i, k, part) for i in todo for k, part in enumerate(parts.get(i, [None]))]
    shares: dict[int, list] = {}
    finished = [len(jobs) - len(todo)]

    def one(item):
        i, k, part = item
        mode, path, dname = jobs[i]
        return _predict(mode, path, dname, tmp / f"pred-{i}-{k}.npz", data, setups[dname], request, timeout, part)

    def done(n, result):
        i = items[n][0]
        shares.setdefault(i, []).append((items[n][1], result))
        if len(shares[i]) < len(parts.get(i, [None])):
            return
        ordered = [r for _, r in sorted(shares[i], key=lambda kr: kr[0])]
        results[i] = ordered[0] if len(ordered) == 1 else _joined(ordered)
        emit(ProgressEvent("evaluate", f"{jobs[i][0]} · {jobs[i][2]}", finished[0], len(jobs)))
        finished[0] += 1

    run_concurrently(one, items, workers, on_done=done)
    return results
