"""Registries carry behaviour: a quantization mode, a render target and a delegate added from
outside mobilepack (``tests/plugins/``: one module each, one ``register()`` call each) flow
through ``mobilepack.build`` end to end — conversion, validation, variant naming, bench (in
child processes), evaluation, selection, rendering and the config file — with no other change
to mobilepack.

The plugins are executed inside a copy of each registry (``registered``), so other tests
never see them."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

import mobilepack
from mobilepack.config import ConfigError, SCHEMA, parse_config
from mobilepack.conversion import quantization
from mobilepack.errors import UsageError
from mobilepack.evaluate.selection import Candidate, select
from mobilepack.render import targets
from mobilepack.runtime import delegates
from tests import task_sources

PLUGINS = Path(__file__).resolve().parent / "plugins"


def _load_plugins(mp: pytest.MonkeyPatch) -> None:
    targets.names()  # the built-in targets first, then a copy of each registry
    mp.setattr(quantization, "_REGISTRY", dict(quantization._REGISTRY))
    mp.setattr(targets, "_TARGETS", dict(targets._TARGETS))
    mp.setattr(delegates, "_REGISTRY", dict(delegates._REGISTRY))
    mp.setattr(delegates, "_OPENERS", dict(delegates._OPENERS))
    for module in ("sparse_mode.py", "flutter_target.py", "plain_cpu_delegate.py"):
        runpy.run_path(str(PLUGINS / module))


@pytest.fixture
def registered(monkeypatch):
    _load_plugins(monkeypatch)


@pytest.fixture(scope="module")
def plugin_build(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("registries")
    with pytest.MonkeyPatch.context() as mp:
        _load_plugins(mp)
        src = task_sources.image_classifier(tmp / "classifier.keras")
        labels = task_sources.labels(tmp / "labels.txt", 3)
        out = tmp / "out"
        result = mobilepack.build(src, out=str(out), target="flutter", cache_dir=str(tmp / "cache"),
                                  quantize=["fp32", "sparse"], labels=str(labels), delegates=["cpu"], runs=3,
                                  warmup=0, threads=[1])
    return out, result   # the registries are restored: later tests see only the built-ins


@pytest.fixture(scope="module")
def delegate_build(tmp_path_factory):
    """Labelled data, so every delegate is evaluated (without labels only cpu is)."""
    tmp = tmp_path_factory.mktemp("registries-delegate")
    task_sources.labelled_images(tmp / "eval.npz")
    with pytest.MonkeyPatch.context() as mp:
        _load_plugins(mp)
        src = task_sources.image_classifier(tmp / "classifier.keras")
        result = mobilepack.build(src, out=str(tmp / "out"), target="flutter", cache_dir=str(tmp / "cache"),
                                  quantize=["fp32", "sparse"], labels=str(task_sources.labels(tmp / "l.txt", 3)),
                                  eval_data=str(tmp / "eval.npz"), delegates=["cpu", "plaincpu"], runs=3,
                                  warmup=0, threads=[1])
    return result


def test_new_delegate_is_benchmarked_and_evaluated_in_child_processes(delegate_build):
    result = delegate_build
    records = [r for r in result.report["bench"]["results"] if r["delegate"] == "plaincpu"]
    assert {r["model"]["variant"] for r in records} == {"fp32", "sparse"}
    assert all(r["status"] == "ok" for r in records), records
    assert set(result.latency_us["fp32"]) == {"cpu", "plaincpu"}
    cells = {(c["mode"], c["delegate"]): c for c in result.report["accuracy"]["cells"]}
    for mode in ("fp32", "sparse"):
        assert cells[(mode, "plaincpu")]["status"] == "ok"
        # the same built-in kernels: the same predictions, so the same accuracy as cpu
        assert cells[(mode, "plaincpu")]["accuracy"] == cells[(mode, "cpu")]["accuracy"]
    assert result.labelled and result.accuracy["sparse"]["plaincpu"] == result.accuracy["sparse"]["cpu"]


def test_unregistered_delegate_is_refused(tmp_path):
    src = task_sources.image_classifier(tmp_path / "c.keras")
    with pytest.raises(UsageError, match="unknown delegate 'plaincpu'"):
        mobilepack.build(src, out=str(tmp_path / "o"), delegates=["cpu", "plaincpu"])


def test_builtin_targets_name_a_render_key():
    for name in targets.names():
        assert targets.get(name).id_key in SCHEMA["render"], name


def test_new_mode_is_converted_validated_and_named_by_its_suffix(plugin_build):
    out, result = plugin_build
    variants = {v["mode"]: v for v in result.report["variants"]}
    assert list(variants) == ["fp32", "sparse"]
    assert variants["sparse"]["path"] == "classifier_sp.tflite" and (out / "models/classifier_sp.tflite").is_file()
    assert variants["sparse"]["validation"]["passed"]
    assert variants["sparse"]["validation"]["tolerance"]["min_cosine"] == 0.9999   # the mode's own tolerance
    assert variants["sparse"]["metadata"]["task"] == "image_classification"


def test_new_mode_is_benchmarked_under_its_name(plugin_build):
    _, result = plugin_build
    records = [r for r in result.report["bench"]["results"] if r["model"]["file"] == "classifier_sp.tflite"]
    assert records and all(r["model"]["variant"] == "sparse" for r in records)
    assert any(r["status"] == "ok" for r in records)


def test_new_mode_takes_its_place_in_the_no_label_rule(plugin_build):
    _, result = plugin_build
    sel = result.report["selection"]
    assert sel["winner"] == "sparse", sel
    assert sel["reasons"]["sparse"] == "ships: the fallback of the no-label rule"


def test_new_target_renders_the_shipped_variant(plugin_build):
    out, result = plugin_build
    assert set(result.report["apps"]) == {"flutter"} and not (out / "android").exists()
    shipped = (out / "flutter/assets/model.tflite").read_bytes()
    assert shipped == (out / "models/classifier_sp.tflite").read_bytes()
    dart = (out / "flutter/lib/model_info.dart").read_text()
    assert "const modelVariant = 'sparse';" in dart
    assert "const labels = ['class_0', 'class_1', 'class_2'];" in dart
    assert "const inputShapes = [[1, 16, 16, 3]];" in dart
    app_id = result.report["apps"]["flutter"]["app_id"]
    assert (out / "flutter/pubspec.yaml").read_text().startswith(f"name: {app_id.replace('.', '_')}\n")
    manifest = json.loads((out / "manifest.json").read_text())
    assert "flutter/lib/model_info.dart" in json.dumps(manifest)


def test_config_file_accepts_them_only_once_registered(registered, tmp_path, monkeypatch):
    text = '[build]\ntarget = "flutter"\n[convert]\nquantize = ["fp32", "sparse"]\n'
    cfg = parse_config(text, base=tmp_path)
    assert cfg["build"]["target"] == "flutter" and cfg["convert"]["quantize"] == ["fp32", "sparse"]
    monkeypatch.delitem(quantization._REGISTRY, "sparse")
    with pytest.raises(ConfigError, match="invalid value 'sparse'"):
        parse_config(text, base=tmp_path)
    monkeypatch.delitem(targets._TARGETS, "flutter")
    with pytest.raises(ConfigError, match="invalid value 'flutter'"):
        parse_config('[build]\ntarget = "flutter"\n', base=tmp_path)


def test_unregistered_mode_and_target_are_refused(tmp_path):
    src = tmp_path / "absent.keras"
    with pytest.raises(UsageError, match="unknown --target 'flutter'"):
        mobilepack.build(src, out=str(tmp_path / "o"), target="flutter")
    assert "sparse" not in quantization.names()
    with pytest.raises(UsageError, match="unknown quantization mode 'sparse'"):
        quantization.parse_modes("fp32,sparse")


def test_new_target_validates_its_id_key(registered, tmp_path):
    src = task_sources.image_classifier(tmp_path / "c.keras")
    with pytest.raises(UsageError, match="package"):   # the [render] package key, checked before any work
        mobilepack.build(src, out=str(tmp_path / "o"), target="flutter", package="1.bad id")
    assert not (tmp_path / "o").exists()
    assert targets.get("flutter").id_flag == "--package"


def test_no_label_order_and_suffix_come_from_the_registry(registered, monkeypatch):
    cands = [Candidate("fp32", 400), Candidate("fp16", 200), Candidate("sparse", 390)]
    assert select(cands).winner == "sparse"
    spec = quantization.get("sparse")
    monkeypatch.setitem(quantization._REGISTRY, "sparse", type(spec)(**{**spec.__dict__, "fallback": None}))
    assert select(cands).winner == "fp16"          # out of the no-label rule: never chosen by it
    assert quantization.mode_of_file_suffix("sp") == "sparse" and quantization.mode_of_file_suffix("sparse") is None


def test_io_dtype_check_reads_the_registry(registered):
    quantization.check_io_dtype(quantization.IODtype.UINT8, ("fp32", "sparse", "int8"))   # float modes ignore it
    with pytest.raises(UsageError, match="applies to the int8 mode"):
        quantization.check_io_dtype(quantization.IODtype.UINT8, ("fp32", "sparse"))
    with pytest.raises(UsageError, match=r"cannot apply to int16x8 \(its integer I/O would be int16\)"):
        quantization.check_io_dtype(quantization.IODtype.INT8, ("int8", "int16x8"))
