"""Tiny models for the metadata and inspect tests (no tests here).

Each builder makes a real TFLite flatbuffer with TensorFlow's converter, a few KB each.
``model_file(tmp_path_factory, name)`` builds a model once per session and returns its
path; ``digits_variants(tmp_path_factory)`` converts the bundled sample once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DIGITS


def _tf():
    from mobilepack.model.tfimport import tensorflow

    return tensorflow()


def _convert(fn, module, **settings) -> bytes:
    tf = _tf()
    from mobilepack.model.tfimport import silenced

    with silenced():
        c = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], module)
        for key, value in settings.items():
            if key == "supported_ops":
                c.target_spec.supported_ops = value
            else:
                setattr(c, key, value)
        return c.convert()


def _module(signature, body, name="Tiny"):
    tf = _tf()

    class M(tf.Module):
        @tf.function(input_signature=signature)
        def __call__(self, *args):
            return body(*args)

    return M(name=name)


def _weights(shape, seed=0):
    return np.random.default_rng(seed).normal(0, 0.3, shape).astype(np.float32)


def _classifier_module(classes: int, size: int, channels: int):
    tf = _tf()
    k, w = _weights((3, 3, channels, 8)), _weights((8, classes), 1)
    return _module([tf.TensorSpec([1, size, size, channels], tf.float32, name="image")],
                   lambda x: tf.nn.softmax(tf.matmul(tf.reduce_mean(tf.nn.relu(tf.nn.conv2d(x, k, 1, "SAME")),
                                                                    axis=[1, 2]), w)))


def classifier(classes: int = 4, size: int = 16) -> bytes:
    """Image classifier [1,size,size,3] float -> softmax [1,classes]."""
    m = _classifier_module(classes, size, 3)
    return _convert(m.__call__, m)


def classifier_gray(classes: int = 3, size: int = 16) -> bytes:
    """Grayscale image classifier [1,size,size,1] float -> softmax [1,classes]."""
    m = _classifier_module(classes, size, 1)
    return _convert(m.__call__, m)


def classifier_uint8(classes: int = 4, size: int = 16) -> bytes:
    """The classifier fully integer, with uint8 input and output."""
    tf = _tf()
    m = _classifier_module(classes, size, 3)
    rng = np.random.default_rng(0)

    def representative():
        for _ in range(8):
            yield [rng.uniform(0, 255, (1, size, size, 3)).astype(np.float32)]

    return _convert(m.__call__, m, optimizations=[tf.lite.Optimize.DEFAULT], representative_dataset=representative,
                    supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8], inference_input_type=tf.uint8,
                    inference_output_type=tf.uint8)


def detector() -> bytes:
    """SSD-style outputs: boxes [1,5,4], classes [1,5], scores [1,5], count [1] (any tensor order)."""
    tf = _tf()

    def body(x):
        m = tf.reduce_mean(x, axis=[1, 2])
        boxes = tf.sigmoid(tf.reshape(tf.tile(m, [1, 8])[:, :20], [1, 5, 4]))
        scores = tf.sigmoid(tf.reshape(tf.tile(m, [1, 2])[:, :5], [1, 5]))
        return {"boxes": boxes, "classes": tf.floor(scores * 3.0), "scores": scores,
                "count": tf.reduce_sum(tf.ones([1], tf.float32) * 5.0, axis=0, keepdims=True)}

    m = _module([tf.TensorSpec([1, 16, 16, 3], tf.float32, name="image")], body)
    return _convert(m.__call__, m)


def segmenter(classes: int = 3) -> bytes:
    tf = _tf()
    k = _weights((1, 1, 3, classes))
    m = _module([tf.TensorSpec([1, 16, 16, 3], tf.float32, name="image")],
                lambda x: tf.nn.softmax(tf.nn.conv2d(x, k, 1, "SAME")))
    return _convert(m.__call__, m)


def text_regex(classes: int = 2) -> bytes:
    tf = _tf()
    emb, w = _weights((32, 8)), _weights((8, classes), 1)
    m = _module([tf.TensorSpec([1, 16], tf.int32, name="input_ids")],
                lambda ids: tf.nn.softmax(tf.matmul(tf.reduce_mean(tf.gather(emb, ids), axis=1), w)))
    return _convert(m.__call__, m)


def text_bert(classes: int = 2) -> bytes:
    tf = _tf()
    emb, w = _weights((32, 8)), _weights((8, classes), 1)

    def body(ids, mask, segment):
        x = tf.gather(emb, ids) * tf.cast(tf.expand_dims(mask + segment * 0, -1), tf.float32)
        return tf.nn.softmax(tf.matmul(tf.reduce_mean(x, axis=1), w))

    m = _module([tf.TensorSpec([1, 16], tf.int32, name="ids"), tf.TensorSpec([1, 16], tf.int32, name="mask"),
                 tf.TensorSpec([1, 16], tf.int32, name="segment_ids")], body)
    return _convert(m.__call__, m)


BERT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def text_embedder(output: str | None = "embedding", inputs: tuple[str, ...] = BERT_NAMES, seed: int = 0) -> bytes:
    """A sentence encoder: token ids (one input, or ids/mask/segment ids) [1,16] in; the mask-weighted mean
    of the token embeddings, L2-normalized, out [1,8] — as a signature output named ``output`` (None: a
    plain tensor, which the converter calls ``output_0``)."""
    tf = _tf()
    emb = _weights((32, 8), seed)

    def body(*tensors):
        ids = tensors[0]
        mask = tf.cast(tensors[1] if len(tensors) == 3 else tf.ones_like(ids), tf.float32)[..., None]
        pooled = tf.reduce_sum(tf.gather(emb, ids) * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
        vector = tf.math.l2_normalize(pooled, axis=-1)
        return {output: vector} if output else vector

    m = _module([tf.TensorSpec([1, 16], tf.int32, name=n) for n in inputs], body)
    return _convert(m.__call__, m)


def token_vectors() -> bytes:
    """Token ids [1,16] in, one vector per token [1,16,8] out, named "embedding": no sentence vector."""
    tf = _tf()
    emb = _weights((32, 8))
    m = _module([tf.TensorSpec([1, 16], tf.int32, name="input_ids")], lambda ids: {"embedding": tf.gather(emb, ids)})
    return _convert(m.__call__, m)


def audio(classes: int = 3, samples: int = 16000) -> bytes:
    tf = _tf()
    w = _weights((16, classes))
    m = _module([tf.TensorSpec([1, samples], tf.float32, name="waveform")],
                lambda x: tf.nn.softmax(tf.matmul(tf.reduce_mean(tf.reshape(tf.abs(x), [1, 16, -1]), axis=2), w)))
    return _convert(m.__call__, m)


def generic() -> bytes:
    tf = _tf()
    w = _weights((6, 3))
    m = _module([tf.TensorSpec([1, 6], tf.float32, name="features")], lambda x: tf.nn.tanh(tf.matmul(x, w)))
    return _convert(m.__call__, m)


def custom_op() -> bytes:
    """Erfinv has no TFLite kernel: with allow_custom_ops it becomes a custom op LiteRT cannot resolve."""
    tf = _tf()
    m = _module([tf.TensorSpec([1, 4], tf.float32, name="x")], lambda x: tf.math.erfinv(x * 0.5))
    return _convert(m.__call__, m, allow_custom_ops=True)


def flex_op() -> bytes:
    tf = _tf()
    m = _module([tf.TensorSpec([1, 4], tf.float32, name="x")], lambda x: tf.linalg.det(tf.reshape(x, [1, 2, 2])))
    return _convert(m.__call__, m, supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS])


def stateful() -> bytes:
    """Resource variables and a WHILE loop: several subgraphs."""
    tf = _tf()

    class State(tf.Module):
        def __init__(self):
            super().__init__()
            self.v = tf.Variable(tf.zeros([1, 4]))

        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
        def __call__(self, x):
            self.v.assign_add(x)
            _, y = tf.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * 0.5 + x),
                                 [tf.constant(0), self.v.read_value()])
            return y

    s = State()
    return _convert(s.__call__, s, experimental_enable_resource_variables=True)


def dynamic() -> bytes:
    tf = _tf()
    m = _module([tf.TensorSpec([None, 4], tf.float32, name="x")], lambda x: tf.nn.relu(x))
    return _convert(m.__call__, m)


def nchw() -> bytes:
    tf = _tf()
    w = _weights((3, 2))
    m = _module([tf.TensorSpec([1, 3, 16, 16], tf.float32, name="image")],
                lambda x: tf.nn.softmax(tf.matmul(tf.reduce_mean(x, axis=[2, 3]), w)))
    return _convert(m.__call__, m)


def unique_op() -> bytes:
    """UNIQUE has a data-dependent output shape: the GPU accelerator rejects it."""
    tf = _tf()

    def body(x):
        _, idx = tf.unique(x)
        return tf.cast(idx, tf.float32) + x

    m = _module([tf.TensorSpec([8], tf.float32, name="x")], body)
    return _convert(m.__call__, m)


BUILDERS = {"classifier": classifier, "detector": detector, "segmenter": segmenter, "text_regex": text_regex,
            "text_bert": text_bert, "audio": audio, "generic": generic, "custom_op": custom_op, "flex_op": flex_op,
            "stateful": stateful, "dynamic": dynamic, "nchw": nchw, "unique_op": unique_op}


def model_file(tmp_path_factory, name: str) -> Path:
    """Build model ``name`` once per session; its path."""
    root = tmp_path_factory.getbasetemp() / "tiny-models"
    root.mkdir(exist_ok=True)
    path = root / f"{name}.tflite"
    if not path.exists():
        data = BUILDERS[name]()
        tmp = path.with_suffix(".partial")
        tmp.write_bytes(data)
        tmp.rename(path)
    return path


def digits_variants(tmp_path_factory) -> Path:
    """The bundled sample converted once per session: digits_{fp32,fp16,dynamic,int8}.tflite + convert.json."""
    out = tmp_path_factory.getbasetemp() / "digits-variants"
    if not (out / "convert.json").exists():
        import mobilepack

        mobilepack.convert(str(DIGITS / "digits.keras"), out, quantize="fp32,fp16,dynamic,int8",
                           calibration=str(DIGITS / "calibration"), calibration_samples=20, validation_samples=20)
    return out


def int8_io() -> bytes:
    """Fully integer model with int8 inputs/outputs (quantization scale/zero point on I/O)."""
    tf = _tf()
    w = _weights((6, 3))
    m = _module([tf.TensorSpec([1, 6], tf.float32, name="features")], lambda x: tf.nn.relu(tf.matmul(x, w)))
    rng = np.random.default_rng(0)

    def representative():
        for _ in range(8):
            yield [rng.uniform(-1, 1, (1, 6)).astype(np.float32)]

    return _convert(m.__call__, m, optimizations=[tf.lite.Optimize.DEFAULT], representative_dataset=representative,
                    supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8], inference_input_type=tf.int8,
                    inference_output_type=tf.int8)


BUILDERS["int8_io"] = int8_io


def stateful_int8() -> bytes:
    """Int8 I/O, a resource variable carried between runs, and an initialiser subgraph (CALL_ONCE)."""
    tf = _tf()

    class State(tf.Module):
        def __init__(self):
            super().__init__()
            self.v = tf.Variable(tf.zeros([1, 4]))
            self.w = tf.constant(_weights((4, 4)))

        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
        def __call__(self, x):
            y = tf.matmul(x, self.w) + self.v
            self.v.assign(y)
            return y

    rng = np.random.default_rng(0)

    def representative():
        for _ in range(8):
            yield [rng.uniform(-1, 1, (1, 4)).astype(np.float32)]

    s = State()
    return _convert(s.__call__, s, experimental_enable_resource_variables=True,
                    optimizations=[tf.lite.Optimize.DEFAULT], representative_dataset=representative,
                    supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8], inference_input_type=tf.int8,
                    inference_output_type=tf.int8)


def segmenter_custom(classes: int = 3) -> bytes:
    """A segmentation model with a custom op (Erfinv) stock LiteRT cannot resolve."""
    tf = _tf()
    k = _weights((1, 1, 3, classes))
    m = _module([tf.TensorSpec([1, 16, 16, 3], tf.float32, name="image")],
                lambda x: tf.nn.softmax(tf.math.erfinv(tf.tanh(tf.nn.conv2d(x, k, 1, "SAME")) * 0.5)))
    return _convert(m.__call__, m, allow_custom_ops=True)


BUILDERS["stateful_int8"] = stateful_int8
BUILDERS.update({"text_embedder": text_embedder,                                      # BERT names, "embedding"
                 "text_embedder_other": lambda: text_embedder(seed=1),                # other weights
                 "text_embedder_unnamed": lambda: text_embedder(output=None),         # output_0
                 "text_embedder_anonymous_inputs": lambda: text_embedder(inputs=("a", "b", "c")),
                 "text_embedder_one": lambda: text_embedder("sentence_embedding", ("input_ids",)),
                 "token_vectors": token_vectors})
BUILDERS["segmenter_custom"] = segmenter_custom


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """``tiny(name)``: the path of tiny model ``name`` (built once per session)."""
    return lambda name: model_file(tmp_path_factory, name)


@pytest.fixture(scope="session")
def digits(tmp_path_factory) -> Path:
    """The directory of the sample's converted variants (converted once per session)."""
    return digits_variants(tmp_path_factory)
