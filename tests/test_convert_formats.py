"""SavedModel, .h5, .keras, subclassed and in-memory Keras sources; dynamic shapes;
integer modes that must not fall back to float silently; NaN is fatal."""

from __future__ import annotations

import numpy as np
import pytest

import mobilepack
from mobilepack.errors import ConversionError, InputError, UsageError, ValidationError
from tests import models


def _check(result, modes):
    assert [v.mode for v in result.variants] == modes
    for v in result.variants:
        assert np.isfinite(v.validation["max_abs_error"])
        if v.mode in ("fp32", "fp16", "dynamic"):
            assert v.validation["passed"], v.validation
        else:  # random calibration on a tiny model: close, but top-1 of near-equal scores may flip
            assert v.validation["cosine_similarity"] > 0.99, v.validation


def test_keras_functional_file(tmp_path):
    path = tmp_path / "f.keras"
    models.functional().save(path)
    result = mobilepack.convert(path, tmp_path / "out", quantize="fp32,dynamic")
    _check(result, ["fp32", "dynamic"])
    assert result.model["inputs"][0]["name"] == "features"
    assert result.model["inputs"][0]["shape"] == [1, 6]
    assert result.model["outputs"][0]["name"] == "scores"


def test_legacy_h5_file(tmp_path):
    path = tmp_path / "s.h5"
    models.sequential().save(path)
    result = mobilepack.convert(path, tmp_path / "out", quantize="fp32,fp16")
    _check(result, ["fp32", "fp16"])
    assert result.source["format"] == "h5"


def test_saved_model_directory(tmp_path):
    sm = tmp_path / "sm"
    models.functional().export(str(sm))  # Keras 3's SavedModel export
    result = mobilepack.convert(sm, tmp_path / "out", quantize="fp32,int8", calibration="random",
                                calibration_samples=16)
    _check(result, ["fp32", "int8"])
    assert result.source["format"] == "saved_model"


def test_subclassed_keras_file_and_object(tmp_path):
    model = models.subclassed()
    path = tmp_path / "sub.keras"
    model.save(path)
    for source in (path, model):
        result = mobilepack.convert(source, tmp_path / f"out_{type(source).__name__}", quantize="fp32,fp16,dynamic")
        _check(result, ["fp32", "fp16", "dynamic"])
        # real numbers, not NaN from uninitialised variables: compare with the model itself
        from mobilepack.runtime.interpreter import SignatureSession

        x = np.linspace(-1, 1, 5, dtype=np.float32)[None]
        data = (tmp_path / f"out_{type(source).__name__}" / result.variants[0].path).read_bytes()
        got = next(iter(SignatureSession(data).run({result.model["inputs"][0]["name"]: x}).values()))
        np.testing.assert_allclose(got, np.asarray(model(x)), rtol=1e-5, atol=1e-6)


def test_dynamic_batch_is_fixed(tmp_path):
    sm = models.saved_model_dynamic(tmp_path / "dyn")
    one = mobilepack.convert(sm, tmp_path / "b1", quantize="fp32")
    assert one.model["inputs"][0]["shape"] == [1, 4]
    assert one.model["inputs"][0]["shape_signature"] == [-1, 4]
    three = mobilepack.convert(sm, tmp_path / "b3", quantize="fp32", batch=3)
    assert three.model["inputs"][0]["shape"] == [3, 4]
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(tmp_path / "b3" / three.variants[0].path))
    detail = it.get_input_details()[0]
    assert list(detail["shape"]) == [3, 4] and list(detail["shape_signature"]) == [3, 4]  # no -1 left


def test_dynamic_non_batch_dimension_needs_input_shape(tmp_path):
    sm = models.saved_model_dynamic(tmp_path / "dyn2", dims=(None, None, 4), name="seq")
    with pytest.raises(InputError) as err:
        mobilepack.convert(sm, tmp_path / "o", quantize="fp32")
    assert "'seq'" in err.value.message and "[?,?,4]" in err.value.message
    assert "--input-shape seq=" in err.value.hint
    assert not (tmp_path / "o").exists()
    ok = mobilepack.convert(sm, tmp_path / "o", quantize="fp32", input_shapes={"seq": (1, 7, 4)})
    assert ok.model["inputs"][0]["shape"] == [1, 7, 4]
    with pytest.raises(UsageError, match="unknown input 'nope'"):
        mobilepack.convert(sm, tmp_path / "o2", quantize="fp32", input_shapes={"nope": (1, 7, 4)})


def test_int8_names_ops_without_integer_kernels(tmp_path):
    sm = models.saved_model_sin(tmp_path / "sin")
    with pytest.raises(ConversionError) as err:
        mobilepack.convert(sm, tmp_path / "o", quantize="int8", calibration="random", calibration_samples=8)
    assert "SIN" in err.value.message and "--allow-float-fallback" in err.value.hint
    assert not (tmp_path / "o").exists()
    ok = mobilepack.convert(sm, tmp_path / "o", quantize="int8", calibration="random", calibration_samples=8,
                            allow_float_fallback=True)
    assert ok.variants[0].mode == "int8"


def test_nan_outputs_are_fatal(tmp_path):
    sm = models.saved_model_nan(tmp_path / "nan")
    with pytest.raises(ValidationError, match="NaN"):
        mobilepack.convert(sm, tmp_path / "o", quantize="fp32")
    assert not (tmp_path / "o").exists()


def test_tflite_source_passes_through(tmp_path):
    path = tmp_path / "f.keras"
    models.functional().save(path)
    first = mobilepack.convert(path, tmp_path / "a", quantize="fp32")
    tfl = tmp_path / "a" / first.variants[0].path
    again = mobilepack.convert(tfl, tmp_path / "b")
    assert again.variants[0].mode == "passthrough"
    assert (tmp_path / "b" / again.variants[0].path).read_bytes() == tfl.read_bytes()
    with pytest.raises(UsageError, match="calibration"):  # quantizing a .tflite: tests/test_doctor.py
        mobilepack.convert(tfl, tmp_path / "c", quantize="int8")


def test_rerun_replaces_own_files_and_keeps_user_files(tmp_path):
    path = tmp_path / "f.keras"
    models.functional().save(path)
    out = tmp_path / "out"
    mobilepack.convert(path, out, quantize="fp32,fp16")
    (out / "notes.txt").write_text("mine")
    mobilepack.convert(path, out, quantize="fp32")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["convert.json", "convert.md", "notes.txt", "tiny_functional_fp32.tflite"] or \
        names == ["convert.json", "convert.md", "f_fp32.tflite", "notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"


def test_lambda_layer_is_refused_unless_unsafe_load(tmp_path):
    k = models.keras()
    inp = k.Input(shape=(3,), name="x")
    out = k.layers.Lambda(lambda t: t * 2.0 + 1.0, output_shape=(3,))(inp)
    path = tmp_path / "lam.keras"
    k.Model(inp, out).save(path)
    with pytest.raises(mobilepack.MobilepackError) as err:
        mobilepack.convert(path, tmp_path / "o", quantize="fp32")
    assert "Lambda" in err.value.message and "--unsafe-load" in err.value.hint
    assert err.value.exit_code == 2
    ok = mobilepack.convert(path, tmp_path / "o", quantize="fp32", unsafe_load=True)
    assert ok.variants[0].validation["max_abs_error"] < 1e-5


def test_absurd_input_shape_is_refused(tmp_path):
    sm = models.saved_model_dynamic(tmp_path / "dyn3", dims=(None, None, 4), name="seq")
    with pytest.raises(InputError, match="too large"):
        mobilepack.convert(sm, tmp_path / "o", quantize="fp32", input_shapes={"seq": (1, 100_000_000, 4)})
