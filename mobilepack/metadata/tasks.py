"""One metadata writer per built-in task (``TaskSpec.writer``).

Each writer gets a :class:`WriteRequest` and returns a :class:`~mobilepack.metadata.packing.Draft`
(the metadata as a dict of the schema's fields, and the files to pack);
:func:`mobilepack.metadata.attach` populates it and checks the result.  TensorFlow is never
imported here."""

from __future__ import annotations

from dataclasses import dataclass, field

from mobilepack.errors import InputError, UsageError
from mobilepack.metadata import calibration, schema
from mobilepack.metadata.calibration import ScoreCalibration
from mobilepack.metadata.packing import Draft
from mobilepack.model.flatbuffer import FbModel, FbTensor
from mobilepack.tasks.tensors import bert_inputs, detection_roles, is_vector


@dataclass(frozen=True)
class WriteRequest:
    model: bytearray
    fb: FbModel
    inputs: tuple[FbTensor, ...]
    outputs: tuple[FbTensor, ...]
    general: dict                       # the model-level fields (general_md)
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
    score_calibration: ScoreCalibration | None = None   # classifiers: the parameters (path: the packed copy)
    iou_threshold: float | None = None  # yolo_detection: the NMS IoU threshold recorded in the head's description
    keypoints: dict | None = None       # keypoints: the layout (tasks.keypoints) the outputs are described with


def _check_token_inputs(inputs, task: str, allowed: tuple[str, ...], what: str) -> None:
    bad = [t for t in inputs if t.type not in allowed]
    if bad:
        t = bad[0]
        raise InputError(f"{task}: input {t.name}{list(t.shape)} is {t.type.lower()}, but a text "
                         f"model takes {what}; the app's tokenizer would feed ids into a float tensor",
                         "re-export the model with an int32 token-id input (keras.Input(shape=(N,), "
                         "dtype='int32')), or use --task generic")


def check_text_inputs(inputs) -> None:
    """Text classifiers take token ids (integers) or a string; a float input is not one of them."""
    _check_token_inputs(inputs, "text_classification", ("INT32", "INT64", "STRING"),
                        "integer token ids (int32/int64) or a string")


def check_embedding_inputs(inputs) -> None:
    """Sentence encoders take token ids (one input, or BERT's ids, mask and segment ids): integers."""
    _check_token_inputs(inputs, "text_embedding", ("INT32", "INT64"), "integer token ids (int32/int64)")
    if len(inputs) not in (1, 3):
        raise InputError(f"text_embedding takes token ids (1 input) or BERT's ids, mask and segment ids (3 inputs); "
                         f"this model has {len(inputs)}: {_shapes(inputs)}", "use --task generic")


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


# -- writers ----------------------------------------------------------------------------
# Each builds the metadata dict (see mobilepack.metadata.schema) of one task and the files it packs.
# What each writes follows the conventions of TFLite's metadata writers (names, descriptions, value
# ranges, the detector's bounding-box layout), so apps and the TFLite Task Library read it as usual.

VOCAB_DESCRIPTION = "Vocabulary file to convert natural language words to embedding vectors."
LABELS_DESCRIPTION = "Labels for categories that the model can recognize."
FEATURE = ("FeatureProperties", {})


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def general_md(name=None, version=None, description=None, author=None, license=None) -> dict:
    """The model-level fields of the metadata."""
    return _drop_none({"name": name, "description": description, "version": version, "author": author,
                       "license": license})


def plain_md(name, description, *, min_values=None, max_values=None, content=FEATURE, files=None) -> dict:
    """Tensor metadata: name, description, content properties, value range (``stats``), files."""
    return _drop_none({"name": name, "description": description,
                       "content": {"content_properties": (content[0], dict(content[1]))},
                       "stats": _drop_none({"max": max_values, "min": min_values}),
                       "associated_files": list(files) if files else None})


def label_file(path: str, file_type: str = "TENSOR_AXIS_LABELS") -> dict:
    return {"name": path, "description": LABELS_DESCRIPTION, "type": schema.FILE_TYPE[file_type]}


def vocab_file(path: str) -> dict:
    return {"name": path, "description": VOCAB_DESCRIPTION, "type": schema.FILE_TYPE["VOCABULARY"]}


def _label_files(req: WriteRequest, file_type: str = "TENSOR_AXIS_LABELS") -> list[dict]:
    return [label_file(req.label_path, file_type)] if req.label_path else []


def image_input_md(req: WriteRequest, description: str) -> dict:
    """The image input: color space, normalization, and the value range the normalization gives
    pixels 0..255 (a uint8 input is 0..255 as it is)."""
    t = req.inputs[0]
    mean, std = req.mean, req.std
    lo = hi = None
    if t.type == "UINT8":
        lo, hi = [0.0], [255.0]
    elif t.type == "FLOAT32" and mean and std:
        lo = [float(0.0 - m) / s for m, s in zip(mean, std)]
        hi = [float(255.0 - m) / s for m, s in zip(mean, std)]
    color = "RGB" if t.shape[-1] == 3 else "UNKNOWN"
    md = plain_md(t.name, description, min_values=lo, max_values=hi,
                  content=("ImageProperties", _drop_none({"color_space": schema.COLOR_SPACE[color] or None})))
    if mean and std:
        md["process_units"] = [{"options": ("NormalizationOptions", {"mean": list(mean), "std": list(std)})}]
    return md


def scores_md(req: WriteRequest, description: str = "Probabilities of the labels.", *, name: str | None = None,
              tensor_type: str | None = None, files: list[dict] | None = None) -> dict:
    """Class scores: in [0, 1] for float, [0, 255] for uint8, with the labels file and, if given,
    the score calibration (its file and process unit)."""
    out = req.outputs[0]
    kind = out.type if tensor_type is None else tensor_type
    lo, hi = {"UINT8": ([0.0], [255.0]), "FLOAT32": ([0.0], [1.0])}.get(kind, (None, None))
    cal = req.score_calibration if files is None else None
    if files is None:
        files = _label_files(req) + ([calibration.file_md(cal.path)] if cal else [])
    md = plain_md(name or out.name, description, min_values=lo, max_values=hi, files=files)
    if cal:
        md["process_units"] = [calibration.process_unit(cal)]
    return md


def draft(req: WriteRequest, inputs: list[dict], outputs: list[dict], *, files: list[str] | None = None,
          **subgraph) -> Draft:
    """One subgraph's metadata under the general fields; a tensor without a name gets the model's."""
    for mds, tensors in ((inputs, req.inputs), (outputs, req.outputs)):
        for md, t in zip(mds, tensors):
            md.setdefault("name", t.name)
    sg = {"input_tensor_metadata": inputs, "output_tensor_metadata": outputs, **subgraph}
    return Draft({**req.general, "subgraph_metadata": [_drop_none(sg)]}, list(files or []))


def _label_paths(req: WriteRequest) -> list[str]:
    return [req.label_path] if req.label_path else []


def _score_paths(req: WriteRequest) -> list[str]:
    """The files of a classifier's scores output: labels, then the score calibration."""
    return _label_paths(req) + ([req.score_calibration.path] if req.score_calibration else [])


def image_classifier_writer(req: WriteRequest) -> Draft:
    return draft(req, [image_input_md(req, "Input image to be classified.")], [scores_md(req)],
                 files=_score_paths(req))


DETECTION_NAMES = {"location": "location", "category": "category", "score": "score",
                   "number": "number of detections"}
BOX_RANGE = {"min": 2, "max": 2}   # boxes, classes and scores run along dimension 2 of [1, N, ...]


def object_detector_writer(req: WriteRequest) -> Draft:
    """SSD outputs (TFLite_Detection_PostProcess): boxes as [top, left, bottom, right] ratios,
    classes with value labels, scores, count; metadata in ascending tensor index order (the
    post-processing op's order; :func:`detection_order` puts each at its output's position)."""
    roles = detection_roles(req.outputs, req.aliases)
    if roles is None:
        raise InputError("object_detection needs SSD-style outputs: boxes [1,N,4], classes [1,N], scores [1,N], "
                         f"count [1]; this model has {_shapes(req.outputs)}",
                         "use --task generic, or export the detector with TFLite_Detection_PostProcess")
    box = {"index": [1, 0, 3, 2], "type": schema.BOUNDING_BOX_TYPE["BOUNDARIES"],
           "coordinate_type": schema.COORDINATE_TYPE["RATIO"]}
    location = plain_md(DETECTION_NAMES["location"], "The locations of the detected boxes.",
                        content=("BoundingBoxProperties", box))
    category = plain_md(DETECTION_NAMES["category"], "The categories of the detected boxes.",
                        files=_label_files(req, "TENSOR_VALUE_LABELS"))
    score = scores_md(req, "The scores of the detected boxes.", name=DETECTION_NAMES["score"], tensor_type="",
                      files=[])
    for md in (location, category, score):
        md["content"]["range"] = dict(BOX_RANGE)
    number = plain_md(DETECTION_NAMES["number"], "The number of the detected boxes.")
    by_index = dict(zip(sorted(t.index for t in req.outputs), (location, category, score, number)))
    group = {"name": "detection_result", "tensor_names": [DETECTION_NAMES[k] for k in ("location", "category", "score")]}
    return Draft({**req.general, "subgraph_metadata": [{
        "input_tensor_metadata": [image_input_md(req, "Input image to be detected.")],
        "output_tensor_metadata": [by_index[t.index] for t in req.outputs],
        "output_tensor_groups": [group]}]}, _label_paths(req))


def detection_order(req: WriteRequest):
    """Detector metadata comes in ascending tensor index order (true for TFLite_Detection_PostProcess);
    put each one at the position of the model output that has its role instead, since apps match
    outputs by position."""
    roles = detection_roles(req.outputs, req.aliases)
    position = {t.index: i for i, t in enumerate(req.outputs)}

    def amend(md: dict) -> None:
        sg = md["subgraph_metadata"][0]
        by_name = {t["name"]: t for t in sg["output_tensor_metadata"]}
        ordered = [None] * len(req.outputs)
        for role, tensor in roles.items():
            ordered[position[tensor.index]] = by_name[DETECTION_NAMES[role]]
        sg["output_tensor_metadata"] = ordered

    return amend


def image_segmenter_writer(req: WriteRequest) -> Draft:
    """One mask output: a grayscale image of class values (dimensions 1..2 are its height and width)."""
    out = req.outputs[0]
    masks = plain_md(out.name, "Masks over the target objects with high accuracy.",
                     files=_label_files(req, "TENSOR_VALUE_LABELS"))
    masks["content"] = {"content_properties": ("ImageProperties", {"color_space": schema.COLOR_SPACE["GRAYSCALE"]}),
                        "range": {"min": 1, "max": 2}}
    return draft(req, [image_input_md(req, "Input image to be segmented.")], [masks], files=_label_paths(req))


def _text_inputs(req: WriteRequest, task: str) -> tuple[list[dict], dict]:
    """The token-id inputs' metadata and the subgraph fields: BERT's ids/mask/segment ids with the
    BERT tokenizer (3 inputs), or one input with the regex tokenizer; the vocabulary in either."""
    if not req.vocab_path:
        raise UsageError(f"{task} needs a vocabulary", "pass --vocab FILE (one token per line)")
    tokenizer = req.tokenizer or ("bert" if len(req.inputs) == 3 else "regex")
    if tokenizer == "bert":
        if len(req.inputs) != 3:
            raise InputError(f"a BERT {task.replace('_', ' ')} model has 3 inputs (ids, mask, segment ids); this "
                             f"model has {len(req.inputs)}", "use --tokenizer regex for a single-input text model")
        return bert_inputs_md(req), {"input_process_units": [bert_tokenizer(req.vocab_path)]}
    if tokenizer != "regex":
        raise UsageError(f"unknown --tokenizer {tokenizer!r}", "valid: regex, bert")
    if len(req.inputs) != 1:
        raise InputError(f"a regex-tokenized {task.replace('_', ' ')} model has one input; this model has "
                         f"{len(req.inputs)}", "use --tokenizer bert for ids/mask/segment inputs")
    where = {"pre": "the start", "post": "the end"}.get(req.padding or "")
    description = "Embedding vectors of the input text." + (
        f" Token ids are padded and cut at {where} (padding: {req.padding})." if where else "")
    text = plain_md(req.inputs[0].name, description)
    text["process_units"] = [{"options": ("RegexTokenizerOptions", {"delim_regex_pattern": req.delim_regex,
                                                                    "vocab_file": [vocab_file(req.vocab_path)]})}]
    return [text], {}


def text_classifier_writer(req: WriteRequest) -> Draft:
    inputs, subgraph = _text_inputs(req, "text_classification")
    return draft(req, inputs, [scores_md(req)], files=_score_paths(req) + [req.vocab_path], **subgraph)


EMBEDDING = "embedding"   # the output's metadata name; the reader recognises the task by it
EMBEDDING_DESCRIPTION = "Sentence embedding (L2-normalized if the model normalizes)."


def check_embedding_output(outputs) -> None:
    """One [1, D] vector out (D >= 2): the sentence embedding."""
    if len(outputs) != 1 or not is_vector(outputs[0]):
        raise InputError(f"text_embedding needs one [1, D] sentence-vector output; this model has {_shapes(outputs)}",
                         "export the pooled sentence vector as the only output, or use --task generic")


def text_embedding_writer(req: WriteRequest) -> Draft:
    """Token ids in, as the text classifier's inputs (BERT's three with the BERT tokenizer, or one);
    one feature vector out, named ``embedding``; the vocabulary packed."""
    check_embedding_output(req.outputs)
    inputs, subgraph = _text_inputs(req, "text_embedding")
    return draft(req, inputs, [plain_md(EMBEDDING, EMBEDDING_DESCRIPTION)], files=[req.vocab_path], **subgraph)


def bert_tokenizer(vocab_path: str) -> dict:
    """The BERT (WordPiece) tokenizer process unit, with its vocabulary."""
    return {"options": ("BertTokenizerOptions", {"vocab_file": [vocab_file(vocab_path)]})}


BERT_INPUTS = (("ids", "Tokenized ids of the input text."),
               ("mask", "Mask with 1 for real tokens and 0 for padding tokens."),
               ("segment_ids", "0 for the first sequence, 1 for the second sequence if exists."))


def bert_inputs_md(req: WriteRequest) -> list[dict]:
    """ids, mask and segment ids, each at its model input's position."""
    roles = dict(zip(bert_input_names(req.inputs, req.aliases), BERT_INPUTS))
    return [plain_md(*roles[t.name]) for t in req.inputs]


def bert_input_names(inputs: tuple[FbTensor, ...], aliases: dict[int, str]) -> tuple[str, str, str]:
    """(ids, mask, segment ids) tensor names, matched by tensor or signature name, else in model order
    (``tasks.tensors.bert_inputs``, which the task detectors read too)."""
    roles, _ = bert_inputs(inputs, aliases)
    return roles[0].name, roles[1].name, roles[2].name


def audio_classifier_writer(req: WriteRequest) -> Draft:
    if not req.sample_rate or req.sample_rate <= 0:
        raise UsageError("audio_classification needs the sample rate", "pass --sample-rate HZ, e.g. 16000")
    if req.channels <= 0:
        raise UsageError(f"--channels must be ≥ 1 (got {req.channels})", "e.g. --channels 1")
    audio = plain_md(req.inputs[0].name, "Input audio clip to be classified.",
                     content=("AudioProperties", {"sample_rate": req.sample_rate, "channels": req.channels}))
    return draft(req, [audio], [scores_md(req, "Scores of the labels.")], files=_score_paths(req))


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


def tensor_md(t: FbTensor, kind: str, value_ranges: dict[str, tuple[float, float]] | None = None) -> dict:
    """Plain tensor metadata: its kind ("input"/"output"), dtype, shape and value range, if known."""
    r = value_range(t, value_ranges or {})
    shape = "x".join(str(d) for d in t.shape) or "scalar"
    return plain_md(t.name, f"{kind} {t.type.lower()} tensor of shape {shape}",
                    min_values=[float(r[0])] if r else None, max_values=[float(r[1])] if r else None)


def generic_writer(req: WriteRequest) -> Draft:
    unknown = sorted(set(req.value_ranges) - {t.name for t in req.inputs + req.outputs})
    if unknown:
        raise UsageError(f"--value-range names unknown tensor {unknown[0]!r}",
                         f"tensors: {', '.join(t.name for t in req.inputs + req.outputs)}")
    inputs = [tensor_md(t, "input", req.value_ranges) for t in req.inputs]
    for md, t in zip(inputs, req.inputs):
        if req.mean and req.std and generic_image_input(t):   # what the apps feed it: written as for an image
            md["process_units"] = [{"options": ("NormalizationOptions", {"mean": list(req.mean),
                                                                         "std": list(req.std)})}]
    return draft(req, inputs, [tensor_md(t, "output", req.value_ranges) for t in req.outputs])


def generic_image_input(t) -> bool:
    """A float input shaped like an image ([1, H, W, 1|3|4]): a generic model's input the apps feed
    pixels to, normalized as its metadata says."""
    from mobilepack.tasks.tensors import is_image

    return is_image(t) and t.type in ("FLOAT32", "FLOAT16")


def _shapes(tensors) -> str:
    return ", ".join(f"{t.name}[{','.join(map(str, t.shape))}]" for t in tensors)
