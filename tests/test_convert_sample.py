"""Every quantization mode on the bundled digits sample, with the real converter and LiteRT."""

from __future__ import annotations

import json

import numpy as np
import pytest

import mobilepack
from tests.conftest import DIGITS

ALL_MODES = "fp32,fp16,dynamic,int8,int16x8"


@pytest.fixture(scope="session")
def sample_conversion(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits") / "models"
    result = mobilepack.convert(DIGITS / "digits.keras", out, quantize=ALL_MODES,
                                calibration=DIGITS / "calibration", validation=DIGITS / "eval",
                                validation_samples=300)
    return out, result


def _by_mode(result):
    return {v.mode: v for v in result.variants}


@pytest.mark.smoke
def test_every_mode_written_with_record(sample_conversion):
    out, result = sample_conversion
    modes = _by_mode(result)
    assert list(modes) == ALL_MODES.split(",")
    for v in result.variants:
        path = out / v.path
        assert path.is_file() and path.stat().st_size == v.bytes
        assert path.name == f"digits_{v.mode}.tflite"
    record = json.loads((out / "convert.json").read_text())
    assert record["schema_version"] == "1.0"
    assert [v["mode"] for v in record["variants"]] == ALL_MODES.split(",")
    assert "| int8 |" in (out / "convert.md").read_text()


def test_sizes_shrink_with_quantization(sample_conversion):
    _, result = sample_conversion
    m = _by_mode(result)
    assert m["fp32"].bytes > m["fp16"].bytes > m["int8"].bytes
    assert m["fp32"].bytes > m["dynamic"].bytes


def test_int8_agrees_with_keras_on_evaluation_split(sample_conversion):
    _, result = sample_conversion
    val = _by_mode(result)["int8"].validation
    assert val["samples"] == 300  # the disjoint evaluation split, every image
    assert val["top1_agreement"] >= 0.95
    assert val["cosine_similarity"] > 0.9


@pytest.mark.smoke
@pytest.mark.parametrize("mode", ALL_MODES.split(","))
def test_variant_runs_in_litert_and_matches_keras(sample_conversion, mode):
    """Independent of the pipeline's own validation: load each file in ai-edge-litert
    (reference kernels and XNNPACK) and compare with the Keras model on sample images."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from PIL import Image

    from mobilepack.model.tfimport import keras

    out, result = sample_conversion
    model = keras().models.load_model(DIGITS / "digits.keras")
    images = sorted((DIGITS / "samples").glob("*.png"))
    x = np.stack([np.asarray(Image.open(p).convert("RGB"), np.float32) for p in images])
    expected = model.predict(x, verbose=0).argmax(axis=1)
    assert (expected == np.arange(10)).mean() >= 0.9  # the samples are one per class, in order
    for resolver in (OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES, OpResolverType.AUTO):
        it = Interpreter(model_path=str(out / _by_mode(result)[mode].path), experimental_op_resolver_type=resolver)
        it.allocate_tensors()
        inp, outp = it.get_input_details()[0], it.get_output_details()[0]
        got = []
        for img in x:
            feed = img[None]
            if inp["dtype"] != np.float32:
                scale, zp = inp["quantization"]
                feed = np.clip(np.rint(feed / scale + zp), -128, 127)
            it.set_tensor(inp["index"], feed.astype(inp["dtype"]))
            it.invoke()
            got.append(it.get_tensor(outp["index"])[0].argmax())
        assert (np.array(got) == expected).mean() >= 0.9, (mode, resolver, got, expected)


def test_int8_integer_io(tmp_path):
    result = mobilepack.convert(DIGITS / "digits.keras", tmp_path / "io", quantize="int8", io_dtype="int8",
                                calibration=DIGITS / "calibration", calibration_samples=50)
    v = result.variants[0]
    assert v.input_dtypes == ("int8",) and v.output_dtypes == ("int8",)
    assert v.validation["top1_agreement"] >= 0.9


def test_calibration_random_warns(tmp_path):
    result = mobilepack.convert(DIGITS / "digits.keras", tmp_path / "r", quantize="int8",
                                calibration="random", calibration_samples=10)
    assert any("random" in w and "collapse" in w for w in result.warnings)
    assert result.calibration["kind"] == "random"


def test_npz_calibration_keyed_by_input_name(tmp_path):
    from PIL import Image

    imgs = sorted((DIGITS / "calibration").glob("*.png"))[:20]
    x = np.stack([np.asarray(Image.open(p).convert("RGB"), np.float64) for p in imgs])  # float64 is accepted
    np.savez(tmp_path / "cal.npz", image=x)
    result = mobilepack.convert(DIGITS / "digits.keras", tmp_path / "n", quantize="int8",
                                calibration=tmp_path / "cal.npz")
    assert result.calibration == {"source": str(tmp_path / "cal.npz"), "kind": "npz", "samples": 20}
