"""The metadata stage and ``mobilepack metadata``: every task writer on a tiny model built
here, read back field by field (``schema.unpack``) and through the packed archive; every
normalization source; labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mobilepack.errors import InputError, UsageError
from mobilepack.metadata import GeneralInfo, attach, read, spec_beside
from mobilepack.metadata.reader import METADATA_NAME, packed_files
from mobilepack.metadata.schema import unpack
from mobilepack.model.flatbuffer import parse_model
from mobilepack.model.spec import Normalization
from tests.conftest import DIGITS, assert_clean_error, run_cli, snapshot
from tests.test_metadata_models import digits, model_file, tiny  # noqa: F401 - fixtures

FLAGS = Normalization(mean=(127.5,), std=(127.5,), source="flags")
TRICKY_LABELS = ["café", 'say "cheese"', "a,b,c", "日本語", "it's", "  padded  "]


@pytest.fixture()
def vocab(tmp_path) -> Path:
    p = tmp_path / "vocab.txt"
    p.write_text("<PAD>\n<START>\n<UNKNOWN>\ngood\nbad\n", encoding="utf-8")
    return p


def _json_form(value):
    """The metadata dict as TFLite's metadata JSON shows it: a union as ``X_type`` and ``X``."""
    if isinstance(value, list):
        return [_json_form(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, v in value.items():
        if isinstance(v, tuple):
            out[f"{key}_type"], v = v
        out[key] = _json_form(v)
    return out


class Packed:
    """The model's associated-file archive."""

    def __init__(self, model: bytes) -> None:
        self.files = packed_files(model)

    def get_associated_file_buffer(self, name: str) -> bytes:
        return self.files[name]

    def get_packed_associated_file_list(self) -> list[str]:
        return list(self.files)


def displayed(model: bytes):
    raw = parse_model(model).metadata_bytes(model, METADATA_NAME)
    return _json_form(unpack(raw)), Packed(model)


def _units(tensor: dict) -> dict[str, dict]:
    return {pu["options_type"]: pu.get("options", {}) for pu in tensor.get("process_units", [])}


# -- one test per task writer -------------------------------------------------------------

@pytest.mark.smoke
def test_image_classification_normalization_labels_threshold(tiny):
    result = attach(tiny("classifier").read_bytes(), labels=["a", "b", "c", "d"], normalization=FLAGS,
                    score_threshold=0.25, info=GeneralInfo(name="tiny", version="2.1", author="me", license="MIT"))
    assert (result.task, result.task_source) == ("image_classification", "detected")
    shown, disp = displayed(result.model)
    assert (shown["name"], shown["version"], shown["author"], shown["license"]) == ("tiny", "2.1", "me", "MIT")
    sg = shown["subgraph_metadata"][0]
    norm = _units(sg["input_tensor_metadata"][0])["NormalizationOptions"]
    assert norm == {"mean": [127.5], "std": [127.5]}
    threshold = _units(sg["output_tensor_metadata"][0])["ScoreThresholdingOptions"]
    assert threshold["global_score_threshold"] == pytest.approx(0.25)
    assert disp.get_associated_file_buffer("labels.txt") == b"a\nb\nc\nd\n"
    assert result.normalization["source"] == "flags" and result.normalization["written"]["mean"] == [127.5]


@pytest.mark.smoke
def test_object_detection_outputs_matched_by_role(tiny):
    path = tiny("detector")
    result = attach(path.read_bytes(), labels=["cat", "dog", "bird"], normalization=FLAGS)
    assert result.task == "object_detection"
    shown, _ = displayed(result.model)
    sg = shown["subgraph_metadata"][0]
    assert sg["output_tensor_groups"][0]["tensor_names"] == ["location", "category", "score"]
    # each metadata entry sits at the position of the model output with that role
    from mobilepack.model.flatbuffer import parse_model

    fb = parse_model(result.model)
    shapes = [fb.subgraphs[0].tensors[i].shape for i in fb.subgraphs[0].outputs]
    by_name = {t["name"]: shapes[i] for i, t in enumerate(sg["output_tensor_metadata"])}
    assert by_name["location"] == (1, 5, 4) and by_name["number of detections"] == (1,)
    assert read(result.model).labels() == ("cat", "dog", "bird")


@pytest.mark.smoke
def test_image_segmentation_labels(tiny):
    result = attach(tiny("segmenter").read_bytes(), labels=["bg", "cat", "dog"], normalization=FLAGS)
    assert result.task == "image_segmentation"
    md = read(result.model)
    assert md.task() == "image_segmentation" and md.labels() == ("bg", "cat", "dog")


@pytest.mark.smoke
def test_text_classification_regex_tokenizer(tiny, vocab):
    result = attach(tiny("text_regex").read_bytes(), labels=["neg", "pos"], vocab=vocab)
    assert result.task == "text_classification"
    shown, disp = displayed(result.model)
    units = _units(shown["subgraph_metadata"][0]["input_tensor_metadata"][0])
    assert "RegexTokenizerOptions" in units
    assert disp.get_associated_file_buffer("vocab.txt") == vocab.read_bytes()


@pytest.mark.smoke
def test_text_classification_bert_wordpiece(tiny, vocab):
    result = attach(tiny("text_bert").read_bytes(), labels=["neg", "pos"], vocab=vocab)
    shown, _ = displayed(result.model)
    sg = shown["subgraph_metadata"][0]
    assert [pu["options_type"] for pu in sg["input_process_units"]] == ["BertTokenizerOptions"]
    names = {t["name"] for t in sg["input_tensor_metadata"]}
    assert names == {"ids", "mask", "segment_ids"}
    assert read(result.model).task() == "text_classification"


@pytest.fixture()
def bert_vocab(tmp_path) -> Path:
    p = tmp_path / "vocab.txt"
    p.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\ngood\nbad\nfilm\n", encoding="utf-8")
    return p


def test_bert_classifier_is_detected_by_names_and_shapes(tiny, vocab):
    result = attach(tiny("text_bert").read_bytes(), labels=["neg", "pos"], vocab=vocab)
    assert (result.task, result.task_source) == ("text_classification", "detected")
    assert "3 integer inputs, BERT ids serving_default_ids:0 (ids)[1,16], mask serving_default_mask:0 (mask), " \
           "segment ids serving_default_segment_ids:0 (segment_ids) (matched by name)" in result.task_reason


@pytest.mark.smoke
def test_text_embedding_detected_written_and_read_back(tiny, bert_vocab):
    """BERT-style inputs matched by name and an output whose signature name is "embedding": the
    classifier's input metadata with the BERT tokenizer, one feature vector out, the vocabulary packed."""
    result = attach(tiny("text_embedder").read_bytes(), vocab=bert_vocab)
    assert (result.task, result.task_source) == ("text_embedding", "detected")
    assert "(matched by name)" in result.task_reason
    assert "output PartitionedCall:0 (embedding)[1,8], named 'embedding': a sentence vector" in result.task_reason
    assert result.labels == () and result.associated_files == ("vocab.txt",)
    shown, disp = displayed(result.model)
    sg = shown["subgraph_metadata"][0]
    assert [pu["options_type"] for pu in sg["input_process_units"]] == ["BertTokenizerOptions"]
    assert sg["input_process_units"][0]["options"]["vocab_file"][0]["name"] == "vocab.txt"
    # model order: attention_mask, input_ids, token_type_ids
    assert [t["name"] for t in sg["input_tensor_metadata"]] == ["mask", "ids", "segment_ids"]
    (out,) = sg["output_tensor_metadata"]
    assert out["name"] == "embedding" and out["description"] == "Sentence embedding (L2-normalized if the model normalizes)."
    assert out["content"]["content_properties_type"] == "FeatureProperties" and "associated_files" not in out
    assert disp.get_associated_file_buffer("vocab.txt") == bert_vocab.read_bytes()
    md = read(result.model)
    assert md.task() == "text_embedding" and md.input_units == ("bert_tokenizer",)
    assert [(t.name, t.content) for t in md.outputs] == [("embedding", "feature")] and md.label_file() is None
    again = attach(result.model, vocab=bert_vocab)                # the task from the existing metadata
    assert (again.task, again.task_source) == ("text_embedding", "metadata")


@pytest.mark.parametrize("name,task,fragment", [
    ("text_embedder_unnamed", "text_classification", "(matched by name); one class-score vector output"),
    ("text_embedder_anonymous_inputs", "text_classification", "(in model order: the names do not say)"),
    ("text_embedder_one", "text_embedding", "one int32 token-id input serving_default_input_ids:0 (input_ids)[1,16]; "
                                            "one float32 output PartitionedCall:0 (sentence_embedding)[1,8]"),
])
def test_text_embedding_is_detected_on_unambiguous_evidence_only(tiny, bert_vocab, name, task, fragment):
    """Without an output named as a sentence vector, or without BERT inputs named as such, a
    3-input model stays a text classifier (as before); one token-id input with a named output is
    an embedding (regex tokenizer by default)."""
    result = attach(tiny(name).read_bytes(), vocab=bert_vocab)
    assert (result.task, result.task_source) == (task, "detected")
    assert fragment in result.task_reason, result.task_reason


def test_task_option_states_either_text_task(tiny, bert_vocab):
    stated = attach(tiny("text_embedder_unnamed").read_bytes(), vocab=bert_vocab, task="text_embedding")
    assert (stated.task, stated.task_source) == ("text_embedding", "option")
    assert read(stated.model).task() == "text_embedding"
    classifier = attach(tiny("text_embedder").read_bytes(), vocab=bert_vocab, task="text_classification",
                        labels=[f"c{i}" for i in range(8)])
    assert (classifier.task, read(classifier.model).task()) == ("text_classification", "text_classification")
    single = attach(tiny("text_embedder_one").read_bytes(), vocab=bert_vocab)
    units = _units(displayed(single.model)[0]["subgraph_metadata"][0]["input_tensor_metadata"][0])
    assert "RegexTokenizerOptions" in units and read(single.model).task() == "text_embedding"


@pytest.mark.parametrize("kwargs,error,fragment", [
    (dict(), UsageError, "text_embedding needs a vocabulary"),
    (dict(labels=["a", "b"]), UsageError, "labels need a classification, detection or segmentation task"),
    (dict(score_threshold=0.5), UsageError, "--score-threshold applies to classification tasks"),
    (dict(tokenizer="regex"), InputError, "a regex-tokenized text embedding model has one input"),
])
def test_text_embedding_refusals(tiny, bert_vocab, kwargs, error, fragment):
    kwargs = {"vocab": bert_vocab, **kwargs} if kwargs else {}
    with pytest.raises(error, match=fragment):
        attach(tiny("text_embedder").read_bytes(), task="text_embedding", **kwargs)


def test_text_embedding_needs_token_ids_and_one_vector(tiny, bert_vocab):
    with pytest.raises(InputError, match="is float32, but a text model takes integer token ids"):
        attach(tiny("generic").read_bytes(), task="text_embedding", vocab=bert_vocab)
    tokens = tiny("token_vectors").read_bytes()                  # [1,16,8] out, named "embedding"
    with pytest.raises(InputError, match=r"needs one \[1, D\] sentence-vector output"):
        attach(tokens, task="text_embedding", vocab=bert_vocab)
    assert attach(tokens).task_source == "undetected"              # a name alone is no evidence


def test_text_classification_needs_vocab(tiny):
    with pytest.raises(UsageError, match="vocab"):
        attach(tiny("text_regex").read_bytes(), labels=["neg", "pos"])


@pytest.mark.smoke
def test_audio_classification_sample_rate(tiny):
    result = attach(tiny("audio").read_bytes(), labels=["a", "b", "c"], sample_rate=16000, channels=1)
    md = read(result.model)
    assert md.task() == "audio_classification"
    assert (md.inputs[0].sample_rate, md.inputs[0].channels) == (16000, 1)
    with pytest.raises(UsageError, match="sample rate"):
        attach(tiny("audio").read_bytes(), labels=["a", "b", "c"])


@pytest.mark.smoke
def test_generic_undetected_says_so_with_ranges(tiny):
    result = attach(tiny("generic").read_bytes(), info=GeneralInfo(name="feat", description="d", version="3"),
                    value_ranges={"serving_default_features:0": (0.0, 1.0)})
    assert (result.task, result.task_source) == ("generic", "undetected")
    assert any("could not be detected" in w for w in result.warnings)
    md = read(result.model)
    assert (md.name, md.description, md.version) == ("feat", "d", "3")
    assert md.inputs[0].name == "serving_default_features:0"
    assert md.inputs[0].value_range == ((0.0,), (1.0,))
    assert "tensor of shape 1x6" in md.inputs[0].description


def test_task_option_overrides_detection(tiny):
    result = attach(tiny("classifier").read_bytes(), task="generic")
    assert (result.task, result.task_source) == ("generic", "option")
    with pytest.raises(UsageError, match="unknown task"):
        attach(tiny("classifier").read_bytes(), task="pose_estimation")


# -- normalization sources ------------------------------------------------------------------

def test_normalization_from_model_layer_via_convert_record(digits):
    path = digits / "digits_fp32.tflite"
    spec = spec_beside(path)
    assert spec is not None and spec.normalization.in_model
    result = attach(path.read_bytes(), spec=spec, labels=(DIGITS / "labels.txt").read_text().split())
    n = result.normalization
    assert (n["source"], n["in_model"]) == ("model_layer", True)
    assert n["std"] == [255.0]
    # the model rescales itself: the app must feed raw pixels, so metadata is the identity
    assert n["written"] == {"mean": [0.0], "std": [1.0]}
    assert read(result.model).normalization == ((0.0,), (1.0,))


def test_normalization_explicit_beats_model_layer(digits):
    path = digits / "digits_fp32.tflite"
    result = attach(path.read_bytes(), spec=spec_beside(path), normalization=Normalization((0.5,), (2.0,), "config"))
    assert result.normalization["source"] == "config"
    assert read(result.model).normalization == ((0.5,), (2.0,))


def test_normalization_from_existing_metadata(tiny):
    first = attach(tiny("classifier").read_bytes(), labels=["a", "b", "c", "d"],
                   normalization=Normalization((10.0,), (20.0,), "flags"))
    again = attach(first.model)
    assert again.normalization["source"] == "metadata"
    assert read(again.model).normalization == ((10.0,), (20.0,))
    assert again.labels == ("a", "b", "c", "d")


def test_image_task_without_normalization_is_an_error(tiny):
    with pytest.raises(UsageError) as err:
        attach(tiny("classifier").read_bytes(), labels=["a", "b", "c", "d"])
    assert "--mean" in err.value.hint and "127.5" in err.value.hint


def test_normalization_channel_count_checked(tiny):
    with pytest.raises(UsageError, match="3 channels"):
        attach(tiny("classifier").read_bytes(), normalization=Normalization((1.0, 2.0), (1.0, 1.0), "flags"))
    # one std for three means applies to every channel
    result = attach(tiny("classifier").read_bytes(), normalization=Normalization((1.0, 2.0, 3.0), (4.0,), "flags"))
    assert read(result.model).normalization == ((1.0, 2.0, 3.0), (4.0, 4.0, 4.0))


# -- labels -----------------------------------------------------------------------------------

def test_label_count_mismatch_names_both_numbers(tiny):
    with pytest.raises(InputError) as err:
        attach(tiny("classifier").read_bytes(), labels=["a", "b", "c"], normalization=FLAGS)
    assert "3 labels" in err.value.message and "4 classes" in err.value.message


def test_tricky_labels_survive_byte_exact(tiny, tmp_path):
    labels_file = tmp_path / "labels.txt"
    labels_file.write_bytes(("\n".join(TRICKY_LABELS[:4]) + "\n").encode("utf-8"))
    out = tmp_path / "out.tflite"
    r = run_cli("metadata", tiny("classifier"), "-o", out, "--labels", labels_file, "--mean", "0", "--std", "1",
                "--json")
    assert r.returncode == 0, r.stderr
    _, disp = displayed(out.read_bytes())
    assert disp.get_associated_file_buffer("labels.txt") == labels_file.read_bytes()
    assert json.loads(r.stdout)["labels"]["first"] == TRICKY_LABELS[:4]
    result = attach(tiny("segmenter").read_bytes(), labels=TRICKY_LABELS[3:], normalization=FLAGS)
    assert read(result.model).labels() == tuple(TRICKY_LABELS[3:])


def test_reattach_replaces_without_duplicate_files(tiny, vocab):
    first = attach(tiny("text_regex").read_bytes(), labels=["neg", "pos"], vocab=vocab)
    second = attach(first.model, labels=["negative", "positive"], vocab=vocab)
    assert second.replaced_existing and not first.replaced_existing
    _, disp = displayed(second.model)
    assert sorted(disp.get_packed_associated_file_list()) == ["labels.txt", "vocab.txt"]
    assert disp.get_associated_file_buffer("labels.txt") == b"negative\npositive\n"
    assert abs(len(second.model) - len(first.model)) < 64  # the old archive was dropped, not kept


# -- the command ------------------------------------------------------------------------------

def test_cli_metadata_json_on_sample(digits, tmp_path):
    out = tmp_path / "digits_md.tflite"
    r = run_cli("metadata", digits / "digits_int8.tflite", "-o", out, "--labels", DIGITS / "labels.txt",
                "--name", "digits", "--version", "1.0", "--author", "mobilepack", "--license", "Apache-2.0", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["schema_version"] == "1.0" and d["task"] == "image_classification"
    assert d["normalization"]["source"] == "model_layer" and d["normalization"]["in_model"] is True
    assert d["labels"]["count"] == 10 and d["associated_files"] == ["labels.txt"]
    assert d["general"]["license"] == "Apache-2.0"
    assert read(out.read_bytes()).labels()[0] == "zero"


def test_cli_label_mismatch_clean_error_no_output(tiny, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\nc\n", encoding="utf-8")
    out = tmp_path / "out" / "m.tflite"
    r = run_cli("metadata", tiny("classifier"), "-o", out, "--labels", labels, "--mean", "127.5", "--std", "127.5")
    assert_clean_error(r, 2, "3 labels", "4 classes")
    assert not out.exists() and snapshot(tmp_path / "out") == {}


def test_cli_missing_normalization_clean_error(tiny, tmp_path):
    r = run_cli("metadata", tiny("classifier"), "-o", tmp_path / "o.tflite")
    assert_clean_error(r, 2, "normalization", "--mean")


@pytest.mark.parametrize("content,fragment", [(b"", "empty"), (b"\x00" * 64, "malformed"),
                                              (b"PK\x03\x04" + b"\x00" * 40, "zip")],
                         ids=["empty", "zeros", "zip"])
def test_cli_bad_model_exit_2(tmp_path, content, fragment):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(content)
    r = run_cli("metadata", bad, "-o", tmp_path / "o.tflite")
    assert_clean_error(r, 2, fragment)
    assert not (tmp_path / "o.tflite").exists()


def test_cli_out_is_directory(tiny, tmp_path):
    r = run_cli("metadata", tiny("generic"), "-o", tmp_path)
    assert_clean_error(r, 2, "is a directory")


def test_cli_failure_keeps_previous_output(tiny, tmp_path):
    out = tmp_path / "o.tflite"
    out.write_bytes(b"previous")
    r = run_cli("metadata", tiny("classifier"), "-o", out, "--mean", "1")
    assert_clean_error(r, 2, "--mean and --std")
    assert out.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == ["o.tflite"]


# -- score calibration ------------------------------------------------------------------------------

def test_score_calibration_written_and_packed(tiny, tmp_path):
    from mobilepack.metadata import ScoreCalibration

    cal = tmp_path / "cal.csv"
    cal.write_text("0.9,0.5,0.1\n\n1.0,2.0,-0.5,0.05\n0.8,1.5,0.2\n", encoding="utf-8")
    result = attach(tiny("classifier").read_bytes(), labels=["a", "b", "c", "d"], normalization=FLAGS,
                    score_calibration=ScoreCalibration(str(cal), "inverse_logistic", 0.25))
    shown, disp = displayed(result.model)
    units = _units(shown["subgraph_metadata"][0]["output_tensor_metadata"][0])
    assert units["ScoreCalibrationOptions"] == {"score_transformation": 2, "default_score": 0.25}
    assert disp.get_associated_file_buffer("score_calibration.txt") == cal.read_bytes()
    assert result.associated_files == ("labels.txt", "score_calibration.txt")


@pytest.mark.parametrize("text, fragment", [("1,2\n0,0,0\n0,0,0\n0,0,0\n", "cal.csv:1: expected 3 or 4 numbers"),
                                            ("1,2,3\n-1,0,0\n1,1,1\n1,1,1\n", "cal.csv:2: the scale must not"),
                                            ("1,2,x\n1,1,1\n1,1,1\n1,1,1\n", "cal.csv:1"),
                                            ("1,2,3\n", "1 lines but output")],
                         ids=["two-fields", "negative-scale", "not-a-number", "line-count"])
def test_score_calibration_refused(tiny, tmp_path, text, fragment):
    from mobilepack.metadata import ScoreCalibration

    cal = tmp_path / "cal.csv"
    cal.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=fragment.replace("(", r"\(")):
        attach(tiny("classifier").read_bytes(), labels=["a", "b", "c", "d"], normalization=FLAGS,
               score_calibration=ScoreCalibration(str(cal)))


def test_score_calibration_cli(tiny, tmp_path):
    cal = tmp_path / "cal.csv"
    cal.write_text("1,1,0\n1,1,0\n1,1,0\n1,1,0\n", encoding="utf-8")
    out = tmp_path / "o.tflite"
    r = run_cli("metadata", str(tiny("classifier")), "-o", str(out), "--mean", "127.5", "--std", "127.5",
                "--score-calibration", str(cal), "--score-transformation", "log", "--json")
    assert r.returncode == 0, r.stderr
    assert "score_calibration.txt" in json.loads(r.stdout)["associated_files"]
    bad = run_cli("metadata", str(tiny("classifier")), "-o", str(out), "--mean", "127.5", "--std", "127.5",
                  "--default-score", "0.3")
    assert_clean_error(bad, 2, "--default-score go with --score-calibration")
    seg = run_cli("metadata", str(tiny("segmenter")), "-o", str(out), "--mean", "127.5", "--std", "127.5",
                  "--score-calibration", str(cal))
    assert_clean_error(seg, 2, "--score-calibration applies to classification tasks")
