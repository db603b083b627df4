"""Photos in the generated Android app: decoded on the worker thread, camera at full resolution,
state kept across rotation.

What can only be read here (no device, no emulator): which thread a call runs on and what the
manifest declares.  The arithmetic and the memory of the decode-to-tensor code are *executed* by
test_android_jvm.py (12 MP and 48 MP photos, ThreadMXBean); the Kotlin compiles against android-all
in test_android_checks.py.

The UI-thread rule, checked on the golden ``android-demo/`` and shown to fail on a copy whose
MainActivity decodes the photo before handing work to the worker:

* the platform's decoders (BitmapFactory, BitmapRegionDecoder, ExifInterface) appear only in
  PhotoDecoder.kt;
* in the activities, every call into PhotoDecoder, ImageInput or TensorCodec.fromImage lies inside a
  ``worker.submit { ... }`` block (the app's one background thread, InferenceQueue).
"""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.conftest import ROOT

GOLDEN = ROOT / "android-demo"
ANDROID = "{http://schemas.android.com/apk/res/android}"
DECODERS = re.compile(r"\b(BitmapFactory|BitmapRegionDecoder|ExifInterface)\b")
PHOTO_WORK = re.compile(r"\b(PhotoDecoder\.\w+|ImageInput\.\w+|TensorCodec\.fromImage)\b")
# The deliberately broken MainActivity: the photo is decoded on the UI thread, then the worker runs the model.
ON_WORKER = """        worker.submit {
            val photo = try {
                PhotoDecoder.decode(open)
            } catch (e: Exception) {
                null
            }
"""
ON_UI_THREAD = """        val photo = try {
            PhotoDecoder.decode(open)
        } catch (e: Exception) {
            null
        }
        worker.submit {
"""


def _java_dir(project: Path) -> Path:
    return next(p.parent for p in (project / "app" / "src" / "main" / "java").rglob("MainActivity.kt"))


def _code_only(source: str) -> str:
    """Kotlin without comments and string literals (same length, so offsets stay valid)."""
    blank = lambda m: re.sub(r"[^\n]", " ", m.group(0))    # noqa: E731
    # one pass, leftmost first: "image/*" is a string, not the start of a comment
    return re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"', blank, source, flags=re.S)


def _worker_blocks(code: str) -> list[tuple[int, int]]:
    """Spans of the lambdas passed to worker.submit."""
    spans = []
    for m in re.finditer(r"\bworker\.submit\s*\{", code):
        depth, i = 0, m.end() - 1
        while i < len(code):
            depth += {"{": 1, "}": -1}.get(code[i], 0)
            if depth == 0:
                break
            i += 1
        spans.append((m.end(), i))
    return spans


def ui_thread_photo_work(project: Path) -> list[str]:
    """Where the app could decode or preprocess a photo on the UI thread (empty when nowhere)."""
    problems = []
    for path in sorted(_java_dir(project).glob("*.kt")):
        code = _code_only(path.read_text(encoding="utf-8"))
        line = lambda at: code.count("\n", 0, at) + 1      # noqa: E731
        if path.name != "PhotoDecoder.kt":
            problems += [f"{path.name}:{line(m.start())}: {m.group(1)} outside PhotoDecoder.kt" for m in DECODERS.finditer(code)]
        if path.name.endswith("Activity.kt"):
            blocks = _worker_blocks(code)
            problems += [f"{path.name}:{line(m.start())}: {m.group(1)} outside worker.submit {{ }}"
                         for m in PHOTO_WORK.finditer(code) if not any(a <= m.start() < b for a, b in blocks)]
    return problems


def test_photos_are_decoded_on_the_worker():
    assert ui_thread_photo_work(GOLDEN) == []
    # not vacuous: the decode call is there, inside the worker block
    main = _code_only((_java_dir(GOLDEN) / "MainActivity.kt").read_text(encoding="utf-8"))
    assert any(a <= main.index("PhotoDecoder.decode") < b for a, b in _worker_blocks(main))


def test_a_ui_thread_decoding_app_fails(tmp_path):
    broken = tmp_path / "ui-thread-decoding"
    shutil.copytree(GOLDEN, broken)
    main = _java_dir(broken) / "MainActivity.kt"
    text = main.read_text(encoding="utf-8")
    assert text.count(ON_WORKER) == 1
    main.write_text(text.replace(ON_WORKER, ON_UI_THREAD), encoding="utf-8")
    problems = ui_thread_photo_work(broken)
    assert len(problems) == 1 and "PhotoDecoder.decode outside worker.submit" in problems[0], problems
    # and a platform decoder called from the activity is caught too
    main.write_text(text.replace("        val choice = currentChoice()\n        statusView.text = getString(R.string.decoding)",
                                 "        val choice = currentChoice()\n        android.graphics.BitmapFactory.decodeStream(open())\n"
                                 "        statusView.text = getString(R.string.decoding)"), encoding="utf-8")
    assert any("BitmapFactory outside PhotoDecoder.kt" in p for p in ui_thread_photo_work(broken))


def _manifest() -> ET.Element:
    return ET.parse(GOLDEN / "app" / "src" / "main" / "AndroidManifest.xml").getroot()


def test_activities_keep_their_state_across_rotation():
    activities = _manifest().findall("application/activity")
    assert {a.get(f"{ANDROID}name") for a in activities} == {".MainActivity", ".BenchmarkActivity"}
    for a in activities:
        changes = set(a.get(f"{ANDROID}configChanges", "").split("|"))
        assert {"orientation", "screenSize", "screenLayout", "smallestScreenSize"} <= changes, a.attrib
    # no per-orientation layouts that configChanges would leave unused
    assert not list((GOLDEN / "app" / "src" / "main" / "res").glob("layout-*"))


def test_camera_writes_full_resolution_to_the_apps_provider():
    (provider,) = _manifest().findall("application/provider")
    assert provider.get(f"{ANDROID}name") == ".PhotoProvider"
    assert provider.get(f"{ANDROID}authorities") == "${applicationId}.photos"
    assert provider.get(f"{ANDROID}exported") == "false" and provider.get(f"{ANDROID}grantUriPermissions") == "true"
    java = _java_dir(GOLDEN)
    main = _code_only((java / "MainActivity.kt").read_text(encoding="utf-8"))
    take = main[main.index("private fun takePhoto"):main.index("private fun nextSample")]
    assert "MediaStore.EXTRA_OUTPUT, uri" in take and "PhotoProvider.uri(this)" in take
    assert "FLAG_GRANT_WRITE_URI_PERMISSION" in take
    assert '.photos/' in (java / "PhotoProvider.kt").read_text(encoding="utf-8")
    # no AndroidX anywhere (FileProvider would be androidx.core)
    assert not [p for p in java.glob("*.kt") if "androidx." in p.read_text(encoding="utf-8")]
