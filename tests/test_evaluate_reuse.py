"""build's evaluation reuses what convert's validation computed (issue 21): the xnnpack cell of a
variant validated in this process, on the same samples, in the same XNNPACK session kind and thread
count, is made from the validation's outputs instead of a child run — and it is the cell the child
would make, bit for bit.  Shown on the real digits classifier (fp32, dynamic, int8) and on a
multi-output SSD-style detector, each converted by the real converter, with metadata written as the
build writes it; every cell is computed both ways (children only, and with reuse) and compared.
The negatives break the reuse on purpose (another variant's outputs, outputs in another order,
other samples, another thread count, other bytes) and show the comparison catches it or the reuse
refuses."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mobilepack.data.readers import read_samples
from mobilepack.evaluate.accuracy import evaluate, predict_in_child
from mobilepack.evaluate.reuse import REUSED, reused_prediction
from mobilepack.evaluate.tasks import get as get_evaluator
from mobilepack.metadata import attach
from mobilepack.model.spec import spec_from_dict
from mobilepack.model.variant import variant_spec
from mobilepack.pipeline.convert_command import convert_into, plan_convert
from mobilepack.pipeline.measure import CROSS_CHECK_SAMPLES, validated
from mobilepack.runtime.delegates import get as get_delegate
from tests import task_sources
from tests.conftest import DIGITS


def _built(tmp: Path, model: Path, modes: list[str], calibration: Path, task: str, labels=None):
    """convert (keeping the validation's outputs) and metadata as build's stages run them: (variants in
    their final files, the samples evaluation reads, what the build would hand evaluate)."""
    plan = plan_convert(str(model), quantize=modes, calibration=str(calibration), task=task)
    (tmp / "convert").mkdir()
    kept: list = []
    result = convert_into(tmp / "convert", str(model), plan, kept=kept)
    result = replace(result, kept=tuple(kept))   # as build's convert stage hands it on
    spec = spec_from_dict(result.model)
    variants = []
    for v in result.variants:
        data = (tmp / "convert" / v.path).read_bytes()
        (tmp / v.path).write_bytes(attach(data, task=task, spec=variant_spec(spec, data), labels=labels).model)
        variants.append((v.mode, tmp / v.path))
    samples = replace(read_samples(str(calibration), spec, limit=200, what="validation"), labels=None,
                      class_names=None)
    state = SimpleNamespace(converted=result, models=SimpleNamespace(
        variants=[SimpleNamespace(mode=m) for m, _ in variants]))
    return variants, samples, validated(state), result


def _matrix(variants, samples, task, reuse=None, threads=2):
    return evaluate(variants, samples, task=task, cross_check=CROSS_CHECK_SAMPLES, reuse=reuse, threads=threads)


def _cells(matrix) -> list[dict]:
    return [{k: v for k, v in c.to_dict().items() if k != "reused"} for c in matrix.cells]


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reuse-digits")
    labels = tuple((DIGITS / "labels.txt").read_text(encoding="utf-8").split())
    variants, samples, kept, result = _built(tmp, DIGITS / "digits.keras", ["fp32", "dynamic", "int8"],
                                             DIGITS / "calibration", "image_classification", labels)
    return SimpleNamespace(variants=variants, samples=samples, kept=kept, result=result,
                           fresh=_matrix(variants, samples, "image_classification"))


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reuse-detector")
    model = task_sources.detector(tmp / "detector.keras")
    cal = task_sources.calibration(tmp / "cal.npy", (16, 16, 3), n=12)
    labels = tuple(f"class{i}" for i in range(4))
    variants, samples, kept, result = _built(tmp, model, ["fp32", "dynamic"], cal, "object_detection", labels)
    return SimpleNamespace(variants=variants, samples=samples, kept=kept, result=result,
                           fresh=_matrix(variants, samples, "object_detection"))


@pytest.mark.parametrize("name,task", [("digits", "image_classification"), ("detector", "object_detection")])
def test_reused_xnnpack_cells_equal_the_children_cells(name, task, request):
    built = request.getfixturevalue(name)
    assert set(built.kept) == {m for m, _ in built.variants}          # every variant was validated here
    matrix = _matrix(built.variants, built.samples, task, reuse=built.kept)
    reused = {(c.mode, c.delegate) for c in matrix.cells if c.reused == REUSED}
    assert reused == {(m, "xnnpack") for m, _ in built.variants}       # cpu cells still run their children
    assert _cells(matrix) == _cells(built.fresh)                       # the same samples, metrics, agreement
    assert matrix.cell("fp32", "xnnpack").samples == built.samples.count
    note = [w for w in matrix.warnings if w not in built.fresh.warnings]
    assert len(note) == 1 and "fp32 · xnnpack" in note[0] and "convert's validation" in note[0]
    assert matrix.to_dict() | {"cells": [], "warnings": []} == built.fresh.to_dict() | {"cells": [], "warnings": []}


def _child_prediction(tmp: Path, mode, path, samples, evaluator, hints) -> dict:
    """What the xnnpack child computes, run here in-process through its own entry point."""
    from mobilepack.tasks import get as get_task

    data = tmp / f"{mode}-data.npz"
    np.savez(data, **{f"in::{n}": np.stack([b[n] for b in samples.batches]) for n in samples.batches[0]})
    answer = predict_in_child({"threads": 2, "task": evaluator.task, "task_source": get_task(evaluator.task).source,
                               "hints": hints, "model": str(path), "delegate": get_delegate("xnnpack").to_dict(),
                               "out": str(tmp / f"{mode}-child.npz"), "data": str(data)})
    assert answer["ok"], answer
    with np.load(tmp / f"{mode}-child.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("name,task", [("digits", "image_classification"), ("detector", "object_detection")])
def test_reused_predictions_are_the_childs_bit_for_bit(name, task, request, tmp_path):
    built = request.getfixturevalue(name)
    evaluator = get_evaluator(task)
    hints = {"labels": []}
    for mode, path in built.variants:
        count, pred = reused_prediction(mode, "xnnpack", built.kept[mode], path, 2, built.samples, evaluator, hints,
                                        tmp_path / f"{mode}.npz")
        child = _child_prediction(tmp_path, mode, path, built.samples, evaluator, hints)
        assert count == built.samples.count and set(pred) == set(child)
        for k in child:
            assert pred[k].dtype == child[k].dtype and np.array_equal(pred[k], child[k]), (mode, k)


def test_another_variants_outputs_change_the_cells(digits):
    """Negative: the dynamic variant's xnnpack cell fed the fp32 variant's outputs (or int8's) differs
    from its child's: the comparison above would fail."""
    for other in ("fp32", "int8"):
        wrong = replace(digits.kept["dynamic"], outputs=digits.kept[other].outputs)
        matrix = _matrix(digits.variants, digits.samples, "image_classification", reuse={**digits.kept, "dynamic": wrong})
        assert matrix.cell("dynamic", "xnnpack").reused == REUSED
        assert _cells(matrix) != _cells(digits.fresh)


def test_outputs_in_another_order_change_the_predictions(detector, tmp_path):
    """Negative: the detector's outputs handed over in another order (its classes read as its scores
    and back: both [1, 5]) give other predictions than the child's (this
    detector's count is 0, so its box agreement is 1 either way: the predictions are what the
    bit-for-bit comparison above catches it by)."""
    evaluator, hints = get_evaluator("object_detection"), {"labels": []}
    mode, path = detector.variants[1]
    kept = detector.kept[mode]
    shapes = {n: v.shape for n, v in kept.outputs[0].items()}
    a, b = [n for n in shapes if shapes[n] == (1, 5)]
    swapped = replace(kept, outputs=tuple({**run, a: run[b], b: run[a]} for run in kept.outputs))
    child = _child_prediction(tmp_path, mode, path, detector.samples, evaluator, hints)
    count, pred = reused_prediction(mode, "xnnpack", swapped, path, 2, detector.samples, evaluator, hints,
                                    tmp_path / "swapped.npz")
    assert count == detector.samples.count and not np.array_equal(pred["scores"], child["scores"])


def test_reuse_refuses_other_samples_threads_delegates_and_bytes(digits, tmp_path):
    evaluator = get_evaluator("image_classification")
    mode, path = digits.variants[0]
    kept = digits.kept[mode]
    args = (evaluator, {"labels": []}, tmp_path / "p.npz")
    batches = [dict(b) for b in digits.samples.batches]
    batches[-1] = {k: v.copy() for k, v in batches[-1].items()}
    next(iter(batches[-1].values())).flat[0] += 1.0                     # one pixel of the last sample
    changed = replace(digits.samples, batches=batches)
    reordered = replace(digits.samples, batches=digits.samples.batches[::-1])
    fewer = replace(digits.samples, batches=digits.samples.batches[:-1])
    assert reused_prediction(mode, "xnnpack", kept, path, 2, digits.samples, *args) is not None
    for samples in (changed, reordered, fewer):
        assert reused_prediction(mode, "xnnpack", kept, path, 2, samples, *args) is None
    assert reused_prediction(mode, "xnnpack", kept, path, 1, digits.samples, *args) is None     # another thread count
    assert reused_prediction(mode, "cpu", kept, path, 2, digits.samples, *args) is None         # the reference kernels
    assert reused_prediction("int8", "xnnpack", kept, digits.variants[2][1], 2, digits.samples, *args) is None
    # the build hands over only outputs of the bytes convert recorded (before metadata)
    other = replace(digits.result, variants=tuple(replace(v, sha256="0" * 64) if v.mode == "int8" else v
                                                  for v in digits.result.variants))
    state = SimpleNamespace(converted=other, models=SimpleNamespace(
        variants=[SimpleNamespace(mode=m) for m, _ in digits.variants]))
    assert set(validated(state)) == {"fp32", "dynamic"}
    # a cached convert result (rebuilt from its record) keeps nothing
    from mobilepack.pipeline.convert_record import ConvertResult

    assert ConvertResult.from_dict(digits.result.to_dict()).kept == ()


def test_kept_outputs_stay_within_their_budget(digits):
    """What convert keeps for evaluation is bounded: the samples once, plus every variant's outputs;
    a variant past the budget is not kept (its cells run their children)."""
    from mobilepack.conversion.validation import keep_within

    first, second = digits.kept["fp32"], digits.kept["dynamic"]
    budget = first.sample_bytes + first.nbytes
    held: list = []
    keep_within(held, first, budget)
    keep_within(held, second, budget)
    assert held == [first]
    none: list = []
    keep_within(none, first, budget - 1)
    assert none == []


def test_the_reference_cell_runs_in_two_shares_with_the_same_predictions(digits, monkeypatch):
    """With the xnnpack cells reused, fp32 on the reference kernels is the one cell running every
    sample: with two workers it runs as two children on two shares of the samples (the second beside
    the cross-check's cells), and the matrix is the one computed with one worker (and without reuse);
    joining the shares in the wrong order breaks it."""
    from mobilepack.evaluate import cells

    shares = []
    real = cells._predict

    def counted(*args, **kwargs):
        shares.append((args[0], args[2], args[-1] if len(args) > 8 else kwargs.get("part")))
        return real(*args, **kwargs)

    monkeypatch.setattr(cells, "_predict", counted)
    two = evaluate(digits.variants, digits.samples, task="image_classification", cross_check=CROSS_CHECK_SAMPLES,
                   reuse=digits.kept, workers=2)
    parts = [p for m, d, p in shares if (m, d) == ("fp32", "cpu")]
    assert len(parts) == 2 and all(p is not None for p in parts)
    assert two.cell("fp32", "cpu").samples == digits.samples.count
    one = evaluate(digits.variants, digits.samples, task="image_classification", cross_check=CROSS_CHECK_SAMPLES,
                   reuse=digits.kept, workers=1)
    assert _cells(two) == _cells(one) == _cells(digits.fresh)
    real_join = cells._joined
    monkeypatch.setattr(cells, "_joined", lambda results: real_join(results[::-1]))
    swapped = evaluate(digits.variants, digits.samples, task="image_classification", cross_check=CROSS_CHECK_SAMPLES,
                       reuse=digits.kept, workers=2)
    assert _cells(swapped) != _cells(one)
