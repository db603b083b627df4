"""The quantization doctor end to end, on a real model where full int8 misses a one-point budget.

The model is ``benchmarks/doctor.py``'s "outlier digits" MLP, trained on scikit-learn's digits
(real data) with outlier weights on a pixel that is zero in every image: float is unchanged,
full int8 collapses.  It is trained and converted once per session (real TFLiteConverter, real
QuantizationDebugger, real LiteRT); each test reads that result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import assert_clean_error, run_cli


@pytest.fixture(scope="session")
def outlier(tmp_path_factory):
    from benchmarks.doctor import make_outlier_digits

    import mobilepack

    work = tmp_path_factory.mktemp("doctor")
    paths = make_outlier_digits(work / "data", epochs=20)
    # a digits classifier (an 8×8 image, flattened): judged by top-1 accuracy on the labelled validation data
    result = mobilepack.convert(paths["model"], work / "out", quantize="fp16,int8", calibration=paths["calibration"],
                                validation=paths["validation"], doctor=True, max_accuracy_drop=0.01,
                                task="image_classification")
    return paths, work / "out", result


@pytest.fixture(scope="session")
def outlier_tflite(outlier, tmp_path_factory):
    """The same model as a float .tflite (converted once): the AI Edge Quantizer path's source."""
    import mobilepack

    paths, _, _ = outlier
    out = tmp_path_factory.mktemp("doctor-tflite")
    result = mobilepack.convert(paths["model"], out / "f32", quantize="fp32")
    return out / "f32" / result.variants[0].path


def _by_mode(result):
    return {v.mode: v for v in result.variants}


def test_int8_misses_the_budget_and_int8_mixed_meets_it_on_held_out_data(outlier):
    from benchmarks.doctor import top1

    paths, out, result = outlier
    modes = _by_mode(result)
    assert list(modes) == ["fp16", "int8", "int8-mixed"]
    acc = {m: top1(out / v.path, paths["test"]) for m, v in modes.items()}
    # fp16 is the float reference here (it matches fp32 on these images to the last sample)
    assert acc["fp16"] - acc["int8"] > 0.05, acc                  # full int8 collapses
    assert acc["fp16"] - acc["int8-mixed"] <= 0.01, acc           # the doctor's variant is within one point
    assert modes["int8-mixed"].bytes < modes["fp16"].bytes        # and smaller than fp16
    assert modes["int8-mixed"].validation["passed"]


def test_the_record_ranks_layers_and_names_the_ops_kept_in_float(outlier):
    _, out, result = outlier
    record = json.loads((out / "convert.json").read_text())
    doctor = record["doctor"]
    assert doctor == result.doctor and doctor["status"] == "found"
    layers = doctor["layers"]
    assert [layer["rank"] for layer in layers] == list(range(1, len(layers) + 1))
    errors = [layer["rmse_over_scale"] for layer in layers]
    assert errors == sorted(errors, reverse=True)
    assert "entry" in layers[0]["tensor"] and layers[0]["op"] == "FULLY_CONNECTED"
    assert errors[0] > 10 * errors[1]                              # the outlier layer stands out
    assert doctor["budget"]["metric"] == "accuracy" and doctor["data"]["labelled"]
    assert not doctor["int8"]["meets"] and doctor["mixed"]["meets"]
    assert doctor["mixed"]["float_ops"] == [layers[0]["tensor"]]
    (cost,) = doctor["float_ops"]
    assert cost["tensor"] == layers[0]["tensor"] and cost["bytes"] > 0 and cost["score_gain"] > 0.05
    assert isinstance(cost["latency_us"], float)
    assert 0 < doctor["search"]["seconds"] <= doctor["settings"]["seconds"]
    md = (out / "convert.md").read_text()
    assert "## Quantization doctor" in md and "| 1 | FULLY_CONNECTED | `entry_1/MatMul`" in md
    assert "int8-mixed" in record["options"]["quantize"]


def test_tensor_comparison_through_litert_blames_the_same_layer(outlier, outlier_tflite):
    """The .tflite path (no TensorFlow graph): float and int8 files compared tensor by tensor."""
    import numpy as np

    from mobilepack.conversion.layer_errors import compare_tensors

    paths, out, _ = outlier
    x = np.load(paths["calibration"])[:20]
    layers = compare_tensors(outlier_tflite.read_bytes(),
                             (out / _by_mode(outlier[2])["int8"].path).read_bytes(),
                             [{"pixels": x[i:i + 1]} for i in range(len(x))])
    assert layers and all(layer.method == "tensor-compare" for layer in layers)
    assert "entry" in layers[0].tensor, [(layer.tensor, layer.added) for layer in layers]
    assert layers[0].rmse_over_scale > 10


def test_no_mixed_variant_when_int8_meets_the_budget(outlier, tmp_path):
    """Negative: with a 50-point budget int8 already passes; asking for int8-mixed turns the doctor on."""
    import mobilepack

    paths, _, _ = outlier
    result = mobilepack.convert(paths["model"], tmp_path / "o", quantize="int8-mixed",
                                calibration=paths["calibration"], validation=paths["validation"],
                                max_accuracy_drop=0.5, task="image_classification")
    assert result.variants == ()
    assert result.doctor["status"] == "int8-meets-budget" and result.doctor["mixed"] is None
    assert not list((tmp_path / "o").glob("*.tflite"))


def test_a_search_out_of_time_ships_nothing_and_says_so(outlier, tmp_path):
    import mobilepack

    paths, _, _ = outlier
    result = mobilepack.convert(paths["model"], tmp_path / "o", quantize="int8-mixed",
                                calibration=paths["calibration"], validation=paths["validation"], doctor_seconds=1e-6)
    assert result.variants == ()
    assert result.doctor["status"] == "timeout"
    assert any("--doctor-seconds" in w for w in result.warnings)


def test_build_runs_the_doctor_when_int8_misses_and_ships_int8_mixed(outlier, tmp_path):
    """Phase 2: ``[convert] doctor`` unset, real calibration data, no labels: int8's agreement with fp32
    misses the budget, the build's convert runs the doctor, and the selection ships int8-mixed."""
    import mobilepack

    paths, _, _ = outlier
    result = mobilepack.build(paths["model"], out=str(tmp_path / "b"), quantize=["fp32", "fp16", "int8"],
                              calibration=str(paths["calibration"]), delegates=["cpu"], threads=[1], runs=3,
                              warmup=1, cache_dir=str(tmp_path / "cache"))
    report = result.report
    assert [v["mode"] for v in report["variants"]] == ["fp32", "fp16", "int8", "int8-mixed"]
    assert report["selection"]["winner"] == "int8-mixed", report["selection"]
    assert "int8" in report["selection"]["rejected"]
    doctor = report["doctor"]
    # detected generic (a flat input): the doctor searched on the metric the selection judges by
    assert doctor["budget"]["metric"] == report["accuracy"]["agreement_metric"] == "cosine similarity"
    assert doctor["budget"]["floor"] == pytest.approx(report["accuracy"]["agreement_threshold"])
    assert doctor["status"] == "found" and doctor["mixed"]["score"] >= 0.99
    html = (tmp_path / "b" / "reports" / "report.html").read_text()
    assert 'id="doctor-layers"' in html and 'id="doctor-float-ops"' in html and "<svg" in html
    assert "kept in float by int8-mixed" in html
    md = (tmp_path / "b" / "reports" / "report.md").read_text()
    assert "## Quantization doctor" in md and "| float |" in md
    mixed = next(v for v in report["variants"] if v["mode"] == "int8-mixed")
    shipped = tmp_path / "b" / "android" / "app" / "src" / "main" / "assets" / "model.tflite"
    assert shipped.read_bytes() == (tmp_path / "b" / "models" / mixed["path"]).read_bytes()


def test_build_turns_the_doctor_on_only_for_int8_with_real_calibration(outlier):
    """Negative and positive planning, no conversion: random calibration or doctor = false leave it off."""
    from mobilepack.pipeline import plan_convert

    paths, _, _ = outlier
    model = str(paths["model"])

    def modes(**kw):
        return [str(m) for m in plan_convert(model, quantize="fp32,int8", **kw).modes]

    assert modes(calibration=str(paths["calibration"]), doctor="auto")[-1] == "int8-mixed"
    assert "int8-mixed" not in modes(calibration="random", doctor="auto")
    assert "int8-mixed" not in modes(calibration=str(paths["calibration"]), doctor=False)
    assert "int8-mixed" not in [str(m) for m in plan_convert(model, quantize="fp32,fp16", doctor="auto").modes]


@pytest.mark.parametrize("args,fragment", [
    (["--doctor"], "calibration"),
    (["--doctor", "--calibration", "random", "--doctor-seconds", "0"], "--doctor-seconds"),
    (["--doctor", "--calibration", "random", "--max-accuracy-drop", "2"], "--max-accuracy-drop"),
], ids=["no-calibration", "zero-seconds", "bad-drop"])
def test_bad_doctor_options_are_one_clean_error(outlier, tmp_path, args, fragment):
    paths, _, _ = outlier
    result = run_cli("convert", paths["model"], "-o", tmp_path / "o", *args)
    assert_clean_error(result, 2, fragment)


def test_config_file_takes_doctor(tmp_path):
    from mobilepack.config import ConfigError, load_config

    good = tmp_path / "mobilepack.toml"
    good.write_text("[convert]\ndoctor = true\ndoctor_seconds = 30\n")
    cfg = load_config(good)
    assert cfg["convert"]["doctor"] is True and cfg["convert"]["doctor_seconds"] == 30.0
    bad = tmp_path / "bad.toml"
    bad.write_text("[convert]\ndoctor = \"yes\"\n")
    with pytest.raises(ConfigError, match="doctor"):
        load_config(bad)


def test_layer_chart_marks_float_layers():
    from mobilepack.report.doctor_view import view

    doctor = {"summary": "", "layers": [
        {"rank": 1, "op": "FULLY_CONNECTED", "tensor": "m/a_1/MatMul;m/a_1/Relu", "rmse_over_scale": 38.0},
        {"rank": 2, "op": "SOFTMAX", "tensor": "out:0", "rmse_over_scale": 0.2}],
        "mixed": {"float_ops": ["m/a_1/MatMul;m/a_1/Relu"]}, "float_ops": []}
    v = view(doctor)
    assert v["layers"][0]["label"] == "a_1/MatMul" and v["layers"][0]["float"] and not v["layers"][1]["float"]
    assert v["svg"].count("<rect") == 2 and "#d9480f" in v["svg"] and "rounding only" in v["svg"]
    assert view(None) is None


def test_a_float_tflite_is_quantized_in_every_mode_and_doctored(outlier, outlier_tflite, tmp_path):
    from benchmarks.doctor import top1

    import mobilepack

    paths, _, _ = outlier
    result = mobilepack.convert(outlier_tflite, tmp_path / "o", quantize="fp32,fp16,dynamic,int8,int16x8",
                                calibration=paths["calibration"], validation=paths["validation"], doctor=True)
    modes = _by_mode(result)
    assert list(modes) == ["fp32", "fp16", "dynamic", "int8", "int16x8", "int8-mixed"]
    source = outlier_tflite.read_bytes()
    assert (tmp_path / "o" / modes["fp32"].path).read_bytes() == source
    assert modes["fp16"].bytes < 0.6 * len(source) and modes["fp16"].validation["passed"]
    assert modes["int8"].bytes < 0.4 * len(source)
    assert modes["int8"].input_dtypes == ("int8",)          # AEQ's static recipe quantizes the I/O too
    doctor = result.doctor
    assert doctor["method"] == "tensor-compare" and doctor["status"] == "found"
    assert "entry" in doctor["layers"][0]["tensor"]
    assert doctor["mixed"]["float_ops"] == [doctor["layers"][0]["tensor"]]
    acc = {m: top1(tmp_path / "o" / modes[m].path, paths["test"]) for m in ("fp32", "int8", "int8-mixed")}
    assert acc["fp32"] - acc["int8"] > 0.05 and acc["fp32"] - acc["int8-mixed"] <= 0.01, acc
    assert modes["int8-mixed"].bytes < modes["fp16"].bytes
    assert "int16x8" in doctor["other_variants"]
    assert "### int16x8, per layer" in (tmp_path / "o" / "convert.md").read_text()


def test_an_already_quantized_tflite_is_refused(outlier, tmp_path):
    """Negative: quantizing the int8 file again is one clean error naming a quantized tensor."""
    paths, out, result = outlier
    int8 = out / _by_mode(result)["int8"].path
    cli = run_cli("convert", int8, "-o", tmp_path / "o", "-q", "dynamic")
    assert_clean_error(cli, 2, "already quantized")
    cli = run_cli("convert", int8, "-o", tmp_path / "o", "-q", "int8", "--calibration", paths["calibration"],
                  "--io-dtype", "int8")
    assert_clean_error(cli, 2, "--io-dtype")


def test_inspect_against_the_float_model_ranks_layers_without_tensorflow(outlier, outlier_tflite):
    paths, out, result = outlier
    int8 = out / _by_mode(result)["int8"].path
    cli = run_cli("inspect", int8, "--against", outlier_tflite, "--data", paths["validation"], "--no-gpu", "--json")
    assert cli.returncode == 0, cli.stderr
    record = json.loads(cli.stdout)["layer_errors"]
    assert record["method"] == "tensor-compare" and record["samples"] == 32
    assert "entry" in record["layers"][0]["tensor"] and record["layers"][0]["rmse_over_scale"] > 10
    # the same command never imports TensorFlow
    probe = run_cli("inspect", int8, "--against", outlier_tflite, "--no-gpu", "--json",
                    env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert probe.returncode == 0 and "import time:" in probe.stderr      # the probe works
    assert "tensorflow.python" not in probe.stderr
    assert "random" in json.loads(probe.stdout)["layer_errors"]["data"]


def test_inspect_against_a_quantized_model_is_one_clean_error(outlier):
    """Negative: two quantized files have no float tensors to compare; --data alone is refused."""
    _, out, result = outlier
    int8 = out / _by_mode(result)["int8"].path
    assert_clean_error(run_cli("inspect", int8, "--against", int8, "--no-gpu"), 2, "matches a tensor")
    assert_clean_error(run_cli("inspect", int8, "--data", "random", "--no-gpu"), 2, "--against")
