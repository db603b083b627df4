"""What the apps' tokenizers need to know, read from the shipped model's TFLite metadata.

``bert`` (a BERT tokenizer process unit and three inputs): the apps run WordPiece
(``mobilepack.data.wordpiece``, step for step) over the vocabulary packed in the model and
shipped as ``vocab.txt``, lower-casing and stripping accents when the vocabulary is uncased, and
feed token ids, attention mask and segment ids to the inputs the metadata names for them.
``regex`` (every other text model): words are looked up in ``vocab.txt`` or, without one, hashed.
"""

from __future__ import annotations

import math
from typing import Any

from mobilepack.model.spec import ModelSpec

VOCAB_ASSET = "vocab.txt"
BERT_ROLES = ("ids", "mask", "segment_ids")   # the input names the BERT metadata writers give


def packed_vocabulary(md) -> bytes | None:
    """The vocabulary file packed with the metadata (an associated file of type ``vocabulary``)."""
    for f in md.files:
        if f.type == "vocabulary" and f.name in md.packed_files:
            return md.packed_files[f.name]
    return None


def _metadata(model_bytes: bytes):
    """(metadata, flatbuffer model), or ``(None, None)`` when the model has none or it is unreadable."""
    from mobilepack.metadata.reader import read_metadata
    from mobilepack.model.flatbuffer import FlatbufferError, parse_model

    try:
        fb = parse_model(model_bytes)
        return read_metadata(model_bytes, fb), fb
    except FlatbufferError:
        return None, None   # a model whose metadata cannot be read still renders; the app hashes words


def _is_bert(spec: ModelSpec, md) -> bool:
    units = set(md.input_units) | {u for t in md.inputs for u in t.process_units}
    return "bert_tokenizer" in units and len(spec.inputs) == 3


def bert_input_order(spec: ModelSpec, md, fb) -> dict[str, int]:
    """Which of the spec's inputs (the order the apps feed) takes ids, mask and segment ids: as the
    metadata names them (its entries follow the subgraph's inputs, the spec's names are the
    signature's), else by the metadata writer's name rule, else in the subgraph's order."""
    from mobilepack.metadata.tasks import bert_input_names

    names = [t.name for t in spec.inputs]
    graph = fb.subgraphs[0]
    signature = next((s for s in fb.signatures if s.key == spec.signature_key and s.subgraph == 0), None)
    aliases = dict((index, name) for name, index in signature.inputs) if signature else {}
    spec_name = [aliases.get(i, graph.tensors[i].name) for i in graph.inputs]
    roles = {t.name: spec_name[n] for n, t in enumerate(md.inputs[:len(spec_name)]) if t.name in BERT_ROLES}
    if set(roles) != set(BERT_ROLES):
        tensors = tuple(graph.tensors[i] for i in graph.inputs)
        by_tensor = {graph.tensors[i].name: spec_name[n] for n, i in enumerate(graph.inputs)}
        roles = {role: by_tensor[name] for role, name in zip(BERT_ROLES, bert_input_names(tensors, aliases))}
    order = {role: names.index(name) for role, name in roles.items() if name in names}
    return order if sorted(order.values()) == [0, 1, 2] else dict(zip(BERT_ROLES, range(3)))


def tokenizer_context(spec: ModelSpec, model_bytes: bytes) -> dict[str, Any]:
    """The ``tokenizer`` entry of the template context."""
    from mobilepack.data.wordpiece import is_cased, read_vocabulary

    md, fb = _metadata(model_bytes)
    first = math.prod(spec.inputs[0].shape) if spec.inputs else 0
    plain = {"kind": "regex", "vocab_file": VOCAB_ASSET, "lower_case": True, "sequence_length": first,
             "ids_input": 0, "mask_input": -1, "segment_input": -1}
    if md is None or not _is_bert(spec, md):
        return plain
    vocab = packed_vocabulary(md)
    order = bert_input_order(spec, md, fb)
    return {**plain, "kind": "bert", "lower_case": vocab is None or not is_cased(read_vocabulary(vocab)),
            "sequence_length": math.prod(spec.inputs[order["ids"]].shape), "ids_input": order["ids"],
            "mask_input": order["mask"], "segment_input": order["segment_ids"]}
