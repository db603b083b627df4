"""The quantization doctor judges by the task's metric, the one the selection uses, within its time
limit; a candidate with NaN outputs is a miss, and an int8-mixed that is not smaller than fp32 is not
added.  Real models: a segmenter and the outlier digits classifier trained here on scikit-learn's
digits, a text embedding, and a SIN model whose int8 cannot shrink it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.models import keras


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[..., None]).astype(np.float32), d.target


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory):
    """A per-pixel "ink" segmenter trained on the digits images (mask: pixel ≥ 8 of 16)."""
    k = keras()
    k.utils.set_random_seed(0)
    x, _ = _digits()
    mask = (x[..., 0] >= 8).astype(np.int64)
    inp = k.Input((8, 8, 1), name="image")
    h = k.layers.Rescaling(1 / 16.0)(inp)
    h = k.layers.Conv2D(8, 3, padding="same", activation="relu")(h)
    out = k.layers.Conv2D(2, 1, activation="softmax", name="mask")(h)
    model = k.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x[:1200], mask[:1200], epochs=15, batch_size=64, verbose=0)
    assert hist.history["accuracy"][-1] > 0.95
    work = tmp_path_factory.mktemp("seg")
    model.save(work / "ink.keras")
    np.save(work / "cal.npy", x[1200:1300])
    return work


def test_segmentation_doctor_searches_on_mask_iou_the_selections_metric(segmenter):
    """Before: the doctor searched on cosine similarity (a 4-D output is no class-score vector) while
    the selection judged mask IoU."""
    import mobilepack
    from mobilepack.evaluate.tasks import get

    result = mobilepack.convert(segmenter / "ink.keras", segmenter / "o", quantize="fp32,int8",
                                calibration=segmenter / "cal.npy", doctor=True, task="image_segmentation")
    criterion = get("image_segmentation")
    budget = result.doctor["budget"]
    assert budget["metric"] == criterion.agreement_metric == "mask IoU"
    assert budget["floor"] == pytest.approx(max(criterion.agreement_threshold, 1 - 0.01))   # the default drop
    assert result.doctor["settings"]["task"] == "image_segmentation"
    # detected without --task (Rescaling + one per-pixel output): the same metric
    plain = mobilepack.convert(segmenter / "ink.keras", segmenter / "o2", quantize="int8-mixed",
                               calibration=segmenter / "cal.npy")
    assert plain.doctor["budget"]["metric"] == "mask IoU"


def test_an_embedding_is_never_judged_by_top1(tmp_path):
    """A sentence embedding's vector has no class: fp16 is judged by cosine alone (before: a top-1
    agreement was measured on the vector and could flag fp16 at cosine 1.00000)."""
    import mobilepack

    k = keras()
    k.utils.set_random_seed(1)
    inp = k.Input((8,), dtype="int32", name="input_ids")
    h = k.layers.GlobalAveragePooling1D()(k.layers.Embedding(40, 16)(inp))
    model = k.Model(inp, k.layers.Dense(16, name="sentence_embedding")(h))
    model.save(tmp_path / "emb.keras")
    ids = np.random.default_rng(0).integers(1, 40, (32, 8)).astype(np.int32)
    np.save(tmp_path / "ids.npy", ids)
    result = mobilepack.convert(tmp_path / "emb.keras", tmp_path / "o", quantize="fp32,fp16",
                                validation=tmp_path / "ids.npy")
    fp16 = next(v for v in result.variants if v.mode == "fp16")
    assert fp16.validation["top1_agreement"] is None and fp16.validation["cosine_similarity"] > 0.999
    assert not result.warnings or not any("top-1" in w for w in result.warnings)


# -- the search itself, on the outlier digits classifier (real LiteRT, AI Edge Quantizer) ----------

@pytest.fixture(scope="module")
def outlier(tmp_path_factory):
    from benchmarks.doctor import make_outlier_digits

    import mobilepack
    from mobilepack.runtime.interpreter import SignatureSession

    work = tmp_path_factory.mktemp("outlier")
    paths = make_outlier_digits(work / "data", epochs=20)
    result = mobilepack.convert(paths["model"], work / "f32", quantize="fp32")
    data = (work / "f32" / result.variants[0].path).read_bytes()
    z = np.load(paths["validation"])
    val = [{"pixels": z["x"][i:i + 1]} for i in range(60)]
    cal = [{"pixels": x[None]} for x in np.load(paths["calibration"])[:60]]
    session = SignatureSession(data)
    refs = [session.run(b) for b in val]
    bias = keras().models.load_model(paths["model"]).get_layer("wide1").get_weights()[1]
    return {"float": data, "val": val, "cal": cal, "refs": refs, "labels": z["y"][:60], "bias": bias}


class _Wrapped:
    """The real quantizer, with a hook on the candidates it builds."""

    def __init__(self, real, on_model):
        self.real, self.on_model = real, on_model
        self.layers, self.method, self.name = real.layers, real.method, real.name

    def model(self, ops):
        return self.on_model(list(ops), self.real.model(ops))


def _nan_model(outlier) -> bytes:
    """The float model with one layer's bias set to NaN in its flatbuffer: every output is NaN."""
    data = bytearray(outlier["float"])
    raw = outlier["bias"].astype("<f4").tobytes()
    at = bytes(data).find(raw)
    assert at > 0
    data[at:at + len(raw)] = np.full(len(outlier["bias"]), np.nan, "<f4").tobytes()
    return bytes(data)


def _run(outlier, on_model, seconds=120.0, clock=None):
    from mobilepack.conversion.doctor import DoctorSettings, run_doctor
    from mobilepack.conversion.tflite_quantization import LiteRTQuantizer

    extra = {"clock": clock} if clock else {}
    return run_doctor(lambda: _Wrapped(LiteRTQuantizer(outlier["float"], outlier["cal"], outlier["val"]), on_model),
                      validation_batches=outlier["val"], references=outlier["refs"], labels=outlier["labels"],
                      settings=DoctorSettings(0.01, seconds, "image_classification"), **extra)


def test_a_nan_candidate_is_a_miss_and_the_search_goes_on(outlier):
    """Before: the first candidate with NaN outputs ended the doctor with an error."""
    nan = _nan_model(outlier)
    outcome = _run(outlier, lambda ops, data: nan if len(ops) == 1 else data)
    first = next(c for c in outcome.trail if len(c.float_ops) == 1)
    assert first.score == 0.0 and not first.meets and "NaN" in first.failure
    assert outcome.status == "found" and outcome.model is not None
    assert len(outcome.chosen.float_ops) >= 2 and outcome.budget.metric == "accuracy"


def test_the_time_limit_holds_no_candidate_is_started_that_would_overrun(outlier):
    """A virtual clock: each candidate costs 10 s.  With a 15 s limit, after int8 (10 s) the next one
    would end at 20 s: it is not started (before: it ran and the doctor ended at 20 s, 33 % over)."""
    now = [0.0]

    def slow(ops, data):
        now[0] += 10.0
        return data

    outcome = _run(outlier, slow, seconds=15.0, clock=lambda: now[0])
    assert outcome.status == "timeout" and outcome.seconds <= 15.0
    assert [c.float_ops for c in outcome.trail] == [()]
    now[0] = 0.0
    roomy = _run(outlier, slow, seconds=35.0, clock=lambda: now[0])
    assert roomy.status == "found" and roomy.seconds <= 35.0


def test_an_int8_mixed_not_smaller_than_fp32_is_not_added(tmp_path):
    """SIN has no integer kernel: int8 with SIN in float (quantize/dequantize around it) is larger than
    the 1 KB fp32 model.  Before: that int8-mixed shipped."""
    import mobilepack
    from tests.models import saved_model_sin

    sm = saved_model_sin(tmp_path / "sin")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32))
    result = mobilepack.convert(str(sm), tmp_path / "o", quantize="fp32,int8,int8-mixed",
                                calibration=tmp_path / "x.npy", keep_going=True)
    assert [v.mode for v in result.variants] == ["fp32"]
    assert result.doctor["status"] == "not-smaller" and result.doctor["mixed"] is None
    assert any("not smaller than fp32" in w and "SIN" in w for w in result.warnings)
    assert not list(Path(tmp_path / "o").glob("*int8*"))
