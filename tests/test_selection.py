"""Variant selection on crafted accuracy tables."""

from __future__ import annotations

import pytest

from mobilepack.evaluate.selection import Candidate, Criterion, select


def table(**accs):
    sizes = {"fp32": 4000, "fp16": 2000, "dynamic": 1100, "int8": 1000, "int16x8": 1200}
    lat = {"fp32": 90.0, "fp16": 95.0, "dynamic": 70.0, "int8": 50.0, "int16x8": 120.0}
    return [Candidate(m, sizes[m], lat[m], {"cpu": a, "xnnpack": a}) for m, a in accs.items()]


def test_smallest_within_drop_wins():
    s = select(table(fp32=0.95, fp16=0.95, int8=0.945), max_accuracy_drop=0.01)
    assert s.winner == "int8" and s.rejected == ()
    assert "ships" in s.reasons["int8"] and "eligible" in s.reasons["fp16"]


def test_int8_collapse_is_rejected_with_numbers():
    s = select(table(fp32=0.95, fp16=0.95, dynamic=0.949, int8=0.60), max_accuracy_drop=0.01)
    assert s.winner == "dynamic"
    assert s.rejected == ("int8",)
    assert "0.6000" in s.reasons["int8"] and "35.00 points" in s.reasons["int8"]


def test_worst_delegate_counts():
    cands = table(fp32=0.95, int8=0.95)
    cands[1] = Candidate("int8", 1000, 50.0, {"cpu": 0.95, "gpu": 0.90})
    assert select(cands, max_accuracy_drop=0.01).winner == "fp32"


def test_size_tie_breaks_on_latency():
    cands = [Candidate("fp32", 100, 9.0, {"cpu": 0.9}), Candidate("a", 50, 20.0, {"cpu": 0.9}),
             Candidate("b", 50, 10.0, {"cpu": 0.9})]
    assert select(cands).winner == "b"


def test_drop_limit_is_respected_exactly():
    assert select(table(fp32=0.90, int8=0.89), max_accuracy_drop=0.01).winner == "int8"
    assert select(table(fp32=0.90, int8=0.8899), max_accuracy_drop=0.01).winner == "fp32"


@pytest.mark.parametrize("agreement,winner", [(0.995, "int8"), (0.99, "int8"), (0.985, "fp16"), (None, "fp16")])
def test_no_labels_uses_agreement_rule(agreement, winner):
    cands = [Candidate("fp32", 4000, agreement=1.0), Candidate("fp16", 2000, agreement=1.0),
             Candidate("int8", 1000, agreement=agreement)]
    s = select(cands)
    assert s.winner == winner
    assert "no labelled data" in s.rule


def test_a_variant_that_never_ran_is_rejected_not_a_rule_switch():
    cands = table(fp32=0.95, fp16=0.95)
    cands.append(Candidate("int8", 1000, None, {}))
    s = select(cands)
    assert s.winner == "fp16" and "int8" in s.rejected and "did not run" in s.reasons["int8"]
    assert "labelled" in s.rule


def test_single_variant_ships():
    s = select([Candidate("passthrough", 10)])
    assert s.winner == "passthrough" and s.rule == "only one variant was built"


def test_no_label_rule_never_ships_what_it_rejected():
    s = select([Candidate("int8", 1000, agreement=0.5), Candidate("dynamic", 1100)])
    assert s.winner == "dynamic" and s.rejected == ("int8",)
    assert s.reasons["int8"].startswith("rejected")


def test_rule_and_reasons_name_the_tasks_labelled_metric():
    crit = Criterion(metric="mAP@0.5", agreement_metric="box agreement", agreement_threshold=0.95)
    s = select(table(fp32=0.62, fp16=0.62, int8=0.50), max_accuracy_drop=0.01, criterion=crit)
    assert s.winner == "fp16" and s.rejected == ("int8",)
    assert "mAP@0.5" in s.rule and "accuracy" not in s.rule
    assert s.reasons["int8"].startswith("rejected: mAP@0.5 0.5000 is 12.00 points below")


@pytest.mark.parametrize("agreement,winner", [(0.96, "int8"), (0.94, "fp16")])
def test_no_labels_threshold_is_the_tasks(agreement, winner):
    """Segmentation's mask IoU ships int8 from 0.95, where classification's 0.99 would not."""
    crit = Criterion(metric="mIoU", agreement_metric="mask IoU", agreement_threshold=0.95)
    cands = [Candidate("fp32", 4000, agreement=1.0), Candidate("fp16", 2000, agreement=1.0),
             Candidate("int8", 1000, agreement=agreement)]
    s = select(cands, criterion=crit)
    assert s.winner == winner and "mask IoU with fp32 is ≥ 95%" in s.rule
    assert select(cands).winner == "fp16"   # the classification default (top-1 ≥ 99 %) rejects both


def test_criterion_of_a_matrix_names_its_metrics():
    crit = Criterion.of_matrix({"metric": "mIoU", "agreement_metric": "mask IoU", "agreement_threshold": 0.95})
    assert crit == Criterion("mIoU", "mask IoU", 0.95)
    assert Criterion.of_matrix({"metric": None, "agreement_metric": "cosine similarity"}).metric == "accuracy"
