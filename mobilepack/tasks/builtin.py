"""The built-in tasks, registered in the order ``--task`` lists them.

Detection priority (lower first) is the order the metadata reader has always tried them: a
tokenizer means text (a sentence embedding first: its output is named so, in the tensors and in
the metadata), audio content means audio, then keypoints (metadata naming an output ``keypoints``;
on tensors only MediaPipe's landmark sizes beside a one-element score, see ``tasks.keypoints``),
detection, segmentation and classification among image models.  On tensors the detectors are disjoint (an image input, token ids and a waveform
never look alike) except text_embedding, which only takes token-id models whose one output is
named as a sentence vector and is tried before text_classification.  ``generic`` detects
nothing: it is what an undetected model gets."""

from __future__ import annotations

from mobilepack.evaluate.families import IMAGES, YOLO_BOXES
from mobilepack.evaluate.keypoints import KEYPOINTS
from mobilepack.evaluate.tasks import BOXES, EMBEDDINGS, FLAT, MASKS, SCORES, TOP1
from mobilepack.metadata.tasks import (EMBEDDING, audio_classifier_writer, check_embedding_inputs, check_text_inputs,
                                       detection_order, generic_writer, image_classifier_writer,
                                       image_segmenter_writer, object_detector_writer, text_classifier_writer,
                                       text_embedding_writer)
from mobilepack.metadata.families import (image_to_image_writer, is_image_to_image_metadata, is_yolo_metadata,
                                          yolo_writer)
from mobilepack.metadata.keypoints import is_keypoints_metadata, keypoints_writer
from mobilepack.tasks import TaskSpec, image_to_image, keypoints, register, yolo
from mobilepack.tasks.tensors import (EMBEDDING_NAME, Signature, bert_inputs, detection_roles, is_token_ids,
                                      is_vector, shape_text, ssd_layout)

MIN_AUDIO_SAMPLES = 4000   # below this a 1-D float input is more likely a feature vector
_TOKENIZERS = {"bert_tokenizer", "sentencepiece_tokenizer", "regex_tokenizer"}


def _one_vector(sig: Signature) -> bool:
    return len(sig.outputs) == 1 and is_vector(sig.outputs[0])


def _image_classification(sig: Signature) -> str | None:
    if sig.image and _one_vector(sig):
        return f"{sig.image_why}; one class-score vector output {sig.outs}"
    return None


def _object_detection(sig: Signature) -> str | None:
    if sig.image and detection_roles(sig.outputs):
        return f"{sig.image_why}; SSD outputs (boxes, classes, scores, count) {sig.outs}"
    return None


def _image_segmentation(sig: Signature) -> str | None:
    out = sig.outputs[0] if len(sig.outputs) == 1 else None
    if sig.image and out is not None and len(out.shape) == 4 and out.shape[1] > 1 and out.shape[2] > 1:
        return f"{sig.image_why}; one per-pixel output {sig.outs}{image_to_image.ambiguity(sig)}"
    return None


def _bert_text(sig: Signature) -> str:
    """Which of 3 integer inputs is which (the metadata writer's reading of them), and how it was known."""
    (ids, mask, seg), by_name = bert_inputs(sig.inputs, sig.aliases)
    how = "matched by name" if by_name else "in model order: the names do not say"
    return (f"3 integer inputs, BERT ids {sig.names(ids)}{shape_text(ids)}, mask {sig.names(mask)}, "
            f"segment ids {sig.names(seg)} ({how})")


def _token_inputs(sig: Signature, *, by_name: bool) -> str | None:
    """What the token-id inputs are: one integer [1,L] input, or BERT's three (``by_name``: only
    when their names say which is which)."""
    t = sig.single_input
    if t is not None and is_token_ids(t):
        return f"one {t.type.lower()} token-id input {sig.names(t)}{shape_text(t)}"
    if len(sig.inputs) == 3 and all(is_token_ids(x) for x in sig.inputs):
        if by_name and not bert_inputs(sig.inputs, sig.aliases)[1]:
            return None
        return _bert_text(sig)
    return None


def _text_classification(sig: Signature) -> str | None:
    if sig.image or not _one_vector(sig):
        return None
    t = sig.single_input
    if t is not None and t.type == "STRING":
        return f"one string input {t.name}; one class-score vector output {sig.outs}"
    tokens = _token_inputs(sig, by_name=False)
    return f"{tokens}; one class-score vector output {sig.outs}" if tokens else None


def _text_embedding(sig: Signature) -> str | None:
    """Unambiguous evidence only: token-id inputs (BERT's three matched by name) and one float [1, D]
    output whose tensor or signature name says it is a sentence vector (embedding, pooled, ...)."""
    if sig.image or not _one_vector(sig) or sig.outputs[0].type != "FLOAT32":
        return None
    out = sig.outputs[0]
    named = [n for n in (sig.aliases.get(out.index), out.name) if n and EMBEDDING_NAME.search(n)]
    tokens = _token_inputs(sig, by_name=True) if named else None
    if tokens is None:
        return None
    return f"{tokens}; one float32 output {sig.names(out)}{shape_text(out)}, named {named[0]!r}: a sentence vector"


def _audio_classification(sig: Signature) -> str | None:
    t = sig.single_input
    if sig.image or not _one_vector(sig) or t is None:
        return None
    if t.type == "FLOAT32" and len(t.shape) in (1, 2) and t.shape[-1] >= MIN_AUDIO_SAMPLES:
        return (f"one float32 waveform-like input {t.name}{shape_text(t)} (≥ {MIN_AUDIO_SAMPLES} samples); "
                f"one class-score vector output {sig.outs}")
    return None


# -- from existing metadata (metadata.reader.ModelMetadata) -------------------------------------

def _image_md(md) -> bool:
    return any(t.content == "image" for t in md.inputs)


def _md_text(md) -> bool:
    return bool(({u for t in md.inputs for u in t.process_units} | set(md.input_units)) & _TOKENIZERS)


def _md_embedding(md) -> bool:
    """A tokenizer and one output described as the sentence embedding (the text_embedding writer's name)."""
    return _md_text(md) and len(md.outputs) == 1 and md.outputs[0].name == EMBEDDING and md.label_file() is None


def _md_audio(md) -> bool:
    return any(t.content == "audio" for t in md.inputs)


def _md_detection(md) -> bool:
    return _image_md(md) and (any(name == "detection_result" for name, _ in md.output_groups)
                              or len(md.outputs) == 4)


def _md_segmentation(md) -> bool:
    return _image_md(md) and any(t.content == "image" for t in md.outputs)


def _md_classification(md) -> bool:
    return _image_md(md) and md.label_file() is not None


register(TaskSpec("image_classification", "one image in, one class-score vector out", image_classifier_writer, TOP1,
                  detect=_image_classification, from_metadata=_md_classification, priority=50, image_input=True,
                  one_output=True, score_threshold=True, app_input="image", app_output="classification"))
register(TaskSpec("object_detection", "one image in, SSD boxes, classes, scores and count out",
                  object_detector_writer, BOXES, detect=_object_detection, from_metadata=_md_detection, priority=30,
                  image_input=True, labels="any", amend_metadata=detection_order, app_input="image",
                  app_output="detection", output_layout=ssd_layout))
register(TaskSpec("yolo_detection", "one image in, one YOLO head out ([1,4+C,N] anchor-free or [1,N,5+C] "
                  "anchor-based), decoded with class-wise NMS", yolo_writer, YOLO_BOXES, detect=yolo.head_of,
                  from_metadata=is_yolo_metadata, priority=35, image_input=True, one_output=True, labels="any",
                  score_threshold=True, app_input="image", app_output="detection", output_layout=yolo.app_layout))
register(TaskSpec("image_to_image", "one image in, one image out (denoising, super-resolution, style transfer): the "
                  "input's size or an integer multiple, 1 or 3 channels", image_to_image_writer, IMAGES,
                  detect=image_to_image.image_output, from_metadata=is_image_to_image_metadata, priority=38,
                  image_input=True, one_output=True, labels="none", app_input="image", app_output="image",
                  output_layout=image_to_image.app_layout))
register(TaskSpec("image_segmentation", "one image in, one per-pixel class map out", image_segmenter_writer, MASKS,
                  detect=_image_segmentation, from_metadata=_md_segmentation, priority=40, image_input=True,
                  one_output=True, app_input="image", app_output="segmentation"))
register(TaskSpec("keypoints", "one image in, P points × V values out (x, y first; landmarks), with an optional "
                  "presence score", keypoints_writer, KEYPOINTS, detect=keypoints.detect,
                  from_metadata=is_keypoints_metadata, priority=25, image_input=True, labels="none", app_input="image",
                  app_output="keypoints"))
register(TaskSpec("text_classification", "token ids (or a string) in, one class-score vector out",
                  text_classifier_writer, SCORES, detect=_text_classification, from_metadata=_md_text, priority=10,
                  one_output=True, score_threshold=True, vocab=True, padding=True, check_inputs=check_text_inputs,
                  app_input="text", app_output="classification"))
register(TaskSpec("text_embedding", "token ids in (one input, or BERT's ids, mask and segment ids), one sentence "
                  "vector [1, D] out", text_embedding_writer, EMBEDDINGS, detect=_text_embedding,
                  from_metadata=_md_embedding, priority=5, one_output=True, labels="none", vocab=True, padding=True,
                  check_inputs=check_embedding_inputs, app_input="text", app_output="embedding"))
register(TaskSpec("audio_classification", "a waveform in, one class-score vector out", audio_classifier_writer,
                  SCORES, detect=_audio_classification, from_metadata=_md_audio, priority=20, one_output=True,
                  score_threshold=True, sample_rate=True, app_input="audio", app_output="classification"))
register(TaskSpec("generic", "any tensors: described as they are", generic_writer, FLAT, priority=1000,
                  labels="none", app_input="image", app_output="generic"))
