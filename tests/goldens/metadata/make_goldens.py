"""Golden files for mobilepack's metadata writer, made by tflite-support 0.4.4's own writers.

Two steps, in two environments (tflite-support pins protobuf < 4, which current TensorFlow refuses):

1. ``inputs`` — in the project's environment (TensorFlow): build the tiny input models of
   ``CASES`` into ``inputs/`` (a few KB each)::

       .venv/bin/python tests/goldens/metadata/make_goldens.py inputs

2. ``goldens`` — in a separate Python 3.11 environment that has only tflite-support 0.4.4::

       python3.11 -m venv /tmp/tflite-support && /tmp/tflite-support/bin/pip install tflite-support==0.4.4
       /tmp/tflite-support/bin/python tests/goldens/metadata/make_goldens.py goldens

   writes ``<case>.tflite`` for every case and ``manifest.json`` (the case list with the hash of
   each input and golden, and the tflite-support and flatbuffers versions that made them).

(``make metadata-goldens`` runs both, with a Python 3.11 environment in ``.cache/``.)  Each case calls tflite-support's writer classes with the
arguments mobilepack's own writer gets for the same ``mobilepack.metadata.attach(...)`` call, the
way mobilepack used them before it wrote metadata itself; ``tests/test_metadata_goldens.py``
makes each call with mobilepack and compares the bytes.  The goldens are committed; run this again
only to add a case."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
INPUTS = HERE / "inputs"

FULL_INFO = {"name": "golden", "description": "a model for the metadata goldens", "version": "2.1",
             "author": "mobilepack tests", "license": "Apache-2.0"}
TRICKY_LABELS = ["café", 'say "cheese"', "a,b,c", "日本語"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "good", "bad", "##ly", "très"]

# Every case is one mobilepack.metadata.attach(...) call: input model, then attach's keyword arguments.
CASES = [
    {"case": "image_classification", "input": "classifier", "task": "image_classification",
     "labels": ["a", "b", "c", "d"], "mean": [127.5], "std": [127.5], "info": FULL_INFO},
    {"case": "image_classification_rgb_norm", "input": "classifier", "task": "image_classification",
     "labels": TRICKY_LABELS, "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375],
     "info": {"name": "per-channel"}},
    {"case": "image_classification_no_labels", "input": "classifier", "task": "image_classification",
     "mean": [0.0], "std": [255.0], "info": {"name": "nolabels"}},
    {"case": "image_classification_threshold", "input": "classifier", "task": "image_classification",
     "labels": ["a", "b", "c", "d"], "mean": [127.5], "std": [127.5], "score_threshold": 0.25,
     "info": {"name": "threshold"}},
    {"case": "image_classification_calibrated", "input": "classifier", "task": "image_classification",
     "labels": ["a", "b", "c", "d"], "mean": [127.5], "std": [127.5], "score_threshold": 0.3,
     "score_calibration": {"lines": ["0.9,0.5,0.1", "", "1.0,2.0,-0.5,0.05", "0.8,1.5,0.2"],
                           "transformation": "log", "default_score": 0.2}, "info": {"name": "calibrated"}},
    {"case": "image_classification_uint8", "input": "classifier_uint8", "task": "image_classification",
     "labels": ["a", "b", "c", "d"], "mean": [0.0], "std": [1.0], "info": {"name": "uint8"}},
    {"case": "image_classification_gray", "input": "classifier_gray", "task": "image_classification",
     "labels": ["zero", "one", "two"], "mean": [0.0], "std": [255.0], "info": {"name": "gray"}},
    {"case": "object_detection", "input": "detector", "task": "object_detection",
     "labels": ["cat", "dog", "bird"], "mean": [127.5], "std": [127.5], "info": {"name": "detector"}},
    {"case": "image_segmentation", "input": "segmenter", "task": "image_segmentation",
     "labels": ["bg", "cat", "dog"], "mean": [127.5], "std": [127.5], "info": {"name": "segmenter"}},
    {"case": "text_regex", "input": "text_regex", "task": "text_classification", "tokenizer": "regex",
     "labels": ["neg", "pos"], "vocab": VOCAB, "padding": "post", "info": {"name": "text"}},
    {"case": "text_regex_calibrated", "input": "text_regex", "task": "text_classification", "tokenizer": "regex",
     "labels": ["neg", "pos"], "vocab": VOCAB, "info": {"name": "text"},
     "score_calibration": {"lines": ["1.0,1.0,0.0", "1.0,0.5,0.1"], "transformation": "identity",
                           "default_score": 0.0}},
    {"case": "text_bert", "input": "text_bert", "task": "text_classification", "tokenizer": "bert",
     "labels": ["neg", "pos"], "vocab": VOCAB, "info": {"name": "bert"}},
    {"case": "audio_classification", "input": "audio", "task": "audio_classification",
     "labels": ["a", "b", "c"], "sample_rate": 16000, "channels": 1, "info": {"name": "audio"}},
    {"case": "audio_classification_stereo", "input": "audio", "task": "audio_classification",
     "labels": ["a", "b", "c"], "sample_rate": 44100, "channels": 2, "info": {"name": "stereo"}},
    {"case": "generic", "input": "generic", "task": "generic", "info": {"name": "generic"},
     "value_ranges": {"serving_default_features:0": [-1.0, 1.0]}},
    {"case": "generic_int8", "input": "int8_io", "task": "generic", "info": {"name": "int8"}},
    # metadata written over metadata: the TFLITE_METADATA buffer is replaced in place
    {"case": "text_regex_reattached", "input": "text_regex", "over": "text_regex", "task": "text_classification",
     "tokenizer": "regex", "labels": ["negative", "positive"], "vocab": VOCAB, "info": {"name": "text"}},
]

# Not compared byte for byte (mobilepack refuses to write it): a classifier whose metadata has
# 3 labels for 4 classes, written elsewhere, for `inspect`'s label check.
FOREIGN = {"case": "foreign_labels_mismatch", "input": "classifier", "task": "image_classification",
           "labels": ["a", "b", "c"], "mean": [127.5], "std": [127.5], "info": {"name": "foreign"}}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- step 1: input models (project environment) -----------------------------------------------------

def make_inputs() -> None:
    sys.path.insert(0, str(HERE.parents[2]))
    from tests.test_metadata_models import BUILDERS, classifier_gray, classifier_uint8

    builders = {**BUILDERS, "classifier_uint8": classifier_uint8, "classifier_gray": classifier_gray}
    INPUTS.mkdir(exist_ok=True)
    for name in sorted({c["input"] for c in CASES + [FOREIGN]}):
        (INPUTS / f"{name}.tflite").write_bytes(builders[name]())
        print(f"inputs/{name}.tflite")


# -- step 2: goldens (Python 3.11, tflite-support 0.4.4) --------------------------------------------

def _tensors(model: bytes, which: str) -> list[tuple[int, str, int, list[int]]]:
    """(index, name, tensor type, shape) of subgraph 0's inputs or outputs."""
    from tensorflow_lite_support.metadata import schema_py_generated as s

    sg = s.Model.GetRootAsModel(model, 0).Subgraphs(0)
    indices = sg.InputsAsNumpy() if which == "inputs" else sg.OutputsAsNumpy()
    out = []
    for i in indices:
        t = sg.Tensors(int(i))
        out.append((int(i), t.Name().decode(), t.Type(), [int(d) for d in t.ShapeAsNumpy()]))
    return out


def _signature_outputs(model: bytes) -> dict[int, str]:
    """Tensor index -> signature output name (subgraph 0)."""
    from tensorflow_lite_support.metadata import schema_py_generated as s

    m = s.Model.GetRootAsModel(model, 0)
    names = {}
    for k in range(m.SignatureDefsLength()):
        sig = m.SignatureDefs(k)
        for j in range(sig.OutputsLength()):
            names[sig.Outputs(j).TensorIndex()] = sig.Outputs(j).Name().decode()
    return names


def _strip_zip(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return data[:min(i.header_offset for i in zf.infolist())]


def _write_case(case: dict, model: bytes, tmp: Path) -> bytes:
    """The model with metadata, written by tflite-support's writers as mobilepack called them."""
    import flatbuffers
    from tensorflow_lite_support.metadata import metadata_schema_py_generated as fb
    from tensorflow_lite_support.metadata import schema_py_generated as s
    from tensorflow_lite_support.metadata.python import metadata as _metadata
    from tensorflow_lite_support.metadata.python.metadata_writers import (audio_classifier, bert_nl_classifier,
                                                                          image_classifier, image_segmenter,
                                                                          metadata_info as info, metadata_writer,
                                                                          nl_classifier, object_detector)

    inputs, outputs = _tensors(model, "inputs"), _tensors(model, "outputs")
    ci = case.get("info", {})
    general = info.GeneralMd(name=ci.get("name"), version=ci.get("version"),
                             description=ci.get("description") or f"{case['task'].replace('_', ' ')} model "
                             "packaged by mobilepack", author=ci.get("author"), licenses=ci.get("license"))
    label_path = None
    if case.get("labels"):
        label_path = tmp / "labels.txt"
        label_path.write_bytes("".join(f"{x}\n" for x in case["labels"]).encode("utf-8"))
    vocab_path = None
    if case.get("vocab"):
        vocab_path = tmp / "vocab.txt"
        vocab_path.write_bytes("".join(f"{x}\n" for x in case["vocab"]).encode("utf-8"))

    def label_files():
        return [info.LabelFileMd(file_path=str(label_path))] if label_path else []

    calibration = None
    if case.get("score_calibration"):
        sc = case["score_calibration"]
        cal_path = tmp / "score_calibration.txt"
        cal_path.write_bytes("".join(f"{x}\n" for x in sc["lines"]).encode("utf-8"))
        calibration = info.ScoreCalibrationMd(getattr(fb.ScoreTransformationType, sc["transformation"].upper()),
                                              sc["default_score"], str(cal_path))

    def image_input(description):
        _, name, ttype, shape = inputs[0]
        return info.InputImageTensorMd(name=name, description=description, norm_mean=case["mean"],
                                       norm_std=case["std"], color_space_type=fb.ColorSpaceType.RGB
                                       if shape[-1] == 3 else fb.ColorSpaceType.UNKNOWN, tensor_type=ttype)

    def scores(description="Probabilities of the labels."):
        _, name, ttype, _ = outputs[0]
        return info.ClassificationTensorMd(name=name, description=description, label_files=label_files(),
                                           tensor_type=ttype, score_calibration_md=calibration)

    amend = []
    task = case["task"]
    if task == "image_classification":
        writer = image_classifier.MetadataWriter.create_from_metadata_info(
            model, general_md=general, input_md=image_input("Input image to be classified."), output_md=scores())
    elif task == "object_detection":
        writer = object_detector.MetadataWriter.create_from_metadata_info(
            model, general_md=general, input_md=image_input("Input image to be detected."),
            output_location_md=info.TensorMd(name="location", description="The locations of the detected boxes."),
            output_category_md=info.CategoryTensorMd(name="category", description="The categories of the "
                                                     "detected boxes.", label_files=label_files()),
            output_score_md=info.ClassificationTensorMd(name="score", description="The scores of the detected boxes."),
            output_number_md=info.TensorMd(name="number of detections",
                                           description="The number of the detected boxes."))
        role_of = {"boxes": "location", "classes": "category", "scores": "score", "count": "number of detections"}
        by_signature = _signature_outputs(model)
        order = [role_of[by_signature[index]] for index, *_ in outputs]

        def by_role(md):
            sg = md.subgraphMetadata[0]
            named = {t.name.decode() if isinstance(t.name, bytes) else t.name: t for t in sg.outputTensorMetadata}
            sg.outputTensorMetadata = [named[r] for r in order]

        amend.append(by_role)
    elif task == "image_segmentation":
        _, name, _, _ = outputs[0]
        writer = image_segmenter.MetadataWriter.create_from_metadata_info(
            model, general_md=general, input_md=image_input("Input image to be segmented."),
            output_md=info.CategoryTensorMd(name=name, description="Masks over the target objects with high "
                                            "accuracy.", label_files=label_files()))
    elif task == "text_classification" and case["tokenizer"] == "bert":
        # ids, mask and segment ids by name (as mobilepack matches them), else in model order
        names = [t[1] for t in inputs]
        segment = next((n for n in names if "segment" in n.lower() or "type" in n.lower()), names[2])
        mask = next((n for n in names if "mask" in n.lower() and n != segment), names[1])
        ids = next(n for n in names if n not in (segment, mask))
        writer = bert_nl_classifier.MetadataWriter.create_from_metadata_info(
            model, general_md=general,
            input_md=info.BertInputTensorsMd(model, ids, mask, segment,
                                             tokenizer_md=info.BertTokenizerMd(str(vocab_path))),
            output_md=scores())
    elif task == "text_classification":
        where = {"pre": "the start", "post": "the end"}.get(case.get("padding") or "")
        description = "Embedding vectors of the input text." + (
            f" Token ids are padded and cut at {where} (padding: {case['padding']})." if where else "")
        writer = nl_classifier.MetadataWriter.create_from_metadata_info(
            model, general_md=general,
            input_md=info.InputTextTensorMd(name=inputs[0][1], description=description,
                                            tokenizer_md=info.RegexTokenizerMd(r"[^\w\']+", str(vocab_path))),
            output_md=scores())
    elif task == "audio_classification":
        writer = audio_classifier.MetadataWriter.create_from_metadata_info(
            model, general_md=general,
            input_md=info.InputAudioTensorMd(name=inputs[0][1], description="Input audio clip to be classified.",
                                             sample_rate=case["sample_rate"], channels=case["channels"]),
            output_md=scores("Scores of the labels."))
    elif task == "generic":
        ranges = case.get("value_ranges", {})
        kinds = {s.TensorType.INT8: (-128, 127), s.TensorType.UINT8: (0, 255), s.TensorType.INT16: (-32768, 32767)}

        def plain(tensor, kind):
            index, name, ttype, shape = tensor
            r = ranges.get(name)
            if r is None and ttype in kinds:
                q = s.Model.GetRootAsModel(model, 0).Subgraphs(0).Tensors(index).Quantization()
                if q is not None and q.ScaleLength() == 1:
                    zp = int(q.ZeroPoint(0)) if q.ZeroPointLength() else 0
                    lo, hi = kinds[ttype]
                    r = ((lo - zp) * float(q.Scale(0)), (hi - zp) * float(q.Scale(0)))
            type_name = {v: k for k, v in vars(s.TensorType).items() if not k.startswith("_")}[ttype].lower()
            return info.TensorMd(name=name, description=f"{kind} {type_name} tensor of shape "
                                 f"{'x'.join(map(str, shape)) or 'scalar'}",
                                 min_values=[float(r[0])] if r else None, max_values=[float(r[1])] if r else None,
                                 tensor_name=name)

        writer = metadata_writer.MetadataWriter.create_from_metadata_info(
            model, general_md=general, input_md=[plain(t, "input") for t in inputs],
            output_md=[plain(t, "output") for t in outputs])
    else:
        raise SystemExit(f"unknown task {task}")
    if case.get("score_threshold") is not None:
        def threshold(md):
            unit = fb.ProcessUnitT()
            unit.optionsType = fb.ProcessUnitOptions.ScoreThresholdingOptions
            unit.options = fb.ScoreThresholdingOptionsT()
            unit.options.globalScoreThreshold = float(case["score_threshold"])
            tensor = md.subgraphMetadata[0].outputTensorMetadata[0]
            tensor.processUnits = [*(tensor.processUnits or []), unit]

        amend.append(threshold)
    if amend:
        md = fb.ModelMetadataT.InitFromPackedBuf(bytes(writer._metadata_buffer), 0)
        for f in amend:
            f(md)
        b = flatbuffers.Builder(0)
        b.Finish(md.Pack(b), _metadata.MetadataPopulator.METADATA_FILE_IDENTIFIER)
        writer._metadata_buffer = b.Output()
    return bytes(writer.populate())


def make_goldens() -> None:
    from importlib.metadata import version

    INPUTS.mkdir(exist_ok=True)
    manifest = {"made_by": {"tflite-support": version("tflite-support"), "flatbuffers": version("flatbuffers"),
                            "python": sys.version.split()[0]}, "cases": []}
    written: dict[str, bytes] = {}
    for case in CASES + [FOREIGN]:
        model = (INPUTS / f"{case['input']}.tflite").read_bytes()
        if case.get("over"):
            model = _strip_zip(written[case["over"]])
        with tempfile.TemporaryDirectory() as tmp:
            out = _write_case(case, bytearray(model), Path(tmp))
        written[case["case"]] = out
        (HERE / f"{case['case']}.tflite").write_bytes(out)
        manifest["cases"].append({**case, "compare": case is not FOREIGN, "input_sha256": sha256(model),
                                  "golden_sha256": sha256(out)})
        print(f"{case['case']}.tflite  {len(out)} bytes")
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    step = sys.argv[1] if len(sys.argv) > 1 else ""
    if step == "inputs":
        make_inputs()
    elif step == "goldens":
        os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
        make_goldens()
    else:
        raise SystemExit("usage: make_goldens.py inputs|goldens (see the module docstring)")
