"""The task registry carries behaviour: a task added from outside mobilepack
(``tests/plugins/regression_task.py``: one module, one ``register()`` call) flows through
``mobilepack.build`` end to end — detection, the metadata written, evaluation in a child
process with its own metric, the apps' input/output kinds, convert.json and the report — and
``--task``/mobilepack.toml accept it, with no other change to mobilepack.

The plugin is executed inside a copy of the registry (``registered``), so other tests never
see it."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

import mobilepack
from mobilepack import tasks
from mobilepack.config import ConfigError, parse_config
from mobilepack.errors import UsageError
from mobilepack.metadata import attach, read
from mobilepack.model.spec import Normalization
from tests import task_sources

PLUGIN = Path(__file__).resolve().parent / "plugins" / "regression_task.py"


def _load_plugin(mp: pytest.MonkeyPatch) -> None:
    tasks.names()  # the built-in tasks first, then a copy of the registry
    mp.setattr(tasks, "_TASKS", dict(tasks._TASKS))
    runpy.run_path(str(PLUGIN))


@pytest.fixture
def registered(monkeypatch):
    _load_plugin(monkeypatch)


@pytest.fixture(scope="module")
def regression_build(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("registry-tasks")
    with pytest.MonkeyPatch.context() as mp:
        _load_plugin(mp)
        src = task_sources.image_regressor(tmp / "regressor.keras")
        calibration = task_sources.calibration(tmp / "calibration.npy", (16, 16, 3))
        out = tmp / "out"
        result = mobilepack.build(src, out=str(out), target="android", cache_dir=str(tmp / "cache"),
                                  quantize=["fp32", "int8"], calibration=str(calibration), delegates=["cpu"],
                                  runs=3, warmup=0, threads=[1])
    return out, result   # the registry is restored: later tests see only the built-ins


def test_new_task_is_detected_and_named_in_convert_json_and_the_report(regression_build):
    out, result = regression_build
    for v in result.report["variants"]:
        md = v["metadata"]
        assert (md["task"], md["task_source"]) == ("image_regression", "detected"), md
        assert "one real-valued output" in md["task_reason"] and "3 channels" in md["task_reason"]
    record = json.loads((out / "models/convert.json").read_text())
    assert record["model"]["task"] == "image_regression"
    assert result.report["model"]["task"] == "image_regression"
    assert "No labelled data: R² with fp32 on 8 samples" in (out / "reports/report.md").read_text()


def test_new_task_writes_its_metadata(regression_build):
    out, result = regression_build
    fp32 = next(v for v in result.report["variants"] if v["mode"] == "fp32")
    md = read((out / "models" / fp32["path"]).read_bytes())
    assert md.inputs[0].content == "image"
    assert md.inputs[0].normalization == ((0.0,), (1.0,))    # the Rescaling layer: apps feed raw pixels
    assert md.outputs[0].description == "output float32 tensor of shape 1x1"
    assert md.description == "regressor, converted by mobilepack"
    assert not fp32["metadata"]["labels"] and not md.label_file()


def test_new_task_is_evaluated_by_its_own_metric_in_the_child(regression_build):
    _, result = regression_build
    acc = result.report["accuracy"]
    assert (acc["task"], acc["agreement_metric"], acc["agreement_key"]) == ("image_regression", "R²", "r2")
    assert acc["metric"] is None and not result.labelled
    cells = {c["mode"]: c for c in acc["cells"]}
    assert cells["fp32"]["status"] == "ok" and cells["fp32"]["agreement"] == pytest.approx(1.0)
    assert cells["int8"]["status"] == "ok" and "r2" in cells["int8"]["metrics"]
    assert result.report["selection"]["winner"] in ("fp32", "int8")


def test_new_task_renders_its_app_io_kinds(regression_build):
    out, _ = regression_build
    config = next((out / "android").rglob("ModelConfig.kt")).read_text()
    assert 'const val TASK = "image_regression"' in config
    assert 'const val INPUT_KIND = "image"' in config       # the task's app input: the photo picker
    assert 'const val OUTPUT_KIND = "generic"' in config    # its values, shown as they are
    assert "image_regression" in (out / "android/README.md").read_text()


def test_new_task_is_chosen_with_task_and_its_constraints_hold(registered, regression_build):
    out, result = regression_build
    fp32 = next(v for v in result.report["variants"] if v["mode"] == "fp32")
    data = attach((out / "models" / fp32["path"]).read_bytes(), task="generic").model
    norm = Normalization((0.0,), (255.0,), source="flags")
    chosen = attach(data, task="image-regression", normalization=norm)
    assert (chosen.task, chosen.task_source) == ("image_regression", "option")
    assert read(chosen.model).inputs[0].normalization == ((0.0,), (255.0,))
    with pytest.raises(UsageError, match="labels need .* not image_regression"):
        attach(data, task="image_regression", normalization=norm, labels=["a"])
    with pytest.raises(UsageError, match="--score-threshold applies to classification tasks"):
        attach(data, task="image_regression", normalization=norm, score_threshold=0.5)


def test_config_file_accepts_it_only_once_registered(registered, tmp_path, monkeypatch):
    text = '[metadata]\ntask = "image_regression"\n'
    assert parse_config(text, base=tmp_path)["metadata"]["task"] == "image_regression"
    monkeypatch.delitem(tasks._TASKS, "image_regression")
    with pytest.raises(ConfigError, match="invalid value 'image_regression'"):
        parse_config(text, base=tmp_path)


def test_unregistered_task_is_refused_listing_the_valid_ones(tmp_path):
    assert "image_regression" not in tasks.names()
    with pytest.raises(UsageError, match="unknown task 'image_regression'") as refused:
        tasks.get("image_regression")
    assert refused.value.hint == "valid tasks: " + ", ".join(tasks.names())
    src = task_sources.image_regressor(tmp_path / "r.keras")
    with pytest.raises(UsageError, match="unknown task 'image_regression'") as refused:
        mobilepack.build(src, out=str(tmp_path / "o"), task="image_regression", delegates=["cpu"])
    assert "image_classification" in refused.value.hint and "generic" in refused.value.hint
    assert not (tmp_path / "o").exists()


def test_builtin_tasks_are_registered_in_the_order_task_lists_them():
    assert tasks.names()[:10] == ["image_classification", "object_detection", "yolo_detection", "image_to_image",
                                  "image_segmentation", "keypoints", "text_classification", "text_embedding",
                                  "audio_classification", "generic"]
    assert tasks.get("generic").detect is None    # the fallback: never detected, chosen when nothing fits
    # a sentence embedding is tried before the text classifier (which would take any token-id model)
    order = [spec.name for spec in tasks.by_priority()]
    assert order.index("text_embedding") < order.index("text_classification")
    # an image out is tried before segmentation (which takes any 4-D output)
    assert order.index("image_to_image") < order.index("image_segmentation")
    emb = tasks.get("text_embedding")
    assert (emb.app_input, emb.app_output, emb.labels, emb.vocab, emb.evaluator.agreement_rule) == \
        ("text", "embedding", "none", True, "smallest")
    with pytest.raises(ValueError, match="app_output 'table'"):
        tasks.register(tasks.TaskSpec("bad", "", print, None, app_output="table"))
