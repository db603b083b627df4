"""An evaluation cell made from outputs the build has already computed, instead of a child run.

The convert stage validates every variant in an XNNPACK session on the validation samples, which
are by default the samples the build's evaluation reads (``conversion.validation.ValidationOutputs``).
Those outputs *are* what the xnnpack cell's child would compute, when — and only when — the cell
would open the same session kind with the same thread count, on the same samples (the arrays are
compared: same inputs, same dtypes and shapes, same order), each fed as the child feeds it, and the
variant is the one validated (the build checks its bytes' sha256 against the convert record before
metadata, which adds no tensor).  Then the outputs go through the child's own reduction
(``evaluate.outputs``: the same output order, dequantization and ``evaluator.reduce``), so the cell
is the child's, bit for bit.  Anything else runs a child as before."""

from __future__ import annotations

REUSED = "convert validation"   # Cell.reused: which run produced the cell's outputs


def same_samples(batches, kept_batches) -> bool:
    """Whether two sample lists hold identical arrays: the same names, dtypes, shapes and values, in
    the same order."""
    import numpy as np

    if len(batches) != len(kept_batches):
        return False
    for a, b in zip(batches, kept_batches):
        if set(a) != set(b):
            return False
        for name in a:
            x, y = np.asarray(a[name]), np.asarray(b[name])
            if x.dtype != y.dtype or x.shape != y.shape or not np.array_equal(x, y):
                return False
    return True


def _fed_alike(session, ins, batches) -> bool:
    """Whether validation fed every sample as the child would: by the same names, in the input's
    shape, quantized by the same rule (the child quantizes float samples only)."""
    import numpy as np

    for info, (name, (scale, _)) in zip(session.inputs, ins):
        for b in batches:
            x = b.get(name)
            if x is None or list(np.shape(x)) != list(info["shape"]):
                return False
            if np.issubdtype(np.dtype(info["dtype"]), np.integer) and scale and not np.issubdtype(x.dtype, np.floating):
                return False
    return True


def reused_prediction(mode: str, dname: str, kept, path, threads: int, samples, evaluator, hints: dict, out_path):
    """(sample count, predictions) of ``mode`` on ``dname`` from ``kept`` (a ``ValidationOutputs`` of
    this variant, or None), exactly as its child would give them: they go through the same reduction
    and the same .npz.  None when ``kept`` is not what that child would compute (then the child runs)."""
    import numpy as np

    from mobilepack.runtime.delegates import get as get_delegate

    if kept is None or kept.mode != mode or get_delegate(dname).opener != kept.opener or threads != kept.threads:
        return None
    count = _saved(kept, path, samples, evaluator, hints, out_path)
    if count is None:
        return None
    with np.load(out_path) as z:
        return count, {k: z[k] for k in z.files}


def reuse_note(cells, count: int, threads: int) -> list[str]:
    """The matrix's warning that names the cells made from the validation's outputs."""
    reused = [c for c in cells if c.reused]
    if not reused:
        return []
    names = ", ".join(f"{c.mode} · {c.delegate}" for c in reused)
    return [f"{names}: the outputs are those convert's validation computed in the same XNNPACK session "
            f"({threads} threads) on the same {count} samples (reused, not run again)"]


def _saved(kept, path, samples, evaluator, hints: dict, out_path) -> int | None:
    """Save the predictions the child would save to ``out_path`` from ``kept`` and return their
    sample count; None when the samples or the way they were fed differ."""
    import numpy as np

    from mobilepack.evaluate.outputs import reduce_runs, signature_view
    from mobilepack.evaluate.tasks import LayoutError
    from mobilepack.runtime.delegates import InterpreterSession

    if not same_samples(samples.batches, kept.batches):
        return None
    try:
        view = InterpreterSession(str(path), resolver="reference", threads=1)   # names and order only: nothing runs
        ins, outs = signature_view(view, str(path))
    except Exception:  # noqa: BLE001 - a model these kernels cannot open: its child says why
        return None
    if not _fed_alike(view, ins, kept.batches) or any(name not in run for name, _, _ in outs for run in kept.outputs):
        return None
    try:
        predictions = reduce_runs(evaluator, hints, outs, ([run[name] for name, _, _ in outs] for run in kept.outputs))
    except LayoutError:
        return None   # the child reports the layout error itself
    np.savez(out_path, **predictions)
    return int(len(next(iter(predictions.values()), [])))
