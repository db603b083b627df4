"""One tflite-support metadata writer per built-in task (``TaskSpec.writer``).

Each writer gets a :class:`WriteRequest` and returns a tflite-support
``MetadataWriter``; :func:`mobilepack.metadata.attach` populates it and checks the
result.  TensorFlow is never imported here (the writers need only tflite-support's
flatbuffer code)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mobilepack.errors import InputError, UsageError
from mobilepack.model.flatbuffer import FbModel, FbTensor
from mobilepack.tasks.tensors import detection_roles


@dataclass(frozen=True)
class WriteRequest:
    model: bytearray
    fb: FbModel
    inputs: tuple[FbTensor, ...]
    outputs: tuple[FbTensor, ...]
    general: object                     # metadata_info.GeneralMd
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    label_path: str | None
    vocab_path: str | None = None
    tokenizer: str | None = None        # "regex" | "bert"
    delim_regex: str = r"[^\w\']+"
    sample_rate: int | None = None
    channels: int = 1
    value_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    aliases: dict[int, str] = field(default_factory=dict)   # tensor index -> signature name (subgraph 0)
    padding: str | None = None          # text: "pre" | "post", recorded in the input's description


def check_text_inputs(inputs) -> None:
    """Text classifiers take token ids (integers) or a string; a float input is not one of them."""
    bad = [t for t in inputs if t.type not in ("INT32", "INT64", "STRING")]
    if bad:
        t = bad[0]
        raise InputError(f"text_classification: input {t.name}{list(t.shape)} is {t.type.lower()}, but a text "
                         "model takes integer token ids (int32/int64) or a string; the app's tokenizer would feed "
                         "ids into a float tensor",
                         "re-export the model with an int32 token-id input (keras.Input(shape=(N,), "
                         "dtype='int32')), or use --task generic")


def with_runtime_shapes(model: bytes, tensors: tuple[FbTensor, ...]) -> tuple[FbTensor, ...]:
    """Tensors whose flatbuffer shape is empty (TFLite_Detection_PostProcess writes ``[]`` for
    its four outputs) get the shape LiteRT gives them after ``allocate_tensors()``.  Only
    then is the model loaded (in this process); if it cannot load, the shapes stay."""
    from dataclasses import replace

    if all(t.shape for t in tensors):
        return tensors
    try:
        from ai_edge_litert.interpreter import Interpreter

        from mobilepack.model.tfimport import silenced

        with silenced():
            it = Interpreter(model_content=bytes(model))
            it.allocate_tensors()
        shapes = {d["index"]: tuple(int(x) for x in d["shape"])
                  for d in it.get_input_details() + it.get_output_details()}
    except Exception:  # a model LiteRT cannot load keeps its flatbuffer shapes
        return tensors
    return tuple(replace(t, shape=shapes.get(t.index, t.shape)) if not t.shape else t for t in tensors)


def class_count(outputs: tuple[FbTensor, ...]) -> tuple[int | None, str]:
    """The class dimension labels must match (a task whose labels rule is "output"), and its tensor."""
    if not outputs:
        return None, ""
    t = outputs[0]
    return (t.shape[-1] if t.shape else None), t.name


# -- writers ---------------------------------------------------------------------------

def load_tflite_support():
    """Import tflite-support's metadata module without TensorFlow.

    It imports TensorFlow only to open files through ``tf.io.gfile`` and falls back
    to ``open`` without it; blocking that import keeps ``metadata`` fast and quiet.
    (Never ``import tflite_support`` itself next to TensorFlow: see DESIGN.md.)"""
    import sys

    name = "tensorflow_lite_support.metadata.python.metadata"
    if name in sys.modules:
        return sys.modules[name]
    blocked = "tensorflow" not in sys.modules
    if blocked:
        sys.modules["tensorflow"] = None  # type: ignore[assignment]  # makes `import tensorflow` raise ImportError
    try:
        from tensorflow_lite_support.metadata.python import metadata
    except ImportError as exc:
        from mobilepack.errors import RuntimeFailure

        raise RuntimeFailure(f"tflite-support cannot be loaded: {exc}",
                             "install its system libraries (Debian: apt-get install libusb-1.0-0)") from None
    finally:
        if blocked:
            del sys.modules["tensorflow"]
    return metadata


def _md():
    load_tflite_support()
    from tensorflow_lite_support.metadata import metadata_schema_py_generated as fb
    from tensorflow_lite_support.metadata.python.metadata_writers import metadata_info

    return metadata_info, fb


def _schema_type(t: FbTensor):
    from tensorflow_lite_support.metadata import schema_py_generated as s

    return getattr(s.TensorType, t.type)


def _label_files(req: WriteRequest, info) -> list:
    return [info.LabelFileMd(file_path=req.label_path)] if req.label_path else []


def image_input_md(req: WriteRequest, description: str):
    info, fb = _md()
    t = req.inputs[0]
    return info.InputImageTensorMd(name=t.name, description=description, norm_mean=list(req.mean),
                                   norm_std=list(req.std), color_space_type=fb.ColorSpaceType.RGB
                                   if t.shape[-1] == 3 else fb.ColorSpaceType.UNKNOWN,
                                   tensor_type=_schema_type(t))


def _scores(req: WriteRequest, description: str = "Probabilities of the labels."):
    """The class-scores output of a classifier, with the labels file."""
    info, _ = _md()
    out = req.outputs[0]
    return info.ClassificationTensorMd(name=out.name, description=description, label_files=_label_files(req, info),
                                       tensor_type=_schema_type(out))


def image_classifier_writer(req: WriteRequest):
    from tensorflow_lite_support.metadata.python.metadata_writers import image_classifier

    return image_classifier.MetadataWriter.create_from_metadata_info(
        req.model, general_md=req.general, input_md=image_input_md(req, "Input image to be classified."),
        output_md=_scores(req))


def object_detector_writer(req: WriteRequest):
    from tensorflow_lite_support.metadata.python.metadata_writers import object_detector

    info, _ = _md()
    roles = detection_roles(req.outputs, req.aliases)
    if roles is None:
        raise InputError("object_detection needs SSD-style outputs: boxes [1,N,4], classes [1,N], scores [1,N], "
                         f"count [1]; this model has {_shapes(req.outputs)}",
                         "use --task generic, or export the detector with TFLite_Detection_PostProcess")
    return object_detector.MetadataWriter.create_from_metadata_info(
        req.model, general_md=req.general, input_md=image_input_md(req, "Input image to be detected."),
        output_location_md=info.TensorMd(name=DETECTION_NAMES["location"], description="The locations of the detected boxes."),
        output_category_md=info.CategoryTensorMd(name="category", description="The categories of the detected boxes.",
                                                 label_files=_label_files(req, info)),
        output_score_md=info.ClassificationTensorMd(name="score", description="The scores of the detected boxes."),
        output_number_md=info.TensorMd(name=DETECTION_NAMES["number"],
                                       description="The number of the detected boxes."))


DETECTION_NAMES = {"location": "location", "category": "category", "score": "score",
                   "number": "number of detections"}


def detection_order(req: WriteRequest):
    """tflite-support's detector writer assigns the four output metadata by ascending
    tensor index (true for TFLite_Detection_PostProcess); put each one at the position
    of the model output that has its role instead, since apps match outputs by position."""
    roles = detection_roles(req.outputs, req.aliases)
    position = {t.index: i for i, t in enumerate(req.outputs)}

    def amend(md) -> None:
        sg = md.subgraphMetadata[0]
        by_name = {t.name.decode() if isinstance(t.name, bytes) else t.name: t for t in sg.outputTensorMetadata}
        ordered = [None] * len(req.outputs)
        for role, tensor in roles.items():
            ordered[position[tensor.index]] = by_name[DETECTION_NAMES[role]]
        sg.outputTensorMetadata = ordered

    return amend


def image_segmenter_writer(req: WriteRequest):
    from tensorflow_lite_support.metadata.python.metadata_writers import image_segmenter

    info, _ = _md()
    out = req.outputs[0]
    return image_segmenter.MetadataWriter.create_from_metadata_info(
        req.model, general_md=req.general, input_md=image_input_md(req, "Input image to be segmented."),
        output_md=info.CategoryTensorMd(name=out.name, description="Masks over the target objects with high accuracy.",
                                        label_files=_label_files(req, info)))


def text_classifier_writer(req: WriteRequest):
    from tensorflow_lite_support.metadata.python.metadata_writers import bert_nl_classifier, nl_classifier

    info, _ = _md()
    if not req.vocab_path:
        raise UsageError("text_classification needs a vocabulary", "pass --vocab FILE (one token per line)")
    output_md = _scores(req)
    tokenizer = req.tokenizer or ("bert" if len(req.inputs) == 3 else "regex")
    if tokenizer == "bert":
        if len(req.inputs) != 3:
            raise InputError(f"a BERT classifier has 3 inputs (ids, mask, segment ids); this model has {len(req.inputs)}",
                             "use --tokenizer regex for a single-input text model")
        ids, mask, segment = _bert_inputs(req.inputs, req.aliases)
        input_md = info.BertInputTensorsMd(req.model, ids, mask, segment,
                                           tokenizer_md=info.BertTokenizerMd(req.vocab_path))
        return bert_nl_classifier.MetadataWriter.create_from_metadata_info(
            req.model, general_md=req.general, input_md=input_md, output_md=output_md)
    if tokenizer != "regex":
        raise UsageError(f"unknown --tokenizer {tokenizer!r}", "valid: regex, bert")
    if len(req.inputs) != 1:
        raise InputError(f"a regex-tokenized text classifier has one input; this model has {len(req.inputs)}",
                         "use --tokenizer bert for ids/mask/segment inputs")
    where = {"pre": "the start", "post": "the end"}.get(req.padding or "")
    description = "Embedding vectors of the input text." + (
        f" Token ids are padded and cut at {where} (padding: {req.padding})." if where else "")
    input_md = info.InputTextTensorMd(name=req.inputs[0].name, description=description,
                                      tokenizer_md=info.RegexTokenizerMd(req.delim_regex, req.vocab_path))
    return nl_classifier.MetadataWriter.create_from_metadata_info(
        req.model, general_md=req.general, input_md=input_md, output_md=output_md)


def _bert_inputs(inputs: tuple[FbTensor, ...], aliases: dict[int, str]) -> tuple[str, str, str]:
    """(ids, mask, segment ids) tensor names, matched by tensor or signature name, else in model order."""
    def names(t):
        return f"{t.name} {aliases.get(t.index, '')}".lower()

    seg = [t for t in inputs if "segment" in names(t) or "type" in names(t)]
    mask = [t for t in inputs if "mask" in names(t) and t not in seg]
    ids = [t for t in inputs if t not in seg and t not in mask]
    if len(seg) == 1 and len(mask) == 1 and len(ids) == 1:
        return ids[0].name, mask[0].name, seg[0].name
    return inputs[0].name, inputs[1].name, inputs[2].name


def audio_classifier_writer(req: WriteRequest):
    from tensorflow_lite_support.metadata.python.metadata_writers import audio_classifier

    info, _ = _md()
    if not req.sample_rate or req.sample_rate <= 0:
        raise UsageError("audio_classification needs the sample rate", "pass --sample-rate HZ, e.g. 16000")
    if req.channels <= 0:
        raise UsageError(f"--channels must be ≥ 1 (got {req.channels})", "e.g. --channels 1")
    return audio_classifier.MetadataWriter.create_from_metadata_info(
        req.model, general_md=req.general,
        input_md=info.InputAudioTensorMd(name=req.inputs[0].name, description="Input audio clip to be classified.",
                                         sample_rate=req.sample_rate, channels=req.channels),
        output_md=_scores(req, "Scores of the labels."))


def value_range(t: FbTensor, given: dict[str, tuple[float, float]]) -> tuple[float, float] | None:
    """The given range, else what an integer tensor's quantization can represent."""
    if t.name in given:
        return given[t.name]
    q = t.quantization
    if q and len(q.scale) == 1 and t.type in ("INT8", "UINT8", "INT16"):
        lo, hi = {"INT8": (-128, 127), "UINT8": (0, 255), "INT16": (-32768, 32767)}[t.type]
        zp = q.zero_point[0] if q.zero_point else 0
        return ((lo - zp) * q.scale[0], (hi - zp) * q.scale[0])
    return None


def tensor_md(t: FbTensor, kind: str, value_ranges: dict[str, tuple[float, float]] | None = None):
    """Plain tensor metadata: its kind ("input"/"output"), dtype, shape and value range, if known."""
    info, _ = _md()
    r = value_range(t, value_ranges or {})
    shape = "x".join(str(d) for d in t.shape) or "scalar"
    return info.TensorMd(name=t.name, description=f"{kind} {t.type.lower()} tensor of shape {shape}",
                         min_values=[float(r[0])] if r else None, max_values=[float(r[1])] if r else None,
                         tensor_name=t.name)


def generic_writer(req: WriteRequest):
    from tensorflow_lite_support.metadata.python.metadata_writers import metadata_writer

    unknown = sorted(set(req.value_ranges) - {t.name for t in req.inputs + req.outputs})
    if unknown:
        raise UsageError(f"--value-range names unknown tensor {unknown[0]!r}",
                         f"tensors: {', '.join(t.name for t in req.inputs + req.outputs)}")
    return metadata_writer.MetadataWriter.create_from_metadata_info(
        req.model, general_md=req.general, input_md=[tensor_md(t, "input", req.value_ranges) for t in req.inputs],
        output_md=[tensor_md(t, "output", req.value_ranges) for t in req.outputs])


def _shapes(tensors) -> str:
    return ", ".join(f"{t.name}[{','.join(map(str, t.shape))}]" for t in tensors)
