"""`mobilepack build` of BERT-style text transformers end to end (issue 21, item 4): a tiny sentence
encoder (tests/transformer_models.py: int32 ``input_ids``/``attention_mask``/``token_type_ids``
[1,16] in, the L2-normalized mean-pooled ``embedding`` [1,32] out; one layer, hidden 32, 2 heads,
a 100-token vocabulary) and the same encoder with a 2-class head (a BERT-style classifier), each built
with ``--target all --quantize fp32,fp16,dynamic`` and calibration ``.npz`` sentences.

The encoder is detected as ``text_embedding`` (from the tensors' signature names), gets the BERT
tokenizer and its vocabulary in the metadata, is judged by the cosine similarity of its vectors
(mean and minimum, no top-1), selected by the smallest-at-0.99 rule and rendered with the embedding
UI; the classifier keeps the labels path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import assert_clean_error, run_cli
from tests.transformer_models import Shape, encoder_module, random_weights, save

WORDS = """the a an is was are were be been not very really quite so too good bad great awful fine nice poor
best worst film movie plot story actor actress scene music score ending start middle hour minute long short
slow fast funny sad boring exciting dull brilliant weak strong loved hated liked enjoyed watched saw felt
thought made make makes director script camera light dark color sound voice cast role hero villain fight
love war life death home town city night day year time old new young real fake true""".split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS]
SEQ = 16
SHAPE = Shape(layers=1, hidden=32, heads=2, intermediate=64, vocab=len(VOCAB), positions=SEQ, seq=SEQ)
FAST = ("--delegates", "cpu", "--threads", "1", "--runs", "3", "--warmup", "0", "--target-ci", "0",
        "--max-seconds", "0.2")


def _classifier(shape: Shape, weights: dict):
    """The encoder with a 2-class softmax head on its sentence vector, output ``probabilities``."""
    from mobilepack.model.tfimport import tensorflow

    tf = tensorflow()
    encoder = encoder_module(shape, weights)
    head = np.random.default_rng(1).normal(0, 1.0, (shape.hidden, 2)).astype(np.float32)

    class Classifier(tf.Module):
        def __init__(self):
            super().__init__(name="classifier")
            self.encoder = encoder
            self.head = tf.Variable(head, trainable=False)

        @tf.function(input_signature=[tf.TensorSpec([1, shape.seq], tf.int32, name=n)
                                      for n in ("input_ids", "attention_mask", "token_type_ids")])
        def serve(self, input_ids, attention_mask, token_type_ids):
            vector = self.encoder.serve(input_ids, attention_mask, token_type_ids)["embedding"]
            return {"probabilities": tf.nn.softmax(tf.matmul(vector, self.head))}

    return Classifier()


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """The two SavedModels, vocab.txt, labels.txt and calibration sentences ([CLS] words [SEP], padded)."""
    d = tmp_path_factory.mktemp("transformers")
    weights = random_weights(SHAPE, seed=0)
    paths = {"encoder": save(encoder_module(SHAPE, weights), d / "encoder"),
             "classifier": save(_classifier(SHAPE, weights), d / "classifier")}
    (d / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    (d / "labels.txt").write_text("negative\npositive\n", encoding="utf-8")
    rng = np.random.default_rng(0)
    n = 24
    ids, mask = np.zeros((n, SEQ), np.int32), np.zeros((n, SEQ), np.int32)
    for i, length in enumerate(rng.integers(3, SEQ + 1, n)):
        ids[i, :length] = [2, *rng.integers(4, len(VOCAB), length - 2), 3]
        mask[i, :length] = 1
    np.savez(d / "sentences.npz", input_ids=ids, attention_mask=mask, token_type_ids=np.zeros_like(ids))
    return {**paths, "vocab": d / "vocab.txt", "labels": d / "labels.txt", "calibration": d / "sentences.npz",
            "dir": d}


def _build(sources, model: str, out: Path, *extra: str) -> dict:
    r = run_cli("build", sources[model], "--target", "all", "--quantize", "fp32,fp16,dynamic", "--calibration",
                sources["calibration"], "--vocab", sources["vocab"], "-o", out, "--cache-dir",
                sources["dir"] / "cache", *FAST, *extra, "--json", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def encoder_build(sources):
    out = sources["dir"] / "encoder-out"
    return out, _build(sources, "encoder", out)


def test_encoder_is_detected_and_its_metadata_reads_back(encoder_build, sources):
    from mobilepack.metadata import read

    out, report = encoder_build
    for v in report["variants"]:
        md = v["metadata"]
        assert (md["task"], md["task_source"]) == ("text_embedding", "detected")
        assert "BERT ids serving_default_input_ids:0 (input_ids)[1,16]" in md["task_reason"]
        assert "(matched by name)" in md["task_reason"] and "named 'embedding'" in md["task_reason"]
        assert md["associated_files"] == ["vocab.txt"] and md["labels"] is None
    shipped = (out / "android/app/src/main/assets/model.tflite").read_bytes()
    md = read(shipped)
    assert md.task() == "text_embedding" and md.input_units == ("bert_tokenizer",)
    assert [t.name for t in md.inputs] == ["mask", "ids", "segment_ids"]          # model order
    assert [(t.name, t.content) for t in md.outputs] == [("embedding", "feature")]
    assert md.packed_files["vocab.txt"] == sources["vocab"].read_bytes()


def test_encoder_is_judged_and_selected_by_cosine(encoder_build):
    _, report = encoder_build
    acc = report["accuracy"]
    assert (acc["task"], acc["metric"], acc["labelled"]) == ("text_embedding", None, False)
    assert (acc["agreement_metric"], acc["agreement_key"], acc["agreement_rule"]) == \
        ("cosine similarity", "cosine", "smallest")
    every = {(c["mode"], c["delegate"]): c for c in acc["cells"]}
    # without labels and without xnnpack among the delegates (FAST): the reference kernels alone, every sample
    assert set(every) == {(m, "cpu") for m in ("fp32", "fp16", "dynamic")}
    assert all(c["status"] == "ok" and c["samples"] == acc["samples"] for c in every.values())
    for (mode, _), c in every.items():
        assert set(c["metrics"]) == {"cosine", "cosine_min", "max_abs_error"}, mode       # no top-1
        assert c["agreement"] == c["metrics"]["cosine"] and 0.9 < c["metrics"]["cosine_min"] <= c["agreement"] <= 1.0001
    assert every[("fp32", "cpu")]["agreement"] == pytest.approx(1.0)
    worst = {m: min(c["agreement"] for (mode, _), c in every.items() if mode == m) for m in ("fp32", "fp16", "dynamic")}
    sizes = {v["mode"]: v["bytes"] for v in report["variants"]}
    agreeing = [m for m in sorted(sizes, key=sizes.get) if worst[m] >= 0.99]
    sel = report["selection"]
    assert sel["winner"] == agreeing[0]
    assert sel["rule"].startswith("no labelled data: the smallest, then fastest, variant whose cosine similarity")
    assert "≥ 99%" in sel["rule"]
    md = (encoder_build[0] / "reports/report.md").read_text(encoding="utf-8")
    assert "cosine similarity" in md and "` on cpu, " not in md      # one delegate: one row per variant


def test_cross_checked_agreement_table_names_each_delegate(encoder_build, tmp_path):
    """build's matrix with xnnpack (the default delegates): the agreement table lists every cell with
    its delegate and sample count (the reference kernels' subset is visible)."""
    from mobilepack.report.build import write_reports

    out, report = encoder_build
    report = json.loads(json.dumps(report))
    cells = report["accuracy"]["cells"]
    cells += [{**c, "delegate": "xnnpack"} for c in cells]
    for c in cells:
        if c["delegate"] == "cpu" and c["mode"] != "fp32":
            c["samples"] = 2
    write_reports(tmp_path, report, report["bench"])
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    n = report["accuracy"]["samples"]
    for mode in ("fp16", "dynamic"):
        assert f"`{mode}` on cpu, 2 samples" in md and f"`{mode}` on xnnpack, {n} samples" in md
    assert f"`fp32` on cpu, {n} samples" in md
    assert f"fp16 on xnnpack, {n} samples" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_encoder_apps_show_the_similarity_of_two_sentences(encoder_build, sources):
    out, _ = encoder_build
    config = next((out / "android").rglob("ModelConfig.kt")).read_text(encoding="utf-8")
    assert 'const val INPUT_KIND = "text"' in config and 'const val OUTPUT_KIND = "embedding"' in config
    tokenizer = next((out / "android").rglob("Tokenizer.kt")).read_text(encoding="utf-8")
    for line in ('const val KIND = "bert"', "const val SEQUENCE_LENGTH = 16", "const val IDS_INPUT = 1",
                 "const val MASK_INPUT = 0", "const val SEGMENT_INPUT = 2"):
        assert line in tokenizer, line
    assert (out / "android/app/src/main/assets/vocab.txt").read_bytes() == sources["vocab"].read_bytes()
    layout = (out / "android/app/src/main/res/layout/activity_main.xml").read_text(encoding="utf-8")
    assert 'android:id="@+id/text_input_second"' in layout
    assert "Results.similarity(a.outputs[0], b.outputs[0])" in next((out / "android").rglob("MainActivity.kt")).read_text()
    info = next((out / "ios").rglob("ModelInfo.swift")).read_text(encoding="utf-8")
    assert 'static let outputKind = "embedding"' in info
    assert 'static let kind = "bert"' in next((out / "ios").rglob("Tokenizer.swift")).read_text(encoding="utf-8")
    assert next((out / "ios").rglob("Resources/vocab.txt")).read_bytes() == sources["vocab"].read_bytes()
    content = next((out / "ios").rglob("ContentView.swift")).read_text(encoding="utf-8")
    assert "model.compare(model.text, model.secondText)" in content


def test_bert_classifier_keeps_the_labels_path(sources):
    from mobilepack.metadata import read

    out = sources["dir"] / "classifier-out"
    report = _build(sources, "classifier", out, "--labels", sources["labels"])
    md = report["variants"][0]["metadata"]
    assert (md["task"], md["task_source"]) == ("text_classification", "detected")
    assert "(matched by name); one class-score vector output" in md["task_reason"]
    shipped = read((out / "android/app/src/main/assets/model.tflite").read_bytes())
    assert shipped.task() == "text_classification" and shipped.labels() == ("negative", "positive")
    assert shipped.input_units == ("bert_tokenizer",)
    acc = report["accuracy"]
    assert (acc["agreement_metric"], acc["agreement_rule"]) == ("cosine similarity", "fallback")
    assert "int8" in report["selection"]["rule"]          # the classifiers' no-label rule, as before
    config = next((out / "android").rglob("ModelConfig.kt")).read_text(encoding="utf-8")
    assert 'const val OUTPUT_KIND = "classification"' in config
    assert 'const val KIND = "bert"' in next((out / "android").rglob("Tokenizer.kt")).read_text(encoding="utf-8")
    assert 'static let outputKind = "classification"' in next((out / "ios").rglob("ModelInfo.swift")).read_text()


def test_eval_data_for_an_embedding_is_refused_before_converting(sources, tmp_path):
    """Detected from the tensors (no --task): refused right after loading, before any conversion."""
    out = tmp_path / "out"
    r = run_cli("build", sources["encoder"], "--calibration", sources["calibration"], "--vocab", sources["vocab"],
                "--eval-data", sources["calibration"], "-o", out, "--cache-dir", tmp_path / "cache")
    assert_clean_error(r, 2, "a text_embedding model has no labelled metric", "--validation")
    assert not out.exists()
