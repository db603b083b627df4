"""What a model's tensors look like, for the task detectors (``TaskSpec.detect``) and the
output layouts the apps and the evaluator read (``TaskSpec.output_layout``).

Pure functions over tensors that have ``name``, ``type`` (``"FLOAT32"``...), ``shape`` and
``index`` (``model.flatbuffer.FbTensor``), or over the apps' output views (dicts with ``name``,
``shape``, ``elements``).  A leaf: it imports nothing from mobilepack."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# an output named like a sentence vector: "embedding(s)", "sentence_embedding", "pooled_output",
# "pooler_output", "sentence_vector"
EMBEDDING_NAME = re.compile(r"embed|pooled|pooler|sentence_?vec", re.I)


def shape_text(t) -> str:
    return "[" + ",".join(map(str, t.shape)) + "]"


def is_image(t) -> bool:
    return len(t.shape) == 4 and t.shape[-1] in (1, 3, 4) and t.shape[1] > 4 and t.shape[2] > 4 \
        and t.type in ("FLOAT32", "UINT8", "INT8", "FLOAT16")


def is_vector(t) -> bool:
    return len(t.shape) == 2 and t.shape[0] == 1 and t.shape[1] >= 2


def is_token_ids(t) -> bool:
    """An integer [batch, length] tensor: token ids (or a mask / segment ids beside them)."""
    return t.type in ("INT32", "INT64") and len(t.shape) == 2


def image_input_evidence(t, image_evidence: str | None) -> tuple[bool, str]:
    """Whether a 4-D input is taken as an image, and why.  A 3-channel input is an image; a
    1- or 4-channel one (a spectrogram [1,40,256,1], a feature map) only with other evidence:
    a Rescaling/Normalization layer or image metadata (``image_evidence`` names it)."""
    shape = shape_text(t)
    if not is_image(t):
        return False, f"input {t.name}{shape} is not an image-shaped tensor"
    if t.shape[-1] == 3:
        return True, f"input {t.name}{shape} has 3 channels (RGB)"
    if image_evidence:
        return True, f"input {t.name}{shape} has {t.shape[-1]} channel(s) and {image_evidence}"
    return False, (f"input {t.name}{shape} has {t.shape[-1]} channel(s) and no image evidence (3 channels, a "
                   "Rescaling/Normalization layer, image metadata): not taken as an image (it may be a "
                   "spectrogram or a feature map)")


@dataclass(frozen=True)
class Signature:
    """A model's inputs and outputs as the task detectors read them."""

    inputs: tuple[Any, ...]
    outputs: tuple[Any, ...]
    image: bool          # one input, taken as an image
    image_why: str       # why it is (or is not) an image
    aliases: dict[int, str] = field(default_factory=dict)   # tensor index -> signature name

    def names(self, t) -> str:
        """The tensor's name and, when it differs, its signature name ("StatefulPartitionedCall:0 (embedding)")."""
        alias = self.aliases.get(t.index)
        return f"{t.name} ({alias})" if alias and alias != t.name else t.name

    @property
    def outs(self) -> str:
        return ", ".join(f"{t.name}{shape_text(t)}" for t in self.outputs)

    @property
    def single_input(self):
        return self.inputs[0] if len(self.inputs) == 1 else None

    def no_task_reason(self) -> str:
        if self.image:
            return f"{self.image_why}, but the outputs {self.outs} fit no image task"
        return f"{self.image_why}; outputs {self.outs} fit no task"


def signature(inputs, outputs, *, image_evidence: str | None = None,
              aliases: dict[int, str] | None = None) -> Signature:
    image, why = (image_input_evidence(inputs[0], image_evidence) if len(inputs) == 1
                  else (False, f"{len(inputs)} inputs"))
    return Signature(tuple(inputs), tuple(outputs), image, why, dict(aliases or {}))


def bert_roles(inputs, aliases: dict[int, str] | None = None) -> tuple[Any, Any, Any] | None:
    """The (ids, mask, segment ids) of three inputs, matched by tensor or signature name ("mask";
    "segment" or "type", as token_type_ids); None when the names do not say which is which."""
    if len(inputs) != 3:
        return None

    def names(t):
        return f"{t.name} {(aliases or {}).get(t.index, '')}".lower()

    seg = [t for t in inputs if "segment" in names(t) or "type" in names(t)]
    mask = [t for t in inputs if "mask" in names(t) and t not in seg]
    ids = [t for t in inputs if t not in seg and t not in mask]
    if len(seg) == 1 and len(mask) == 1 and len(ids) == 1:
        return ids[0], mask[0], seg[0]
    return None


def bert_inputs(inputs, aliases: dict[int, str] | None = None) -> tuple[tuple[Any, Any, Any], bool]:
    """((ids, mask, segment ids), whether names said so): by name (:func:`bert_roles`), else in model order."""
    roles = bert_roles(inputs, aliases)
    return (roles, True) if roles is not None else ((inputs[0], inputs[1], inputs[2]), False)


def detection_roles(outputs, aliases: dict[int, str] | None = None) -> dict[str, Any] | None:
    """SSD-style outputs: boxes [1,N,4], classes [1,N], scores [1,N], count [1]."""
    if len(outputs) != 4:
        return None
    boxes = [t for t in outputs if len(t.shape) == 3 and t.shape[-1] == 4]
    count = [t for t in outputs if t.shape in ((1,), ())]
    pair = [t for t in outputs if len(t.shape) == 2]
    if len(boxes) != 1 or len(count) != 1 or len(pair) != 2 or any(p.shape[1] != boxes[0].shape[1] for p in pair):
        return None

    def named(t, key):
        return key in f"{t.name} {(aliases or {}).get(t.index, '')}".lower()

    classes = [p for p in pair if named(p, "class")]
    scores = [p for p in pair if named(p, "score")]
    if len(classes) == 1 and len(scores) == 1 and classes[0] is not scores[0]:
        cls, score = classes[0], scores[0]
    else:  # TFLite_Detection_PostProcess order: boxes, classes, scores, count
        cls, score = sorted(pair, key=lambda t: t.index)
    return {"location": boxes[0], "category": cls, "score": score, "number": count[0]}


def ssd_layout(outputs: list[dict[str, Any]]) -> dict[str, int] | None:
    """Indices of the SSD-style outputs (boxes [1,N,4], classes [1,N], scores [1,N], count [1]) among
    output views.  Names decide where they say which is which; otherwise the
    TFLite_Detection_PostProcess order."""
    if len(outputs) != 4:
        return None
    boxes = [i for i, t in enumerate(outputs) if len(t["shape"]) == 3 and t["shape"][-1] == 4]
    count = [i for i, t in enumerate(outputs) if t["elements"] == 1]
    if len(boxes) != 1 or len(count) != 1:
        return None
    rest = [i for i in range(4) if i not in (boxes[0], count[0])]
    n = outputs[boxes[0]]["shape"][1]
    if any(outputs[i]["elements"] != n for i in rest):
        return None
    named_scores = [i for i in rest if "score" in outputs[i]["name"].lower()]
    named_classes = [i for i in rest if "class" in outputs[i]["name"].lower()]
    if len(named_scores) == 1 and len(named_classes) == 1 and named_scores != named_classes:
        classes, scores = named_classes[0], named_scores[0]
    else:
        classes, scores = rest
    return {"boxes": boxes[0], "classes": classes, "scores": scores, "count": count[0], "max_detections": n}
