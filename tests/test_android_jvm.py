"""The generated Android app's own Kotlin, executed on a JVM against the real LiteRT runtime, agrees
with Python sample by sample.

What runs: every task's rendered project (image classification with uint8 I/O, the same with int8
I/O, detection, segmentation, text, a BERT-style sentence encoder, audio, generic) compiled by test_android_checks.py's single
kotlinc run (against the real ``org.tensorflow.lite`` 2.16.1 and ``android-all`` jars) together
with a probe (tests/jvm/AppProbe.kt).  One JVM per project processes all its samples through the
app's ImageInput / TensorCodec / Tokenizer / ModelRunner / Results.  The model is computed by
ai-edge-litert in a child process: the test-only stand-in for the ``org.tensorflow.lite`` classes
(tests/jvm/standin) replaces only the JNI bridge that cannot load off Android.

Why pure-Kotlin preprocessing rather than Robolectric's native graphics: everything after the
decoded ARGB pixels (EXIF orientation, channel conversion, the area-average resize, normalization,
quantization) is plain Kotlin in ImageInput.kt/TensorCodec.kt that the app calls and this test
drives; Python's reader (mobilepack/data/readers.py) implements the same integer arithmetic, so
both agree to the bit, and no Robolectric sandbox (dozens of jars, minutes of start-up) is needed.
The one platform step left, JPEG/PNG decoding, is javax.imageio here and BitmapFactory on a device;
both are IJG-compatible decoders (libjpeg-turbo on Android and in Pillow), which this test checks
against Pillow too (the input bytes would differ otherwise).

Photos: ImageInput streams the stored rows band by band (PixelBands); bands of 3 rows give the same
input as one band; the platform's ExifInterface (PhotoDecoder.orientation) reads Pillow's orientation for
JPEG, PNG and WebP in all 8 orientations; 12 MP and 48 MP photos allocate a bounded few MB on the
decoding thread (ThreadMXBean), printed with -s.

Asserted per sample: input tensor bytes equal Python's (≤ 1 quantization step where rounding
differs; float inputs to 1e-6), top-1 label identical, detection classes identical with box IoU ≥
0.99, masks ≥ 0.99 pixel agreement, text/audio top-1 identical, generic outputs equal.  Two
deliberately broken templates (red/blue swapped, zero point subtracted) make these checks fail.

The BERT text app (tests/bert_models.py: three int32 [1, 128] inputs, the real 30522-token MiniLM
vocabulary; skipped without the vocabulary, failed under CI=true): for each of BERT_TEXTS the app's
WordPiece gives mobilepack.data.wordpiece's ids, mask and segment ids exactly, and its input tensors
and answers agree; the same app with accent stripping removed from Tokenizer.kt fails the id
comparison on exactly the texts whose ids that changes.

The sentence-embedding app (a BERT-style encoder whose embedding is deliberately not normalized):
typed sentences through the app's WordPiece and fixed token ids through the app's TensorCodec give
Python's ids, mask and segment ids exactly and LiteRT's embedding, and the app's cosine similarity of
two embeddings (Results.cosine, what the app shows for two sentences) equals Python's; copies with the
cosine as a plain dot product, and with the mask and segment ids swapped, fail these checks.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest

from mobilepack.model.spec import pad_ids
from tests.bert_models import INPUT_NAMES, SEQUENCE
from tests.keypoint_models import SIZE as KP_SIZE, photos
from tests.yolo_models import SIZE
from tests.conftest import DIGITS, require
from tests.jvm.execution import compile_standin, find_java, run_probe
from tests.test_android_checks import (BERT, BROKEN, BROKEN_EMBEDDING, BROKEN_I2I, BROKEN_TOKENIZER, BROKEN_YOLO, I2I,
                                       INT8, JARS, KEYPOINTS, KOTLINC, TASKS, TEXT_VOCAB, YOLO, render_all,
                                       require_bert, task_inputs)

IMAGE_PROJECTS = ("image_classification", INT8, "object_detection", "image_segmentation", YOLO, *BROKEN_YOLO, I2I,
                  *BROKEN_I2I, KEYPOINTS)
PROJECTS = (*TASKS, INT8, YOLO, I2I)
TASK_OF = {INT8: "image_classification", **{b: "image_classification" for b in BROKEN}, **{b: YOLO for b in BROKEN_YOLO},
           **{b: I2I for b in BROKEN_I2I},
           BERT: "text_classification", BROKEN_TOKENIZER: "text_classification",
           **{b: "text_embedding" for b in BROKEN_EMBEDDING}}

# Log lines as LiteRT writes them (tensorflow/lite/core/subgraph.cc), for the GPU status checks.
XNNPACK_LINE = "INFO: Replacing 7 out of 7 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions for the whole graph."
GPU_LOGS = {
    # The benchmark's XNNPACK interpreter logs just before; the GPU delegate took nothing and said nothing.
    "xnnpack_only": ["INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", XNNPACK_LINE],
    "gpu_partial": [XNNPACK_LINE, "INFO: Replacing 5 out of 7 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 2 partitions for the whole graph."],
    "gpu_full": ["INFO: Replacing 7 out of 7 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 1 partitions for the whole graph."],
    "gpu_then_xnnpack": ["INFO: Replacing 5 out of 7 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 2 partitions for the whole graph.", XNNPACK_LINE],
}
EMBEDDING_PROJECTS = ("text_embedding", *BROKEN_EMBEDDING)
# 12 MP (4000 x 3000) and 48 MP (8000 x 6000) photos through the app's decode-to-tensor code.
PHOTO_SIZES = ((4000, 3000), (8000, 6000))
# Heap the app may allocate on the decoding thread for one photo, whatever its size: one band of
# ImageInput.BAND_PIXELS ARGB pixels (4 MiB), the per-axis overlap tables and the model input's sums.
PHOTO_HEAP_LIMIT = 8 << 20
EMBEDDING_SEQUENCE = 16
# typed sentences over the encoder's vocabulary (tests/test_android_checks.py BERT_VOCAB: "was" is unknown),
# then fixed token ids ([CLS] 2, [SEP] 3, good 4, bad 5, film 6; the last is longer than the input)
EMBEDDING_TEXTS = ("good film", "bad film", "the plot was boring", "a great film, good plot!", "Good FILM")
TOKEN_IDS = ((2, 4, 6, 3), (2, 5, 6, 3), (2, *[4, 5] * 10, 3))
PAIRS = ((0, 1), (0, 2), (1, 2), (2, 3), (0, 4), (0, 5), (5, 6), (6, 7), (3, 3))
TEXTS = ("good film", "a bad, BAD film!", "good good good bad film film", "nothing known here", "it's good",
         "good " * 20, "bad " * 10 + "good film " * 5)
# What the BERT app's WordPiece must tokenize exactly as mobilepack.data.wordpiece does (characters
# from Unicode 13 or older, so the JVM's and Python's Unicode tables agree on every one).
BERT_TEXTS = (
    "Café déjà vu", "Hello, World!", "我爱北京天安门", "The unaffable, unbelievably hyperparameterized transformers",
    "I ❤️ emoji 😀👍🏽 and 🇫🇷 flags", "emoji👨‍👩‍👧 family joined by zero-width joiners", "MiXeD CaSe TeXt",
    "Numbers: 3.14159, 1,000,000 and the 42nd", "word " * 200, "", "   \t\n  ",
    "tabs\tand\nnewlines\r\nno-break\u00a0and ideographic\u3000spaces, line\u2028separator",
    "control\x00chars\x07and\u200bzero\u200dwidth\ufffdreplacement\ue000private",
    "naïve résumé façade coöperate", "Ångström Øresund Łódź", "ΟΔΟΣ Σίσυφος ελληνικά", "İstanbul'da ıslak",
    "Straße groß", "supercalifragilistic" + "x" * 100, "xqzvbnmwplk qqqqzzzz", "ok" * 60,
    "email@example.com and https://example.org/path?q=1&r=2",
    "$100 + 20% = ^_^ `code` ~tilde~ {braces} [brackets] <angle> |pipe|",
    "«Bonjour» „Hallo“ “quotes” ‘single’ — em-dash – en-dash…", "¿Qué tal? ¡Muy bien!",
    "日本語のテキストとカタカナ", "한국어 텍스트", "Ｆｕｌｌｗｉｄｔｈ ＬＥＴＴＥＲＳ １２３", "ﬁne ﬂow ﬀ",
    "combining: e\u0301 a\u0300 n\u0303 a\u0301\u0302\u0303b", "Zürich's café—isn't it?",
    "[CLS] and [SEP] in text [UNK]", "Ǆemal ǅ ǆ", "Русский текст и ёлка", "مَرْحَبًا بالعالم", "हिन्दी पाठ",
    "CJK extension B: 𠀀𪚥 and compatibility \uf900\ufa10", "mixed123numbers456and789letters",
    "The quick brown fox jumps over the lazy dog. " * 20,
)


# --- samples ---------------------------------------------------------------------------------------

def _asymmetric(h: int, w: int) -> np.ndarray:
    """An RGB picture whose every rotation/mirror and channel swap looks different."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + 2 * y) % 256], -1).astype(np.uint8)
    img[: h // 3, : w // 4] = (250, 30, 10)       # a red block in the top-left corner
    return img


def _exif(orientation: int):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


@pytest.fixture(scope="session")
def samples(tmp_path_factory):
    """Images (PNG, EXIF-rotated JPEG and PNG, a large photo), PCM clips and texts."""
    from PIL import Image

    d = tmp_path_factory.mktemp("jvm-samples")
    rng = np.random.default_rng(7)
    images = [DIGITS / "samples" / "3_three.png", DIGITS / "samples" / "7_seven.png"]
    Image.fromarray(_asymmetric(30, 48)).save(d / "exif6.jpg", quality=92, exif=_exif(6))
    Image.fromarray(_asymmetric(24, 40)).save(d / "exif3.png", exif=_exif(3))
    Image.fromarray(_asymmetric(40, 24)).save(d / "exif8.jpg", quality=92, exif=_exif(8))
    h, w = 1200, 1600
    y, x = np.mgrid[0:h, 0:w]
    photo = np.stack([x * 255 / w, y * 255 / h, ((x // 3) % 2) * 255.0], -1) + rng.normal(0, 12, (h, w, 3))
    Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(d / "large_photo.jpg", quality=90)
    images += [d / "exif6.jpg", d / "exif3.png", d / "exif8.jpg", d / "large_photo.jpg"]
    # Orientation only (javax.imageio decodes no WebP): every EXIF orientation in JPEG, PNG and WebP.
    oriented = []
    for o in range(1, 9):
        for suffix, options in ((".jpg", {"quality": 92}), (".png", {}), (".webp", {"lossless": True})):
            Image.fromarray(_asymmetric(12, 20)).save(d / f"orient{o}{suffix}", exif=_exif(o), **options)
            oriented.append(d / f"orient{o}{suffix}")
    Image.fromarray(_asymmetric(12, 20)).save(d / "no_exif.webp", lossless=True)
    oriented.append(d / "no_exif.webp")
    from tests.heif_fixtures import write as write_heic

    heic = write_heic(d / "heic", _asymmetric(12, 20))   # irot/imir in all 8, EXIF disagreeing, EXIF only
    oriented += list(heic)
    from tests.yolo_models import pictures

    shapes = pictures(d / "shapes")   # drawn shapes: what the YOLO detector finds (its projects only)

    clips = []
    t = np.arange(1600) / 16000.0
    for name, wave in (("tone", 0.5 * np.sin(2 * np.pi * 440 * t)), ("noise", rng.uniform(-0.8, 0.8, 1600)),
                       ("short", 0.3 * np.sin(2 * np.pi * 1000 * t[:1000])), ("long", rng.uniform(-0.2, 0.2, 2400)),
                       ("chirp", 0.7 * np.sin(2 * np.pi * (200 + 3000 * t) * t))):
        pcm = np.clip(np.round(wave * 32767), -32768, 32767).astype("<i2")
        (d / f"{name}.pcm").write_bytes(pcm.tobytes())
        clips.append(d / f"{name}.pcm")
    gpu_logs = d / "gpu_logs.json"
    gpu_logs.write_text(json.dumps(GPU_LOGS), encoding="utf-8")
    return {"images": images, "shapes": shapes, "clips": clips, "texts": TEXTS, "gpu_logs": gpu_logs,
            "oriented": oriented, "heic": {p.name: want for p, (want, _) in heic.items()}}


# --- Python's side ---------------------------------------------------------------------------------

def _details(model: bytes):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model)
    if not it.get_signature_list():   # a source without a signature (MediaPipe's): named by the naming rule
        from mobilepack.runtime.tensor_io import Runner

        runner = Runner(it)
        return it, runner, runner.inputs, runner.outputs
    runner = it.get_signature_runner("serving_default")
    return it, runner, runner.get_input_details(), runner.get_output_details()


def quantize(x: np.ndarray, d: dict) -> np.ndarray:
    """Real values to the tensor's dtype, as mobilepack's SignatureSession feeds them."""
    dtype = np.dtype(d["dtype"])
    scale, zp = d["quantization"]
    if np.issubdtype(dtype, np.integer) and scale:
        info = np.iinfo(dtype)
        x = np.clip(np.rint(x.astype(np.float64) / scale + zp), info.min, info.max)
    return np.asarray(x).astype(dtype).reshape(d["shape"])


def dequantize(y: np.ndarray, d: dict) -> np.ndarray:
    scale, zp = d["quantization"]
    return (y.astype(np.float32) - zp) * np.float32(scale) if np.issubdtype(y.dtype, np.integer) and scale else y.astype(np.float32)


def bench_pattern(d: dict) -> bytes:
    """The shared benchmark input (rules: v = (i * 7919) mod 256 ...), from its definition."""
    n = int(np.prod(d["shape"]))
    v = (np.arange(n, dtype=np.int64) * 7919) % 256
    dtype = np.dtype(d["dtype"])
    if dtype == np.float32:
        x = (v / 255.0).astype(np.float32)
    elif dtype == np.uint8:
        x = v.astype(np.uint8)
    elif dtype == np.int8:
        x = (v - 128).astype(np.int8)
    else:
        x = (v % 2).astype(dtype)
    return x.astype(dtype.newbyteorder("<")).tobytes()


def reference_tokens(text: str, length: int, padding: str) -> list[int]:
    """Python's tokenizer of the same vocabulary: lower-case words, <START>, <UNKNOWN>, 0-padding."""
    vocab = {w: int(i) for w, i in (line.split() for line in TEXT_VOCAB.splitlines())}
    words = re.findall(r"(?:[^\W_]|')+", text.lower())
    ids = [vocab["<START>"]] + [vocab.get(w, vocab["<UNKNOWN>"]) for w in words]
    return pad_ids(ids, length, padding=padding)


def fixed_tokens(ids, length: int) -> tuple[list[int], list[int], list[int]]:
    """Fixed token ids as a BERT model's inputs: cut or padded with 0 at the end, the mask 1 for each
    kept token, the segment ids 0."""
    kept = min(len(ids), length)
    return pad_ids(list(ids), length, padding="post"), [1] * kept + [0] * (length - kept), [0] * length


def embedding_feeds(item, details: dict, vocab: Path) -> dict:
    """Python's inputs of the sentence encoder, by signature name: a typed sentence through
    mobilepack.data.wordpiece over the app's vocabulary, or fixed token ids (:func:`fixed_tokens`)."""
    from mobilepack.data.wordpiece import WordPiece

    what, value = item
    if what == "text":
        encoding = WordPiece.from_file(vocab).encode(value, EMBEDDING_SEQUENCE)
    else:
        encoding = fixed_tokens(value, EMBEDDING_SEQUENCE)
    return {name: quantize(np.asarray(v), details[name]) for name, v in zip(INPUT_NAMES, encoding)}


def cosine(a, b) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def label(labels, i: int) -> str:
    return labels[i] if 0 <= i < len(labels) and labels[i] else f"class {i}"


def python_side(name: str, model: bytes, project: Path, kind: str, sample) -> dict:
    """Python's input tensor and decoded answer for one sample."""
    from mobilepack.data.readers import load_image

    task = TASK_OF.get(name, name)
    it, runner, ins, outs = _details(model)
    (in_name, d), = ins.items() if len(ins) == 1 else ((None, None),)
    if kind == "embedding":
        feeds = embedding_feeds(sample, ins, project / "app/src/main/assets/vocab.txt")
    elif kind == "image":
        spec = task_inputs(task, model).spec
        _, h, w, c = d["shape"]
        x = quantize(spec.normalization.apply(load_image(sample, h, w, c)), d)
        feeds = {in_name: x}
    elif kind == "text":
        feeds = {in_name: quantize(np.asarray(reference_tokens(sample, int(np.prod(d["shape"])), "post")), d)}
    elif kind == "bert":
        encoding = wordpiece().encode(sample, SEQUENCE)
        feeds = {k: quantize(np.asarray(v), ins[k]) for k, v in zip(INPUT_NAMES, encoding)}
        return {"inputs": feeds, "outputs": _outputs(runner, feeds, outs), "input_details": ins, "encoding": encoding}
    elif kind == "audio":
        pcm = np.frombuffer(Path(sample).read_bytes(), "<i2")
        n = int(np.prod(d["shape"]))
        wave = np.zeros(n, np.float32)
        wave[: min(n, len(pcm))] = pcm[:n] / np.float32(32768)
        feeds = {in_name: quantize(wave, d)}
    else:
        feeds = {k: np.frombuffer(bench_pattern(v), np.dtype(v["dtype"])).reshape(v["shape"]) for k, v in ins.items()}
    return {"inputs": feeds, "outputs": _outputs(runner, feeds, outs), "input_details": ins}


def _outputs(runner, feeds: dict, outs: dict) -> dict:
    return {k: dequantize(np.asarray(v), outs[k]) for k, v in runner(**feeds).items()}


@functools.cache
def wordpiece():
    """Python's tokenizer over the MiniLM vocabulary (lower-casing read from it: uncased)."""
    from mobilepack.data.wordpiece import WordPiece
    from tests.bert_models import minilm_vocabulary

    return WordPiece.from_file(minilm_vocabulary())


# --- running the app --------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """The Android checks' projects, compiled once per session (shared with test_android_checks.py)."""
    return render_all(tmp_path_factory)


@pytest.fixture(scope="session")
def jvm(rendered, tmp_path_factory):
    base, _, checks, _ = rendered
    java = find_java(21)
    require(java is not None, "a JDK 21+ is needed to run android-all 16 (Java 21 bytecode): set MOBILEPACK_JAVA "
                              "or install one under /usr/lib/jvm (tests/setup/setup-android.sh)")
    android_all = JARS / "android-all-16-robolectric-13921718.jar"
    standin = compile_standin(java, android_all, tmp_path_factory.mktemp("standin"))
    classpath = [standin, base / "work" / "classes", KOTLINC.parent.parent / "lib" / "kotlin-stdlib.jar", android_all]
    return java, classpath


def _job(name: str, project: Path, samples: dict) -> tuple[dict, str, list]:
    assets = project / "app" / "src" / "main" / "assets"
    job = {"model": str(assets / "model.tflite"), "labels": str(assets / "labels.txt"), "samples": []}
    if name in IMAGE_PROJECTS or name in BROKEN:
        from PIL import Image, ImageOps

        kind, items = "image", samples["images"] + (samples["shapes"] if name == YOLO or name in BROKEN_YOLO else []) + \
            (photos()[:3] if name == KEYPOINTS else [])
        for p in items:
            with Image.open(p) as img:
                upright = ImageOps.exif_transpose(img)
                job["samples"].append({"kind": "image", "path": str(p), "width": upright.width, "height": upright.height})
        if name == "image_classification":
            job["orientations"] = [str(p) for p in samples["oriented"]]
            job["memory"] = [list(size) for size in PHOTO_SIZES]
    elif name == "text_classification":
        kind, items = "text", list(samples["texts"])
        job["vocab"] = str(assets / "vocab.txt")
        job["samples"] = [{"kind": "text", "text": t} for t in items]
    elif name in EMBEDDING_PROJECTS:
        # the typed sentences, the fixed ids (PAIRS index both), then the tokenizer's hard cases
        kind, items = "embedding", [("text", t) for t in EMBEDDING_TEXTS] + [("tokens", t) for t in TOKEN_IDS] + \
            [("text", t) for t in BERT_TEXTS]
        job["vocab"] = str(assets / "vocab.txt")
        job["samples"] = [{"kind": "text", "text": t} for t in EMBEDDING_TEXTS] + \
            [dict(zip(("ids", "mask", "segment_ids"), fixed_tokens(ids, EMBEDDING_SEQUENCE)), kind="tokens")
             for ids in TOKEN_IDS] + [{"kind": "text", "text": t} for t in BERT_TEXTS]
        job["pairs"] = [list(p) for p in PAIRS]
    elif name in (BERT, BROKEN_TOKENIZER):
        kind, items = "bert", list(BERT_TEXTS)
        job["vocab"] = str(assets / "vocab.txt")
        job["samples"] = [{"kind": "text", "text": t} for t in items]
    elif name == "audio_classification":
        kind, items = "audio", samples["clips"]
        job["samples"] = [{"kind": "audio", "path": str(p)} for p in items]
    else:
        kind, items = "tensor", [None]
        job["samples"] = [{"kind": "tensor"}]
        job["defects"] = True
    return job, kind, items


@pytest.fixture(scope="session")
def executed(rendered, jvm, samples, tmp_path_factory):
    """{project: (app's report, kind, [(sample, Python's side)])}: one JVM run per project."""
    _, projects, checks, model_bytes = rendered
    java, classpath = jvm
    work = tmp_path_factory.mktemp("jvm-runs")
    out = {}
    for name in (*PROJECTS, *BROKEN_YOLO, *BROKEN_I2I, *BROKEN, *BROKEN_EMBEDDING, BERT, BROKEN_TOKENIZER, KEYPOINTS):
        if name not in projects:      # the BERT and keypoints projects, when the vocabulary or model could not be fetched
            continue
        assert checks[name].kotlin_errors == [] and checks[name].aapt_rc == 0, (name, checks[name].kotlin_errors)
        job, kind, items = _job(name, projects[name], samples)
        report = run_probe(java, classpath, projects[name], job, work / name, gpu_logs=samples["gpu_logs"])
        model = (projects[name] / "app/src/main/assets/model.tflite").read_bytes()
        out[name] = (report, kind, job, [(item, python_side(name, model, projects[name], kind, item)) for item in items])
    return out


def _app_inputs(app: dict, ins: dict) -> dict:
    return {k: np.frombuffer(base64.b64decode(b), np.dtype(d["dtype"]).newbyteorder("<")).reshape(d["shape"])
            for (k, d), b in zip(sorted(ins.items()), app["inputs"])}


def input_problems(app: dict, py: dict) -> list[str]:
    """Differences between the app's input tensors and Python's beyond one quantization step."""
    problems = []
    for name, app_x in _app_inputs(app, py["input_details"]).items():
        py_x = py["inputs"][name]
        if np.issubdtype(py_x.dtype, np.integer):
            diff = int(np.abs(app_x.astype(np.int64) - py_x.astype(np.int64)).max())
            if diff > 1:
                problems.append(f"{name}: integer input differs by up to {diff} steps")
        elif not np.allclose(app_x, py_x, rtol=1e-6, atol=1e-6):
            problems.append(f"{name}: float input differs by up to {float(np.abs(app_x - py_x).max())}")
    return problems


def _iou(a, b) -> float:
    """IoU of two boxes given as corners (left, top, right, bottom); a random tiny detector may give
    corners in either order, so each box is first spanned by its corners."""
    a = (min(a[0], a[2]), min(a[1], a[3]), max(a[0], a[2]), max(a[1], a[3]))
    b = (min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3]))
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    if union <= 0:
        return 1.0 if np.allclose(a, b, atol=1e-3) else 0.0
    return inter / union


def yolo_problems(outs: dict, decoded: dict, labels: list[str], sample: dict, model: bytes) -> list[str]:
    """The app's YOLO detections against mobilepack.tasks.yolo.decode of LiteRT's head, with the
    thresholds the model's metadata records: same labels in the same order, box IoU ≥ 0.99, scores equal."""
    from mobilepack.metadata.families import yolo_model_decode
    from mobilepack.tasks import yolo

    (head,) = outs.values()
    layout = yolo.layout_of_shape(head.shape)
    boxes, classes, scores = yolo.decode(head[0], layout, SIZE, SIZE, **yolo_model_decode(model))
    w, h = sample["width"], sample["height"]
    want = [(label(labels, int(c)), [float(np.clip(b[1], 0, 1)) * w, float(np.clip(b[0], 0, 1)) * h,
                                     float(np.clip(b[3], 0, 1)) * w, float(np.clip(b[2], 0, 1)) * h], float(s))
            for b, c, s in zip(boxes, classes, scores)]
    got = [(d[0], d[2:], d[1]) for d in decoded["detections"]]
    if [g[0] for g in got] != [x[0] for x in want]:
        return [f"detections {[g[0] for g in got]}, Python {[x[0] for x in want]}"]
    return [f"box IoU {_iou(g[1], x[1]):.3f}, score {g[2]:.6f} vs {x[2]:.6f}" for g, x in zip(got, want)
            if _iou(g[1], x[1]) < 0.99 or abs(g[2] - x[2]) > 1e-6]


def keypoint_problems(outs: dict, decoded: dict, model: bytes, decode=None) -> list[str]:
    """The app's keypoints against mobilepack.tasks.keypoints.decode of LiteRT's outputs (model order),
    with the layout the model's metadata records: every x, y and the presence score equal to 1e-9.
    ``decode``: another decode in its place (the tests' broken ones)."""
    from mobilepack.metadata.keypoints import model_layout
    from mobilepack.tasks import keypoints as kp

    layout = model_layout(model)
    assert layout is not None, "the keypoints project's model records no layout"
    points, presence = (decode or kp.decode)([y[0] for y in outs.values()], layout, KP_SIZE, KP_SIZE)
    got = decoded["keypoints"]
    app = np.stack([got["x"], got["y"]], 1)
    if app.shape != points.shape or not np.allclose(app, points, rtol=0, atol=1e-9):
        return [f"points differ by up to {float(np.abs(app - points).max()) if app.shape == points.shape else app.shape}"]
    if (presence is None) != (got["presence"] is None) or (presence is not None and abs(presence - got["presence"]) > 1e-9):
        return [f"presence {got['presence']}, Python {presence}"]
    return []
def image_problems(outs: dict, decoded: dict) -> list[str]:
    """The app's output pixels (Results.outputPixels, ARGB) against mobilepack.tasks.image_to_image.to_pixels of
    LiteRT's output, over the range the app is given (no metadata: the inverse of its mean/std 127.5 input
    normalization, [-1, 1]): every pixel equal."""
    from mobilepack.tasks import image_to_image

    (image,) = outs.values()
    lo, hi = image_to_image.default_range("FLOAT32", (127.5,), (127.5,), image.shape[-1])
    rgb = image_to_image.to_pixels(image[0], lo, hi).astype(np.int64)
    want = (0xFF << 24) | (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    got = np.asarray(decoded["pixels"], np.int64) & 0xFFFFFFFF
    if got.shape != want.reshape(-1).shape:
        return [f"{got.size} pixels, Python {want.size}"]
    wrong = int(np.sum(got != want.reshape(-1)))
    return [f"{wrong} of {want.size} output pixels differ from Python's"] if wrong else []


def answer_problems(name: str, app: dict, py: dict, labels: list[str], sample: dict, model: bytes = b"") -> list[str]:
    """Differences between the app's decoded answer and Python's (per task's criterion)."""
    outs = py["outputs"]
    decoded = app["decoded"]
    task = TASK_OF.get(name, name)
    if task == "text_embedding":
        (want,), (got,) = outs.values(), decoded["values"]
        diff = float(np.abs(np.asarray(got, np.float32) - want.reshape(-1)).max())
        return [] if np.allclose(got, want.reshape(-1), rtol=1e-5, atol=1e-6) else [f"embedding differs by {diff:.3g}"]
    if task in ("image_classification", "text_classification", "audio_classification"):
        (scores,) = outs.values()
        want = label(labels, int(np.argmax(scores.reshape(-1))))
        got = decoded["top"][0][0]
        return [] if got == want else [f"top-1 {got!r}, Python {want!r}"]
    if task == "object_detection":
        # The tiny detector's outputs are output_0..3 in the SSD order: boxes, classes, scores, count.
        boxes, classes, scores, count = (outs[k].reshape(-1) for k in sorted(outs))
        boxes = boxes.reshape(-1, 4)
        count = min(max(int(count[0]), 0), len(scores))
        w, h = sample["width"], sample["height"]
        want = [(label(labels, int(classes[i])), [float(np.clip(boxes[i][1], 0, 1)) * w, float(np.clip(boxes[i][0], 0, 1)) * h,
                                                 float(np.clip(boxes[i][3], 0, 1)) * w, float(np.clip(boxes[i][2], 0, 1)) * h])
                for i in range(count) if scores[i] >= np.float32(0.3)]
        got = [(d[0], d[2:]) for d in decoded["detections"]]
        if [g[0] for g in got] != [x[0] for x in want]:
            return [f"detections {[g[0] for g in got]}, Python {[x[0] for x in want]}"]
        return [f"box IoU {_iou(g[1], x[1]):.3f}" for g, x in zip(got, want) if _iou(g[1], x[1]) < 0.99]
    if task == YOLO:
        return yolo_problems(outs, decoded, labels, sample, model)
    if task == KEYPOINTS:
        return keypoint_problems(outs, decoded, model)
    if task == I2I:
        return image_problems(outs, decoded)
    if task == "image_segmentation":
        (mask,) = outs.values()
        want = np.argmax(mask.reshape(-1, mask.shape[-1]), axis=1)
        agree = float(np.mean(np.asarray(decoded["classes"]) == want))
        return [] if agree >= 0.99 else [f"mask agreement {agree:.3f}"]
    got = [np.asarray(v, np.float32) for v in decoded["values"]]
    want = [outs[k].reshape(-1) for k in sorted(outs)]
    return [] if all(np.allclose(g, x, rtol=1e-5, atol=1e-6) for g, x in zip(got, want)) else ["generic outputs differ"]


def _labels(project: Path) -> list[str]:
    path = project / "app/src/main/assets/labels.txt"
    return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []


# --- agreement ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", PROJECTS)
def test_app_input_tensors_equal_pythons(executed, name):
    report, kind, job, pairs = executed[name]
    assert len(report["samples"]) == len(pairs) >= 1
    for app, (item, py) in zip(report["samples"], pairs):
        assert input_problems(app, py) == [], item


@pytest.mark.parametrize("name", PROJECTS)
def test_app_answers_equal_pythons(executed, rendered, name):
    _, projects, _, _ = rendered
    report, kind, job, pairs = executed[name]
    labels = _labels(projects[name])
    model = (projects[name] / "app/src/main/assets/model.tflite").read_bytes()
    for app, (item, py), sample in zip(report["samples"], pairs, job["samples"]):
        assert answer_problems(name, app, py, labels, sample, model) == [], item
    if name == "object_detection":   # not vacuous: boxes were found and compared
        assert sum(len(app["decoded"]["detections"]) for app in report["samples"]) >= len(pairs)
    if name == YOLO:   # not vacuous: the drawn shapes were found (several per picture, NMS had work)
        found = [len(app["decoded"]["detections"]) for app, (item, _) in zip(report["samples"], pairs)
                 if "shapes_" in str(item)]
        assert len(found) == 4 and sum(found) >= 4, found


def test_broken_yolo_decodes_fail_the_answer_check(executed, rendered):
    """NMS off, and cx, cy, w, h taken as corners, in the app's Results.kt: its detections differ
    from Python's, on shape pictures among others."""
    _, projects, _, _ = rendered
    for name in BROKEN_YOLO:
        report, _, job, pairs = executed[name]
        model = (projects[name] / "app/src/main/assets/model.tflite").read_bytes()
        failing = [item for app, (item, py), sample in zip(report["samples"], pairs, job["samples"])
                   if answer_problems(name, app, py, _labels(projects[name]), sample, model)]
        assert len(failing) >= 3 and any("shapes_" in str(f) for f in failing), (name, failing)


def test_app_keypoints_equal_pythons_and_broken_decodes_do_not(executed, rendered):
    """The hand landmark app's Results.keypoints equals mobilepack.tasks.keypoints.decode on LiteRT's
    outputs for every sample (the photos among them), and the same comparison rejects Python decodes
    broken on purpose (x/y swapped, the wrong stride, no normalization): it could tell them apart."""
    from tests.test_keypoints import BROKEN

    _, projects, _, _ = rendered
    require(KEYPOINTS in projects, "the zoo's hand landmark model is not available (tests/keypoint_models.py)")
    report, _, _, pairs = executed[KEYPOINTS]
    model = (projects[KEYPOINTS] / "app/src/main/assets/model.tflite").read_bytes()
    assert len(report["samples"]) == len(pairs) >= 8
    for app, (item, py) in zip(report["samples"], pairs):
        assert input_problems(app, py) == [], item
        assert keypoint_problems(py["outputs"], app["decoded"], model) == [], item
        for why, broken in BROKEN.items():
            def wrong(o, layout, w, h, broken=broken):
                return broken([o], layout)[0], None if layout["presence"] < 0 else float(o[layout["presence"]][0])
            assert keypoint_problems(py["outputs"], app["decoded"], model, wrong) != [], (item, why)
def test_broken_image_outputs_fail_the_pixel_check(executed, rendered):
    """The image-to-image app with red and blue swapped, or its output range inverted, gives other pixels than
    Python's to_pixels of the same output tensor on every sample; the unbroken app gives the same (above)."""
    _, projects, _, _ = rendered
    for name in BROKEN_I2I:
        report, _, _, pairs = executed[name]
        labels = _labels(projects[name])
        for app, (sample, py) in zip(report["samples"], pairs):
            assert answer_problems(name, app, py, labels, sample), (name, sample)


def test_exif_orientation_is_read_and_honoured(executed):
    report, _, job, pairs = executed["image_classification"]
    orientations = {Path(s["path"]).name: app["orientation"] for s, app in zip(job["samples"], report["samples"])}
    assert orientations == {"3_three.png": 1, "7_seven.png": 1, "exif6.jpg": 6, "exif3.png": 3, "exif8.jpg": 8,
                            "large_photo.jpg": 1}


def test_platform_exif_orientation_equals_pythons_for_every_format(executed, samples):
    """PhotoDecoder.orientation runs the platform's android.media.ExifInterface (android-all; only
    android.util.Log is stood in): for JPEG, PNG and WebP with each of the 8 orientations it reads the
    orientation Pillow's exif_transpose (mobilepack's reader) applies.  For HEIC it reads the file's
    irot/imir transforms (HeifOrientation, pure Kotlin): the orientation that turns the stored pixels
    into what Python's reader (pillow-heif) decodes, for all 8, for irot with an EXIF block rewritten
    to 1, and for an EXIF orientation 6 without transforms (1: the platform ExifInterface would say 6
    there, and 1 for the rewritten ones)."""
    from PIL import Image

    from mobilepack.data.readers import load_image
    from tests.heif_fixtures import upright

    report, _, job, _ = executed["image_classification"]
    want = {}
    for path in map(Path, job["orientations"]):
        if path.suffix == ".heic":
            continue
        with Image.open(path) as img:
            want[path.name] = int(img.getexif().get(0x0112, 1))
    assert sorted(set(want.values())) == list(range(1, 9))
    stored = _asymmetric(12, 20)
    for path in (p for p in map(Path, job["orientations"]) if p.suffix == ".heic"):
        decoded = load_image(path, *upright(stored, samples["heic"][path.name]).shape)
        matching = [o for o in range(1, 9) if upright(stored, o).shape == decoded.shape
                    and np.array_equal(upright(stored, o), decoded)]
        assert matching == [samples["heic"][path.name]], path.name
        want[path.name] = matching[0]
    assert report["orientations"] == want
    assert {want[f"irot{o}.heic"] for o in range(1, 9)} == set(range(1, 9))
    assert want["exif6_only.heic"] == 1 and want["irot6_exif1.heic"] == 6


def test_bands_do_not_change_the_input(executed):
    """ImageInput sums stored rows band by band: bands of 3 rows give what one band gives, for every
    sample (the EXIF-rotated ones included)."""
    for name in (n for n in IMAGE_PROJECTS if n in executed):   # the keypoints project needs the zoo's model
        report, _, _, _ = executed[name]
        assert [app["bands_agree"] for app in report["samples"]] == [True] * len(report["samples"]), name


def test_photo_decode_memory_is_bounded(executed):
    """12 MP and 48 MP photos (EXIF orientation 6) through TensorCodec.fromImage and
    ImageInput.modelPixels (224 x 224 x 3): bytes allocated on the decoding thread (ThreadMXBean) stay
    under PHOTO_HEAP_LIMIT and do not grow with the photo (the old whole-array code needed, by
    count, about 290 MB for 12 MP).  Shown to fail: one band of 1 << 30 pixels (a whole-image read) gives 48 MB.  The figures are printed (pytest -s) and quoted in docs/apps/android.md."""
    report, _, _, _ = executed["image_classification"]
    memory = report["memory"]
    assert [(m["width"], m["height"]) for m in memory] == list(PHOTO_SIZES)
    for m in memory:
        print(f"{m['width']}x{m['height']}: app input {m['app_input_bytes']} B, 224x224x3 input {m['input_224_bytes']} B")
        assert 0 < m["app_input_bytes"] < PHOTO_HEAP_LIMIT, m
        assert 0 < m["input_224_bytes"] < PHOTO_HEAP_LIMIT, m
    small, large = memory
    # four times the pixels, at most the longer overlap tables more (not 4x)
    assert large["input_224_bytes"] < small["input_224_bytes"] + (1 << 20)


def test_image_inputs_are_exact_not_just_close(executed):
    """The shared area-average resize is integer arithmetic: uint8 inputs are equal byte for byte
    (also for the EXIF-rotated images and the 1600x1200 photo downscaled to 16x16)."""
    report, _, _, pairs = executed["image_classification"]
    for app, (item, py) in zip(report["samples"], pairs):
        (name, x), = py["inputs"].items()
        assert base64.b64decode(app["inputs"][0]) == x.tobytes(), item


def test_the_runner_reads_what_litert_computed(executed):
    """Equal inputs give bit-equal raw outputs: the runner's signature I/O loses nothing."""
    for name in PROJECTS:
        report, _, _, pairs = executed[name]
        _, _, _, outs = _details(Path(executed[name][2]["model"]).read_bytes())
        for app, (item, py) in zip(report["samples"], pairs):
            if any(base64.b64decode(a) != np.ascontiguousarray(x).tobytes()
                   for a, x in zip(app["inputs"], [py["inputs"][k] for k in sorted(py["inputs"])])):
                continue
            _, runner, _, _ = _details(Path(executed[name][2]["model"]).read_bytes())
            raw = runner(**py["inputs"])
            for i, key in enumerate(sorted(outs)):
                assert base64.b64decode(app["outputs"][i]) == np.ascontiguousarray(raw[key]).tobytes(), (name, item, key)


def test_tokenizer_pads_on_the_models_side(executed):
    report, _, job, _ = executed["text_classification"]
    for app, sample in zip(report["samples"], job["samples"]):
        assert app["ids_post"] == reference_tokens(sample["text"], 12, "post")
        assert app["ids_pre"] == reference_tokens(sample["text"], 12, "pre")
    assert any(a["ids_pre"] != a["ids_post"] for a in report["samples"])


def test_benchmark_inputs_follow_the_shared_definition(executed):
    """Every project's benchmark input equals the definition (float32, uint8, int8 and int32 tensors)."""
    seen = set()
    for name in PROJECTS:
        report = executed[name][0]
        _, _, ins, _ = _details(Path(executed[name][2]["model"]).read_bytes())
        for (key, d), got in zip(sorted(ins.items()), report["bench"]["inputs"]):
            assert base64.b64decode(got) == bench_pattern(d), (name, key)
            seen.add(np.dtype(d["dtype"]).name)
        assert report["bench"]["first_us"] >= 0
    assert {"float32", "uint8", "int8", "int32"} <= seen


def test_gpu_request_without_a_gpu_is_a_clear_refusal(executed):
    for name in PROJECTS:
        assert "GPU delegate does not support this device" in executed[name][0]["gpu_request"]["unavailable"]


def token_input_problems(app: dict, py: dict) -> list[str]:
    """Token ids, mask and segment ids are exact: any difference is a problem (no rounding step)."""
    return [f"{name}: {int((x != py['inputs'][name]).sum())} element(s) differ"
            for name, x in _app_inputs(app, py["input_details"]).items() if (x != py["inputs"][name]).any()]


def similarity_problems(report: dict, pairs: list) -> list[str]:
    """The app's cosine similarity (Results.cosine) of two embeddings against Python's cosine of
    LiteRT's embeddings of the same inputs."""
    vectors = [next(iter(py["outputs"].values())) for _, py in pairs]
    problems = []
    for (i, j), got in zip(PAIRS, report["similarities"]):
        want = cosine(vectors[i], vectors[j])
        if abs(got - want) > 1e-5:
            problems.append(f"pair {i},{j}: app {got:.6f}, Python {want:.6f}")
    return problems


def test_embedding_app_gives_litert_embeddings_and_their_cosine(executed):
    """Typed sentences (the five below and the tokenizer's 41 hard cases: accents, punctuation, CJK,
    emoji, over-long text, unknown words) through the app's WordPiece, and fixed token ids, through its TensorCodec
    (ids, mask, segment ids to their inputs) and ModelRunner give Python's inputs exactly and LiteRT's
    embedding; the app's cosine of two embeddings is Python's, and the line it shows says so."""
    report, kind, job, pairs = executed["text_embedding"]
    assert kind == "embedding" and len(report["samples"]) == len(EMBEDDING_TEXTS) + len(TOKEN_IDS) + len(BERT_TEXTS)
    for app, (item, py) in zip(report["samples"], pairs):
        assert token_input_problems(app, py) == [], item
        assert answer_problems("text_embedding", app, py, [], {}) == [], item
    assert len(report["similarities"]) == len(PAIRS) and similarity_problems(report, pairs) == []
    sims = dict(zip(PAIRS, report["similarities"]))
    # the same words typed or given as ids, in any case, are the same sentence; others are not
    assert sims[(0, 4)] == sims[(0, 5)] == sims[(3, 3)] == pytest.approx(1.0, abs=1e-6)
    assert len({round(v, 4) for v in sims.values()}) >= 5
    assert report["similarity_line"] == f"cosine similarity {sims[(0, 1)]:.4f} (8-dimensional embeddings)"
    norms = [float(np.linalg.norm(next(iter(py["outputs"].values())))) for _, py in pairs]
    assert all(abs(n - 1) > 0.05 for n in norms), norms    # not normalized: a dot product would not do


def test_broken_embedding_templates_fail_the_embedding_checks(executed):
    """The dot product for the cosine: inputs and embeddings right, every similarity wrong.  The mask
    and the segment ids swapped: every sample's inputs and embedding wrong."""
    report, _, _, pairs = executed["broken_cosine"]
    assert all(token_input_problems(app, py) == [] and answer_problems("broken_cosine", app, py, [], {}) == []
               for app, (_, py) in zip(report["samples"], pairs))
    assert len(similarity_problems(report, pairs)) == len(PAIRS)
    report, _, _, pairs = executed["broken_routing"]
    assert all(token_input_problems(app, py) and answer_problems("broken_routing", app, py, [], {})
               for app, (_, py) in zip(report["samples"], pairs))


# --- the defects a JVM can show ------------------------------------------------------------------------

def test_gpu_status_reads_only_the_gpu_delegates_line(executed):
    gpu = executed["generic"][0]["defects"]["gpu"]
    assert gpu["xnnpack_only"]["fully_delegated"] is None          # was: true ("all operations delegated")
    assert "all operations delegated" not in gpu["xnnpack_only"]["label"]
    assert gpu["gpu_partial"]["fully_delegated"] is False and "5 of 7" in gpu["gpu_partial"]["label"]
    assert gpu["gpu_then_xnnpack"]["fully_delegated"] is False     # the later XNNPACK line does not count
    assert gpu["gpu_full"]["fully_delegated"] is True


def test_microphone_failures_are_messages_not_crashes(executed):
    audio = executed["generic"][0]["defects"]["audio"]
    assert "could not be opened" in audio["uninitialized"]["message"]
    assert "in use by another app" in audio["busy"]["message"]
    assert "AudioRecord error -3" in audio["read_error"]["message"]
    assert "no audio" in audio["silent"]["message"]
    assert audio["working"]["samples"] == 1000
    assert all("crash" not in r and r["released"] for r in audio.values())


def test_work_after_on_destroy_is_dropped_not_rejected(executed):
    queue = executed["generic"][0]["defects"]["queue"]
    assert queue == {"accepted_before": True, "close_ran": True, "accepted_after": False}


# --- the checks bite ---------------------------------------------------------------------------------

def test_broken_templates_fail_the_agreement_checks(executed):
    """Red and blue swapped: the input bytes differ (and with them the answers); the zero point
    subtracted instead of added: every int8 input is off by 256 steps (clipped)."""
    for name in BROKEN:
        report, _, job, pairs = executed[name]
        coloured = [item for item, py in pairs if (py["inputs"]["pixels"][..., 0] != py["inputs"]["pixels"][..., 2]).any()]
        failing = [item for app, (item, py) in zip(report["samples"], pairs) if input_problems(app, py)]
        # every sample fails, except grey ones under a red/blue swap
        assert failing == ([item for item, _ in pairs] if name == "broken_zero_point" else coloured), name
        assert len(coloured) >= 4


# --- the BERT app's WordPiece ------------------------------------------------------------------------

def wordpiece_problems(app: dict, py: dict) -> list[str]:
    """Where the app's ids, mask or segment ids differ from Python's WordPiece."""
    got = app["wordpiece"]
    return [f"{key}: app {got[key]}, Python {list(want)}"
            for key, want in zip(("ids", "mask", "segment_ids"), py["encoding"]) if got[key] != list(want)]


def test_bert_app_tokenizes_exactly_as_python(executed, rendered):
    """The app's own Tokenizer.kt (WordPiece over the real 30522-token MiniLM vocabulary, shipped as
    assets/vocab.txt) gives Python's ids, mask and segment ids for every text: accents, punctuation,
    CJK, emoji, mixed case, numbers, text over the sequence length, unknown words, the empty string,
    whitespace and control characters."""
    require_bert(rendered[1])
    report, kind, job, pairs = executed[BERT]
    assert kind == "bert" and len(report["samples"]) == len(pairs) == len(BERT_TEXTS) >= 30
    for app, (item, py) in zip(report["samples"], pairs):
        assert wordpiece_problems(app, py) == [], item
    encodings = [py["encoding"] for _, py in pairs]
    unknown, cls, sep = (wordpiece().ids[t] for t in ("[UNK]", "[CLS]", "[SEP]"))
    assert any(unknown in e.ids for e in encodings) and any(e.mask[-1] == 1 for e in encodings)   # not vacuous
    assert all(e.ids[0] == cls and e.ids[sum(e.mask) - 1] == sep for e in encodings)


def test_bert_app_inputs_and_answers_equal_pythons(executed, rendered):
    """What the app feeds (three int32 tensors, in the signature's order) and its top-1 answer."""
    require_bert(rendered[1])
    _, projects, _, _ = rendered
    report, _, job, pairs = executed[BERT]
    labels = _labels(projects[BERT])
    for app, (item, py), sample in zip(report["samples"], pairs, job["samples"]):
        assert input_problems(app, py) == [], item
        assert answer_problems(BERT, app, py, labels, sample) == [], item
    assert len({app["decoded"]["top"][0][0] for app in report["samples"]}) == 2   # both classes occur


def test_broken_tokenizer_fails_the_id_comparison(executed, rendered):
    """Tokenizer.kt with accent stripping removed: the comparison reports a mismatch for exactly the
    texts whose ids keeping the accents changes (in Python: NFD without dropping the marks)."""
    import unicodedata

    from mobilepack.data import wordpiece as wp

    require_bert(rendered[1])
    report, _, _, pairs = executed[BROKEN_TOKENIZER]
    failing = [item for app, (item, py) in zip(report["samples"], pairs) if wordpiece_problems(app, py)]

    class KeepsAccents(wp.WordPiece):
        def words(self, text: str) -> list[str]:
            lowered = "".join(ch.lower() for ch in wp.clean(text))
            return wp.split_words(unicodedata.normalize("NFD", lowered))

    keeps = KeepsAccents(wordpiece().tokens)
    assert failing == [t for t in BERT_TEXTS if keeps.encode(t, SEQUENCE) != wordpiece().encode(t, SEQUENCE)]
    assert "Café déjà vu" in failing and "Hello, World!" not in failing and len(failing) >= 8


# --- Python's reader: the same algorithm, independently checked ----------------------------------------

def test_area_resize_is_the_area_average():
    """mobilepack.data.readers.area_resize against a direct evaluation of its definition."""
    from mobilepack.data.readers import area_resize

    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (13, 17, 3)).astype(np.uint8)
    for h, w in ((5, 7), (13, 17), (26, 9), (1, 1)):
        want = np.zeros((h, w, 3), np.int64)
        for oy in range(h):
            for ox in range(w):
                acc = np.zeros(3, np.int64)
                for y in range(13):
                    for x in range(17):
                        wy = max(0, min((oy + 1) * 13, (y + 1) * h) - max(oy * 13, y * h))
                        wx = max(0, min((ox + 1) * 17, (x + 1) * w) - max(ox * 17, x * w))
                        acc += wx * wy * img[y, x].astype(np.int64)
                want[oy, ox] = (2 * acc + 13 * 17) // (2 * 13 * 17)
        assert (area_resize(img, h, w) == want).all(), (h, w)


def test_reader_honours_exif_and_does_not_alias(tmp_path):
    from PIL import Image

    from mobilepack.data.readers import load_image

    Image.fromarray(_asymmetric(30, 48)).save(tmp_path / "r.png", exif=_exif(6))
    upright = load_image(tmp_path / "r.png", 48, 30, 3)
    assert upright.shape == (48, 30, 3)
    assert (upright == np.rot90(_asymmetric(30, 48), k=-1)).all()      # turned 90° clockwise
    stripes = np.zeros((400, 400, 3), np.uint8)
    stripes[:, ::2] = 255                                              # 1-px stripes: mean grey
    Image.fromarray(stripes).save(tmp_path / "s.png")
    small = load_image(tmp_path / "s.png", 8, 8, 3)
    assert np.abs(small - 127.5).max() <= 0.5                          # a sampling resize gives 0 or 255



def test_every_screen_pads_for_the_system_bars():
    """targetSdk 36 is edge to edge (no JVM can lay out a window): both activities install the
    insets listener right after setContentView, and it pads by system bars, cutout and keyboard."""
    from tests.conftest import ROOT

    java = ROOT / "android-demo/app/src/main/java/com/example/digitsdemo"
    for activity in ("MainActivity.kt", "BenchmarkActivity.kt"):
        text = (java / activity).read_text(encoding="utf-8")
        assert re.search(r"setContentView\(R\.layout\.\w+\)\n\s+SystemBars\.padContent\(this\)", text), activity
    bars = (java / "SystemBars.kt").read_text(encoding="utf-8")
    assert "WindowInsets.Type.systemBars() or WindowInsets.Type.displayCutout() or WindowInsets.Type.ime()" in bars
    assert "setOnApplyWindowInsetsListener" in bars and "requestApplyInsets()" in bars


def test_agreement_figures(executed, rendered, capsys):
    """One line per project with the measured agreement (shown with `pytest -s`/`-rA`)."""
    _, projects, _, _ = rendered
    lines = []
    for name in PROJECTS:
        report, kind, job, pairs = executed[name]
        steps = []
        for app, (item, py) in zip(report["samples"], pairs):
            for key, app_x in _app_inputs(app, py["input_details"]).items():
                py_x = py["inputs"][key]
                steps.append(float(np.abs(app_x.astype(np.float64) - py_x.astype(np.float64)).max()))
        model = (projects[name] / "app/src/main/assets/model.tflite").read_bytes()   # YOLO: its thresholds
        problems = [p for app, (item, py), s in zip(report["samples"], pairs, job["samples"])
                    for p in answer_problems(name, app, py, _labels(projects[name]), s, model)]
        lines.append(f"{name:28s} {kind:6s} samples={len(pairs)} max|input diff|={max(steps):.3g} "
                     f"answer mismatches={len(problems)}")
        assert not problems, name
    report, _, _, pairs = executed["text_embedding"]
    vectors = [next(iter(py["outputs"].values())).ravel() for _, py in pairs]
    embedding = max(float(np.abs(np.asarray(app["decoded"]["values"][0]) - v).max())
                    for app, v in zip(report["samples"], vectors))
    cos = max(abs(g - cosine(vectors[i], vectors[j])) for (i, j), g in zip(PAIRS, report["similarities"]))
    lines.append(f"{'text_embedding':28s} embedding samples={len(pairs)} max|embedding diff|={embedding:.3g} "
                 f"max|cosine diff|={cos:.3g} over {len(PAIRS)} pairs")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
