"""The keypoints task on the zoo's MediaPipe hand landmark model (tests/keypoint_models.py).

Checked: the layout is detected only where it is unambiguous, ``--keypoints-layout`` is parsed and
checked against the tensors (bad values are one clear line, exit 2, nothing written); the metadata
describes the outputs and carries the skeleton, and both read back; Python's decode of LiteRT's real
outputs is what the evaluator scores (PCK@0.05, normalized keypoint error against fp32; PCK@0.05
against labelled points in keypoints.json), and decodes broken on purpose — x/y swapped, the wrong
stride, no normalization — fail those checks.  The JVM harness (tests/test_android_jvm.py) checks
that the Android app's Kotlin decode equals this one; tests/test_zoo.py builds the model with
``--target all``."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mobilepack.errors import DataError, UsageError
from mobilepack.tasks import keypoints as kp
from tests.conftest import assert_clean_error, require, run_cli
from tests.keypoint_models import SIZE, hand_model, photos, with_metadata

HAND_LAYOUT = {"format": "keypoints", "output": 0, "points": 21, "values": 3, "presence": 1, "units": "pixels",
               "skeleton": [list(p) for p in kp.HAND_SKELETON]}


@pytest.fixture(scope="module")
def hand() -> bytes:
    path = hand_model()
    require(isinstance(path, Path), str(path))
    return path.read_bytes()


@pytest.fixture(scope="module")
def outputs(hand):
    """LiteRT's outputs (model order) of the source model on the calibration photos."""
    from ai_edge_litert.interpreter import Interpreter

    from mobilepack.data.readers import load_image

    it = Interpreter(model_content=hand)
    it.allocate_tensors()
    out = []
    for p in photos():
        it.set_tensor(it.get_input_details()[0]["index"], (load_image(p, SIZE, SIZE, 3) / 255.0)[None])
        it.invoke()
        out.append([it.get_tensor(d["index"]).copy() for d in it.get_output_details()])
    return out


def _shapes(*shapes):
    return [SimpleNamespace(shape=s, name=f"out{i}") for i, s in enumerate(shapes)]


def test_the_layout_is_detected_only_where_it_is_unambiguous():
    assert kp.detect_layout(_shapes((1, 63), (1, 1), (1, 1), (1, 63))) == HAND_LAYOUT
    assert kp.detect_layout(_shapes((1, 21, 3), (1, 1)))["points"] == 21
    pose = kp.detect_layout(_shapes((1, 195), (1, 1), (1, 256, 256, 1)))
    assert (pose["points"], pose["values"], pose["skeleton"]) == (39, 5, [])
    for shapes in (((1, 63),), ((1, 63), (1, 2)), ((1, 64), (1, 1)), ((1, 1), (1, 63)), ((1, 21, 2), (1, 1))):
        assert kp.detect_layout(_shapes(*shapes)) is None, shapes


def test_the_layout_option_is_parsed_and_checked(tmp_path):
    skeleton = tmp_path / "bones.txt"
    skeleton.write_text("# wrist to thumb\n0 1\n1,2\n")
    layout = kp.parse_option(f"17x3,output=1,presence=none,units=ratios,skeleton={skeleton}",
                             _shapes((1, 1), (1, 51)))
    assert layout == {"format": "keypoints", "output": 1, "points": 17, "values": 3, "presence": -1,
                      "units": "ratios", "skeleton": [[0, 1], [1, 2]]}
    assert kp.parse_option(kp.spec_text(HAND_LAYOUT)) == {**HAND_LAYOUT, "skeleton": []}
    (tmp_path / "far.txt").write_text("0 21\n")
    for bad, words in (("21", "POINTSxVALUES"), ("21x1", "POINTSxVALUES"), ("21x3,units=mm", "cannot read"),
                       ("21x3,presence=0", "presence"), ("21x3,output=3", "63 elements"),
                       (f"21x3,skeleton={tmp_path / 'far.txt'}", "beyond the 21 points"),
                       ("21x3,skeleton=missing.txt", "not found")):
        with pytest.raises(UsageError, match=words):
            kp.parse_option(bad, _shapes((1, 63), (1, 1)))


def test_metadata_describes_the_outputs_and_reads_back(hand):
    from mobilepack.metadata import attach, read
    from mobilepack.metadata.keypoints import layout_of
    from mobilepack.model.normalization import from_flags

    result = attach(hand, normalization=from_flags([0.0], [255.0]))
    assert (result.task, result.task_source) == ("keypoints", "detected")
    assert result.associated_files == ("skeleton.txt",)
    md = read(result.model)
    assert md.task() == "keypoints"
    assert [t.name for t in md.outputs] == ["keypoints", "presence", "Identity_2", "Identity_3"]
    assert md.packed_files["skeleton.txt"].decode().splitlines()[:2] == ["0 1", "1 2"]
    assert layout_of(md) == HAND_LAYOUT
    # given explicitly: the option wins over detection, and the ratios it names are what reads back
    again = attach(result.model, task="keypoints", keypoints_layout="21x3,output=3,presence=none")
    assert layout_of(read(again.model)) == {**HAND_LAYOUT, "output": 3, "presence": -1, "skeleton": []}
    assert again.associated_files == ()
    with pytest.raises(UsageError, match="applies to the keypoints task"):
        attach(hand, task="generic", keypoints_layout="21x3")


def test_a_bad_layout_is_one_line_and_writes_nothing(hand, tmp_path):
    src = tmp_path / "hand.tflite"
    src.write_bytes(hand)
    out = tmp_path / "out.tflite"
    for args, words in ((["--keypoints-layout", "21x3,output=9"], "needs output 9 with 63 elements"),
                        (["--task", "generic", "--keypoints-layout", "21x3"], "applies to the keypoints task")):
        r = run_cli("metadata", str(src), "-o", str(out), "--mean", "0", "--std", "255", *args)
        assert_clean_error(r, 2, words)
        assert not out.exists()


def _decoded(outputs, layout):
    return np.stack([kp.decode(o, layout, SIZE, SIZE)[0] for o in outputs])


# decodes broken on purpose: each must fail the agreement with the right one
BROKEN = {
    "x/y swapped": lambda o, layout: [kp.decode(x, layout, SIZE, SIZE)[0][:, ::-1] for x in o],
    "wrong stride (2 values per point)": lambda o, layout: [kp.decode(x, {**layout, "values": 2}, SIZE, SIZE)[0]
                                                           for x in o],
    "no normalization (pixels taken as ratios)": lambda o, layout: [kp.decode(x, {**layout, "units": "ratios"},
                                                                              SIZE, SIZE)[0] for x in o],
}


def test_the_evaluator_scores_the_decode_and_broken_decodes_fail(hand, outputs):
    from mobilepack.evaluate.keypoints import KEYPOINTS

    hints = KEYPOINTS.model_hints(with_metadata(hand))
    assert hints["keypoints"] == HAND_LAYOUT and hints["input_size"] == (SIZE, SIZE)
    named = [[(f"out{i}", y) for i, y in enumerate(o)] for o in outputs]
    ref = {k: np.concatenate([KEYPOINTS.reduce(n, hints)[k] for n in named]) for k in ("points", "presence")}
    assert np.array_equal(ref["points"], _decoded(outputs, HAND_LAYOUT))
    assert np.all((ref["points"] > -0.5) & (ref["points"] < 1.5))   # ratios of the input, not pixels
    same = KEYPOINTS.agreement(ref, ref)
    assert same["pck"] == 1.0 and same["nke"] == 0.0
    for name, broken in BROKEN.items():
        pred = {"points": np.stack(broken(outputs, HAND_LAYOUT)), "presence": ref["presence"]}
        got = KEYPOINTS.agreement(pred, ref)
        assert got["pck"] < KEYPOINTS.agreement_threshold and got["nke"] > kp.PCK_THRESHOLD, (name, got)


def test_labelled_keypoints_are_scored_by_pck(hand, outputs, tmp_path):
    """keypoints.json in image pixels: fp32's own points as labels score 1.0, broken decodes do not."""
    import shutil

    from PIL import Image

    from mobilepack.evaluate.keypoints import KEYPOINTS
    from mobilepack.model.spec import ModelSpec, Normalization, SourceFormat
    from mobilepack.runtime.interpreter import describe_tflite

    points = _decoded(outputs, HAND_LAYOUT)
    labels = {}
    for p, pts in zip(photos(), points):
        shutil.copy(p, tmp_path / p.name)
        w, h = Image.open(p).size
        labels[p.name] = [[float(x * w), float(y * h)] for x, y in pts]
    labels[photos()[0].name][0] = None            # an unlabelled point is not scored
    (tmp_path / "keypoints.json").write_text(json.dumps(labels))
    ins, outs, key = describe_tflite(hand)
    spec = ModelSpec(name="hand", source_path="hand.tflite", source_format=SourceFormat.TFLITE, inputs=ins,
                     outputs=outs, signature_key=key, task="keypoints",
                     normalization=Normalization(mean=(0.0,), std=(255.0,), source="flags"))
    KEYPOINTS.check_data(tmp_path, KEYPOINTS.labelled_layout)
    samples, truth, _ = KEYPOINTS.read_labelled(tmp_path, spec, ())
    assert len(truth) == len(photos()) and np.isnan(truth[0][0]).all()
    x = np.concatenate([b[ins[0].name] for b in samples.batches])
    assert np.allclose(x[0] * 255.0, np.asarray(Image.open(photos()[0]).convert("RGB").resize((SIZE, SIZE)),
                                                np.float32), atol=40)
    assert KEYPOINTS.score({"points": points}, truth) == pytest.approx(1.0, abs=1e-6)
    for name, broken in BROKEN.items():
        assert KEYPOINTS.score({"points": np.stack(broken(outputs, HAND_LAYOUT))}, truth) < 0.5, name
    (tmp_path / "keypoints.json").write_text(json.dumps({photos()[0].name: [[1, 2, 3]]}))
    with pytest.raises(DataError, match="is not \\[x, y\\] or null"):
        KEYPOINTS.read_labelled(tmp_path, spec, ())


def _undetectable_keypoints_model(path: Path) -> Path:
    """A small Keras model whose points output (5 points × x, y) is no layout detection knows: the build
    needs --keypoints-layout.  Weights are random: what is checked is that every stage reads the layout."""
    from tests.models import keras

    k = keras()
    k.utils.set_random_seed(0)
    x_in = k.Input((28, 28, 1), name="image")
    x = k.layers.Rescaling(1 / 255.0)(x_in)
    x = k.layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    x = k.layers.Flatten()(x)
    points = k.layers.Dense(10, name="points")(x)
    presence = k.layers.Dense(1, activation="sigmoid", name="presence")(x)
    k.Model(x_in, {"points": points, "presence": presence}).save(path)
    return path


def test_a_build_given_the_layout_quantizes_int8_with_the_doctor_on_it(tmp_path):
    """The convert stage's doctor scores int8 by the task's metric before any metadata exists: it must
    decode the points with the layout the build was given, not fail looking for one in the variant."""
    from tests.conftest import DIGITS

    model = _undetectable_keypoints_model(tmp_path / "five_points.keras")
    out = tmp_path / "out"
    r = run_cli("build", model, "--target", "android", "-o", out, "--quantize", "fp32,int8", "--task", "keypoints",
                "--keypoints-layout", "5x2,output=1,presence=0,units=pixels", "--calibration", DIGITS / "calibration",
                "--delegates", "cpu", "--runs", "1", "--warmup", "0", "--target-ci", "0",
                "--cache-dir", tmp_path / "cache", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert doc["accuracy"]["agreement_key"] == "pck"
    assert {c["mode"] for c in doc["accuracy"]["cells"]} >= {"fp32", "int8"}
    assert "internal error" not in r.stderr
