"""The Swift semantic check (tests/swift_semantics.py), the one table of element types
(mobilepack/render/tensor_types.py) and the review rules of the iOS checks, each shown to bite.

The rendered projects of every task pass the semantic check through ``project_problems`` in
tests/test_ios_checks.py; here: the shipped-and-broken TensorCodec (``.float16`` switched on, the
enum without it; kept in tests/fixtures/ios-float16/ as rendered before the fix) fails it, as do a
misspelt case, a case removed from the enum, a misspelt ModelInfo member and a non-exhaustive
switch; a type added to the table renders a project that still passes (the enum and every switch
come from the table); the review rules reject each defect they exist for.  The sentence
embedding app's own code paths (the second sentence, ``DemoModel.compare`` and the closure it hands
``DemoModel.perform``, the ``.similarity`` result, ``ResultDecoder.cosine``) are checked on a rendered
embedding project, each with a broken copy that must fail.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.swift_semantics import check, check_sources

GOLDEN = ROOT / "ios-demo"
APP = GOLDEN / "DigitsDemo"
FLOAT16 = ROOT / "tests" / "fixtures" / "ios-float16"


@pytest.fixture(scope="module")
def tiny_models() -> dict[str, bytes]:
    """The Android/iOS checks' tiny models, built once and converted (real TFLiteConverter)."""
    from tests.test_android_checks import _convert, _tiny_models

    models = _tiny_models()
    return {task: _convert(models[task], task)
            for task in ("generic", "image_segmentation", "text_classification", "text_embedding")}


def _app_sources(**replace: str) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in sorted(APP.glob("*.swift"))}
    for name, text in replace.items():
        files[name] = text.encode("utf-8")
    return files


def _edited(name: str, old: str, new: str) -> dict[str, bytes]:
    text = (APP / name).read_text(encoding="utf-8")
    assert old in text, (name, old)
    return _app_sources(**{name: text.replace(old, new, 1)})


def test_golden_passes_and_the_check_covers_its_switches():
    problems, stats = check(GOLDEN)
    assert problems == []
    # The switches the check exists for were resolved and checked, not skipped.
    for switch in ("TensorCodec.swift:ElementType", "ModelInfo.swift:ElementType", "ModelInput.swift:ElementType",
                   "ModelRunner.swift:Accelerator", "ResultView.swift:InferenceResult",
                   "ContentView.swift:DemoModel.DelegateStatus"):
        assert f"DigitsDemo/{switch}" in stats["switched"], switch
    assert stats["implicit_checked"] >= 50 and stats["explicit_checked"] >= 150, stats


def test_the_shipped_float16_codec_fails():
    """The TensorCodec/ModelInfo pair as rendered before the fix: Xcode said "type 'ElementType' has
    no member 'float16'" (twice); so does the check."""
    problems, _ = check_sources(_app_sources(**{p.name: p.read_text(encoding="utf-8") for p in FLOAT16.glob("*.swift")}))
    assert [p for p in problems if "no member 'float16'" in p] == [
        "TensorCodec.swift:45: type 'ElementType' has no member 'float16' (switch case; it has: bool, float32, int16, "
        "int32, int64, int8, uint8)",
        "TensorCodec.swift:17: type 'ElementType' has no member 'float16' (switch case; it has: bool, float32, int16, "
        "int32, int64, int8, uint8)"], problems


def test_a_case_removed_from_the_enum_fails():
    problems, _ = check_sources(_edited("ModelInfo.swift", "    case int16\n", ""))
    assert any("TensorCodec.swift" in p and "no member 'int16'" in p for p in problems), problems
    assert any("ModelInfo.swift" in p and "no member 'int16'" in p for p in problems), problems


@pytest.mark.parametrize("name,old,new,fragment", [
    ("TensorCodec.swift", "case .uint8: stored = Float(raw", "case .unit8: stored = Float(raw",
     "type 'ElementType' has no member 'unit8' (switch case"),
    ("Benchmark.swift", "(.metal, 1)", "(.metl, 1)", "type 'Accelerator' has no member 'metl' (tuple element"),
    ("ModelInfo.swift", "type: .float32, scale:", "type: .float33, scale:",
     "type 'ElementType' has no member 'float33' (argument 'type:'"),
    ("Results.swift", "return .detection(detections(outputs))", "return .detections(detections(outputs))",
     "type 'InferenceResult' has no member 'detections' (returned value"),
    ("DemoModel.swift", "@Published var accelerator: Accelerator = .cpu", "@Published var accelerator: Accelerator = .gpu",
     "type 'Accelerator' has no member 'gpu' (property initializer"),
    ("ContentView.swift", "if model.accelerator == .cpu", "if model.accelerator == .CPU",
     "type 'Accelerator' has no member 'CPU' (comparison"),
    ("DemoModel.swift", "self.status = .ready(", "self.status = .readied(",
     "type 'DemoModel.DelegateStatus' has no member 'readied' (assigned value"),
    ("DemoModel.swift", "if case .failed(let reason) = status", "if case .failure(let reason) = status",
     "type 'DemoModel.DelegateStatus' has no member 'failure' (if case pattern"),
    ("ContentView.swift", "model.run(.generated)", "model.run(.generate)",
     "type 'ModelInput' has no member 'generate' (argument '_:'"),
    ("TensorCodec.swift", "ModelInfo.imageWidth", "ModelInfo.imageWidht", "type 'ModelInfo' has no member 'imageWidht'"),
    ("Results.swift", "output.info.shape", "output.info.shapes", "value of type 'TensorInfo' has no member 'shapes'"),
    ("Benchmark.swift", "accelerator.benchName", "accelerator.benchname",
     "value of type 'Accelerator' has no member 'benchname'"),
], ids=["switch-case", "tuple", "memberwise-init", "return", "property", "comparison", "assignment", "if-case",
        "method-argument", "static-member", "instance-member", "enum-member"])
def test_misspelt_members_fail(name, old, new, fragment):
    problems, _ = check_sources(_edited(name, old, new))
    assert any(fragment in p for p in problems), problems


# --- the WordPiece tokenizer -----------------------------------------------------------------------

def test_the_golden_wordpiece_follows_pythons():
    """The sample's Tokenizer.swift holds the WordPiece every app renders; its tables and steps are
    Python's (mobilepack.data.wordpiece), and a Tokenizer.swift without WordPiece is reported."""
    from tests.swift_semantics import parse_sources, wordpiece_problems

    assert wordpiece_problems(parse_sources(_app_sources())) == []
    assert wordpiece_problems(parse_sources({"Tokenizer.swift": b"enum Tokenizer {}\n"})) == [
        "Tokenizer.swift: expected one struct WordPiece, found 0"]


@pytest.mark.parametrize("old,new,fragment", [
    ("\n            where s.properties.generalCategory != .nonspacingMark", "",
     "WordPiece.fold: the NFD's non-spacing marks (Mn) are not dropped"),
    ("where s.properties.generalCategory != .nonspacingMark", "where s.properties.generalCategory != .spacingMark",
     "WordPiece.fold: the NFD's non-spacing marks (Mn) are not dropped"),
    ("String(lowered).decomposedStringWithCanonicalMapping.unicodeScalars", "String(lowered).unicodeScalars",
     "WordPiece.fold: no `decomposedStringWithCanonicalMapping`"),
    ("s.properties.lowercaseMapping.unicodeScalars", "String(s).unicodeScalars", "WordPiece.fold: no `s.properties"),
    ("lowerCase ? WordPiece.fold(cleaned) : cleaned", "cleaned", "WordPiece.words: no `lowerCase ? WordPiece.fold"),
    ("0x4E00...0x9FFF", "0x4E00...0x9FFE", "WordPiece.cjk is [(19968, 40958)"),
    ("s == \" \" || isCjk(s) || isPunctuation(s)", "s == \" \" || isPunctuation(s)", "WordPiece.split: no `s =="),
    (".dashPunctuation, ", "", "WordPiece.punctuation is"),
    ("[33...47, 58...64, 91...96, 123...126]", "[33...47, 58...64, 91...96]", "WordPiece.asciiPunctuation is"),
    ("[.control, .format, .surrogate, .privateUse]", "[.control, .surrogate, .privateUse]", "WordPiece.dropped is"),
    ("if tabAndLineBreaks.contains(s.value) { return false }\n", "", "WordPiece.isDropped: no `if tabAndLineBreaks"),
    ("static let maxWordScalars = 100", "static let maxWordScalars = 200", "WordPiece.maxWordScalars is 200"),
    ('static let continuation: [Unicode.Scalar] = ["#", "#"]', 'static let continuation: [Unicode.Scalar] = ["#"]',
     "WordPiece.continuation is ['#']"),
    ('static let unknownToken = "[UNK]"', 'static let unknownToken = "<unk>"', "WordPiece.unknownToken is '<unk>'"),
    ("to -= 1", "to += 1", "WordPiece.pieces: no `to -= 1`"),
    (".prefix(length - 2)", ".prefix(length)", "WordPiece.encode: no `.prefix(length - 2)`"),
    ("[Int](repeating: 0, count: length - real.count)", "[Int](repeating: 1, count: length - real.count)",
     "WordPiece.encode: no `[Int](repeating: 0, count: length - real.count)`"),
], ids=["no-accent-stripping", "wrong-mark", "no-nfd", "no-lowercase", "fold-skipped", "cjk-block", "no-cjk-split",
        "punctuation-category", "ascii-punctuation", "dropped-category", "tab-dropped", "100-rule", "continuation",
        "unknown-token", "shortest-first", "no-truncation", "padding"])
def test_a_wordpiece_departing_from_pythons_fails(old, new, fragment):
    problems, _ = check_sources(_edited("Tokenizer.swift", old, new))
    assert any(p.startswith(fragment) for p in problems), problems


def test_a_non_exhaustive_switch_fails():
    problems, _ = check_sources(_edited("ModelInfo.swift", "        case .int16: return 2\n", ""))
    assert any("switch over 'ElementType' must be exhaustive: no case for .int16" in p for p in problems), problems


# --- the sentence-embedding app -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def embedding_sources(tiny_models, tmp_path_factory) -> dict[str, bytes]:
    """The Swift files of an embedding app (a BERT-style encoder: ids, mask, segment ids in, one vector
    out; its metadata names the BERT tokenizer and packs the vocabulary)."""
    from mobilepack.render.renderer import render_project
    from tests.test_android_checks import _with_vocabulary, task_inputs

    out = tmp_path_factory.mktemp("embedding")
    model = _with_vocabulary(tiny_models["text_embedding"], out, "text_embedding")
    render_project("ios", task_inputs("text_embedding", model, package="com.mobilepack.checks.embedding"), out / "p")
    return {p.name: p.read_bytes() for p in sorted((out / "p").rglob("*.swift"))}


def test_embedding_app_passes_and_its_paths_are_checked(embedding_sources):
    problems, stats = check_sources(embedding_sources)
    assert problems == []
    assert "ResultView.swift:InferenceResult" in stats["switched"] and "ModelInput.swift:ModelInput" in stats["switched"]
    info = embedding_sources["ModelInfo.swift"].decode("utf-8")
    assert 'static let outputKind = "embedding"' in info and 'static let inputKind = "text"' in info
    # WordPiece into the inputs, sorted by name: attention_mask, input_ids, token_type_ids
    tokenizer = embedding_sources["Tokenizer.swift"].decode("utf-8")
    for line in ('static let kind = "bert"', "static let idsInput = 1", "static let maskInput = 0",
                 "static let segmentInput = 2"):
        assert line in tokenizer, line


SIMILARITY_CASE = """        case .similarity(let value, let dimensions):
            Text(String(format: "cosine similarity %.4f (%d-dimensional embeddings)", value, dimensions))
                .font(.system(.body, design: .monospaced))
"""


@pytest.mark.parametrize("name,old,new,fragment", [
    ("ResultView.swift", "case .similarity(let value, let dimensions):", "case .similar(let value, let dimensions):",
     "type 'InferenceResult' has no member 'similar' (switch case"),
    ("ResultView.swift", SIMILARITY_CASE, "", "switch over 'InferenceResult' must be exhaustive: no case for .similarity"),
    ("DemoModel.swift", "return (.similarity(ResultDecoder", "return (.similar(ResultDecoder",
     "type 'InferenceResult' has no member 'similar' (returned tuple element"),
    ("DemoModel.swift", "ResultDecoder.cosine(vectors[0]", "ResultDecoder.cosines(vectors[0]",
     "type 'ResultDecoder' has no member 'cosines'"),
    ("DemoModel.swift", "try ModelInput.text(text).tensors()", "try ModelInput.texts(text).tensors()",
     "type 'ModelInput' has no member 'texts'"),
    ("ContentView.swift", "model.compare(model.text, model.secondText)", "model.compare(model.text, model.second)",
     "value of type 'DemoModel' has no member 'second'"),
    ("ContentView.swift", "model.compare(model.text, model.secondText)", "model.comparison(model.text, model.secondText)",
     "value of type 'DemoModel' has no member 'comparison'"),
], ids=["result-case", "exhaustive", "closure-return", "cosine", "input-case", "second-text", "compare"])
def test_broken_embedding_code_fails(embedding_sources, name, old, new, fragment):
    text = embedding_sources[name].decode("utf-8")
    assert old in text, (name, old)
    problems, _ = check_sources({**embedding_sources, name: text.replace(old, new, 1).encode("utf-8")})
    assert any(fragment in p for p in problems), problems


def test_sdk_types_and_open_types_are_not_judged():
    """SwiftUI modifiers on a project View, SDK enums (.caption, .userInitiated) and members of an
    extension of an SDK type are unknown to the check and must not be reported."""
    problems, stats = check_sources({"A.swift": b"""
import SwiftUI
struct V: View {
    var body: some View { Text("x").font(.caption).tabItem { Text("y") } }
}
extension UIImage { func f() -> Int { 1 } }
func g(_ v: V, _ i: UIImage) { _ = v.padding(); _ = i.size; DispatchQueue.global(qos: .userInitiated).async {} }
"""})
    assert problems == [] and stats["implicit_unresolved"] >= 2, (problems, stats)


# --- the table ------------------------------------------------------------------------------------

def test_every_element_type_switch_is_generated_from_the_table():
    """The enum, its byteCount, the codec's store/decode/benchmark switches and the Kotlin
    branches name exactly the table's types."""
    from mobilepack.render.tensor_types import ELEMENT_TYPES

    names = [t.dtype for t in ELEMENT_TYPES]
    info = (APP / "ModelInfo.swift").read_text(encoding="utf-8")
    enum = info[info.index("enum ElementType"):info.index("var byteCount")]
    assert re.findall(r"case (\w+)", enum) == names
    codec = (APP / "TensorCodec.swift").read_text(encoding="utf-8")
    for function in ("static func store(", "static func decode(", "static func benchmarkData("):
        body = codec[codec.index(function):]
        body = body[:body.index("\n    }\n")]
        assert re.findall(r"case \.(\w+):", body) == names, function
    kotlin = ROOT / "android-demo" / "app" / "src" / "main" / "java" / "com" / "example" / "digitsdemo"
    runner = (kotlin / "ModelRunner.kt").read_text(encoding="utf-8")
    body = runner[runner.index("fun dataType("):]
    assert re.findall(r'"(\w+)" -> DataType\.(\w+)', body[:body.index("else ->")]) == \
        [(t.dtype, t.kotlin_data_type) for t in ELEMENT_TYPES]
    codec_kt = (kotlin / "TensorCodec.kt").read_text(encoding="utf-8")
    for function in ("fun encode(", "fun decode("):
        body = codec_kt[codec_kt.index(function):]
        assert re.findall(r'^\s+"(\w+)" -> ', body[:body.index("else ->")], re.M) == names, function


def test_a_type_added_to_the_table_reaches_every_switch(tmp_path, monkeypatch, tiny_models):
    """Adding an element type to the table adds the enum case and a branch to every switch, so the
    rendered app still passes the check (the drift the issue was about cannot be rendered)."""
    import dataclasses

    from mobilepack.render import tensor_types
    from mobilepack.render.renderer import render_project
    from tests.test_android_checks import task_inputs

    extra = dataclasses.replace(tensor_types.ELEMENT_TYPES[0], dtype="float64", size=8, swift_scalar="Double",
                                kotlin_data_type="FLOAT64")
    monkeypatch.setattr(tensor_types, "ELEMENT_TYPES", (*tensor_types.ELEMENT_TYPES, extra))
    render_project("ios", task_inputs("generic", tiny_models["generic"], package="com.mobilepack.checks.table"),
                   tmp_path / "p")
    project = tmp_path / "p"
    info = next(project.rglob("ModelInfo.swift")).read_text(encoding="utf-8")
    assert "    case float64\n" in info and "case .float64: return 8" in info
    codec = next(project.rglob("TensorCodec.swift")).read_text(encoding="utf-8")
    assert codec.count("case .float64") == 3
    problems, stats = check(project)
    assert problems == [] and any(s.endswith("TensorCodec.swift:ElementType") for s in stats["switched"])


def test_benchmark_pattern_in_swift_is_the_table_rule():
    """The Swift benchmarkData branches compute what tensor_types.bench_value (the shared
    definition) says, element by element."""
    from mobilepack.render.tensor_types import ELEMENT_TYPES, bench_value

    codec = (APP / "TensorCodec.swift").read_text(encoding="utf-8")
    body = codec[codec.index("static func benchmarkData("):]
    body = body[:body.index("\n    }\n")]
    rules = dict(re.findall(r"case \.(\w+): stored = (.+)", body))
    assert set(rules) == {t.dtype for t in ELEMENT_TYPES}
    for dtype, expression in rules.items():
        python = expression.replace("Float(", "float(")
        for i in (0, 1, 2, 3, 31, 32, 100, 255, 1000):
            v = (i * 7919) % 256
            assert eval(python, {"v": v}) == pytest.approx(bench_value(dtype, i)), (dtype, i)  # noqa: S307
    assert bench_value("float32", 1) == pytest.approx(239 / 255) and bench_value("int8", 1) == 111.0
    assert bench_value("uint8", 1) == 239.0 and bench_value("int32", 1) == 1.0 and bench_value("bool", 2) == 0.0


def test_one_channel_threshold_comes_from_the_table_on_both_platforms(tmp_path, monkeypatch, tiny_models):
    from mobilepack.render import tensor_types
    from mobilepack.render.renderer import render_project
    from tests.test_android_checks import task_inputs

    results = (APP / "Results.swift").read_text(encoding="utf-8")
    assert "if classCount == 1 { return output.values[base] >= ModelInfo.oneChannelThreshold ? 1 : 0 }" in results
    assert "static let oneChannelThreshold: Float = 0.5" in (APP / "ModelInfo.swift").read_text(encoding="utf-8")
    monkeypatch.setattr(tensor_types, "ONE_CHANNEL_THRESHOLD", 0.25)
    inputs = task_inputs("image_segmentation", tiny_models["image_segmentation"], package="com.mobilepack.checks.mask")
    render_project("ios", inputs, tmp_path / "ios")
    render_project("android", inputs, tmp_path / "android")
    assert "static let oneChannelThreshold: Float = 0.25" in next((tmp_path / "ios").rglob("ModelInfo.swift")).read_text()
    assert "if (c == 1) return if (output[base] >= 0.25f) 1 else 0" in \
        next((tmp_path / "android").rglob("Results.kt")).read_text()


def test_integer_kernels_follow_the_model():
    """Full-integer and dynamic-range conversions compute with integer tensors; fp32 and fp16 do not
    (the Core ML refusal keys on this).  Real TFLiteConverter runs on a tiny model."""
    import numpy as np

    from mobilepack.render.tensor_types import integer_kernels
    from tests.models import keras, tf

    t, k = tf(), keras()
    k.utils.set_random_seed(0)
    inp = k.Input(shape=(32,), name="features")   # 32x64 weights: large enough for dynamic-range quantization
    model = k.Model(inp, k.layers.Dense(3)(k.layers.Dense(64, activation="relu")(inp)))

    def convert(mode: str) -> bytes:
        converter = t.lite.TFLiteConverter.from_keras_model(model)
        if mode != "fp32":
            converter.optimizations = [t.lite.Optimize.DEFAULT]
        if mode == "fp16":
            converter.target_spec.supported_types = [t.float16]
        if mode == "int8":
            shapes = [tuple(i.shape[1:]) for i in model.inputs]
            rng = np.random.default_rng(0)
            converter.representative_dataset = lambda: (
                [rng.normal(size=(1, *s)).astype(np.float32) for s in shapes] for _ in range(4))
            converter.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return converter.convert()

    assert {mode: integer_kernels(convert(mode)) for mode in ("fp32", "fp16", "dynamic", "int8")} == \
        {"fp32": False, "fp16": False, "dynamic": True, "int8": True}
    assert integer_kernels(b"not a model") is False
    assert "static let integerKernels = true" in (APP / "ModelInfo.swift").read_text(encoding="utf-8")


# --- the review rules -----------------------------------------------------------------------------

def _copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(GOLDEN, tmp_path / "p"))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize("name,old,new,fragment", [
    ("DigitsDemo/ContentView.swift", ".task(id: photoItem) {", ".onChange(of: photoItem) { item in",
     "onChange(of:perform:) with a one-parameter closure"),
    ("DigitsDemo/AudioRecorder.swift", "AudioRecorder.requestPermission { granted in",
     "AVAudioSession.sharedInstance().requestRecordPermission { granted in", "requestRecordPermission is deprecated"),
    ("DigitsDemo/ModelRunner.swift", "if ModelInfo.integerKernels {", "if ModelInfo.integerKernels && false {",
     "does not refuse integer models"),
    ("DigitsDemo/Benchmark.swift", "let first = try runner.timedIteration(inputs)", "let first = try runner.invoke()",
     "measure must time ModelRunner.timedIteration only"),
    ("DigitsDemo/ModelRunner.swift", "bytesRead += tensor.data.count", "bytesRead += TensorCodec.decode(tensor.data, as: info).count",
     "decodes or allocates inside the timed region"),
    ("DigitsDemo.xcodeproj/project.pbxproj", "LastUpgradeCheck = 2600;", "LastUpgradeCheck = 1500;",
     "LastUpgradeCheck = 1500 makes Xcode offer"),
], ids=["onChange", "record-permission", "coreml-int8", "bench-first", "bench-decode",
        "upgrade-check"])
def test_review_rules_bite(tmp_path, name, old, new, fragment):
    from tests.test_ios_checks import review_rule_problems

    project = _copy(tmp_path)
    assert review_rule_problems(project) == []
    _edit(project / name, old, new)
    problems = review_rule_problems(project)
    assert any(fragment in p for p in problems), problems


def test_integer_kernels_flag_must_match_the_bundled_model(tmp_path):
    from tests.test_ios_checks import model_consistency_problems

    project = _copy(tmp_path)
    _edit(project / "DigitsDemo" / "ModelInfo.swift", "static let integerKernels = true", "static let integerKernels = false")
    assert any("integerKernels is not true" in p for p in model_consistency_problems(project))


def test_text_padding_side_is_rendered(tiny_models):
    """`model.padding` ("pre" puts the pad ids before the tokens) reaches the Swift tokenizer;
    without the field the tokenizer pads after the tokens."""
    from mobilepack.render.context import build_context
    from mobilepack.render.renderer import render_files
    from mobilepack.render.targets import get
    from tests.test_android_checks import task_inputs

    target = get("ios")
    context = build_context(task_inputs("text_classification", tiny_models["text_classification"],
                                        package="com.mobilepack.checks.pad"))
    context.update(target.extend_context(context))
    files = render_files(target, context)
    tokenizer = next(v for k, v in files.items() if k.endswith("Tokenizer.swift")).decode("utf-8")
    assert 'static let padding = "post"' in tokenizer and "padding == \"pre\" ? pad + tokens : tokens + pad" in tokenizer
    context["model"]["padding"] = "pre"
    files = render_files(target, context)
    assert 'static let padding = "pre"' in next(v for k, v in files.items() if k.endswith("Tokenizer.swift")).decode()


def test_a_dtype_outside_the_table_is_one_clean_error():
    """float16 I/O (no FLOAT16 in the org.tensorflow.lite Java API) is refused for both apps with one
    message naming the table's types, never rendered into a switch that lacks it."""
    from mobilepack.errors import UsageError
    from mobilepack.render.context import app_io
    from mobilepack.render.tensor_types import ELEMENT_TYPES

    tensor = {"name": "x", "shape": [1, 4], "dtype": "float16", "quantization": None, "elements": 4}
    context = {"model": {"inputs": [tensor], "outputs": [dict(tensor, name="y", dtype="float32")], "task": "generic",
                         "image_input": None}, "labels": [], "normalization": None}
    for platform in ("iOS", "Android"):
        with pytest.raises(UsageError) as info:
            app_io(context, platform=platform)
        assert info.value.message == f"tensor 'x' has dtype float16 that the {platform} app cannot feed or read"
        assert info.value.hint == "supported dtypes: " + ", ".join(sorted(t.dtype for t in ELEMENT_TYPES))
        assert info.value.exit_code == 2


# --- image preprocessing: Python's integers, no Core Graphics interpolation -------------------------

def _core_graphics_codec() -> str:
    """Today's TensorCodec.swift with its image input replaced by the one shipped before (Core Graphics
    .high interpolation through UIGraphicsImageRenderer, float luminance), taken from the shipped file
    kept in tests/fixtures/ios-float16/."""
    old = (FLOAT16 / "TensorCodec.swift").read_text(encoding="utf-8")
    old_pixels = old[old.index("    /// The image input: resized"):old.index("    private static func append<T>")]
    old_extension = old[old.index("extension UIImage {"):]
    new = (APP / "TensorCodec.swift").read_text(encoding="utf-8")
    new = new[:new.index("    /// The image input, the same integers")] + old_pixels + new[new.index("    private static func append<T>"):]
    return new[:new.index("/// The model's image input by the integer steps")] + old_extension


def test_the_core_graphics_resize_fails():
    """The image input as shipped before: Core Graphics .high interpolation through
    UIGraphicsImageRenderer and float luminance."""
    problems, _ = check_sources(_app_sources(**{"TensorCodec.swift": _core_graphics_codec()}))
    assert any("sets Core Graphics interpolation" in p for p in problems), problems
    assert any("UIGraphicsImageRenderer" in p for p in problems)
    assert any("draws a UIImage into a rectangle" in p for p in problems)
    assert any("expected one enum ImageInput, found 0" in p for p in problems)


@pytest.mark.parametrize("old, new, fragment", [
    ("context.interpolationQuality = .none", "context.interpolationQuality = .high", "TensorCodec.swift: sets Core Graphics"),
    ("width: image.width, height: image.height))", "width: width / 2, height: height / 2))",
     "ImageInput.storedPixels: no `context.draw("),
    ("(r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16", "Int(0.299 * Double(r) + 0.587 * Double(g) + 0.114 * Double(b))",
     "ImageInput.modelPixels: no `(r * 19595"),
    ("(2 * $0 + total) / (2 * total)", "$0 / total", "ImageInput.modelPixels: no `(2 * $0 + total) / (2 * total)`"),
    ("flipped: [3, 4, 6, 7].contains(o)", "flipped: [3, 4, 5, 7].contains(o)", "ImageInput.modelPixels: no `flipped: [3, 4, 6, 7]"),
    ("line[out] += weight * r", "line[out] += weight * b", "ImageInput.modelPixels: no `line[out] += weight * r`"),
    ("case .right: return 6", "case .right: return 8", "ImageInput.exifOrientation: no `case .right: return 6`"),
    ("min(hi, (o + 1) * inSize) - max(lo, o * inSize)", "1", "ImageInput.axis: no `min(hi"),
    ("ImageInput.modelPixels(stored, orientation: orientation, width: width, height: height, channels: channels)",
     "[Int](repeating: 0, count: width * height * channels)", "TensorCodec.pixels(from:): no `ImageInput.modelPixels(`"),
], ids=["interpolation", "scaled-copy", "float-luminance", "truncating", "flip-set", "channel-order", "orientation-map",
        "overlap", "bypassed"])
def test_image_input_departing_from_pythons_fails(old, new, fragment):
    problems, _ = check_sources(_edited("TensorCodec.swift", old, new))
    assert any(p.startswith(fragment) for p in problems), problems


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_the_swift_arithmetic_is_pythons_reader(tmp_path, orientation, channels):
    """swift_twin (ImageInput.axis/modelPixels statement for statement, tied to the Swift by the
    rules above) equals mobilepack.data.readers.load_image for every EXIF orientation, 1/3/4
    channels, downscaling and upscaling, on a PNG whose stored pixels are those fed to the twin."""
    import numpy as np
    from PIL import Image

    from mobilepack.data.readers import load_image
    from tests.swift_image_input import swift_twin

    rng = np.random.default_rng(orientation * 10 + channels)
    rgba = rng.integers(0, 256, (23, 37, 4), dtype=np.uint8)
    if channels != 4:
        rgba[..., 3] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "photo.png"
    Image.fromarray(rgba, "RGBA").save(path, exif=exif)
    for height, width in ((7, 5), (16, 16), (40, 29)):
        want = load_image(path, height, width, channels).astype(np.int64)
        assert np.array_equal(swift_twin(rgba, orientation, height, width, channels), want), (height, width)
