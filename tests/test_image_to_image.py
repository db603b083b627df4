"""The image_to_image task: detection from the tensors (and what it leaves to segmentation), the
output-to-pixel rule, SSIM/PSNR against TensorFlow's own, and the metadata that records the output
range and reads back.  The real model (UpscalerJS's 2x super-resolution, npm) is in the zoo
(tests/test_zoo.py); the apps' pixels are compared with :func:`to_pixels` in tests/test_android_jvm.py."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from mobilepack.tasks import detect, image_to_image
from mobilepack.tasks.tensors import signature
from tests.conftest import assert_clean_error, run_cli


@dataclass(frozen=True)
class T:
    name: str
    shape: tuple
    type: str = "FLOAT32"
    index: int = 0


def task_of(in_shape, out_shape, out_type="FLOAT32") -> str | None:
    return detect(signature([T("x", in_shape)], [T("y", out_shape, out_type, 1)]))[0]


@pytest.mark.parametrize(("ins", "outs", "want"), [
    ((1, 64, 64, 3), (1, 128, 128, 3), "image_to_image"),       # 2x super-resolution
    ((1, 32, 32, 3), (1, 128, 128, 1), "image_to_image"),       # 4x, grayscale out
    ((1, 64, 64, 3), (1, 64, 64, 3), "image_segmentation"),     # a denoiser, or 3 classes: ambiguous
    ((1, 64, 64, 3), (1, 64, 64, 1), "image_segmentation"),     # a foreground mask: ambiguous, stays a mask
    ((1, 64, 64, 3), (1, 64, 64, 21), "image_segmentation"),    # class scores per pixel
    ((1, 64, 64, 3), (1, 32, 32, 3), "image_segmentation"),     # smaller than the input: not an image out
    ((1, 64, 64, 3), (1, 96, 96, 3), "image_segmentation"),     # 1.5x: not an integer factor
])
def test_detection_from_the_tensors(ins, outs, want):
    assert task_of(ins, outs) == want


def test_the_ambiguous_case_says_which_task_to_pass():
    for channels in (1, 3):
        _, why = detect(signature([T("x", (1, 64, 64, 3))], [T("y", (1, 64, 64, channels), "FLOAT32", 1)]))
        assert "pass --task image_to_image" in why
    _, why = detect(signature([T("x", (1, 64, 64, 3))], [T("y", (1, 64, 64, 21), "FLOAT32", 1)]))
    assert "image_to_image" not in why


def test_an_integer_output_is_never_an_image():
    assert task_of((1, 64, 64, 3), (1, 128, 128, 3), "UINT8") == "image_segmentation"


def test_to_pixels_maps_the_range_clamps_and_copies_grey():
    y = np.array([[[-1.0, 0.0, 1.0], [2.0, -3.0, np.nan]]], np.float32)   # [1, 2, 3]
    px = image_to_image.to_pixels(y, [-1.0], [1.0])
    assert px.tolist() == [[[0, 128, 255], [255, 0, 0]]]
    grey = image_to_image.to_pixels(np.array([[[0.25]]]), [0.0], [1.0])
    assert grey.tolist() == [[[64, 64, 64]]]
    per_channel = image_to_image.to_pixels(np.array([[[0.5, 0.5, 0.5]]]), [0.0, 0.0, 0.5], [1.0, 2.0, 1.0])
    assert per_channel.tolist() == [[[128, 64, 0]]]


def test_default_range_is_the_inverse_of_the_input_normalization():
    assert image_to_image.default_range("FLOAT32", (127.5,), (127.5,), 3) == ([-1.0] * 3, [1.0] * 3)
    assert image_to_image.default_range("FLOAT32", (0.0,), (255.0,), 1) == ([0.0], [1.0])
    assert image_to_image.default_range("UINT8", (0.0,), (1.0,), 3) == ([0.0] * 3, [255.0] * 3)


def test_ssim_and_psnr_equal_tensorflows():
    from mobilepack.evaluate.metrics import psnr, ssim
    from tests.models import tf

    t = tf()
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 255, (40, 36, 3)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 12, a.shape), 0, 255).astype(np.float32)
    assert ssim(a, b, 255.0) == pytest.approx(float(t.image.ssim(a, b, max_val=255.0)), abs=1e-4)
    assert psnr(a, b, 255.0) == pytest.approx(float(t.image.psnr(a, b, max_val=255.0)), abs=1e-3)
    assert ssim(a, a, 255.0) == pytest.approx(1.0) and psnr(a, a, 255.0) == 100.0


def test_the_evaluator_scores_a_worse_image_lower():
    from mobilepack.evaluate.tasks import get

    ev = get("image_to_image")
    rng = np.random.default_rng(1)
    ref = rng.uniform(-1, 1, (2, 24, 24, 3)).astype(np.float32)
    hints = {"output_range": ([-1.0] * 3, [1.0] * 3)}
    r = ev.reduce([("y", ref)], hints)
    close = ev.agreement(ev.reduce([("y", ref + 0.01)], hints), r)
    far = ev.agreement(ev.reduce([("y", ref[:, :, :, ::-1])], hints), r)   # channels swapped
    assert close["ssim"] > 0.99 and close["psnr"] > 40
    assert far["ssim"] < 0.5 and far["psnr"] < close["psnr"] - 20
    assert ev.agreement_key == "ssim" and ev.labelled_metric is None


@pytest.fixture(scope="module")
def upscaler(tmp_path_factory):
    """A tiny 2x image-to-image .tflite (untrained: only its tensors matter here)."""
    from tests.models import keras, tf

    k = keras()
    inp = k.Input(shape=(8, 8, 3), batch_size=1, name="image")
    out = k.layers.Conv2D(3, 3, padding="same", name="picture")(k.layers.UpSampling2D(2)(inp))
    path = tmp_path_factory.mktemp("i2i") / "up.tflite"
    path.write_bytes(tf().lite.TFLiteConverter.from_keras_model(k.Model(inp, out)).convert())
    return path


def test_metadata_records_the_output_range_and_reads_back(upscaler, tmp_path):
    from mobilepack.metadata.families import image_output_range

    out = tmp_path / "with.tflite"
    ok = run_cli("metadata", upscaler, "-o", out, "--mean", "127.5", "--std", "127.5", "--json")
    assert ok.returncode == 0, ok.stderr
    doc = __import__("json").loads(ok.stdout)
    assert doc["task"] == "image_to_image", doc
    assert image_output_range(out.read_bytes()) == ([-1.0] * 3, [1.0] * 3)
    stated = tmp_path / "stated.tflite"
    name = _output_name(upscaler)
    ok = run_cli("metadata", upscaler, "-o", stated, "--mean", "0", "--std", "1", "--value-range", f"{name}=0,1")
    assert ok.returncode == 0, ok.stderr
    assert image_output_range(stated.read_bytes()) == ([0.0] * 3, [1.0] * 3)


def test_a_flat_output_range_and_an_unknown_tensor_are_refused(upscaler, tmp_path):
    name = _output_name(upscaler)
    flat = run_cli("metadata", upscaler, "-o", tmp_path / "a.tflite", "--mean", "0", "--std", "1",
                   "--value-range", f"{name}=1,1")
    assert_clean_error(flat, 2, "needs MIN < MAX")
    other = run_cli("metadata", upscaler, "-o", tmp_path / "b.tflite", "--mean", "0", "--std", "1",
                    "--value-range", "nope=0,1")
    assert_clean_error(other, 2, "not the output image")
    assert not (tmp_path / "a.tflite").exists() and not (tmp_path / "b.tflite").exists()


def _output_name(path) -> str:
    from mobilepack.runtime.interpreter import describe_tflite

    _, outs, _ = describe_tflite(path.read_bytes())
    return outs[0].name
