"""Errors and findings that are true and say why (issue 26, parts 3-6): no silently ignored option,
task detection that explains its evidence and names the --task to pass, file errors that tell a
truncated file from another format and from weights only, tensor names that do not depend on the
cache, and custom ops never said to resolve when LiteRT stopped before them.  Real models: a
grayscale digits classifier trained here (tests/hint_models.py) and TF models with custom ops and
a string input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests import hint_models
from tests.conftest import assert_clean_error, run_cli


@pytest.fixture(scope="module")
def gray(tmp_path_factory):
    import mobilepack

    work = tmp_path_factory.mktemp("why")
    paths = hint_models.gray_classifier(work)
    out = mobilepack.convert(paths["keras"], work / "conv", quantize="fp32")
    paths["tflite"] = work / "conv" / out.variants[0].path
    (work / "three.txt").write_text("a\nb\nc\n")
    paths["three"] = work / "three.txt"
    return paths


# -- part 4: no silent ignores --------------------------------------------------------------------

@pytest.mark.parametrize("command", ["convert", "build"])
def test_calibration_for_a_passed_through_tflite_is_an_error_saying_what_to_add(gray, tmp_path, command):
    """Before: `build X.tflite --calibration DIR` shipped the pass-through variant and never said the
    calibration data went unused."""
    r = run_cli(command, gray["tflite"], "-o", tmp_path / "o", "--calibration", gray["calibration"])
    assert_clean_error(r, 2, "--calibration would go unused", "add --quantize")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flags,fragment", [
    (["--doctor-seconds", "30"], "--doctor-seconds has no effect without --doctor"),
    (["--max-accuracy-drop", "0.05"], "--max-accuracy-drop has no effect without --doctor"),
    (["--calibration-samples", "5"], "--calibration-samples has no effect without --calibration"),
], ids=["doctor-seconds", "max-accuracy-drop", "calibration-samples"])
def test_an_option_that_cannot_take_effect_is_refused(gray, tmp_path, flags, fragment):
    r = run_cli("convert", gray["keras"], "-o", tmp_path / "o", "-q", "fp32", *flags)
    assert_clean_error(r, 2, fragment, "add ")


def test_the_same_options_with_what_they_need_are_accepted(gray, tmp_path):
    r = run_cli("convert", gray["keras"], "-o", tmp_path / "o", "-q", "fp32", "--calibration", gray["calibration"],
                "--calibration-samples", "5")
    assert r.returncode == 0, r.stderr


# -- part 5: errors say why -----------------------------------------------------------------------

def test_an_undetected_task_says_why_and_names_the_task_to_pass(gray, tmp_path):
    """A 1-channel model without a Rescaling layer is generic: the refusal of --labels says so, and
    the --task it names then works.  Before: "labels need a classification ... task, not generic"."""
    r = run_cli("metadata", gray["tflite"], "-o", tmp_path / "m.tflite", "--labels", gray["labels"])
    assert_clean_error(r, 2, "taken as generic because", "1 channel(s) and no image evidence",
                       "pass --task image_classification")
    ok = run_cli("metadata", gray["tflite"], "-o", tmp_path / "m.tflite", "--labels", gray["labels"],
                 "--task", "image_classification", "--mean", "0", "--std", "16")
    assert ok.returncode == 0, ok.stderr
    # build's preflight (the source model, before conversion) says the same
    r = run_cli("build", gray["keras"], "-o", tmp_path / "b", "-q", "fp32", "--labels", gray["labels"])
    assert_clean_error(r, 2, "taken as generic because", "pass --task image_classification")


def _weights_only(gray, path):
    from tests.models import keras

    keras().models.load_model(gray["keras"]).save_weights(path)
    return path


@pytest.mark.parametrize("case,fragments", [
    ("truncated", ("truncated Keras archive", "copy or download the file again")),
    ("weights-as-keras", ("holds weights only", "load_weights")),
    ("weights-h5", ("holds weights only", "load_weights")),
    ("tflite-as-keras", ("not a Keras 3 archive", "it is a TFLite flatbuffer", "its own extension")),
    ("keras-as-h5", ("it is a zip", ".keras")),
])
def test_file_errors_tell_truncated_wrong_format_and_weights_only_apart(gray, tmp_path, case, fragments):
    """Before: a truncated .keras was "not a Keras 3 archive" and a weights-only file got a generic hint."""
    data = gray["keras"].read_bytes()
    if case == "truncated":
        src = tmp_path / "model.keras"
        src.write_bytes(data[:len(data) // 2])
    elif case == "weights-as-keras":
        src = tmp_path / "model.keras"
        _weights_only(gray, tmp_path / "w.weights.h5").rename(src)
    elif case == "weights-h5":
        src = _weights_only(gray, tmp_path / "w.weights.h5")
    elif case == "tflite-as-keras":
        src = tmp_path / "model.keras"
        shutil.copy(gray["tflite"], src)
    else:
        src = tmp_path / "model.h5"
        shutil.copy(gray["keras"], src)
    assert_clean_error(run_cli("convert", src, "-o", tmp_path / "o", "-q", "fp32"), 2, *fragments)


# -- part 6: names the same with and without the cache ----------------------------------------------

def test_a_label_count_error_names_the_output_as_the_source_model_does(gray, tmp_path):
    """Fresh, build's preflight checks the source model (output 'digit'); after a cached conversion the
    metadata stage checks the .tflite, whose tensor is 'StatefulPartitionedCall:0': both now say 'digit'."""
    fresh = run_cli("build", gray["keras"], "-o", tmp_path / "b", "-q", "fp32", "--task", "image_classification",
                    "--labels", gray["three"], "--mean", "0", "--std", "16")
    assert_clean_error(fresh, 2, "3 labels but output 'digit' has 10 classes")
    converted = run_cli("metadata", gray["tflite"], "-o", tmp_path / "m.tflite", "--task", "image_classification",
                        "--labels", gray["three"], "--mean", "0", "--std", "16")
    assert_clean_error(converted, 2, "3 labels but output 'digit' has 10 classes")


def test_a_label_count_error_is_the_same_line_from_a_cached_conversion(gray, tmp_path):
    """A real cached build: the first build (the right labels) fills the cache; the second, with three
    labels, gets its conversion from the cache, so the source-model preflight never runs and the
    metadata stage checks the .tflite.  Both builds fresh and cached must name the output alike."""
    cache, common = tmp_path / "cache", ["-q", "fp32", "--task", "image_classification", "--mean", "0", "--std", "16",
                                          "--delegates", "cpu", "--runs", "1", "--max-seconds", "0.1"]
    first = run_cli("build", gray["keras"], "-o", tmp_path / "a", "--labels", gray["labels"], "--cache-dir", cache,
                    *common, "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["cache_hits"]["convert"] is False
    assert any((cache / "convert").rglob("result.json")), "the first build left no conversion in the cache"
    fresh = run_cli("build", gray["keras"], "-o", tmp_path / "b", "--labels", gray["three"], "--cache-dir",
                    tmp_path / "empty", *common)
    cached = run_cli("build", gray["keras"], "-o", tmp_path / "c", "--labels", gray["three"], "--cache-dir", cache,
                     *common)
    assert_clean_error(cached, 2, "3 labels but output 'digit' has 10 classes")
    assert_clean_error(fresh, 2, "3 labels but output 'digit' has 10 classes")
    error = lambda r: next(ln for ln in r.stderr.splitlines() if ln.startswith("error:"))  # noqa: E731
    assert error(cached) == error(fresh)
    assert not (tmp_path / "c").exists()


# -- part 3: inspect's findings are true -------------------------------------------------------------

def test_custom_ops_litert_never_reached_are_not_said_to_resolve(tmp_path):
    """LiteRT stops at the first unresolved custom op.  Before: the other two were "custom op(s) stock
    LiteRT resolves"."""
    model = hint_models.custom_ops(tmp_path)
    findings = {f["id"]: f for f in json.loads(run_cli("inspect", model, "--no-gpu", "--json").stdout)["findings"]}
    assert "custom_ops" not in findings, findings
    unresolved = findings["unresolved_custom_ops"]["title"]
    unchecked = findings["unchecked_custom_ops"]["title"]
    named = {op for op in ("Digamma", "Igamma", "BesselI1e") if op in unresolved + unchecked}
    assert named == {"Digamma", "Igamma", "BesselI1e"} and "not checked" in unchecked


def test_a_string_input_model_is_not_told_to_use_integer_io(tmp_path):
    """--io-dtype int8 quantizes float inputs: a string input cannot take it."""
    from mobilepack.inspect.commands import integer_io_fix
    from mobilepack.model.flatbuffer import parse_model

    model = hint_models.string_input(tmp_path)
    fb = parse_model(model.read_bytes())
    sg = fb.subgraphs[0]
    fix = integer_io_fix([sg.tensors[i] for i in sg.inputs])
    assert "--io-dtype int8" not in fix and "keep float I/O" in fix and "string" in fix
    doc = json.loads(run_cli("inspect", model, "--no-gpu", "--json").stdout)
    (finding,) = [f for f in doc["findings"] if f["id"] == "integer_internals_float_io"]
    assert "--io-dtype int8" not in finding["fix"] and "string" in finding["fix"], finding


# -- a string input: convert validates on text -----------------------------------------------------

def test_a_string_input_saved_model_converts_on_random_text_and_on_given_text(tmp_path):
    """Before: `convert` of a SavedModel with a tf.string input crashed making its random validation
    inputs (internal error: data type 'string' not understood).  Random validation now gives a string
    input random words; --validation takes an .npz of strings; numbers for it are one clear line."""
    sm = hint_models.string_saved_model(tmp_path)
    r = run_cli("convert", sm, "-o", tmp_path / "rand", "-q", "fp32", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert any("validating on random inputs" in w for w in doc["warnings"]), doc["warnings"]
    v = doc["variants"][0]["validation"]
    assert v["passed"] and v["cosine_similarity"] > 0.999 and v["samples"] > 1, v
    np.savez(tmp_path / "text.npz", text=np.array([["red"], ["dog"], ["zebra"], ["blue"]]))
    r = run_cli("convert", sm, "-o", tmp_path / "given", "-q", "fp32", "--validation", tmp_path / "text.npz", "--json")
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout)["variants"][0]["validation"]
    assert v["passed"] and v["samples"] == 4 and v["max_abs_error"] < 1e-5, v
    np.savez(tmp_path / "numbers.npz", text=np.zeros((2, 1), "float32"))
    r = run_cli("convert", sm, "-o", tmp_path / "bad", "-q", "fp32", "--validation", tmp_path / "numbers.npz")
    assert_clean_error(r, 2, "expected text for the string input 'text'", "string array")
    assert not (tmp_path / "bad").exists()
