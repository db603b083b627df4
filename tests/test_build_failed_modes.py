"""A quantization mode that cannot be produced never sinks a build: it is recorded in the report with
its reason and the build ships the rest; ``--strict`` and ``convert`` still stop at it.

The model is trained here for real (a few steps): two dense branches meet in SIN, an op LiteRT has
no integer kernel for, so full-integer int8 cannot be produced without float fallback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import assert_clean_error, run_cli

FAST = ["--runs", "5", "--warmup", "1", "--threads", "1", "--target-ci", "0", "--delegates", "cpu,xnnpack"]


@pytest.fixture(scope="module")
def sin_model(tmp_path_factory) -> tuple[Path, Path]:
    import keras

    root = tmp_path_factory.mktemp("sin-model")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (64, 8)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0).astype("int32")
    inp = keras.Input((8,), name="features")
    # big enough that int8 weights save more than their per-channel scales/zero points and the
    # quantize/dequantize pairs around SIN cost (an int8-mixed not smaller than fp32 is not added:
    # tests/test_doctor_budget.py)
    h = keras.layers.Dense(64, activation="relu")(keras.layers.Dense(64, activation="relu")(inp))
    g = keras.layers.Dense(64, activation="relu")(inp)
    out = keras.layers.Dense(3, activation="softmax")(keras.ops.sin(keras.ops.add(h, g)))
    model = keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    model.save(root / "sin.keras")
    np.save(root / "calibration.npy", x[:32])
    return root / "sin.keras", root / "calibration.npy"


def _build(tmp_path, model, calibration, *extra):
    out = tmp_path / "out"
    return out, run_cli("build", str(model), "-o", str(out), "--target", "android", "--quantize", "fp32,int8",
                        "--calibration", str(calibration), "--cache-dir", str(tmp_path / "cache"), *FAST, *extra,
                        timeout=600)


@pytest.mark.parametrize("jobs", ["auto", "2"])   # 2: int8 refused in the second converter process
def test_failed_mode_is_recorded_and_the_rest_ships(sin_model, tmp_path, jobs):
    out, r = _build(tmp_path, *sin_model, "--jobs", jobs)
    assert r.returncode == 0, r.stderr
    assert "int8 was not produced (convert)" in r.stderr and "SIN" in r.stderr
    report = json.loads((out / "reports/report.json").read_text())
    (failed,) = report["failed_modes"]
    assert failed["mode"] == "int8" and failed["stage"] == "convert" and "SIN" in failed["reason"]
    assert "--allow-float-fallback" in failed["hint"]
    # the automatic doctor makes the integer variant that can exist: SIN in float, every other op int8
    assert [v["mode"] for v in report["variants"]] == ["fp32", "int8-mixed"]
    assert report["doctor"]["status"] == "found" and "(SIN)" in report["doctor"]["summary"]
    assert report["doctor"]["method"] == "float-fallback"     # the refused int8 conversion, scored: no search
    mixed = next(v for v in json.loads((out / "models/convert.json").read_text())["variants"] if v["mode"] == "int8-mixed")
    assert mixed["validation"]["samples"] == 32        # validated (on the outputs the doctor scored)
    assert "Not produced" in (out / "reports/report.md").read_text()
    assert 'id="failed-modes"' in (out / "reports/report.html").read_text()
    record = json.loads((out / "models/convert.json").read_text())
    assert record["failed_modes"] == report["failed_modes"]
    assert not (out / "models" / "sin_int8.tflite").exists()


def test_strict_stops_at_the_failed_mode(sin_model, tmp_path):
    out, r = _build(tmp_path, *sin_model, "--strict")
    assert_clean_error(r, 1, "int8: op(s) SIN have no integer kernel")
    assert not out.exists()                        # nothing half-written


def test_no_variant_at_all_is_an_error(sin_model, tmp_path):
    model, calibration = sin_model
    out = tmp_path / "out"
    config = tmp_path / "mobilepack.toml"
    config.write_text("[convert]\ndoctor = false\n", encoding="utf-8")     # no int8-mixed either
    r = run_cli("build", str(model), "-o", str(out), "--target", "android", "--quantize", "int8", "--calibration",
                str(calibration), "--cache-dir", str(tmp_path / "cache"), "--config", str(config), *FAST,
                timeout=600)
    assert_clean_error(r, 1, "no variant could be produced", "int8: op(s) SIN")
    assert not out.exists()


def test_convert_still_fails_for_a_named_mode(sin_model, tmp_path):
    model, calibration = sin_model
    r = run_cli("convert", str(model), "-o", str(tmp_path / "c"), "--quantize", "fp32,int8", "--calibration",
                str(calibration))
    assert_clean_error(r, 1, "int8: op(s) SIN have no integer kernel")


def test_validation_reads_outputs_already_computed_for_the_same_bytes():
    """The doctor's float-fallback scoring hands its LiteRT outputs to the convert loop's validation
    (one pass of int8-mixed instead of two): given outputs are compared as they are, and a NaN in
    them fails the variant exactly as a NaN the model computed would."""
    from mobilepack.conversion.quantization import Tolerance
    from mobilepack.conversion.validation import validate_variant
    from mobilepack.errors import ValidationError
    from mobilepack.runtime.interpreter import SignatureSession

    data = (Path(__file__).parent / "fixtures" / "bench" / "dense.tflite").read_bytes()
    session = SignatureSession(data)
    batches = [{n: np.full(d["shape"], 0.1 * (i + 1), np.float32) for n, d in session.inputs.items()} for i in range(3)]
    references = [session.run(b) for b in batches]
    tol = Tolerance(min_cosine=0.99, min_top1=0.0)
    result, _ = validate_variant("int8-mixed", data, batches, references, tol, class_scores=False)
    given, _ = validate_variant("int8-mixed", data, batches, references, tol, class_scores=False,
                                outputs=[dict(r) for r in references])
    assert result.to_dict() == given.to_dict() and given.max_abs_error == 0.0
    broken = [{k: np.full_like(v, np.nan) for k, v in r.items()} for r in references]
    with pytest.raises(ValidationError, match="NaN"):
        validate_variant("int8-mixed", data, batches, references, tol, class_scores=False, outputs=broken)
