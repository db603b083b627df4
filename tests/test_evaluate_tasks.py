"""Per-task evaluation with real LiteRT on tiny "oracle" models whose outputs are known by
construction (constant boxes, identity kernels), so every expected metric below is computed by
hand from the model's design, never by the code under test.

Every metric also gets a negative case: a deliberately wrong model (displaced boxes, permuted
classes, other weights) or wrong labels must lower it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mobilepack
from mobilepack.data.readers import read_samples
from mobilepack.errors import DataError, UsageError
from mobilepack.evaluate import metrics
from mobilepack.evaluate.accuracy import NOT_APPLICABLE, evaluate
from mobilepack.evaluate.selection import Candidate, Criterion, select
from mobilepack.evaluate.tasks import check_eval_data, get as get_evaluator
from mobilepack.model.spec import spec_from_dict
from mobilepack.pipeline.state import Accuracy
from tests.models import keras

# -- oracle models ------------------------------------------------------------------------------

# detector: 3 constant boxes [ymin, xmin, ymax, xmax]; classes 0, 1, 0; score of box k = mean of channel k
BOXES = [[0.1, 0.1, 0.5, 0.5], [0.5, 0.5, 0.9, 0.9], [0.1, 0.5, 0.5, 0.9]]
CLASSES = [0.0, 1.0, 0.0]
SHIFT = 0.3   # the "wrong" detector: every coordinate + 0.3 (argmax of the flattened boxes is unchanged)


def _detector(path: Path, shift: float = 0.0) -> Path:
    k = keras()
    inp = k.Input((16, 16, 3), name="image")
    x = k.layers.Rescaling(1 / 255.0)(inp)
    m = k.layers.GlobalAveragePooling2D()(x)
    flat = k.layers.Flatten()(x)

    def const(units, values, name=None):  # zero weights on every pixel (enough weights for int8 to be smaller)
        return k.layers.Dense(units, kernel_initializer="zeros", name=name,
                              bias_initializer=k.initializers.Constant(values))(flat)

    boxes = k.layers.Reshape((3, 4), name="locations")(const(12, (np.array(BOXES) + shift).ravel().tolist()))
    classes = const(3, CLASSES, name="classes")
    scores = k.layers.Activation("linear", name="scores")(m)
    count = k.layers.Reshape((), name="count")(const(1, [3.0]))
    k.Model(inp, [boxes, classes, scores, count]).save(path)
    return path


def _segmenter(path: Path, permutation=(0, 1, 2)) -> Path:
    """1x1 convolution routing input channel c to class permutation[c]: argmax = dominant colour."""
    k = keras()
    kernel = np.zeros((1, 1, 3, 3), np.float32)
    for c, cls in enumerate(permutation):
        kernel[0, 0, c, cls] = 1.0
    inp = k.Input((8, 8, 3), name="image")
    conv = k.layers.Conv2D(3, 1, name="mask")
    out = conv(k.layers.Rescaling(1 / 255.0)(inp))
    conv.set_weights([kernel, np.zeros(3, np.float32)])
    k.Model(inp, out).save(path)
    return path


def _classifier(path: Path) -> Path:
    """Class = dominant colour channel."""
    k = keras()
    inp = k.Input((8, 8, 3), name="image")
    dense = k.layers.Dense(3, name="logits")
    x = dense(k.layers.GlobalAveragePooling2D()(k.layers.Rescaling(1 / 255.0)(inp)))
    dense.set_weights([np.eye(3, dtype=np.float32) * 4, np.zeros(3, np.float32)])
    k.Model(inp, k.layers.Softmax(name="scores")(x)).save(path)
    return path


W_GOOD = np.array([[1.0, -2.0], [0.5, 0.0], [0.0, 1.5], [-1.0, 1.0]], np.float32)
W_BAD = np.array([[1.0, 2.0], [0.5, 0.0], [0.0, -1.5], [-1.0, 1.0]], np.float32)


def _generic(path: Path, weights) -> Path:
    k = keras()
    inp = k.Input((4,), name="x")
    dense = k.layers.Dense(2, name="y")
    out = dense(inp)
    dense.set_weights([weights, np.array([0.25, -0.5], np.float32)])
    k.Model(inp, out).save(path)
    return path


def _convert(src: Path, out: Path, **options) -> tuple[dict, Path]:
    result = mobilepack.convert(src, out, quantize=options.pop("quantize", ["fp32"]), **options)
    record = result.to_dict()
    return record, out / record["variants"][0]["path"]


def _png(path: Path, pixels) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, np.uint8)).save(path)
    return path


def _solid(path: Path, rgb, size=100) -> Path:
    return _png(path, np.tile(np.asarray(rgb, np.uint8), (size, size, 1)))


@pytest.fixture(scope="session")
def oracles(tmp_path_factory):
    """Every oracle model converted by the real converter (fp32), with its spec."""
    d = tmp_path_factory.mktemp("oracles")
    built = {}
    for name, make in (("detector", lambda p: _detector(p)), ("shifted", lambda p: _detector(p, SHIFT)),
                       ("segmenter", lambda p: _segmenter(p)), ("permuted", lambda p: _segmenter(p, (1, 2, 0))),
                       ("classifier", _classifier), ("generic", lambda p: _generic(p, W_GOOD)),
                       ("generic_bad", lambda p: _generic(p, W_BAD))):
        record, tflite = _convert(make(d / f"{name}.keras"), d / name)
        built[name] = (spec_from_dict(record["model"]), tflite)
    return built


# -- hand-made labelled data -------------------------------------------------------------------

# image A: channel means (0.902, 0.8, 0.302); image B: (0.8, 0.102, 0.6)  -> the detector's scores
RGB_A, RGB_B = (230, 204, 77), (204, 26, 153)


def _coco(folder: Path, *, swap: bool = False) -> Path:
    """Image A: a cat at box 0 and a dog at box 1 (both detected).  Image B: a cat at box 2
    (detected) and a dog where nothing is detected.  COCO bbox = [x, y, w, h] in a 100x100 image."""
    folder.mkdir(parents=True, exist_ok=True)
    _solid(folder / "a.png", RGB_A)
    _solid(folder / "images" / "b.png", RGB_B)   # file_name may also be relative to DIR/images
    cat, dog = (2, 1) if swap else (1, 2)
    doc = {
        "images": [{"id": 7, "file_name": "a.png", "width": 100, "height": 100},
                   {"id": 9, "file_name": "b.png", "width": 100, "height": 100}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": cat, "bbox": [10, 10, 40, 40]},
            {"id": 2, "image_id": 7, "category_id": dog, "bbox": [50, 50, 40, 40]},
            {"id": 3, "image_id": 9, "category_id": cat, "bbox": [50, 10, 40, 40]},
            {"id": 4, "image_id": 9, "category_id": dog, "bbox": [10, 50, 40, 40]},
            {"id": 5, "image_id": 9, "category_id": dog, "bbox": [0, 0, 100, 100], "iscrowd": 1},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    }
    (folder / "annotations.json").write_text(json.dumps(doc))
    return folder


# Worked by hand (IoU of the constant boxes with the labelled ones is exactly 1 or 0):
#   cat: detections by score: A/box0 .902 TP, B/box0 .8 FP, B/box2 .6 TP, A/box2 .302 FP, 2 labelled
#        precision 1, 1/2, 2/3, 1/2 at recall 1/2, 1/2, 1, 1 -> AP = 1/2 * 1 + 1/2 * 2/3 = 5/6
#   dog: A/box1 .8 TP, B/box1 .102 FP, 2 labelled -> AP = 1/2 * 1 = 1/2
#   mAP@0.5 = (5/6 + 1/2) / 2 = 2/3
EXPECTED_MAP = 2 / 3
# Categories swapped: cat: A/box0 FP, B/box0 FP, B/box2 FP, A/box2 FP -> 0
#   dog: A/box1 .8 FP, B/box1 .102 FP -> AP 0.  The swapped labels' mAP is 0.
# The shifted detector's boxes overlap every labelled box by IoU 0.01/0.31 < 0.5: mAP 0.


def _mask_set(folder: Path) -> Path:
    """8x8 image: left half red, top-right green, bottom-right blue; its mask (by hand) differs."""
    img = np.zeros((8, 8, 3), np.uint8)
    img[:, :4] = (255, 0, 0)
    img[:4, 4:] = (0, 255, 0)
    img[4:, 4:] = (0, 0, 255)
    _png(folder / "scene.png", img)
    mask = np.zeros((8, 8), np.uint8)
    mask[:, 3] = 1          # the model calls column 3 class 0
    mask[:4, 4:] = 1
    mask[4:, 4:] = 2
    mask[7, 4:] = 255       # not scored
    from PIL import Image

    (folder / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask, mode="L").save(folder / "masks" / "scene.png")
    return folder


# By hand, scored pixels only (row 7 of the right half is ignored):
#   class 0: labelled 24, predicted 32, overlap 24 -> IoU 24/32 = 3/4
#   class 1: labelled 24, predicted 16, overlap 16 -> IoU 16/24 = 2/3
#   class 2: labelled 12, predicted 12, overlap 12 -> IoU 1
#   mIoU = (3/4 + 2/3 + 1) / 3 = 29/36
EXPECTED_MIOU = 29 / 36
# Permuted classes (red->1, green->2, blue->0): class 0: 0/36, class 1: 8/48, class 2: 0/28 -> 1/18
EXPECTED_MIOU_PERMUTED = 1 / 18


# -- detection ---------------------------------------------------------------------------------

def test_map50_on_a_hand_made_coco_file(oracles, tmp_path):
    spec, fp32 = oracles["detector"]
    _, shifted = oracles["shifted"]
    ev = get_evaluator("object_detection")
    samples, truth, warnings = ev.read_labelled(_coco(tmp_path / "coco"), spec, ("cat", "dog"))
    assert samples.count == 2 and warnings == []
    assert [len(t) for t in truth] == [2, 2]          # the crowd box is skipped
    m = evaluate([("fp32", fp32), ("int8", shifted)], samples, task="object_detection", truth=truth,
                 labels=("cat", "dog"), delegates=["cpu"])
    assert m.labelled and m.metric == "mAP@0.5"
    assert m.cell("fp32", "cpu").accuracy == pytest.approx(EXPECTED_MAP, abs=1e-6)
    assert m.cell("int8", "cpu").accuracy == pytest.approx(0.0)  # negative: displaced boxes
    # negative: the same predictions against swapped labels
    samples2, swapped, _ = ev.read_labelled(_coco(tmp_path / "swapped", swap=True), spec, ("cat", "dog"))
    m2 = evaluate([("fp32", fp32)], samples2, task="object_detection", truth=swapped, delegates=["cpu"])
    assert m2.cell("fp32", "cpu").accuracy == pytest.approx(0.0)


def test_detector_is_not_selected_by_the_argmax_of_its_boxes(oracles, tmp_path):
    """The displaced detector agrees with fp32 on the argmax of output 0 (what evaluation used to
    compare for every task), yet none of its boxes matches: box agreement rejects it."""
    spec, fp32 = oracles["detector"]
    _, shifted = oracles["shifted"]
    _solid(tmp_path / "imgs" / "a.png", RGB_A)
    _solid(tmp_path / "imgs" / "b.png", RGB_B)
    samples = read_samples(tmp_path / "imgs", spec, what="validation")
    from mobilepack.runtime.interpreter import SignatureSession

    flat = {name: [np.asarray(SignatureSession(path.read_bytes()).run(b)["locations"]).ravel().argmax()
                   for b in samples.batches] for name, path in (("fp32", fp32), ("shifted", shifted))}
    assert flat["fp32"] == flat["shifted"]            # the old rule would have called this 100 % agreement
    m = evaluate([("fp32", fp32), ("int8", shifted)], samples, task="object_detection", delegates=["cpu"])
    assert not m.labelled and m.agreement_metric.startswith("box agreement")
    assert m.cell("fp32", "cpu").agreement == 1.0
    assert m.cell("int8", "cpu").agreement == 0.0
    crit = Criterion.of_matrix(m.to_dict())
    s = select([Candidate("fp32", 4000, agreement=1.0), Candidate("fp16", 2000, agreement=1.0),
                Candidate("int8", 1000, agreement=m.cell("int8", "cpu").agreement)], criterion=crit)
    assert s.winner == "fp16" and s.rejected == ("int8",)
    assert "box agreement" in s.rule and "box agreement" in s.reasons["int8"] and "95%" in s.rule


def test_box_agreement_counts_missing_extra_and_wrong_class_boxes():
    D = metrics.Detections
    ref = D(np.array(BOXES), np.array([0, 1, 0]), np.array([0.9, 0.8, 0.7]))
    assert metrics.detection_agreement(ref, ref) == 1.0
    assert metrics.detection_agreement(ref, D(ref.boxes[:2], ref.classes[:2], ref.scores[:2])) == pytest.approx(2 / 3)
    assert metrics.detection_agreement(ref, D(ref.boxes, np.array([1, 1, 0]), ref.scores)) == pytest.approx(2 / 3)
    nudged = np.array(BOXES) + [0.02, 0.02, 0.02, 0.02]    # IoU 0.81: still the same object
    assert metrics.detection_agreement(ref, D(nudged, ref.classes, ref.scores)) == 1.0
    empty = D(np.zeros((0, 4)), np.zeros(0, int), np.zeros(0))
    assert metrics.detection_agreement(empty, empty) == 1.0 and metrics.detection_agreement(ref, empty) == 0.0


def test_coco_reader_errors_are_clean(oracles, tmp_path):
    spec, _ = oracles["detector"]
    ev = get_evaluator("object_detection")
    with pytest.raises(DataError, match="has no annotations.json"):
        ev.read_labelled(tmp_path, spec, ())
    (tmp_path / "annotations.json").write_text('{"images": []}')
    with pytest.raises(DataError, match="not COCO-style"):
        ev.read_labelled(tmp_path, spec, ())
    (tmp_path / "annotations.json").write_text(json.dumps(
        {"images": [{"id": 1, "file_name": "gone.png"}], "annotations": [], "categories": []}))
    with pytest.raises(DataError, match="gone.png"):
        ev.read_labelled(tmp_path, spec, ())
    _solid(tmp_path / "a.png", RGB_A)
    (tmp_path / "annotations.json").write_text(json.dumps(
        {"images": [{"id": 1, "file_name": "a.png"}], "categories": [{"id": 1, "name": "cat"}],
         "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "iscrowd": 1}]}))
    with pytest.raises(DataError, match="labels no boxes"):
        ev.read_labelled(tmp_path, spec, ())
    with pytest.raises(DataError, match="needs labelled boxes"):
        check_eval_data("object_detection", tmp_path / "nowhere")


# -- segmentation ------------------------------------------------------------------------------

def test_miou_on_hand_made_masks(oracles, tmp_path):
    spec, fp32 = oracles["segmenter"]
    _, permuted = oracles["permuted"]
    samples, masks, _ = get_evaluator("image_segmentation").read_labelled(_mask_set(tmp_path / "seg"), spec, ())
    m = evaluate([("fp32", fp32), ("int8", permuted)], samples, task="image_segmentation", truth=masks,
                 delegates=["cpu"])
    assert m.metric == "mIoU" and m.agreement_metric == "mask IoU"
    assert m.cell("fp32", "cpu").accuracy == pytest.approx(EXPECTED_MIOU, abs=1e-9)
    assert m.cell("int8", "cpu").accuracy == pytest.approx(EXPECTED_MIOU_PERMUTED, abs=1e-9)   # negative
    assert m.cell("fp32", "cpu").agreement == 1.0
    assert m.cell("int8", "cpu").agreement == 0.0        # every pixel's class differs from fp32's
    with pytest.raises(DataError, match="needs labelled masks"):
        check_eval_data("image_segmentation", tmp_path)


def test_mask_reader_wants_one_mask_per_image(oracles, tmp_path):
    spec, _ = oracles["segmenter"]
    folder = _mask_set(tmp_path / "seg")
    _png(folder / "extra.png", np.zeros((8, 8, 3)))
    with pytest.raises(DataError, match="extra.png has no mask masks/extra.png"):
        get_evaluator("image_segmentation").read_labelled(folder, spec, ())
    (folder / "extra.png").unlink()
    from PIL import Image

    Image.fromarray(np.full((8, 8), 255, np.uint8), mode="L").save(folder / "masks" / "scene.png")
    with pytest.raises(DataError, match="not scored"):
        get_evaluator("image_segmentation").read_labelled(folder, spec, ())


# -- classification ----------------------------------------------------------------------------

def _class_folders(root: Path, *, mislabel: bool) -> Path:
    colours = {"red": [(200, 10, 10), (250, 90, 40)], "green": [(10, 200, 10), (60, 240, 30)],
               "blue": [(10, 10, 200), (30, 80, 250)]}
    for cls, rgbs in colours.items():
        for i, rgb in enumerate(rgbs):
            folder = "green" if mislabel and cls == "red" and i == 0 else cls
            _solid(root / folder / f"{cls}{i}.png", rgb, size=8)
    return root


def test_classification_accuracy_and_its_negative(oracles, tmp_path):
    spec, fp32 = oracles["classifier"]
    labels = ("red", "green", "blue")
    ev = get_evaluator("image_classification")
    right = ev.read_labelled(_class_folders(tmp_path / "ok", mislabel=False), spec, labels)
    wrong = ev.read_labelled(_class_folders(tmp_path / "bad", mislabel=True), spec, labels)
    for (samples, truth, _), expected in ((right, 1.0), (wrong, 5 / 6)):   # one of six images mislabelled
        m = evaluate([("fp32", fp32)], samples, task="image_classification", truth=truth, labels=labels,
                     delegates=["cpu"])
        assert m.metric == "top-1 accuracy" and m.cell("fp32", "cpu").accuracy == pytest.approx(expected)


# -- generic, text, audio, pass-through --------------------------------------------------------

def _generic_inputs(path: Path) -> tuple[Path, np.ndarray]:
    x = np.random.default_rng(3).normal(size=(6, 4)).astype(np.float32)
    np.save(path, x)
    return path, x


def test_generic_cosine_and_max_abs_error(oracles, tmp_path):
    spec, good = oracles["generic"]
    _, bad = oracles["generic_bad"]
    path, x = _generic_inputs(tmp_path / "x.npy")
    samples = read_samples(path, spec)
    m = evaluate([("fp32", good), ("int8", bad)], samples, task="generic", delegates=["cpu"])
    assert m.metric is None and m.agreement_metric == "cosine similarity"
    ok, wrong = m.cell("fp32", "cpu"), m.cell("int8", "cpu")
    assert ok.metrics["cosine"] == pytest.approx(1.0) and ok.metrics["max_abs_error"] == 0.0
    b = np.array([0.25, -0.5])
    ya, yb = x @ W_GOOD + b, x @ W_BAD + b                 # what the two models compute, in numpy
    cos = np.mean(np.sum(ya * yb, 1) / (np.linalg.norm(ya, axis=1) * np.linalg.norm(yb, axis=1)))
    assert wrong.agreement == pytest.approx(cos, abs=1e-5) and wrong.agreement < 0.99     # negative
    assert wrong.metrics["max_abs_error"] == pytest.approx(np.abs(ya - yb).max(), abs=1e-4)
    crit = Criterion.of_matrix(m.to_dict())
    s = select([Candidate("fp32", 10, agreement=1.0), Candidate("int8", 5, agreement=wrong.agreement)],
               criterion=crit)
    assert s.winner == "fp32" and "cosine similarity" in s.rule


@pytest.mark.parametrize("task", ["text_classification", "audio_classification"])
def test_text_and_audio_without_labels_use_cosine(task):
    ev = get_evaluator(task)
    assert ev.labelled_metric == "top-1 accuracy" and ev.agreement_key == "cosine"
    a = {"scores": np.array([[0.2, 0.8], [0.6, 0.4]])}
    b = {"scores": np.array([[0.8, 0.2], [0.6, 0.4]])}                   # wrong on the first sample
    same, worse = ev.agreement(a, a), ev.agreement(a, b)
    assert same["cosine"] == pytest.approx(1.0) and worse["cosine"] < same["cosine"]
    assert worse["top1_agreement"] == 0.5


# -- sentence embeddings: cosine of the vectors, never an argmax ---------------------------------

def test_embedding_agreement_is_the_cosine_mean_and_minimum():
    ev = get_evaluator("text_embedding")
    assert (ev.labelled_metric, ev.agreement_key, ev.agreement_rule, ev.agreement_threshold) == \
        (None, "cosine", "smallest", 0.99)
    ref = {"vectors": np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])}
    pred = {"vectors": np.array([[2.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 0.9, 0.0]])}
    got = ev.agreement(pred, ref)
    per = [1.0, 1 / np.sqrt(2), 1.9 / (np.sqrt(2) * np.sqrt(1.81))]         # by hand: a·b / (|a| |b|)
    assert got["cosine"] == pytest.approx(np.mean(per)) and got["cosine_min"] == pytest.approx(per[1])
    assert "top1_agreement" not in got
    # negative: the same argmax in every sample is no agreement for an embedding
    same_argmax = ev.agreement({"vectors": np.array([[1.0, 0.0], [0.0, 1.0]])},
                               {"vectors": np.array([[1.0, 0.9], [0.9, 1.0]])})
    assert same_argmax["cosine"] < 0.8
    assert ev.reduce([("embedding", np.ones((1, 4)))], {})["vectors"].shape == (1, 4)


CANDIDATES = [Candidate("fp32", 4000, 90.0, agreement=1.0), Candidate("fp16", 2000, 80.0, agreement=0.9999),
              Candidate("dynamic", 1100, 70.0, agreement=0.995), Candidate("int8", 1000, 60.0, agreement=0.97)]


def test_embedding_selection_ships_the_smallest_variant_at_cosine_0_99():
    crit = Criterion.of_matrix(get_evaluator("text_embedding").describe() | {"metric": None})
    s = select(CANDIDATES, criterion=crit)
    assert s.winner == "dynamic" and s.rejected == ("int8",)
    assert s.rule == ("no labelled data: the smallest, then fastest, variant whose cosine similarity with fp32 (mean "
                      "over the validation samples) is ≥ 99%")
    assert s.reasons["int8"] == "rejected: cosine similarity with fp32 0.9700 < 0.99"
    assert s.reasons["dynamic"].startswith("ships: 1100 bytes, 70 µs, cosine similarity with fp32 0.9950")
    assert s.reasons["fp16"].startswith("eligible, not chosen")
    # negative: the classifiers' rule (int8 gated, else fp16) never ships dynamic
    assert select(CANDIDATES, criterion=Criterion(agreement_metric="cosine similarity")).winner == "fp16"
    worse = [c if c.mode != "dynamic" else Candidate("dynamic", 1100, 70.0, agreement=0.985) for c in CANDIDATES]
    assert select(worse, criterion=crit).winner == "fp16"


def test_embedding_eval_data_is_refused_with_the_samples_to_use(tmp_path):
    with pytest.raises(UsageError, match="a text_embedding model has no labelled metric") as refused:
        check_eval_data("text_embedding", tmp_path)
    assert "cosine similarity" in refused.value.hint and "--validation" in refused.value.hint


def test_embedding_evaluation_with_litert(tmp_path):
    """Two tiny sentence encoders (other weights) on real LiteRT: the matrix names cosine
    similarity, and its mean and minimum are those of the vectors LiteRT computes directly."""
    from mobilepack.model.spec import ModelSpec, SourceFormat
    from mobilepack.runtime.interpreter import SignatureSession, describe_tflite
    from tests.test_metadata_models import text_embedder

    a, b = tmp_path / "a.tflite", tmp_path / "b.tflite"
    a.write_bytes(text_embedder())
    b.write_bytes(text_embedder(seed=1))
    ins, outs, key = describe_tflite(a.read_bytes())
    spec = ModelSpec(name="enc", source_path=str(a), source_format=SourceFormat.TFLITE, inputs=ins, outputs=outs,
                     signature_key=key, task="text_embedding")
    rng = np.random.default_rng(3)
    ids = rng.integers(1, 32, (10, 16)).astype(np.int32)
    mask = (np.arange(16) < rng.integers(2, 16, (10, 1))).astype(np.int32)
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    np.savez(tmp_path / "sentences.npz", **feeds)
    m = evaluate([("fp32", a), ("dynamic", b)], read_samples(tmp_path / "sentences.npz", spec),
                 task="text_embedding", delegates=["cpu"])
    assert m.to_dict()["agreement_rule"] == "smallest"
    assert (m.metric, m.agreement_metric) == (None, "cosine similarity")

    def vectors(path):
        session = SignatureSession(path.read_bytes())
        return np.concatenate([np.asarray(session.run({k: v[i:i + 1] for k, v in feeds.items()})["embedding"])
                               for i in range(len(ids))])

    va, vb = vectors(a), vectors(b)
    per = np.sum(va * vb, 1) / (np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1))
    other = m.cell("dynamic", "cpu")
    assert other.agreement == pytest.approx(per.mean(), abs=1e-5) and other.agreement < 0.99     # negative
    assert other.metrics["cosine_min"] == pytest.approx(per.min(), abs=1e-5)
    assert other.metrics["cosine_min"] < other.agreement
    assert m.cell("fp32", "cpu").metrics["cosine_min"] == pytest.approx(1.0)


def test_pass_through_agrees_with_itself_or_is_not_applicable(oracles, tmp_path):
    spec, good = oracles["generic"]
    _, bad = oracles["generic_bad"]
    samples = read_samples(_generic_inputs(tmp_path / "x.npy")[0], spec)
    alone = evaluate([("passthrough", good)], samples, task="generic", delegates=["cpu"])
    assert alone.reference == "passthrough" and "the source itself" in alone.agreement_note
    assert alone.cell("passthrough", "cpu").agreement == pytest.approx(1.0)
    none = evaluate([("a", good), ("b", bad)], samples, task="generic", delegates=["cpu"])
    assert none.reference is None and none.agreement_note.startswith(NOT_APPLICABLE)
    assert all(c.agreement is None and c.status == "ok" for c in none.cells)


def test_registry_refuses_unknown_tasks_and_unscorable_labels(tmp_path):
    with pytest.raises(UsageError, match="unknown task 'pose_estimation'") as refused:
        get_evaluator("pose_estimation")
    assert "object_detection" in refused.value.hint
    with pytest.raises(UsageError, match="no labelled metric"):
        check_eval_data("generic", tmp_path)


# -- build: the shipped variant is the one the apps and the report describe --------------------

def test_build_int8_io_detector_ships_and_describes_int8(tmp_path):
    """--quantize fp32,int8 --io-dtype int8 with labelled boxes: int8 keeps mAP@0.5 and ships, and
    both apps describe its int8 input with the scale and zero point LiteRT reads from it."""
    src = _detector(tmp_path / "det.keras")
    cal = np.stack([np.tile(np.asarray(rgb, np.float32), (16, 16, 1)) for rgb in
                    (RGB_A, RGB_B, (0, 0, 0), (255, 255, 255), (128, 30, 220))])
    np.save(tmp_path / "cal.npy", cal)
    (tmp_path / "labels.txt").write_text("cat\ndog\n")
    out = tmp_path / "out"
    result = mobilepack.build(src, out=str(out), target="all", cache_dir=str(tmp_path / "cache"),
                              quantize=["fp32", "int8"], io_dtype="int8", calibration=str(tmp_path / "cal.npy"),
                              eval_data=str(_coco(tmp_path / "coco")), labels=str(tmp_path / "labels.txt"),
                              task="object_detection", delegates=["cpu"], runs=2, warmup=0, threads=[1])
    r = result.report
    acc = {(c["mode"], c["delegate"]): c for c in r["accuracy"]["cells"]}
    assert r["accuracy"]["metric"] == "mAP@0.5"
    assert acc[("fp32", "cpu")]["accuracy"] == pytest.approx(EXPECTED_MAP, abs=1e-6)
    assert acc[("int8", "cpu")]["accuracy"] == pytest.approx(EXPECTED_MAP, abs=1e-6)
    assert r["selection"]["winner"] == "int8" and "mAP@0.5" in r["selection"]["rule"]
    md = (out / "reports/report.md").read_text()
    assert "cpu mAP@0.5" in md and "mAP@0.5 (object_detection) on 2 labelled samples" in md
    assert "mAP@0.5" in (out / "reports/report.html").read_text()

    shipped = (out / "android/app/src/main/assets/model.tflite").read_bytes()
    from ai_edge_litert.interpreter import Interpreter

    d = Interpreter(model_content=shipped).get_input_details()[0]
    assert d["dtype"] == np.int8
    scale, zero = d["quantization"]
    assert scale > 0
    int8_variant = next(v for v in r["variants"] if v["mode"] == "int8")
    assert int8_variant["inputs"][0]["dtype"] == "int8"
    assert int8_variant["inputs"][0]["quantization"]["scale"] == pytest.approx(scale)
    kotlin = next(out.glob("android/app/src/main/java/**/ModelConfig.kt")).read_text()
    swift = next(out.glob("ios/*/ModelInfo.swift")).read_text()
    import re

    k_line = next(ln for ln in kotlin.splitlines() if "TensorInfo(" in ln and '"image"' in ln)
    assert '"int8"' in k_line, k_line                      # not the source's float32 description
    k_scale = float(re.search(r'"int8", ([-0-9.eE]+)f?, (-?\d+)\)', k_line).group(1))
    k_zero = int(re.search(r'"int8", [-0-9.eE]+f?, (-?\d+)\)', k_line).group(1))
    assert k_scale == pytest.approx(scale, rel=1e-6) and k_zero == zero
    s_line = next(ln for ln in swift.splitlines() if "TensorInfo(" in ln and '"image"' in ln)
    assert "type: .int8" in s_line
    s_scale = float(re.search(r"scale: ([-0-9.eE]+)", s_line).group(1))
    assert s_scale == pytest.approx(scale, rel=1e-6) and f"zeroPoint: {zero})" in s_line
    assert "float32" not in k_line and "float32" not in s_line
    # the outputs too: e.g. the int8 scores with the scale the converter chose for them
    it = Interpreter(model_content=shipped)
    for name, d in it.get_signature_runner("serving_default").get_output_details().items():
        out_scale, out_zero = d["quantization"]
        k_out = next(ln for ln in kotlin.splitlines() if "TensorInfo(" in ln and f'"{name}"' in ln)
        s_out = next(ln for ln in swift.splitlines() if "TensorInfo(" in ln and f'"{name}"' in ln)
        assert '"int8"' in k_out and "type: .int8" in s_out, (k_out, s_out)
        assert float(re.search(r'"int8", ([-0-9.eE]+)f?,', k_out).group(1)) == pytest.approx(out_scale, rel=1e-6)
        assert float(re.search(r"scale: ([-0-9.eE]+)", s_out).group(1)) == pytest.approx(out_scale, rel=1e-6)
        assert f", {out_zero})" in k_out and f"zeroPoint: {out_zero})" in s_out


@pytest.mark.parametrize("task,fragment", [("object_detection", "needs labelled boxes"),
                                           ("image_segmentation", "needs labelled masks"),
                                           ("generic", "no labelled metric")])
def test_build_checks_the_eval_data_layout_before_converting(task, fragment, tmp_path):
    from tests.conftest import DIGITS, assert_clean_error, run_cli

    folder = tmp_path / "eval"
    _solid(folder / "a.png", RGB_A)        # images, but neither annotations.json nor masks/
    r = run_cli("build", DIGITS / "digits.keras", "-o", tmp_path / "out", "--task", task,
                "--eval-data", folder)
    assert_clean_error(r, 2, fragment, "--eval-data")
    assert not (tmp_path / "out").exists()


# -- a real third-party segmenter (the zoo's deeplabv3.tflite, fetched by tests/setup) ----------

def _zoo_model(*parts: str) -> Path:
    import os

    from tests.conftest import require

    path = Path(os.environ.get("MOBILEPACK_ZOO_CACHE", Path.home() / ".cache" / "mobilepack-zoo"), "models", *parts)
    require(path.is_file(), f"zoo model {parts[-1]} is not fetched (tests/setup/setup-zoo.sh)")
    return path


def test_real_deeplab_miou_against_its_own_masks_and_shifted_ones(tmp_path):
    """DeepLab v3 (257x257, 21 classes, no signature) on a photo: masks made from its own prediction (computed
    here with LiteRT directly) score mIoU 1; the same masks with every class shifted score 0; as a
    pass-through it agrees with itself by mask IoU 1."""
    from dataclasses import replace

    from ai_edge_litert.interpreter import Interpreter

    from mobilepack.model.loading import load
    from mobilepack.model.spec import Normalization, Task

    path = _zoo_model("deeplabv3", "deeplabv3.tflite")
    spec = replace(load(path).spec, task=Task.IMAGE_SEGMENTATION,
                   normalization=Normalization((127.5,), (127.5,), "flags"))
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as photo:  # a portrait
        img = np.asarray(photo.convert("RGB").resize((257, 257)))
    good, shifted = tmp_path / "good", tmp_path / "shifted"
    _png(good / "scene.png", img)
    _png(shifted / "scene.png", img)
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], ((img.astype(np.float32) - 127.5) / 127.5)[None])
    it.invoke()
    own = it.get_tensor(it.get_output_details()[0]["index"])[0].argmax(-1).astype(np.uint8)
    assert set(np.unique(own)) >= {0, 15}      # background and PASCAL VOC's "person"
    for folder, mask in ((good, own), (shifted, (own + 1) % 21)):
        (folder / "masks").mkdir()
        Image.fromarray(mask.astype(np.uint8), mode="L").save(folder / "masks" / "scene.png")
    ev = get_evaluator("image_segmentation")
    for folder, expected in ((good, 1.0), (shifted, 0.0)):
        samples, masks, _ = ev.read_labelled(folder, spec, ())
        m = evaluate([("passthrough", path)], samples, task="image_segmentation", truth=masks, delegates=["cpu"])
        cell = m.cell("passthrough", "cpu")
        assert cell.status == "ok", cell.error
        assert cell.accuracy == pytest.approx(expected, abs=1e-3)
        assert cell.agreement == 1.0 and m.reference == "passthrough"


def test_text_classifier_cosine_without_labels_and_accuracy_with_them(tmp_path):
    """Real LiteRT on two tiny text classifiers (different seeds): without labels they are compared by
    cosine similarity; with .npz labels equal to fp32's own top-1 (computed here by LiteRT directly)
    fp32 scores 1 and the other model exactly its share of matching top-1 answers."""
    from mobilepack.runtime.interpreter import SignatureSession
    from tests import task_sources

    tokens = np.random.default_rng(5).integers(0, 32, (12, 8)).astype(np.int32)
    np.save(tmp_path / "tokens.npy", tokens)
    a_rec, a = _convert(task_sources.text_classifier(tmp_path / "a.keras"), tmp_path / "a",
                        validation=str(tmp_path / "tokens.npy"))
    k = keras()
    k.utils.set_random_seed(11)
    inp = k.Input((8,), dtype="int32", name="tokens")
    x = k.layers.GlobalAveragePooling1D()(k.layers.Embedding(32, 4)(inp))
    k.Model(inp, k.layers.Dense(2, activation="softmax", name="scores")(x)).save(tmp_path / "b.keras")
    _, b = _convert(tmp_path / "b.keras", tmp_path / "b", validation=str(tmp_path / "tokens.npy"))
    spec = spec_from_dict(a_rec["model"])

    def top1(path):
        session = SignatureSession(path.read_bytes())
        return np.array([np.asarray(session.run({"tokens": t[None]})["scores"]).argmax() for t in tokens])

    ya, yb = top1(a), top1(b)
    np.savez(tmp_path / "x.npz", x=tokens)
    m = evaluate([("fp32", a), ("int8", b)], read_samples(tmp_path / "x.npz", spec), task="text_classification",
                 delegates=["cpu"])
    assert not m.labelled and m.agreement_metric == "cosine similarity"
    assert m.cell("fp32", "cpu").agreement == pytest.approx(1.0)
    assert m.cell("int8", "cpu").agreement < 1.0                               # negative: another model
    assert m.cell("int8", "cpu").metrics["top1_agreement"] == pytest.approx((ya == yb).mean())
    np.savez(tmp_path / "xy.npz", x=tokens, y=ya)
    samples, truth, _ = get_evaluator("text_classification").read_labelled(tmp_path / "xy.npz", spec, ())
    m = evaluate([("fp32", a), ("int8", b)], samples, task="text_classification", truth=truth, delegates=["cpu"])
    assert m.cell("fp32", "cpu").accuracy == 1.0
    assert m.cell("int8", "cpu").accuracy == pytest.approx((ya == yb).mean())
    # build's cross-checked matrix: xnnpack runs every sample, the reference kernels the reference's
    # every sample and the other variants' seeded subset; the agreement that selects is the worst cell
    cross = evaluate([("fp32", a), ("int8", b)], read_samples(tmp_path / "x.npz", spec), task="text_classification",
                     delegates=["cpu", "xnnpack", "gpu"], cross_check=4)
    assert [(c.mode, c.delegate, c.status, c.samples) for c in cross.cells] == [
        ("fp32", "cpu", "ok", 12), ("fp32", "xnnpack", "ok", 12), ("int8", "cpu", "ok", 4), ("int8", "xnnpack", "ok", 12)]
    assert cross.cell("int8", "xnnpack").metrics["top1_agreement"] == pytest.approx((ya == yb).mean())
    assert any("seeded subset of 4" in w for w in cross.warnings)
    acc = Accuracy(cross.to_dict())
    assert acc.agreement("int8") == min(cross.cell("int8", d).agreement for d in ("cpu", "xnnpack")) < 1.0
    doc = cross.to_dict()
    doc["cells"][3].update(status="failed", agreement=None)      # a delegate that failed: agreement unknown
    assert Accuracy(doc).agreement("int8") is None and Accuracy(doc).agreement("fp32") == pytest.approx(1.0)
    doc["cells"][3].update(status="ok", agreement=0.5)           # the worst delegate decides
    assert Accuracy(doc).agreement("int8") == 0.5


def test_real_uint8_classifier_gets_integer_samples_as_they_are(tmp_path):
    """EfficientNet-Lite0 with uint8 input (a quantized .tflite source): .npz samples already in
    uint8 must reach the model unchanged (not quantized a second time), so labels equal to its own
    top-1 on those inputs (LiteRT directly) give accuracy 1."""
    from ai_edge_litert.interpreter import Interpreter

    from mobilepack.model.loading import load

    path = _zoo_model("efficientnet_lite0_uint8", "efficientnet_lite0.tflite")
    spec = load(path).spec
    assert spec.inputs[0].dtype == "uint8" and spec.inputs[0].quantization.scale > 0
    x = np.random.default_rng(2).integers(0, 256, (4, 224, 224, 3)).astype(np.uint8)
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    own = []
    for sample in x:
        it.set_tensor(it.get_input_details()[0]["index"], sample[None])
        it.invoke()
        own.append(int(it.get_tensor(it.get_output_details()[0]["index"]).argmax()))
    np.savez(tmp_path / "xy.npz", x=x, y=np.array(own))
    samples, truth, _ = get_evaluator("image_classification").read_labelled(tmp_path / "xy.npz", spec, ())
    m = evaluate([("passthrough", path)], samples, task="image_classification", truth=truth, delegates=["cpu"])
    assert m.cell("passthrough", "cpu").accuracy == 1.0
    np.savez(tmp_path / "wrong.npz", x=x, y=(np.array(own) + 1) % 1000)          # negative: wrong labels
    samples, truth, _ = get_evaluator("image_classification").read_labelled(tmp_path / "wrong.npz", spec, ())
    m = evaluate([("passthrough", path)], samples, task="image_classification", truth=truth, delegates=["cpu"])
    assert m.cell("passthrough", "cpu").accuracy == 0.0
