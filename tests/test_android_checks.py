"""Platform checks on rendered Android projects, with real tools only:

* ``xmllint`` on every XML file;
* ``aapt2 compile`` + ``aapt2 link`` of ``res/`` and the manifest against Debian's
  ``android-framework-res`` (API 29 ``framework-res.apk``), which also writes ``R.java``;
* ``kotlinc`` (npm ``kotlin-compiler``) compiling every Kotlin source plus ``R.java`` against
  ``org.robolectric:android-all`` (the real Android framework classes) and the
  ``org.tensorflow.lite`` Java API jars (``tests/setup/setup-android.sh`` fetches them);
* ``tomllib`` on ``libs.versions.toml`` with every ``libs.*`` alias resolved, and kotlinc's parser
  on the ``.kts`` scripts (syntax errors only: Gradle's DSL is not on the class path here).

To stay fast on small machines every project of a session is compiled in ONE kotlinc run (each
has its own package), and errors are attributed to the project whose files they name.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, require

FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")
JARS = Path(os.environ.get("MOBILEPACK_ANDROID_JARS", ROOT / ".cache" / "android-jars"))
CLASSPATH_JARS = ("android-all-16-robolectric-13921718.jar", "tensorflow-lite-2.16.1.classes.jar",
                  "tensorflow-lite-api-2.16.1.classes.jar", "tensorflow-lite-gpu-2.16.1.classes.jar",
                  "tensorflow-lite-gpu-api-2.14.0.classes.jar")
KOTLINC = Path(os.environ.get("MOBILEPACK_NPM_PREFIX", ROOT / ".cache" / "npm-tools")) / "node_modules" / \
    "kotlin-compiler" / "bin" / "kotlinc"
KOTLIN_LANGUAGE = "2.2"   # AGP 9's built-in Kotlin (gradle/libs.versions.toml: agp 9.2.0 bundles Kotlin 2.2+)
# The compiler's JVM: C1 only and the serial collector.  A kotlinc run is one short job, so C2 spends
# more CPU compiling the compiler (117 of 167 CPU seconds on render_all's run) than it wins back; with
# these flags the same run takes 88 CPU seconds and 76 s instead of 91 s, and writes the same classes.
# CPU matters more than wall time here: the other xdist worker runs on the second core meanwhile.
KOTLINC_JAVA_OPTS = "-Xmx2g -XX:+UseSerialGC -XX:TieredStopAtLevel=1"


# --- tools ---------------------------------------------------------------------------------------

def require_tools() -> None:
    require(shutil.which("xmllint") is not None, "xmllint missing (apt-get install libxml2-utils; tests/setup/system-deps.sh)")
    require(shutil.which("aapt2") is not None, "aapt2 missing (apt-get install aapt; tests/setup/system-deps.sh)")
    require(FRAMEWORK_RES.is_file(), "framework-res.apk missing (apt-get install android-framework-res)")
    require(KOTLINC.is_file(), f"kotlinc missing at {KOTLINC} (npm kotlin-compiler; tests/setup/system-deps.sh)")
    require(shutil.which("java") is not None, "java missing (kotlinc needs a JDK)")
    missing = [j for j in CLASSPATH_JARS if not (JARS / j).is_file()]
    require(not missing, f"Android jars missing in {JARS}: {', '.join(missing)} (bash tests/setup/setup-android.sh)")


def xmllint(project: Path) -> list[str]:
    """Errors of ``xmllint --noout`` for every XML file of the project."""
    errors = []
    for path in sorted(project.rglob("*.xml")):
        proc = subprocess.run(["xmllint", "--noout", str(path)], capture_output=True, text=True)
        if proc.returncode != 0:
            errors.append(proc.stderr.strip() or f"{path}: xmllint exit {proc.returncode}")
    return errors


def manifest_package(project: Path) -> str:
    text = (project / "app" / "build.gradle.kts").read_text(encoding="utf-8")
    m = re.search(r'namespace = "([^"]+)"', text)
    assert m, "no namespace in app/build.gradle.kts"
    return m.group(1)


def aapt2_link(project: Path, work: Path) -> tuple[int, str, Path]:
    """Compile + link the project's resources and manifest; returns (rc, output, R.java root)."""
    main = project / "app" / "src" / "main"
    work.mkdir(parents=True, exist_ok=True)
    compiled = work / "res.zip"
    proc = subprocess.run(["aapt2", "compile", "--dir", str(main / "res"), "-o", str(compiled)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return proc.returncode, proc.stdout + proc.stderr, work
    # AGP writes package= from `namespace`; aapt2 needs it in the manifest itself.
    manifest = (main / "AndroidManifest.xml").read_text(encoding="utf-8")
    manifest = manifest.replace("<manifest ", f'<manifest package="{manifest_package(project)}" ', 1)
    (work / "AndroidManifest.xml").write_text(manifest, encoding="utf-8")
    gen = work / "gen"
    proc = subprocess.run(["aapt2", "link", "-I", str(FRAMEWORK_RES), "--manifest", str(work / "AndroidManifest.xml"),
                           "--min-sdk-version", "24", "--java", str(gen), "-o", str(work / "app.apk"), str(compiled)],
                          capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr, gen


def kotlinc(sources: list[Path], out: Path) -> tuple[int, str]:
    cp = os.pathsep.join(str(JARS / j) for j in CLASSPATH_JARS)
    proc = subprocess.run([str(KOTLINC), "-cp", cp, "-d", str(out), "-jvm-target", "17", "-language-version",
                           KOTLIN_LANGUAGE, "-api-version", KOTLIN_LANGUAGE, "-Werror",
                           *map(str, sources)], capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, JAVA_OPTS=KOTLINC_JAVA_OPTS))
    return proc.returncode, proc.stdout + proc.stderr


def kotlin_errors(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ": error: " in ln or ln.startswith("error:")]


def kts_syntax_errors(projects: list[Path], out: Path) -> list[str]:
    """kotlinc's parser over the Gradle scripts of ``projects`` (one run): only *syntax* errors
    count (Gradle's DSL classes are not on the class path, so unresolved references are expected)."""
    scripts = sorted(p for project in projects for p in project.rglob("*.gradle.kts"))
    assert scripts
    proc = subprocess.run([str(KOTLINC), "-d", str(out), *map(str, scripts)], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, JAVA_OPTS=KOTLINC_JAVA_OPTS))
    return [ln for ln in (proc.stdout + proc.stderr).splitlines() if "error: syntax error" in ln]


def version_catalog_problems(project: Path) -> list[str]:
    """libs.versions.toml parses, and every ``libs.*`` used in a build script exists in it."""
    catalog = tomllib.loads((project / "gradle" / "libs.versions.toml").read_text(encoding="utf-8"))
    versions = catalog.get("versions", {})
    problems = []
    aliases = {"libraries": {k.replace("-", ".").replace("_", ".") for k in catalog.get("libraries", {})},
               "plugins": {k.replace("-", ".").replace("_", ".") for k in catalog.get("plugins", {})},
               "versions": {k.replace("-", ".").replace("_", ".") for k in versions}}
    for section in ("libraries", "plugins"):
        for name, entry in catalog.get(section, {}).items():
            ref = entry.get("version", {}).get("ref") if isinstance(entry.get("version"), dict) else None
            if ref is not None and ref not in versions:
                problems.append(f"{section}.{name} refers to missing version {ref!r}")
    for script in sorted(project.rglob("*.gradle.kts")):
        text = re.sub(r"//[^\n]*", "", script.read_text(encoding="utf-8"))   # comments name files, not aliases
        for m in re.finditer(r"\blibs\.((?:[A-Za-z0-9]+\.?)+?)(?=\.get\(\)|[)\s]|$)", text):
            ref = m.group(1).rstrip(".")
            if ref.startswith("plugins."):
                ok = ref[len("plugins."):] in aliases["plugins"]
            elif ref.startswith("versions."):
                ok = ref[len("versions."):] in aliases["versions"]
            else:
                ok = ref in aliases["libraries"]
            if not ok:
                problems.append(f"{script.name}: libs.{ref} is not in libs.versions.toml")
    return problems


@dataclass
class Checked:
    project: Path
    xml_errors: list[str]
    aapt_rc: int
    aapt_output: str
    kotlin_errors: list[str]


def check_projects(projects: dict[str, Path], work: Path) -> dict[str, Checked]:
    """xmllint + aapt2 per project, then one kotlinc run over all of them."""
    require_tools()
    results: dict[str, Checked] = {}
    sources: list[Path] = []
    for name, project in projects.items():
        rc, output, gen = aapt2_link(project, work / name / "aapt")
        results[name] = Checked(project, xmllint(project), rc, output, [])
        sources.append(project / "app" / "src" / "main" / "java")
        if rc == 0:
            sources.append(gen)
    rc, output = kotlinc(sources, work / "classes")
    errors = kotlin_errors(output)
    assert rc == 0 or errors, output[-3000:]
    for name, checked in results.items():
        checked.kotlin_errors = [e for e in errors if str(checked.project) + os.sep in e or str(work / name) + os.sep in e]
    unattributed = [e for e in errors if not any(e in c.kotlin_errors for c in results.values())]
    assert not unattributed, unattributed
    return results


# --- tiny models of each task type ---------------------------------------------------------------

def _tiny_models():
    from tests.models import keras

    k = keras()
    k.utils.set_random_seed(0)
    models = {}

    inp = k.Input(shape=(16, 16, 3), name="pixels")
    x = k.layers.Rescaling(1 / 255.0)(inp)
    x = k.layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    x = k.layers.GlobalAveragePooling2D()(x)
    models["image_classification"] = k.Model(inp, k.layers.Dense(4, activation="softmax", name="scores")(x))

    inp = k.Input(shape=(16, 16, 3), name="image")
    x = k.layers.Flatten()(k.layers.Conv2D(2, 3, strides=4)(inp))
    boxes = k.layers.Reshape((5, 4), name="boxes")(k.layers.Dense(20, activation="sigmoid")(x))
    classes = k.layers.Dense(5, activation="relu", name="classes")(x)
    scores = k.layers.Dense(5, activation="sigmoid", name="scores")(x)
    # count starts near 3 (bias) so that the app's decoding has boxes to show (test_android_jvm.py)
    count = k.layers.Dense(1, activation="relu", bias_initializer=k.initializers.Constant(3.0), name="count")(x)
    models["object_detection"] = k.Model(inp, [boxes, classes, scores, count])

    # image to image: 2x super-resolution shaped, untrained; weights wide enough that some outputs fall
    # outside [-1, 1] (the range its normalization gives pixels), so the apps' clamping is exercised too
    inp = k.Input(shape=(16, 16, 3), name="image")
    x = k.layers.UpSampling2D(2)(k.layers.Conv2D(4, 3, padding="same", activation="relu")(inp))
    models[I2I] = k.Model(inp, k.layers.Conv2D(3, 3, padding="same", name="picture",
                                               kernel_initializer=k.initializers.RandomNormal(0.0, 0.6))(x))

    inp = k.Input(shape=(16, 16, 3), name="image")
    x = k.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    models["image_segmentation"] = k.Model(inp, k.layers.Conv2D(3, 1, activation="softmax", name="mask")(x))

    inp = k.Input(shape=(12,), dtype="int32", name="tokens")
    x = k.layers.GlobalAveragePooling1D()(k.layers.Embedding(1000, 8)(inp))
    models["text_classification"] = k.Model(inp, k.layers.Dense(2, activation="softmax", name="sentiment")(x))

    # BERT-style sentence encoder: ids, mask and segment ids in; a mask-weighted mean of token and
    # segment embeddings through a dense layer out, NOT L2-normalized (so a dot product is no cosine)
    ids = k.Input(shape=(16,), dtype="int32", name="input_ids")
    mask = k.Input(shape=(16,), dtype="int32", name="attention_mask")
    types = k.Input(shape=(16,), dtype="int32", name="token_type_ids")
    x = k.layers.Embedding(len(BERT_VOCAB), 8)(ids) + k.layers.Embedding(2, 8)(types)
    weight = k.ops.expand_dims(k.ops.cast(mask, "float32"), -1)
    pooled = k.ops.sum(x * weight, axis=1) / k.ops.maximum(k.ops.sum(weight, axis=1), 1.0)
    models["text_embedding"] = k.Model([ids, mask, types], k.layers.Dense(8, name="embedding")(pooled))

    inp = k.Input(shape=(1600,), name="waveform")
    x = k.layers.Reshape((1600, 1))(inp)
    x = k.layers.GlobalAveragePooling1D()(k.layers.Conv1D(4, 16, strides=8, activation="relu")(x))
    models["audio_classification"] = k.Model(inp, k.layers.Dense(3, activation="softmax", name="sounds")(x))

    inp = k.Input(shape=(6,), name="features")
    models["generic"] = k.Model(inp, k.layers.Dense(3, name="y")(k.layers.Dense(8, activation="relu")(inp)))
    return models


LABELS = {"image_classification": ("cat", "dog", "bird", "fish"), "object_detection": ("person", "car"),
          "image_segmentation": ("background", "person", "sky"), "text_classification": ("negative", "positive"),
          "text_embedding": (), "audio_classification": ("speech", "music", "noise"), "generic": ()}


TEXT_VOCAB = "<PAD> 0\n<START> 1\n<UNKNOWN> 2\ngood 3\nbad 4\nfilm 5\n"
BERT_VOCAB = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "good", "bad", "film", "plot", "great", "boring", "the", "a")


def _with_vocabulary(model_bytes: bytes, tmp: Path, task: str = "text_classification") -> bytes:
    """A text model with TFLite metadata holding its vocabulary (the real writer): the classifier's
    regex tokenizer, or the sentence encoder's BERT tokenizer."""
    from mobilepack.metadata.writer import attach

    vocab = tmp / f"{task}-vocab.txt"
    if task == "text_classification":
        vocab.write_text(TEXT_VOCAB, encoding="utf-8")
        return attach(model_bytes, task=task, labels=LABELS[task], vocab=vocab, tokenizer="regex").model
    vocab.write_text("\n".join(BERT_VOCAB) + "\n", encoding="utf-8")
    return attach(model_bytes, task=task, vocab=vocab).model


def task_models(base: Path, models: dict) -> dict[str, bytes]:
    """Every task's tiny model (``_tiny_models()``) converted (real TFLiteConverter), text models
    with their vocabulary."""
    model_bytes = {task: _convert(models[task], task) for task in TASKS}
    for task in ("text_classification", "text_embedding"):
        model_bytes[task] = _with_vocabulary(model_bytes[task], base, task)
    return model_bytes


def _convert(model, task: str, io: str = "uint8") -> bytes:
    from tests.models import tf

    t = tf()
    converter = t.lite.TFLiteConverter.from_keras_model(model)
    if task == "image_classification":
        # Full-integer with uint8 (or int8) input/output: exercises the app's quantized input and output paths.
        rng = np.random.default_rng(0)

        def representative():
            for _ in range(8):
                yield [rng.uniform(0, 255, (1, 16, 16, 3)).astype(np.float32)]

        converter.optimizations = [t.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = getattr(t, io)
        converter.inference_output_type = getattr(t, io)
    return converter.convert()


def task_inputs(task: str, model_bytes: bytes, app_name: str | None = None, labels=None, package=None):
    from mobilepack.model.spec import ModelSpec, Normalization, SourceFormat, Task
    from mobilepack.render.context import RenderInputs
    from mobilepack.runtime.interpreter import describe_tflite

    ins, outs, key = describe_tflite(model_bytes)
    norm = Normalization(mean=(0.0,), std=(255.0,), source="model_layer", in_model=True) \
        if task == "image_classification" else (Normalization(mean=(127.5,), std=(127.5,), source="config")
                                                 if task in ("object_detection", "image_segmentation", I2I) else None)
    if task == YOLO:   # the trained shapes detector rescales its input itself
        from tests.yolo_models import CLASSES

        norm = Normalization(mean=(0.0,), std=(1.0,), source="model_layer", in_model=True)
    if task == KEYPOINTS:   # MediaPipe's hand landmarks take pixels in [0, 1]
        norm = Normalization(mean=(0.0,), std=(255.0,), source="config")
    labels = tuple((CLASSES if task == YOLO else LABELS.get(task, ())) if labels is None else labels)
    spec = ModelSpec(name=f"tiny_{task}", source_path=f"{task}.tflite", source_format=SourceFormat.TFLITE,
                     inputs=ins, outputs=outs, signature_key=key, task=Task(task), labels=labels, normalization=norm)
    samples = ((("sample.png", (ROOT / "examples" / "digits" / "samples" / "3_three.png").read_bytes()),)
               if task in ("image_classification", "object_detection", "image_segmentation", YOLO, KEYPOINTS, I2I)
               else ())
    return RenderInputs(spec=spec, model_bytes=model_bytes, variant="int8" if task == "image_classification" else "fp32",
                        labels=labels, app_name=app_name or f"Tiny {task.replace('_', ' ').title()}",
                        app_id=package or f"com.mobilepack.checks.{task.replace('_', '')}", sample_images=samples)


TASKS = tuple(LABELS)
INT8 = "image_classification_int8"          # the image classifier with int8 (not uint8) input and output
BROKEN = ("broken_channel_order", "broken_zero_point")
YOLO = "yolo_detection"                    # a YOLO-layout detector trained on drawn shapes (tests/yolo_models.py)
I2I = "image_to_image"                     # an image-to-image model (2x the input's size), float output
BROKEN_I2I = ("broken_i2i_channels", "broken_i2i_range")   # its app with red/blue swapped / the range inverted
BROKEN_YOLO = ("broken_yolo_nms", "broken_yolo_xywh")   # its app with NMS off / xywh taken as corners
KEYPOINTS = "keypoints"                    # the zoo's MediaPipe hand landmark model (tests/keypoint_models.py)
BROKEN_EMBEDDING = ("broken_cosine", "broken_routing")   # sentence-embedding apps broken on purpose (tests/jvm)
BERT = "text_classification_bert"          # a BERT-style classifier: WordPiece over the real MiniLM vocabulary
BROKEN_TOKENIZER = "broken_accent_stripping"
INJECTION_NAME = 'Quote " apos \' back \\ dollar $ ${x} </string> %s %d\nline two 🚀 שלום עולם'
INJECTION_LABELS = ('say "hi"', "it's", "back\\slash", "$dollar ${x}", "</string><b>", "%s %1$d 100%", "🚀 emoji",
                    "שלום עולם", "@string/app_name", "?attr/x")


_RENDERED: dict = {}


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """The sample (android-demo/), one project per task type, and an injection project — checked
    together (one kotlinc run)."""
    return render_all(tmp_path_factory)


def render_all(tmp_path_factory):
    """:func:`rendered`'s value, computed once per test session also when test_android_jvm.py asks
    first (a fixture imported into another module would be a second fixture, rendered again)."""
    if "value" not in _RENDERED:
        _RENDERED["value"] = _render_all(tmp_path_factory)
    return _RENDERED["value"]


def _render_all(tmp_path_factory):
    require_tools()
    from mobilepack.render.renderer import render_project

    base = tmp_path_factory.mktemp("android")
    projects = {"sample": ROOT / "android-demo"}
    models = _tiny_models()
    model_bytes = task_models(base, models)
    model_bytes[INT8] = _convert(models["image_classification"], "image_classification", io="int8")
    for task in TASKS:
        render_project("android", task_inputs(task, model_bytes[task]), base / task)
        projects[task] = base / task
    render_project("android", task_inputs("image_classification", model_bytes[INT8], package="com.mobilepack.checks.int8io"),
                   base / INT8)
    projects[INT8] = base / INT8
    # The JVM execution tests (test_android_jvm.py) run these projects' code: their probe and two
    # deliberately broken copies compile in this same kotlinc run.
    from tests.jvm.execution import (add_broken_embedding_projects, add_broken_i2i_projects, add_broken_projects,
                                     add_broken_yolo_projects, add_probe)

    from tests.yolo_models import tflite as yolo_tflite

    model_bytes[YOLO] = yolo_tflite()
    render_project("android", task_inputs(YOLO, model_bytes[YOLO]), base / YOLO)
    projects[YOLO] = base / YOLO
    projects.update(add_broken_yolo_projects(base, model_bytes[YOLO]))
    projects.update(_keypoints_project(base, model_bytes))
    model_bytes[I2I] = _convert(models[I2I], I2I)
    render_project("android", task_inputs(I2I, model_bytes[I2I]), base / I2I)
    projects[I2I] = base / I2I
    projects.update(add_broken_i2i_projects(base, model_bytes[I2I]))
    projects.update(add_broken_projects(base, model_bytes[INT8]))
    projects.update(add_broken_embedding_projects(base, model_bytes["text_embedding"]))
    projects.update(_bert_projects(base, model_bytes))
    for name in (*TASKS, INT8, YOLO, *BROKEN_YOLO, I2I, *BROKEN_I2I, *BROKEN, *BROKEN_EMBEDDING, BERT, BROKEN_TOKENIZER,
                 KEYPOINTS):
        if name in projects:
            add_probe(projects[name], keypoints=name == KEYPOINTS)
    render_project("android", task_inputs("image_classification", model_bytes["image_classification"],
                                          app_name=INJECTION_NAME, labels=INJECTION_LABELS,
                                          package="com.mobilepack.checks.injection"), base / "injection")
    projects["injection"] = base / "injection"
    # A probe compiled with the injection project prints ModelConfig.APP_NAME, so the test can
    # prove the Kotlin literal holds the name unchanged.
    probe = base / "injection" / "app" / "src" / "main" / "java" / "com" / "mobilepack" / "checks" / "injection"
    (probe / "NameProbe.kt").write_text(
        "package com.mobilepack.checks.injection\n\nobject NameProbe {\n    @JvmStatic fun main(args: Array<String>) {\n"
        "        System.out.write(ModelConfig.APP_NAME.toByteArray(Charsets.UTF_8))\n        System.out.flush()\n    }\n}\n",
        encoding="utf-8")
    checks = check_projects(projects, base / "work")
    return base, projects, checks, model_bytes


def _keypoints_project(base: Path, model_bytes: dict) -> dict[str, Path]:
    """The hand landmark app, when the zoo's archive can be fetched (its tests skip with the reason
    otherwise, fail under CI=true)."""
    from mobilepack.render.renderer import render_project
    from tests.keypoint_models import hand_model, with_metadata

    path = hand_model()
    if not isinstance(path, Path):
        return {}
    model_bytes[KEYPOINTS] = with_metadata(path.read_bytes())
    render_project("android", task_inputs(KEYPOINTS, model_bytes[KEYPOINTS]), base / KEYPOINTS)
    return {KEYPOINTS: base / KEYPOINTS}


def _bert_projects(base: Path, model_bytes: dict) -> dict[str, Path]:
    """The BERT text app and its copy with accent stripping broken, when the MiniLM vocabulary
    can be fetched (tests that need them skip with the reason otherwise, fail under CI=true)."""
    from mobilepack.render.renderer import render_project
    from tests.bert_models import bert_classifier, minilm_vocabulary, with_bert_metadata
    from tests.jvm.execution import add_broken_tokenizer

    vocab = minilm_vocabulary()
    if not isinstance(vocab, Path):
        return {}
    model_bytes[BERT] = with_bert_metadata(bert_classifier(), vocab)
    render_project("android", task_inputs("text_classification", model_bytes[BERT], package="com.mobilepack.checks.textbert"),
                   base / BERT)
    return {BERT: base / BERT, BROKEN_TOKENIZER: add_broken_tokenizer(base, model_bytes[BERT])}


def require_bert(projects: dict) -> None:
    """Skips (fails under CI=true) when the BERT projects could not be made: the vocabulary is missing."""
    from tests.bert_models import minilm_vocabulary

    require(BERT in projects, f"the all-MiniLM-L6-v2 vocabulary is not available: {minilm_vocabulary()}")


PROJECTS = ("sample", *TASKS, INT8, YOLO, I2I, "injection")


@pytest.mark.parametrize("name", PROJECTS)
def test_xml_is_well_formed(rendered, name):
    _, _, checks, _ = rendered
    assert checks[name].xml_errors == []


@pytest.mark.parametrize("name", PROJECTS)
def test_resources_link_against_the_framework(rendered, name):
    _, _, checks, _ = rendered
    assert checks[name].aapt_rc == 0, checks[name].aapt_output


@pytest.mark.parametrize("name", PROJECTS)
def test_kotlin_compiles_against_android_and_litert(rendered, name):
    _, _, checks, _ = rendered
    assert checks[name].aapt_rc == 0
    assert checks[name].kotlin_errors == []


@pytest.mark.parametrize("name", PROJECTS)
def test_version_catalog_has_every_alias(rendered, name):
    _, projects, _, _ = rendered
    assert version_catalog_problems(projects[name]) == []


@pytest.fixture(scope="module")
def kts_checked(rendered, tmp_path_factory):
    """kotlinc's parser over every project's Gradle scripts and, in the same run, over a copy of the
    generic project with a syntax error in settings.gradle.kts: (that copy, the syntax errors)."""
    _, projects, _, _ = rendered
    tmp = tmp_path_factory.mktemp("kts")
    broken = _copy(projects["generic"], tmp / "broken")
    _edit(broken / "settings.gradle.kts", 'include(":app")', 'include(":app"')
    return broken, kts_syntax_errors([*projects.values(), broken], tmp / "out")


def test_gradle_scripts_have_no_syntax_errors(kts_checked):
    broken, errors = kts_checked
    assert [e for e in errors if str(broken) + os.sep not in e] == []


def test_each_task_gets_its_input_and_output_path(rendered):
    _, projects, _, _ = rendered
    expected = {"image_classification": ("image", "classification"), "object_detection": ("image", "detection"),
                "image_segmentation": ("image", "segmentation"), "text_classification": ("text", "classification"),
                "text_embedding": ("text", "embedding"), "audio_classification": ("audio", "classification"),
                "generic": ("tensor", "generic")}
    for task, (inp, out) in expected.items():
        config = next(projects[task].rglob("ModelConfig.kt")).read_text(encoding="utf-8")
        assert f'const val INPUT_KIND = "{inp}"' in config, task
        assert f'const val OUTPUT_KIND = "{out}"' in config, task
    quantized = next(projects["image_classification"].rglob("ModelConfig.kt")).read_text(encoding="utf-8")
    assert re.search(r'TensorInfo\("pixels", intArrayOf\(1, 16, 16, 3\), "uint8", [0-9.e-]+f, -?\d+\)', quantized)
    assert "NORMALIZE_IN_APP = false" in quantized          # Rescaling layer in the model
    segmentation = next(projects["image_segmentation"].rglob("ModelConfig.kt")).read_text(encoding="utf-8")
    assert "NORMALIZE_IN_APP = true" in segmentation and "PIXEL_MEAN = floatArrayOf(127.5f, 127.5f, 127.5f)" in segmentation
    manifest = (projects["audio_classification"] / "app/src/main/AndroidManifest.xml").read_text(encoding="utf-8")
    assert "android.permission.RECORD_AUDIO" in manifest
    assert "RECORD_AUDIO" not in (projects["generic"] / "app/src/main/AndroidManifest.xml").read_text(encoding="utf-8")


def test_text_app_ships_the_vocabulary_from_the_metadata(rendered):
    _, projects, _, _ = rendered
    assert (projects["text_classification"] / "app/src/main/assets/vocab.txt").read_text(encoding="utf-8") == TEXT_VOCAB
    assert (projects["text_embedding"] / "app/src/main/assets/vocab.txt").read_text(encoding="utf-8").split() == \
        list(BERT_VOCAB)
    assert not (projects["generic"] / "app/src/main/assets/vocab.txt").exists()


def test_bert_text_app_runs_wordpiece_over_the_packed_vocabulary(rendered):
    """A model with BERT tokenizer metadata renders a WordPiece app: it compiles, ships the vocabulary
    packed in the model, and feeds ids, mask and segment ids to the inputs the metadata names (the
    signature orders them attention_mask, input_ids, token_type_ids)."""
    from tests.bert_models import minilm_vocabulary

    _, projects, checks, _ = rendered
    require_bert(projects)
    assert checks[BERT].aapt_rc == 0 and checks[BERT].kotlin_errors == []
    project = projects[BERT]
    assert (project / "app/src/main/assets/vocab.txt").read_bytes() == minilm_vocabulary().read_bytes()
    tokenizer = next(project.rglob("Tokenizer.kt")).read_text(encoding="utf-8")
    for line in ('const val KIND = "bert"', "const val LOWER_CASE = true", "const val SEQUENCE_LENGTH = 128",
                 "const val IDS_INPUT = 1", "const val MASK_INPUT = 0", "const val SEGMENT_INPUT = 2"):
        assert line in tokenizer, line
    regex = next(projects["text_classification"].rglob("Tokenizer.kt")).read_text(encoding="utf-8")
    assert 'const val KIND = "regex"' in regex and "const val MASK_INPUT = -1" in regex


def test_injected_strings_survive_unchanged(rendered):
    base, projects, checks, _ = rendered
    project = projects["injection"]
    assert checks["injection"].aapt_rc == 0 and checks["injection"].kotlin_errors == []
    # labels ship as an asset, byte for byte
    assert (project / "app/src/main/assets/labels.txt").read_text(encoding="utf-8") == "\n".join(INJECTION_LABELS) + "\n"
    # strings.xml: aapt2 compiled it to exactly the app name
    dump = subprocess.run(["aapt2", "dump", "resources", str(base / "work" / "injection" / "aapt" / "app.apk")],
                          capture_output=True, text=True)
    assert dump.returncode == 0, dump.stderr
    m = re.search(r'string/app_name\n\s+\(\) "(.*?)"\n\s+resource ', dump.stdout, re.S)
    assert m, dump.stdout[:2000]
    dumped = m.group(1).replace("\n      ", "\n")   # the dump indents continuation lines by 6 spaces
    assert dumped == INJECTION_NAME
    # Kotlin: the compiled constant prints the name unchanged
    cp = os.pathsep.join([str(base / "work" / "classes"), str(KOTLINC.parent.parent / "lib" / "kotlin-stdlib.jar")])
    run = subprocess.run(["java", "-cp", cp, "com.mobilepack.checks.injection.NameProbe"], capture_output=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.decode("utf-8") == INJECTION_NAME


# --- the checks bite ------------------------------------------------------------------------------

def _copy(project: Path, dest: Path) -> Path:
    shutil.copytree(project, dest)
    return dest


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_negative_cases_fail_the_checks(rendered, tmp_path):
    """A misspelled Android API call, a wrong TFLite method, a missing resource and a broken XML
    file each make the matching check fail (both Kotlin cases in one copy: one project to compile;
    each error names its own file)."""
    _, projects, _, _ = rendered
    kotlin = _copy(projects["generic"], tmp_path / "kotlin")
    _edit(next(kotlin.rglob("MainActivity.kt")), "setContentView(R.layout.activity_main)", "setContentVeiw(R.layout.activity_main)")
    _edit(next(kotlin.rglob("ModelRunner.kt")), "options.setNumThreads(choice.threads)", "options.setThreadCount(choice.threads)")
    errors = check_projects({"kotlin": kotlin}, tmp_path / "work")["kotlin"].kotlin_errors
    assert any("setContentVeiw" in e and "MainActivity.kt:" in e for e in errors), errors
    assert any("setThreadCount" in e and "ModelRunner.kt:" in e for e in errors), errors

    missing = _copy(projects["generic"], tmp_path / "missing")
    _edit(missing / "app/src/main/res/values/strings.xml", '    <string name="pick_image">Pick image</string>\n', "")
    rc, output, _ = aapt2_link(missing, tmp_path / "missing-aapt")
    assert rc != 0 and "pick_image" in output, output

    broken = _copy(projects["generic"], tmp_path / "broken")
    _edit(broken / "app/src/main/res/layout/activity_benchmark.xml", "</ScrollView>", "</ScrollVeiw>")
    assert any("activity_benchmark.xml" in e for e in xmllint(broken))
    rc, output, _ = aapt2_link(broken, tmp_path / "broken-aapt")
    assert rc != 0


def test_negative_gradle_checks_bite(rendered, kts_checked, tmp_path):
    _, projects, _, _ = rendered
    project = _copy(projects["generic"], tmp_path / "gradle")
    _edit(project / "app/build.gradle.kts", "implementation(libs.litert.gpu.api)", "implementation(libs.litert.gpu.apii)")
    assert any("libs.litert.gpu.apii" in p for p in version_catalog_problems(project))
    broken, errors = kts_checked     # the missing parenthesis in its settings.gradle.kts
    assert any(str(broken / "settings.gradle.kts") in e for e in errors), errors
