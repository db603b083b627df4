"""YOLO-style detection (mobilepack/tasks/yolo.py): a detector the tests train themselves on shapes
they draw (tests/yolo_models.py), built with ``--target all`` through the CLI, scored by mAP@0.5
against its labelled boxes and by box agreement with fp32 (int8 through the quantization doctor, judged
by decoded boxes); the decode (score threshold, xywh to
corners, class-wise NMS) is checked against the labels, and deliberately broken decodes (xywh taken
as corners, NMS off, the layout transposed) must lose mAP.  The Kotlin decode is compared with this
one in tests/test_android_jvm.py (the ``yolo_detection`` project)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mobilepack.tasks import yolo
from tests.conftest import run_cli
from tests.yolo_models import CLASSES, SIZE, dataset, trained, write_coco


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("yolo")
    test = dataset(48, 7)
    calib = dataset(64, 3)
    np.savez(d / "calibration.npz", image=np.stack([x[0] for x in calib]).astype(np.float32))
    (d / "labels.txt").write_text("\n".join(CLASSES) + "\n", encoding="utf-8")
    model = trained()
    model.save(d / "shapes_yolo.keras")
    return {"dir": d, "test": test, "eval": write_coco(d / "eval", test), "model": model}


def _map(heads, test, decode=yolo.decode, layout=None) -> float:
    from mobilepack.data.annotations import Detections
    from mobilepack.evaluate.metrics import mean_average_precision

    layout = layout or yolo.layout_of_shape((1, *heads.shape[1:]))
    preds = [Detections(*decode(h, layout, SIZE, SIZE)) for h in heads]
    truth = [Detections(b, c, np.ones(len(c))) for _, b, c in test]
    return mean_average_precision(preds, truth)[0]


def _agreement(heads, test, decode=yolo.decode) -> float:
    """Mean per-image box agreement with the labels (missing and extra boxes both lower it)."""
    from mobilepack.data.annotations import Detections
    from mobilepack.evaluate.metrics import detection_agreement

    layout = yolo.layout_of_shape((1, *heads.shape[1:]))
    return float(np.mean([detection_agreement(Detections(b, c, np.ones(len(c))), Detections(*decode(h, layout, SIZE, SIZE)))
                          for h, (_, b, c) in zip(heads, test)]))


def _heads(data):
    x = np.stack([d[0] for d in data["test"]]).astype(np.float32)
    return np.asarray(data["model"].predict(x, verbose=0))


def test_layouts_are_told_apart_by_shape():
    assert yolo.layout_of_shape((1, 84, 8400)) == {"layout": "anchor_free", "anchors": 8400, "classes": 80}
    assert yolo.layout_of_shape((1, 25200, 85)) == {"layout": "anchor_based", "anchors": 25200, "classes": 80}
    for shape in ((1, 1001), (1, 33, 5), (1, 17, 3), (2, 84, 8400), (1, 7, 20)):
        assert yolo.layout_of_shape(shape) is None, shape


def test_trained_decode_finds_the_labelled_shapes(data):
    assert _map(_heads(data), data["test"]) >= 0.8


def test_broken_decodes_lose_map(data):
    """xywh taken as corners, NMS off, and the anchor-free head read as anchor-based each fail."""
    assert _agreement(_heads(data), data["test"]) >= 0.8
    heads = _heads(data)
    good = _map(heads, data["test"])

    def as_corners(head, layout, w, h, **kw):
        boxes, classes, scores = yolo.decode(head, layout, w, h, **kw)
        cy, cx = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        return np.stack([cx, cy, (boxes[:, 2] - boxes[:, 0]), (boxes[:, 3] - boxes[:, 1])], 1), classes, scores

    def no_nms(head, layout, w, h, **kw):
        return yolo.decode(head, layout, w, h, iou_threshold=1.0, **kw)

    assert _map(heads, data["test"], as_corners) < good - 0.3
    # NMS off keeps the duplicates of neighbouring cells: mAP ranks them last, box agreement counts them
    assert _agreement(heads, data["test"], no_nms) < _agreement(heads, data["test"]) - 0.2
    wrong = {"layout": "anchor_based", "anchors": 144, "classes": 2}
    assert _map(heads.reshape(len(heads), 144, 7), data["test"], layout=wrong) < good - 0.3


def test_anchor_based_layout_decodes_the_same_boxes(data):
    """The same head as [1, N, 5+C] with objectness 1 and pixel coordinates gives the same detections."""
    head = _heads(data)[0]                                           # [4+C, N]
    rows = head.T.astype(np.float64)
    based = np.concatenate([rows[:, :4] * SIZE, np.ones((len(rows), 1)), rows[:, 4:]], 1)
    layout = yolo.layout_of_shape((1, *based.shape))
    assert layout["layout"] == "anchor_based"
    a = yolo.decode(head, yolo.layout_of_shape((1, *head.shape)), SIZE, SIZE)
    b = yolo.decode(based, layout, SIZE, SIZE)
    assert len(a[2]) >= 1 and np.allclose(a[0], b[0], atol=1e-6) and (a[1] == b[1]).all()


def test_nms_is_class_wise_and_ordered():
    boxes = np.array([[0, 0, .5, .5], [0, 0, .5, .49], [0, 0, .5, .5], [.6, .6, .9, .9]], np.float64)
    assert yolo.nms(boxes, [0, 0, 1, 0], [.9, .8, .7, .95], 0.45) == [3, 0, 2]


def test_build_target_all_reports_map_and_agreement(data, tmp_path):
    d = data["dir"]
    out = tmp_path / "out"
    result = run_cli("build", d / "shapes_yolo.keras", "--target", "all", "-o", out, "-q", "fp32,int8",
                     "--calibration", d / "calibration.npz", "--eval-data", data["eval"], "--labels",
                     d / "labels.txt", "--mean", "0", "--std", "1", "--score-threshold", "0.3", "--delegates",
                     "cpu", "--threads", "1", "--runs", "1", "--warmup", "0", timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "reports" / "report.json").read_text())
    acc = report["accuracy"]
    assert acc["task"] == "yolo_detection" and acc["metric"] == "mAP@0.5"
    cells = {c["mode"]: c for c in acc["cells"]}
    assert cells["fp32"]["accuracy"] >= 0.8 and cells["fp32"]["metrics"]["box_agreement"] == 1.0
    assert cells["int8"]["metrics"]["box_agreement"] >= 0.8
    # boxes and class scores share the head: the doctor judges int8 by decoded boxes (on this calibration
    # plain int8 lost 1.3 points of mAP while cosine of the raw head let it through) and keeps what needs it
    # in float; an integer variant ships within the 1-point budget
    doctor = json.loads((out / "models" / "convert.json").read_text()).get("doctor")
    if doctor is not None:
        assert doctor["budget"]["metric"].startswith("box agreement"), doctor["summary"]
    winner = report["selection"]["winner"]
    assert winner in ("int8-mixed", "int8") and cells[winner]["accuracy"] >= cells["fp32"]["accuracy"] - 0.01
    config = (out / "android/app/src/main/java").rglob("ModelConfig.kt")
    text = next(config).read_text()
    assert 'YOLO_LAYOUT = "anchor_free"' in text and "YOLO_ANCHORS = 144" in text
    assert "YOLO_SCORE_THRESHOLD = 0.30000001192092896" in text and "YOLO_IOU_THRESHOLD = 0.45" in text
    swift = next((out / "ios").rglob("ModelInfo.swift")).read_text()
    assert 'yoloLayout = "anchor_free"' in swift


def test_metadata_describes_the_head_and_reads_back(data, tmp_path):
    from mobilepack.metadata.families import yolo_model_decode
    from mobilepack.metadata.reader import read_metadata
    from mobilepack.metadata.writer import attach
    from mobilepack.model.flatbuffer import parse_model
    from tests.models import tf

    model = tf().lite.TFLiteConverter.from_keras_model(data["model"]).convert()
    from mobilepack.model.spec import Normalization

    result = attach(model, labels=CLASSES, score_threshold=0.4,
                    normalization=Normalization(mean=(0.0,), std=(1.0,), source="flags", in_model=False))
    md = read_metadata(result.model, parse_model(result.model))
    assert md.task() == "yolo_detection" and md.outputs[0].name == yolo.HEAD_NAME
    assert md.labels() == CLASSES and "anchor-free" in md.outputs[0].description.lower()
    assert yolo_model_decode(result.model) == pytest.approx({"score_threshold": 0.4, "iou_threshold": 0.45})


def test_iou_threshold_is_recorded_and_refused_where_it_does_not_apply(data, tmp_path):
    from tests.conftest import assert_clean_error
    from tests.models import tf

    src = tmp_path / "head.tflite"
    src.write_bytes(tf().lite.TFLiteConverter.from_keras_model(data["model"]).convert())
    out = tmp_path / "with.tflite"
    ok = run_cli("metadata", src, "-o", out, "--mean", "0", "--std", "1", "--iou-threshold", "0.6",
                 "--score-threshold", "0.35", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["task"] == "yolo_detection"
    from mobilepack.metadata.families import yolo_model_decode

    assert yolo_model_decode(out.read_bytes()) == pytest.approx({"score_threshold": 0.35, "iou_threshold": 0.6})
    bad = run_cli("metadata", src, "-o", tmp_path / "bad.tflite", "--mean", "0", "--std", "1",
                  "--iou-threshold", "1.5")
    assert_clean_error(bad, 2, "--iou-threshold must be within (0, 1]")
    other = run_cli("metadata", src, "-o", tmp_path / "generic.tflite", "--task", "generic", "--iou-threshold", "0.5")
    assert_clean_error(other, 2, "applies to yolo_detection")
    assert not (tmp_path / "bad.tflite").exists() and not (tmp_path / "generic.tflite").exists()


def test_doctor_judges_a_head_by_its_boxes_not_cosine(data):
    """Two classes' scores swapped in half of the pictures: the raw head stays close by cosine (the boxes dominate it), the decoded
    detections do not, and the doctor's budget is box agreement, so it sees the difference."""
    from mobilepack.conversion.doctor import Scorer
    from mobilepack.conversion.quantization import Tolerance
    from mobilepack.conversion.validation import compare

    heads = _heads(data)
    swapped = heads.copy()
    half = len(heads) // 2
    swapped[:half, [4, 5]] = heads[:half, [5, 4]]     # in half of the pictures
    scorer = Scorer([{"head": heads}], None, 0.01, "yolo_detection")   # the task the build detects
    assert scorer.budget.metric.startswith("box agreement")
    assert scorer.score([{"head": heads}]) == 1.0
    assert scorer.score([{"head": swapped}]) < 0.9
    cos = compare([{"head": heads}], [{"head": swapped}], label="x", tolerance=Tolerance(0.0, 0.0)).cosine_similarity
    assert cos >= 0.99   # what the doctor judged a YOLO head by before: it would have passed this
