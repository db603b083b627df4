"""A large model is validated, and its agreement judged, on its first samples only (issue 21): every
validation sample runs the source model and every variant, and later the reference kernels, work that
grows with the weights (``pipeline.convert_loop.sample_bound``).  Shown on the real digits classifier
with the budget lowered so that its 0.4 MB of weights count as large: convert validates the first
samples and says so, evaluation reads exactly those (so it still reuses the validation's outputs) and
cross-checks the reference kernels on half as many (`pipeline.measure.cross_check_samples`), and
a count given explicitly is not bounded."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from mobilepack.evaluate.accuracy import evaluate
from mobilepack.evaluate.reuse import REUSED
from mobilepack.pipeline import convert_loop
from mobilepack.pipeline.convert_command import convert_into, plan_convert
from mobilepack.pipeline.measure import (CROSS_CHECK_SAMPLES, LARGE_CROSS_CHECK_SAMPLES, cross_check_samples,
                                         evaluation_samples, validated)
from mobilepack.pipeline.models import models_from_record
from tests.conftest import DIGITS

CAL = DIGITS / "calibration"


def test_the_bound_grows_inversely_with_the_weights_and_has_a_floor():
    assert convert_loop.sample_bound(0) is None
    assert convert_loop.sample_bound(436_000_000) == 19                   # BERT-base: 19 samples
    assert convert_loop.sample_bound(90_000_000) == 95                    # MiniLM: 32 calibration samples, all
    assert convert_loop.sample_bound(4 << 30) == convert_loop.MIN_BOUNDED_SAMPLES
    assert convert_loop.sample_bound(40_000_000) > 200                    # below ~43 MB: the default 200 stands


def _convert(tmp: Path, **kw):
    plan = plan_convert(str(DIGITS / "digits.keras"), quantize=["fp32", "dynamic"], calibration=str(CAL), **kw)
    (tmp / "convert").mkdir()
    kept: list = []
    events: list = []
    result = convert_into(tmp / "convert", str(DIGITS / "digits.keras"), plan, kept=kept, progress=events.append)
    return replace(result, kept=tuple(kept)), events


def test_a_large_model_is_validated_and_evaluated_on_its_first_samples(tmp_path, monkeypatch):
    monkeypatch.setattr(convert_loop, "SAMPLE_WEIGHT_BUDGET", 1)   # 0.4 MB of weights: over budget
    monkeypatch.setattr(convert_loop, "MIN_BOUNDED_SAMPLES", 12)
    result, events = _convert(tmp_path, calibration_samples=40)
    info = result.validation_data
    assert info["samples"] == 12 and info["of"] == 40 and "MB of weights" in info["bound"]
    assert any(e.message.startswith("validating on the first 12 of 40 samples") for e in events)
    assert all(v.validation["samples"] == 12 for v in result.variants)
    # evaluation reads the same 12 samples, so the xnnpack cells are the validation's, not children's
    models = models_from_record(result.to_dict(), tmp_path / "convert", (), "key")
    state = SimpleNamespace(converted=result, models=models)
    options = SimpleNamespace(eval_data=None, eval_source=str(CAL), metadata=SimpleNamespace(labels=()))
    evaluator, samples, truth, warnings = evaluation_samples(state, options)
    assert samples.count == 12 and truth is None
    assert any(w.startswith("agreement on the first 12 of 40 samples") for w in warnings)
    # the reference kernels' cross-check of a large model runs half as many samples
    assert cross_check_samples(state) == LARGE_CROSS_CHECK_SAMPLES < CROSS_CHECK_SAMPLES
    matrix = evaluate(models.paths, samples, task=evaluator.task, cross_check=cross_check_samples(state),
                      reuse=validated(state), delegates=["cpu", "xnnpack"])
    reused = {(c.mode, c.delegate) for c in matrix.cells if c.reused == REUSED}
    assert reused == {("fp32", "xnnpack"), ("dynamic", "xnnpack")}
    samples_of = {(c.mode, c.delegate): c.samples for c in matrix.cells if c.status == "ok"}
    assert samples_of == {("fp32", "cpu"): 12, ("fp32", "xnnpack"): 12, ("dynamic", "cpu"): LARGE_CROSS_CHECK_SAMPLES,
                          ("dynamic", "xnnpack"): 12}
    assert any(f"seeded subset of {LARGE_CROSS_CHECK_SAMPLES}" in w for w in matrix.warnings)


def test_a_count_given_explicitly_is_not_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(convert_loop, "SAMPLE_WEIGHT_BUDGET", 1)
    result, events = _convert(tmp_path, calibration_samples=40, validation=str(CAL), validation_samples=30)
    assert result.validation_data["samples"] == 30 and "of" not in result.validation_data
    assert not any(e.message.startswith("validating on the first") for e in events)
    assert cross_check_samples(SimpleNamespace(converted=result)) == CROSS_CHECK_SAMPLES   # nor its cross-check


@pytest.mark.parametrize("count", [0, -3])
def test_a_bad_count_is_a_usage_error(count):
    from mobilepack.errors import UsageError

    with pytest.raises(UsageError):
        plan_convert(str(DIGITS / "digits.keras"), validation_samples=count)
