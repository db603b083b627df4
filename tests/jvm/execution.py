"""Running a rendered Android project's own Kotlin on a JVM, with the real LiteRT runtime.

How (see tests/jvm/README.md for why):

* the app is compiled by the Android checks' one kotlinc run, against the REAL ``org.tensorflow.lite``
  2.16.1 jars and ``android-all`` (tests/test_android_checks.py), together with ``AppProbe.kt``, a
  test-only driver copied into each project's package;
* at run time the real jars are replaced by the stand-in in ``tests/jvm/standin`` (javac, same
  method descriptors), which forwards every tensor to ``tests/jvm/litert_bridge.py``: a child process
  running ai-edge-litert.  Only the JNI bridge, which cannot load off Android, is replaced;
* ``android-all`` 16 is Java 21 bytecode, so the JVM is a JDK 21 or newer (MOBILEPACK_JAVA or
  /usr/lib/jvm/*).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STANDIN = HERE / "standin"
PROBE = HERE / "AppProbe.kt"
BRIDGE = HERE / "litert_bridge.py"


def _package(project: Path) -> str:
    text = (project / "app" / "build.gradle.kts").read_text(encoding="utf-8")
    return re.search(r'namespace = "([^"]+)"', text).group(1)


def _java_dir(project: Path) -> Path:
    return project / "app" / "src" / "main" / "java" / Path(*_package(project).split("."))


# The probe's keypoints branch: Results.keypoints exists only in a keypoints project's Results.kt.
KEYPOINTS_BRANCH = (
    '"keypoints" -> Results.keypoints(outputs).let { k -> put("keypoints", JSONObject().put("x", JSONArray(k.x.toList()))'
    '.put("y", JSONArray(k.y.toList())).put("presence", k.presence ?: JSONObject.NULL)) }')


def add_probe(project: Path, *, keypoints: bool = False) -> None:
    """Copies the probe into the project's package (compiled with it, run by :func:`run_probe`)."""
    source = PROBE.read_text(encoding="utf-8").replace("__PACKAGE__", _package(project))
    if keypoints:
        source = source.replace("// __KEYPOINTS__", KEYPOINTS_BRANCH + "  //")
    (_java_dir(project) / "AppProbe.kt").write_text(source, encoding="utf-8")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


def _render_broken(base: Path, task: str, model: bytes, breaks) -> dict[str, Path]:
    """Projects of ``task`` rendered from the templates, each broken on purpose by one edit:
    ``breaks`` holds (name, package, Kotlin file, old text, new text)."""
    from mobilepack.render.renderer import render_project
    from tests.test_android_checks import task_inputs

    out = {}
    for name, package, file, old, new in breaks:
        render_project("android", task_inputs(task, model, package=package), base / name)
        _edit(_java_dir(base / name) / file, old, new)
        out[name] = base / name
    return out


def add_broken_projects(base: Path, int8_model: bytes) -> dict[str, Path]:
    """Two int8 image classifiers rendered from the templates, then broken on purpose: blue and red
    swapped in ImageInput.kt, and the zero point subtracted instead of added in TensorCodec.kt.
    The agreement tests must fail on both (test_android_jvm.py shows it)."""
    return _render_broken(base, "image_classification", int8_model, (
        ("broken_channel_order", "com.mobilepack.checks.brokenchannels", "ImageInput.kt",
         "line[o] += wt * r\n                    line[o + 1] += wt * g\n                    line[o + 2] += wt * b\n",
         "line[o] += wt * b\n                    line[o + 1] += wt * g\n                    line[o + 2] += wt * r\n"),
        ("broken_zero_point", "com.mobilepack.checks.brokenzeropoint", "TensorCodec.kt",
         "(v / info.scale).roundToInt() + info.zeroPoint", "(v / info.scale).roundToInt() - info.zeroPoint")))


def add_broken_embedding_projects(base: Path, model: bytes) -> dict[str, Path]:
    """Two sentence-embedding apps rendered from the templates, then broken on purpose: the cosine
    similarity computed as the plain dot product (no normalization) in Results.kt, and the mask and
    the segment ids fed to each other's input in TensorCodec.kt.  The embedding checks must fail on
    both (test_android_jvm.py)."""
    return _render_broken(base, "text_embedding", model, (
        ("broken_cosine", "com.mobilepack.checks.brokencosine", "Results.kt",
         "return (dot / (sqrt(aa) * sqrt(bb))).toFloat()", "return dot.toFloat()"),
        ("broken_routing", "com.mobilepack.checks.brokenrouting", "TensorCodec.kt",
         "else if (n == Tokenizer.MASK_INPUT) mask\n                else segmentIds",
         "else if (n == Tokenizer.MASK_INPUT) segmentIds\n                else mask")))


def add_broken_yolo_projects(base: Path, model: bytes) -> dict[str, Path]:
    """Two YOLO detection apps rendered from the templates, then broken on purpose in Results.kt: NMS
    off (no IoU suppresses a box), and cx, cy, w, h taken as corners.  The detection answers must
    differ from Python's decode (test_android_jvm.py shows it)."""
    return _render_broken(base, "yolo_detection", model, (
        ("broken_yolo_nms", "com.mobilepack.checks.brokenyolonms", "Results.kt",
         "iou(boxes[i], boxes[it]) <= ModelConfig.YOLO_IOU_THRESHOLD", "iou(boxes[i], boxes[it]) <= 2.0"),
        ("broken_yolo_xywh", "com.mobilepack.checks.brokenyoloxywh", "Results.kt",
         "boxes.add(doubleArrayOf(cy - h / 2.0, cx - w / 2.0, cy + h / 2.0, cx + w / 2.0))",
         "boxes.add(doubleArrayOf(cx, cy, w, h))")))


def add_broken_i2i_projects(base: Path, model: bytes) -> dict[str, Path]:
    """Two image-to-image apps rendered from the templates, then broken on purpose in Results.kt: red and
    blue swapped, and the output range inverted (OUTPUT_MAX taken as pixel 0).  Their output pixels must
    differ from Python's to_pixels (test_android_jvm.py shows it)."""
    return _render_broken(base, "image_to_image", model, (
        ("broken_i2i_channels", "com.mobilepack.checks.brokeni2ichannels", "Results.kt",
         "(0xFF shl 24) or (r shl 16) or (g shl 8) or b", "(0xFF shl 24) or (b shl 16) or (g shl 8) or r"),
        ("broken_i2i_range", "com.mobilepack.checks.brokeni2irange", "Results.kt",
         "Math.floor((v.toDouble() - lo) / (hi - lo) * 255.0 + 0.5)",
         "Math.floor((hi - v.toDouble()) / (hi - lo) * 255.0 + 0.5)")))


def add_broken_tokenizer(base: Path, bert_model: bytes) -> Path:
    """The BERT text app rendered from the templates, then broken on purpose: WordPiece keeps the
    accents (the non-spacing marks NFD splits off are no longer dropped).  The id comparison must
    fail on exactly the texts whose ids that changes (test_android_jvm.py shows it)."""
    return _render_broken(base, "text_classification", bert_model, (
        ("broken_accent_stripping", "com.mobilepack.checks.brokenaccents", "Tokenizer.kt",
         "if (Character.getType(cp) != Character.NON_SPACING_MARK.toInt()) out.appendCodePoint(cp)",
         "out.appendCodePoint(cp)"),))["broken_accent_stripping"]


# --- the JVM ---------------------------------------------------------------------------------------

def _major(java: Path) -> int:
    try:
        proc = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return 0
    m = re.search(r'version "(\d+)', proc.stderr + proc.stdout)
    return int(m.group(1)) if m else 0


def find_java(minimum: int = 21) -> Path | None:
    """A ``java`` of at least ``minimum``: $MOBILEPACK_JAVA, $JAVA_HOME, PATH, then /usr/lib/jvm/*."""
    candidates = [os.environ.get("MOBILEPACK_JAVA"),
                  os.environ.get("JAVA_HOME") and str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"),
                  shutil.which("java"), *sorted(str(p) for p in Path("/usr/lib/jvm").glob("*/bin/java"))]
    for c in candidates:
        if c and Path(c).is_file() and _major(Path(c)) >= minimum:
            return Path(c)
    return None


def compile_standin(java: Path, android_all: Path, out: Path) -> Path:
    """javac of the stand-in (a few seconds), Java 17 bytecode."""
    javac = java.parent / "javac"
    sources = sorted(str(p) for p in STANDIN.rglob("*.java"))
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([str(javac), "-Xlint:-options", "--release", "17", "-d", str(out), "-cp", str(android_all), *sources],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def run_probe(java: Path, classpath: list[Path], project: Path, job: dict, work: Path,
              gpu_logs: Path | None = None) -> dict:
    """One JVM run of the project's probe over every sample of ``job``; returns what the app computed."""
    work.mkdir(parents=True, exist_ok=True)
    job_file, result_file = work / "job.json", work / "result.json"
    job_file.write_text(json.dumps(job), encoding="utf-8")
    props = [f"-Dmobilepack.litert.bridge={sys.executable} {BRIDGE}"]
    if gpu_logs is not None:
        props.append(f"-Dmobilepack.gpu.logs={gpu_logs}")
    proc = subprocess.run([str(java), *props, "-cp", os.pathsep.join(map(str, classpath)),
                           f"{_package(project)}.AppProbe", str(job_file), str(result_file)],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(HERE.parent.parent), os.environ.get("PYTHONPATH")]))))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(result_file.read_text(encoding="utf-8"))
