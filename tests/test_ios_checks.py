"""Structural checks on rendered iOS projects (no Xcode or Swift compiler here), with real tools:

* pip ``pbxproj`` (and the ``openstep_parser`` it is built on) opens ``project.pbxproj`` and writes
  it back byte for byte (Xcode's layout); every
  object ID referenced anywhere exists; every file reference resolves (through its groups) to a
  file or folder on disk; every ``.swift`` file of the app folder is in the app target's Sources
  phase; the model, labels and sample images are in its Resources phase;
* the shared ``.xcscheme`` (XML) builds the app target by its object ID, product and container;
* ``plistlib`` loads ``Info.plist`` and ``PrivacyInfo.xcprivacy``; ``Info.plist`` holds the usage
  descriptions;
* ``tree-sitter-swift`` parses every Swift file with no ERROR or MISSING node;
* the ``Podfile`` names the pinned pod and its subspecs, the platform and the Xcode target;
* every TensorFlowLite member, initializer label, method label and enum case the Swift uses is in
  TensorFlowLiteSwift's public API (transcribed from the pod's sources: no Swift compiler here);
* the asset catalog's ``Contents.json`` files are JSON and name images that exist;
* the tensors ``ModelInfo.swift`` describes are the bundled model's, as LiteRT reads them (and its
  ``integerKernels`` flag is what the model's tensors say);
* the semantic check of ``tests/swift_semantics.py``: implicit members (``.name``) and members of the
  project's own types resolve, switches over project enums are exhaustive (what a parser accepts
  and swiftc rejects, e.g. the shipped ``.float16`` codec; see tests/test_ios_semantics.py);
* the review rules: images drawn at scale 1, no iOS 17-deprecated API, Core ML refused for integer
  models, the benchmark timing only the shared timed region, a current ``LastUpgradeCheck``.

The projects checked: the sample (``ios-demo/``), a tiny model of each task type (the Android
checks' models, so both apps are checked on the same inputs) and an injection project whose app
name and labels hold quotes, backslashes, ``\\(x)``, a newline, emoji and right-to-left text.
Negative tests break one thing at a time and prove the matching check fails.
"""

from __future__ import annotations

import dataclasses
import json
import plistlib
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT

POD_LINE = re.compile(r"^\s*pod\s+'(?P<name>[^']+)',\s*'(?P<version>[^']+)'(?:,\s*:subspecs\s*=>\s*\[(?P<subspecs>[^\]]*)\])?",
                      re.M)
USAGE_KEYS = ("NSCameraUsageDescription", "NSPhotoLibraryUsageDescription")
OBJECT_ID = re.compile(r"[0-9A-F]{24}")


# --- the checks ----------------------------------------------------------------------------------

def xcodeproj(project: Path) -> Path:
    found = sorted(project.glob("*.xcodeproj/project.pbxproj"))
    assert len(found) == 1, f"expected one .xcodeproj in {project}, found {found}"
    return found[0]


def pbxproj_problems(project: Path) -> list[str]:
    from openstep_parser import OpenStepDecoder
    from pbxproj import XcodeProject

    path = xcodeproj(project)
    try:
        xcode = XcodeProject.load(str(path))
        raw = OpenStepDecoder.ParseFromFile(open(path, encoding="utf-8"))
    except Exception as exc:  # noqa: BLE001 - any parser failure is the finding
        return [f"project.pbxproj does not parse: {type(exc).__name__}: {exc}"]
    objects: dict = raw["objects"]
    problems: list[str] = []

    def walk(value, where: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if OBJECT_ID.fullmatch(str(k)) and where.endswith("TargetAttributes") and k not in objects:
                    problems.append(f"{where} names a missing object {k}")
                walk(v, f"{where}.{k}")
        elif isinstance(value, list):
            for v in value:
                walk(v, where)
        elif isinstance(value, str) and OBJECT_ID.fullmatch(value) and value not in objects:
            problems.append(f"{where} references a missing object {value}")

    for oid, obj in objects.items():
        walk(obj, f"{oid}({obj.get('isa')})")
    if raw.get("rootObject") not in objects:
        problems.append(f"rootObject {raw.get('rootObject')} is missing")
    if problems:
        return problems

    # Resolve every file reference through the group tree to a path on disk.
    root = path.parent.parent
    disk: dict[str, Path] = {}

    def visit(group_id: str, base: Path) -> None:
        group = objects[group_id]
        here = base / group["path"] if "path" in group and group.get("sourceTree") == "<group>" else base
        for child in group.get("children", []):
            obj = objects[child]
            if obj["isa"] == "PBXGroup":
                visit(child, here)
            elif obj.get("sourceTree") == "<group>":
                disk[child] = here / obj["path"]
            elif obj.get("sourceTree") == "SOURCE_ROOT":
                disk[child] = root / obj["path"]

    project_obj = objects[raw["rootObject"]]
    visit(project_obj["mainGroup"], root)
    for oid, obj in objects.items():
        if obj["isa"] != "PBXFileReference" or obj.get("sourceTree") == "BUILT_PRODUCTS_DIR":
            continue
        if oid not in disk:
            problems.append(f"file reference {obj.get('path')} ({oid}) is in no group")
        elif not disk[oid].exists():
            problems.append(f"file reference {obj.get('path')} points to {disk[oid].relative_to(root)}, which does not exist")

    # The app target: its Sources and Resources phases.
    apps = [t for t in xcode.objects.get_objects_in_section("PBXNativeTarget")
            if t.productType == "com.apple.product-type.application"]
    if len(apps) != 1:
        return problems + [f"expected one application target, found {len(apps)}"]
    app = apps[0]
    phases = {xcode.objects[p].isa: xcode.objects[p] for p in app.buildPhases}

    def phase_files(isa: str) -> set[Path]:
        if isa not in phases:
            problems.append(f"the app target has no {isa}")
            return set()
        out = set()
        for build_file in phases[isa].files:
            ref = xcode.objects[build_file].fileRef
            if ref not in disk:
                problems.append(f"{isa} builds {ref}, which resolves to no file")
            else:
                out.add(disk[ref].resolve())
        return out

    sources = phase_files("PBXSourcesBuildPhase")
    resources = phase_files("PBXResourcesBuildPhase")
    app_dir = root / app.name
    for swift in sorted(app_dir.rglob("*.swift")):
        if swift.resolve() not in sources:
            problems.append(f"{swift.relative_to(root)} is not in the app target's Sources phase")
    wanted = [app_dir / "Resources" / "model.tflite", app_dir / "Resources" / "labels.txt",
              app_dir / "PrivacyInfo.xcprivacy", *sorted(p for p in (app_dir / "Resources").rglob("*") if p.is_file())]
    for res in wanted:
        if res.resolve() not in resources:
            problems.append(f"{res.relative_to(root)} is not in the app target's Resources phase")
    for config_id in xcode.objects[app.buildConfigurationList].buildConfigurations:
        settings = xcode.objects[config_id].buildSettings
        info = settings["INFOPLIST_FILE"] if "INFOPLIST_FILE" in settings else None
        if not info or not (root / str(info)).is_file():
            problems.append(f"INFOPLIST_FILE {info!r} of {xcode.objects[config_id].name} does not exist")
    return problems


def canonical_form_problems(project: Path) -> list[str]:
    """``project.pbxproj`` is exactly what pip ``pbxproj`` writes back after parsing it: Xcode's own
    layout (sections, objects sorted by ID, sorted build settings, comments, quoting), so Xcode and
    CocoaPods rewrite it without churn.  (pbxproj leaves a string holding a backslash bare where
    Xcode quotes it; projects with such file names are compared without those lines.)"""
    from pbxproj import XcodeProject

    path = xcodeproj(project)
    ours = path.read_text(encoding="utf-8").splitlines()
    try:
        theirs = (repr(XcodeProject.load(str(path))) + "\n").splitlines()
    except Exception as exc:  # noqa: BLE001 - any parser failure is the finding
        return [f"project.pbxproj does not parse: {type(exc).__name__}: {exc}"]
    if len(ours) != len(theirs):
        return [f"project.pbxproj has {len(ours)} lines; its canonical form has {len(theirs)}"]
    return [f"line {i + 1} is {a.strip()!r}; Xcode's layout has {b.strip()!r}"
            for i, (a, b) in enumerate(zip(ours, theirs)) if a != b and "\\" not in a][:5]


def scheme_problems(project: Path) -> list[str]:
    """Every shared scheme builds a target that exists, by the product and container it names."""
    import xml.etree.ElementTree as ET

    from openstep_parser import OpenStepDecoder

    pbx = xcodeproj(project)
    objects = OpenStepDecoder.ParseFromFile(open(pbx, encoding="utf-8"))["objects"]
    schemes = sorted(pbx.parent.glob("xcshareddata/xcschemes/*.xcscheme"))
    if not schemes:
        return ["no shared scheme: `xcodebuild -scheme` would have none to build"]
    problems = []
    for scheme in schemes:
        try:
            refs = ET.parse(scheme).getroot().iter("BuildableReference")
        except ET.ParseError as exc:
            problems.append(f"{scheme.name} is not XML: {exc}")
            continue
        for ref in refs:
            target = objects.get(ref.get("BlueprintIdentifier"), {})
            if target.get("isa") != "PBXNativeTarget":
                problems.append(f"{scheme.name} builds {ref.get('BlueprintIdentifier')}, which is no target")
            elif objects[target["productReference"]]["path"] != ref.get("BuildableName") or \
                    ref.get("ReferencedContainer") != f"container:{pbx.parent.name}":
                problems.append(f"{scheme.name} names {ref.get('BuildableName')} in {ref.get('ReferencedContainer')}")
    return problems


def plist_problems(project: Path) -> list[str]:
    problems = []
    plists = sorted(p for pattern in ("*.plist", "*.xcprivacy") for p in project.rglob(pattern) if "Pods" not in p.parts)
    if not plists:
        return ["no Info.plist"]
    for path in plists:
        try:
            data = plistlib.loads(path.read_bytes())
        except Exception as exc:  # noqa: BLE001 - plistlib raises several types
            problems.append(f"{path.relative_to(project)} does not load: {type(exc).__name__}: {exc}")
            continue
        if path.name == "Info.plist":
            for key in USAGE_KEYS:
                if not isinstance(data.get(key), str) or not data[key].strip():
                    problems.append(f"{path.relative_to(project)} lacks {key}")
    for path in sorted(project.rglob("Contents.json")):
        try:
            catalog = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            problems.append(f"{path.relative_to(project)} is not JSON: {exc}")
            continue
        problems += asset_image_problems(path, catalog, project)
    return problems


def asset_image_problems(contents: Path, catalog: dict, project: Path) -> list[str]:
    """Every image an asset catalog names exists, opens, has the declared size and (for app icons) no alpha."""
    from PIL import Image

    problems = []
    for entry in catalog.get("images", []):
        if "filename" not in entry:
            continue
        image_path = contents.parent / entry["filename"]
        where = image_path.relative_to(project)
        try:
            with Image.open(image_path) as image:
                size, mode = image.size, image.mode
        except OSError as exc:
            problems.append(f"{where} (named in {contents.name}) does not open: {exc}")
            continue
        points = float(entry.get("size", "0x0").split("x")[0])
        scale = float(entry.get("scale", "1x").rstrip("x"))
        if size != (round(points * scale),) * 2:
            problems.append(f"{where} is {size[0]}x{size[1]}, its entry says {entry.get('size')} @{scale:g}x")
        if contents.parent.suffix == ".appiconset" and mode not in ("RGB", "L", "P"):
            problems.append(f"{where} has an alpha channel ({mode}); App Store icons may not")
    return problems


def swift_parser():
    import tree_sitter
    import tree_sitter_swift

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))


def swift_syntax_errors(source: bytes, parser=None) -> list[str]:
    tree = (parser or swift_parser()).parse(source)
    found: list[str] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            kind = "MISSING " + node.type if node.is_missing else "ERROR"
            found.append(f"{kind} at line {node.start_point[0] + 1}: {node.text[:60]!r}")
        elif node.type == "line_string_literal" and node.start_point[0] != node.end_point[0]:
            # tree-sitter-swift accepts a raw newline in a "..." literal; swiftc does not.
            found.append(f"single-line string literal spans lines at line {node.start_point[0] + 1}: {node.text[:60]!r}")
        stack.extend(node.children)
    if tree.root_node.has_error and not found:
        found.append("the parse tree has an error")
    return found


def swift_problems(project: Path) -> list[str]:
    parser = swift_parser()
    files = sorted(project.rglob("*.swift"))
    if not files:
        return ["no Swift files"]
    problems = []
    for path in files:
        for err in swift_syntax_errors(path.read_bytes(), parser):
            problems.append(f"{path.relative_to(project)}: {err}")
    return problems


def podfile_problems(project: Path, pod: str = "TensorFlowLiteSwift", version: str = "2.17.0",
                     subspecs=("CoreML", "Metal")) -> list[str]:
    from pbxproj import XcodeProject

    path = project / "Podfile"
    if not path.is_file():
        return ["no Podfile"]
    text = path.read_text(encoding="utf-8")
    problems = []
    platform = re.search(r"^platform :ios, '(\d+)\.(\d+)'", text, re.M)
    if not platform or (int(platform[1]), int(platform[2])) < (15, 0):
        problems.append("the Podfile needs `platform :ios, '15.0'` or newer")
    pods = {m["name"]: m for m in POD_LINE.finditer(text)}
    if pod not in pods:
        problems.append(f"the Podfile does not name {pod}")
    else:
        m = pods[pod]
        if m["version"] != version:
            problems.append(f"{pod} is pinned to {m['version']!r}, expected {version!r}")
        named = sorted(re.findall(r"'([^']+)'", m["subspecs"] or ""))
        if named != sorted(subspecs):
            problems.append(f"{pod} subspecs are {named}, expected {sorted(subspecs)}")
    targets = re.findall(r"^target '([^']+)' do", text, re.M)
    names = [t.name for t in XcodeProject.load(str(xcodeproj(project))).objects.get_objects_in_section("PBXNativeTarget")]
    if not targets or any(t not in names for t in targets):
        problems.append(f"Podfile targets {targets} do not match the Xcode targets {names}")
    return problems


# The public TensorFlowLiteSwift API the app may use, transcribed from the pod's sources
# (tensorflow/lite/swift/Sources/{Interpreter,SignatureRunner,MetalDelegate,CoreMLDelegate,Tensor}.swift).  No Swift
# compiler runs here: this catches a misspelled member, initializer label or enum case.
TFLITE_MEMBERS = {
    "Interpreter": {"options", "delegates", "inputTensorCount", "outputTensorCount", "signatureKeys", "invoke",
                    "input", "output", "resizeInput", "copy", "allocateTensors", "signatureRunner"},
    "SignatureRunner": {"signatureKey", "inputs", "outputs", "invoke", "input", "output", "resizeInput", "copy",
                        "allocateTensors"},
    "Interpreter.Options": {"threadCount", "isXNNPackEnabled"},
    "MetalDelegate.Options": {"isPrecisionLossAllowed", "waitType", "isQuantizationEnabled"},
    "CoreMLDelegate.Options": {"enabledDevices", "coreMLVersion", "maxDelegatedPartitions", "minNodesPerPartition"},
    "Tensor": {"name", "dataType", "shape", "data", "quantizationParameters"},
}
TFLITE_INITIALIZERS = {"Interpreter": {("modelPath", "options", "delegates"), ("modelPath", "options"), ("modelPath",)},
                       "MetalDelegate": {("options",), ()}, "CoreMLDelegate": {("options",), ()},
                       "Interpreter.Options": {()}, "MetalDelegate.Options": {()}, "CoreMLDelegate.Options": {()}}
TFLITE_ENUMS = {"waitType": {"none", "passive", "active", "aggressive"}, "enabledDevices": {"neuralEngine", "all"}}
TFLITE_METHOD_LABELS = {
    "Interpreter": {"copy": ("toInputAt",), "output": ("at",), "input": ("at",), "invoke": (), "allocateTensors": (),
                    "resizeInput": ("at", "to"), "signatureRunner": ("with",)},
    "SignatureRunner": {"copy": ("toInputNamed",), "output": ("named",), "input": ("named",), "invoke": ("with",),
                        "allocateTensors": (), "resizeInput": ("named", "toShape")},
}


def tflite_api_problems(project: Path) -> list[str]:
    """Every TensorFlowLite member, initializer, method label and enum case the app's Swift
    uses exists in TensorFlowLiteSwift's public API."""
    problems = []
    for path in sorted(project.rglob("*.swift")):
        text = path.read_text(encoding="utf-8")
        if "import TensorFlowLite" not in text:
            continue
        # variables bound to TFLite types: `let x: T`, `var x = T(...)`, `let x = try interpreter.output(at:)`
        types = {m[1]: m[2] for m in re.finditer(r"\b(?:let|var) (\w+)(?:: |\s*=\s*(?:try\s+)?)"
                                                  r"((?:Interpreter|MetalDelegate|CoreMLDelegate)(?:\.Options)?"
                                                  r"|SignatureRunner)\b", text)}
        types.update({m[1]: "Tensor" for m in re.finditer(r"\blet (\w+) = try \w+\??\.(?:output|input)\((?:at|named):",
                                                          text)})
        for var, member in re.findall(r"\b(\w+)\??\.(\w+)\b", text):
            if var in types and types[var] in TFLITE_MEMBERS and member not in TFLITE_MEMBERS[types[var]]:
                problems.append(f"{path.name}: {types[var]} has no member {member!r}")
        for m in re.finditer(r"\b((?:Interpreter|MetalDelegate|CoreMLDelegate)(?:\.Options)?)\(([^()]*)\)", text):
            labels = tuple(re.findall(r"(\w+):", m[2]))
            if labels not in TFLITE_INITIALIZERS[m[1]]:
                problems.append(f"{path.name}: no initializer {m[1]}({''.join(l + ':' for l in labels)})")
        for var, method, args in re.findall(r"\b(\w+)\??\.(\w+)\(([^()]*)\)", text):
            methods = TFLITE_METHOD_LABELS.get(types.get(var, ""), {})
            if method in methods:
                labels = tuple(re.findall(r"(\w+):", re.sub(r"\[[^\]]*\]", "", args)))
                if labels != methods[method]:
                    problems.append(f"{path.name}: {types[var]}.{method} takes labels {methods[method]}, not {labels}")
        for prop, case in re.findall(r"\.(waitType|enabledDevices) = \.(\w+)", text):
            if case not in TFLITE_ENUMS[prop]:
                problems.append(f"{path.name}: {prop} has no case .{case}")
    return problems


TENSOR_INFO = re.compile(r'TensorInfo\(name: (?P<name>"(?:[^"\\\\]|\\\\.)*"), shape: \[(?P<shape>[^\]]*)\], '
                         r'type: \.(?P<dtype>\w+), scale: (?P<scale>[-0-9.e]+), zeroPoint: (?P<zp>-?\d+)\)')


def _integer_model(model_bytes: bytes) -> bool:
    """Whether LiteRT sees int8/uint8/int16 quantized tensors in the model (independent of the renderer)."""
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_content=model_bytes).get_tensor_details()
    return any(d["dtype"].__name__ in ("int8", "uint8", "int16") and len(d["quantization_parameters"]["scales"])
               for d in details)


def model_consistency_problems(project: Path) -> list[str]:
    """The tensors ModelInfo.swift describes are the bundled model's, as LiteRT reads them:
    names, shapes, dtypes and quantization, in order."""
    from mobilepack.runtime.interpreter import describe_tflite

    info_path = next(project.glob("*/ModelInfo.swift"), None)
    model_path = next(project.glob("*/Resources/model.tflite"), None)
    if info_path is None or model_path is None:
        return ["ModelInfo.swift or Resources/model.tflite is missing"]
    text = info_path.read_text(encoding="utf-8")
    ins, outs, _ = describe_tflite(model_path.read_bytes())
    problems = []
    integer = _integer_model(model_path.read_bytes())
    if f"static let integerKernels = {'true' if integer else 'false'}" not in text:
        problems.append(f"ModelInfo.swift's integerKernels is not {str(integer).lower()}, as the bundled model's tensors say")
    for kind, tensors in (("inputs", ins), ("outputs", outs)):
        block = text[text.index(f"static let {kind}: [TensorInfo] = ["):]
        block = block[:block.index("\n    ]\n")]
        described = [(json.loads(m["name"]), [int(d) for d in m["shape"].split(",") if d.strip()], m["dtype"],
                      float(m["scale"]), int(m["zp"])) for m in TENSOR_INFO.finditer(block)]
        actual = [(t.name, list(t.shape), t.dtype, t.quantization.scale if t.quantization else 0.0,
                   t.quantization.zero_point if t.quantization else 0) for t in tensors]
        if len(described) != len(actual):
            problems.append(f"ModelInfo.swift lists {len(described)} {kind}; the model has {len(actual)}")
        for d, a in zip(described, actual):
            if d[:3] != a[:3] or d[4] != a[4] or abs(d[3] - a[3]) > 1e-12 * max(1.0, abs(a[3])):
                problems.append(f"ModelInfo.swift describes {kind[:-1]} {d}, the model has {a}")
    return problems


def semantic_problems(project: Path) -> list[str]:
    """Implicit members (`.name`) and members of project types resolve (tests/swift_semantics.py)."""
    from tests import swift_semantics

    return swift_semantics.problems(project)


def _swift_sources(project: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(project.rglob("*.swift")) if "Pods" not in p.parts}


ONE_PARAMETER_ON_CHANGE = re.compile(r"\.onChange\(of:[^{}]*?\)\s*\{\s*(?:\(?\s*\w+\s*\)?)\s+in\b")
_UPGRADE_CHECK = re.compile(r"\b(LastUpgradeCheck|LastSwiftUpdateCheck|LastUpgradeVersion)\s*=\s*\"?(\d+)")
CURRENT_XCODE = 2600


def review_rule_problems(project: Path) -> list[str]:
    """What the review of the Swift app found, as static rules on the rendered source:

    * (no image redrawing rule here: tests/swift_image_input.py rejects any UIGraphicsImageRenderer or
      Core Graphics interpolation in the app, whose image input is ImageInput's 1:1 copy and integer resize);
    * no API that iOS 17 deprecates where the deployment target cannot avoid it: `onChange(of:)`
      with a one-parameter closure or `perform:`; AVAudioSession's `requestRecordPermission` outside
      the pre-iOS-17 branch of an `#available(iOS 17.0, *)` check (AVAudioApplication's otherwise);
    * the Core ML choice throws a `delegate_refused` RunnerError for an integer model before a
      CoreMLDelegate is created (Core ML takes float models only: never the CPU under its name);
    * the benchmark times ModelRunner.timedIteration only, which copies the inputs in, invokes and
      copies every output out, with no decode/post-processing inside;
    * `project.pbxproj` and the scheme carry a current Xcode's upgrade check (no "update to
      recommended settings" prompt)."""
    problems = []
    sources = _swift_sources(project)
    for name, text in sources.items():
        if ONE_PARAMETER_ON_CHANGE.search(text) or re.search(r"\.onChange\(of:[^)]*perform:", text):
            problems.append(f"{name}: onChange(of:perform:) with a one-parameter closure is deprecated in iOS 17")
        for m in re.finditer(r"AVAudioSession\.sharedInstance\(\)\.requestRecordPermission", text):
            before = text[:m.start()]
            guard = before.rfind("if #available(iOS 17")
            if guard < 0 or "} else {" not in before[guard:] or "AVAudioApplication.requestRecordPermission" not in \
                    before[guard:]:
                problems.append(f"{name}: AVAudioSession.requestRecordPermission is deprecated in iOS 17: use "
                                "AVAudioApplication.requestRecordPermission there, AVAudioSession's only before")
    runner = sources.get("ModelRunner.swift", "")
    core_ml = runner[runner.find("case .coreML:"):runner.find("CoreMLDelegate(")]
    if not re.search(r"if ModelInfo\.integerKernels \{\s*throw RunnerError\(.*?failure: \"delegate_refused\"\)\s*\}", core_ml,
                     re.S):
        problems.append("ModelRunner.swift: the Core ML case does not refuse integer models before creating the delegate")
    bench = sources.get("Benchmark.swift", "")
    measure = bench[bench.find("static func measure("):bench.find("} catch {", bench.find("static func measure("))]
    timed = runner[runner.find("func timedIteration("):runner.find("return micros", runner.find("func timedIteration("))]
    if re.search(r"\binvoke\(\)|setInputs|tensors\(\)", measure) or measure.count("timedIteration(inputs)") < 3:
        problems.append("Benchmark.swift: measure must time ModelRunner.timedIteration only (first, warm-up, runs)")
    for step in ("setInputs(inputs)", "try run()", ".data.count"):
        if step not in timed:
            problems.append(f"ModelRunner.swift: timedIteration lacks {step!r} (input copy + invoke + output copy)")
    if re.search(r"decode|outputs\(\)|Data\(", timed):
        problems.append("ModelRunner.swift: timedIteration decodes or allocates inside the timed region")
    pbx = xcodeproj(project)
    scheme_files = sorted(pbx.parent.glob("xcshareddata/xcschemes/*.xcscheme"))
    for path in [pbx, *scheme_files]:
        found = _UPGRADE_CHECK.findall(path.read_text(encoding="utf-8"))
        if not found:
            problems.append(f"{path.name} has no LastUpgradeCheck/LastUpgradeVersion")
        for key, value in found:
            if int(value) < CURRENT_XCODE:
                problems.append(f"{path.name}: {key} = {value} makes Xcode offer to update to recommended settings "
                                f"(current Xcode: {CURRENT_XCODE})")
    return problems


def project_problems(project: Path) -> list[str]:
    return (pbxproj_problems(project) + canonical_form_problems(project) + scheme_problems(project) + plist_problems(project) + swift_problems(project)
            + semantic_problems(project) + review_rule_problems(project)
            + podfile_problems(project) + tflite_api_problems(project) + model_consistency_problems(project))


# --- projects ------------------------------------------------------------------------------------

# The injection strings: everything that could break a Swift literal, a plist or the pbxproj.
INJECTION_NAME = 'Quote " back \\ interp \\(x) \\u{41} dollar $ R&D <b>&amp;</b></string>\nline two 🚀 שלום עולם مرحبا'
INJECTION_SAMPLES = ('my cat "1".png', "ünï ✓ 🚀.png", "back\\slash.png", "שלום.jpg")
INJECTION_LABELS = ('say "hi"', "back\\slash", "\\(label)", "it's", "🚀 emoji", "שלום עולם", "مرحبا", "*/ close")


@pytest.fixture(scope="session")
def ios_projects(tmp_path_factory):
    """One rendered project per task type plus an injection project (the tiny models of the
    Android checks, converted once here)."""
    from mobilepack.render.renderer import render_project
    from tests.test_android_checks import I2I, TASKS, _convert, _tiny_models, task_inputs, task_models

    base = tmp_path_factory.mktemp("ios")
    # The text models carry a vocabulary in their metadata (written by mobilepack's metadata writer).
    models = _tiny_models()
    model_bytes = task_models(base, models)
    model_bytes[I2I] = _convert(models[I2I], I2I)
    projects = {}
    for task in (*TASKS, I2I):
        inputs = task_inputs(task, model_bytes[task], package=f"com.mobilepack.checks.{task.replace('_', '-')}")
        render_project("ios", inputs, base / task)
        projects[task] = base / task
    inputs = task_inputs("image_classification", model_bytes["image_classification"], app_name=INJECTION_NAME,
                         labels=INJECTION_LABELS[:4], package="com.mobilepack.checks.injection")
    image = inputs.sample_images[0][1]
    inputs = dataclasses.replace(inputs, sample_images=tuple((name, image) for name in INJECTION_SAMPLES))
    render_project("ios", inputs, base / "injection")
    projects["injection"] = base / "injection"
    # Every label string once more, on a model with as many classes (the generic one has 3 outputs).
    inputs = task_inputs("generic", model_bytes["generic"], app_name="Labels", labels=INJECTION_LABELS[4:7],
                         package="com.mobilepack.checks.labels")
    render_project("ios", inputs, base / "labels")
    projects["labels"] = base / "labels"
    # A BERT-style classifier over the real MiniLM vocabulary (when it can be fetched): a WordPiece app.
    from tests.bert_models import bert_classifier, minilm_vocabulary, with_bert_metadata

    if isinstance(minilm_vocabulary(), Path):
        bert = with_bert_metadata(bert_classifier(), minilm_vocabulary())
        render_project("ios", task_inputs("text_classification", bert, package="com.mobilepack.checks.textbert"),
                       base / "text_bert")
        projects["text_bert"] = base / "text_bert"
    # The zoo's MediaPipe hand landmark model (when it can be fetched): the keypoints app.
    from tests.keypoint_models import hand_model, with_metadata

    if isinstance(hand_model(), Path):
        render_project("ios", task_inputs("keypoints", with_metadata(hand_model().read_bytes()),
                                          package="com.mobilepack.checks.keypoints"), base / "keypoints")
        projects["keypoints"] = base / "keypoints"
    return projects


TASK_NAMES = ("image_classification", "object_detection", "image_segmentation", "image_to_image", "text_classification",
              "text_embedding", "audio_classification", "generic")


def test_sample_project_passes_every_check():
    assert (ROOT / "ios-demo").is_dir(), "ios-demo/ is missing: see tests/test_ios_render.py for the command"
    assert project_problems(ROOT / "ios-demo") == []


@pytest.mark.parametrize("name", [*TASK_NAMES, "injection", "labels"])
def test_rendered_project_passes_every_check(ios_projects, name):
    assert project_problems(ios_projects[name]) == []


@pytest.mark.parametrize("name", TASK_NAMES)
def test_semantic_check_covers_every_task_project(ios_projects, name):
    """The semantic check (part of project_problems above) resolved the element-type switches and
    the ModelInfo members of each task's project: it did not pass by skipping them."""
    from tests.swift_semantics import check

    problems, stats = check(ios_projects[name])
    assert problems == []
    app = next(ios_projects[name].glob("*/ModelInfo.swift")).parent.name
    for switch in ("TensorCodec.swift:ElementType", "ModelInfo.swift:ElementType", "ResultView.swift:InferenceResult"):
        assert f"{app}/{switch}" in stats["switched"], (name, switch)
    assert stats["implicit_checked"] >= 50 and stats["explicit_checked"] >= 150, stats


def test_keypoints_project_draws_the_layout_its_model_records(ios_projects):
    """The hand landmark app passes every check (the semantic one resolves its keypoints members and
    the exhaustive ResultView switch) and carries the layout of the model's metadata: 21 points × 3
    values of output 0 in pixels, presence in output 1, the 21 skeleton pairs drawn over the image."""
    from tests.conftest import require
    from tests.swift_semantics import check

    require("keypoints" in ios_projects, "the zoo's hand landmark model is not available (tests/keypoint_models.py)")
    project = ios_projects["keypoints"]
    assert project_problems(project) == []
    _, stats = check(project)
    app = next(project.glob("*/ModelInfo.swift")).parent.name
    assert f"{app}/ResultView.swift:InferenceResult" in stats["switched"]
    info = next(project.rglob("ModelInfo.swift")).read_text(encoding="utf-8")
    for line in ('static let outputKind = "keypoints"', "static let keypointsOutput = 0", "static let keypointsPoints = 21",
                 "static let keypointsValues = 3", "static let keypointsPresence = 1", "static let keypointsPixels = true",
                 "static let keypointsSkeleton: [(Int, Int)] = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5),"):
        assert line in info, line
    assert ".keypoints(keypoints(outputs))" in next(project.rglob("Results.swift")).read_text(encoding="utf-8")
    assert "KeypointsShape(points: found.points)" in next(project.rglob("ResultView.swift")).read_text(encoding="utf-8")


def test_core_ml_refusal_follows_the_shipped_model(ios_projects):
    """The full-integer image classifier gets the Core ML refusal (flag and README); the float
    generic model does not: Core ML stays offered where it can run."""
    for name, integer in (("image_classification", True), ("generic", False), ("audio_classification", False)):
        info = next(ios_projects[name].rglob("ModelInfo.swift")).read_text(encoding="utf-8")
        readme = (ios_projects[name] / "README.md").read_text(encoding="utf-8")
        assert f"static let integerKernels = {str(integer).lower()}" in info, name
        assert ("**Core ML is refused**" in readme) is integer, name
        assert "CocoaPods' trunk became read-only on 2 December 2026" in readme and "github.com/google-ai-edge/LiteRT-Swift" in readme and "Core ML delegate" in readme


def test_each_task_gets_its_input_and_output_path(ios_projects):
    expected = {"image_classification": ("image", "classification"), "object_detection": ("image", "detection"),
                "image_segmentation": ("image", "segmentation"), "image_to_image": ("image", "image"),
                "text_classification": ("text", "classification"),
                "text_embedding": ("text", "embedding"), "audio_classification": ("audio", "classification"),
                "generic": ("tensor", "generic")}
    for task, (inp, out) in expected.items():
        info = next(ios_projects[task].rglob("ModelInfo.swift")).read_text(encoding="utf-8")
        assert f'static let inputKind = "{inp}"' in info, task
        assert f'static let outputKind = "{out}"' in info, task
    detection = next(ios_projects["object_detection"].rglob("ModelInfo.swift")).read_text(encoding="utf-8")
    indices = {k: int(re.search(rf"static let detection{k} = (-?\d+)", detection)[1])
               for k in ("Boxes", "Classes", "Scores", "Count")}
    assert sorted(indices.values()) == [0, 1, 2, 3], indices
    normalized = next(ios_projects["object_detection"].rglob("ModelInfo.swift")).read_text(encoding="utf-8")
    assert "static let normalizeInApp = true" in normalized
    assert "static let pixelMean: [Float] = [127.5, 127.5, 127.5]" in normalized
    # the image-to-image app: the output's size and the range its values map to pixels 0..255 (no metadata on
    # the tiny model: the inverse of its mean/std 127.5 input normalization)
    i2i = next(ios_projects["image_to_image"].rglob("ModelInfo.swift")).read_text(encoding="utf-8")
    for line in ("static let outputImageHeight = 32", "static let outputImageWidth = 32", "static let outputImageChannels = 3",
                 "static let outputMin: [Double] = [-1.0, -1.0, -1.0]", "static let outputMax: [Double] = [1.0, 1.0, 1.0]"):
        assert line in i2i, line
    audio = plistlib.loads(next(ios_projects["audio_classification"].rglob("Info.plist")).read_bytes())
    assert "NSMicrophoneUsageDescription" in audio
    image = plistlib.loads(next(ios_projects["image_classification"].rglob("Info.plist")).read_bytes())
    assert "NSMicrophoneUsageDescription" not in image


def test_bert_text_project_runs_wordpiece(ios_projects):
    """A model with BERT tokenizer metadata renders a WordPiece app that passes every check (the
    semantic check compares its WordPiece with Python's, step by step) and bundles the vocabulary
    packed in the model; ids, mask and segment ids go to the inputs the metadata names."""
    from tests.bert_models import minilm_vocabulary
    from tests.test_android_checks import BERT, require_bert

    require_bert({BERT: ios_projects["text_bert"]} if "text_bert" in ios_projects else {})
    project = ios_projects["text_bert"]
    assert project_problems(project) == []
    assert next(project.rglob("Resources/vocab.txt")).read_bytes() == minilm_vocabulary().read_bytes()
    tokenizer = next(project.rglob("Tokenizer.swift")).read_text(encoding="utf-8")
    for line in ('static let kind = "bert"', "static let lowerCase = true", "static let sequenceLength = 128",
                 "static let idsInput = 1", "static let maskInput = 0", "static let segmentInput = 2"):
        assert line in tokenizer, line
    model_input = next(project.rglob("ModelInput.swift")).read_text(encoding="utf-8")
    assert "case .text(let text) where Tokenizer.feeds(input: index):" in model_input


def test_text_app_ships_the_vocabulary_from_the_metadata(ios_projects):
    from tests.test_android_checks import BERT_VOCAB, TEXT_VOCAB

    vocab = next(ios_projects["text_classification"].rglob("Resources/vocab.txt"))
    assert vocab.read_text(encoding="utf-8") == TEXT_VOCAB
    assert next(ios_projects["text_embedding"].rglob("Resources/vocab.txt")).read_text(encoding="utf-8").split() == \
        list(BERT_VOCAB)
    assert not list(ios_projects["generic"].rglob("vocab.txt"))


def test_quantized_model_keeps_its_quantization(ios_projects):
    info = next(ios_projects["image_classification"].rglob("ModelInfo.swift")).read_text(encoding="utf-8")
    line = re.search(r"TensorInfo\(name: \"pixels\".*", info)[0]
    assert "type: .uint8" in line and "scale: 0.0," not in line, line


# --- injection -----------------------------------------------------------------------------------

def swift_literal_value(node) -> str:
    """The value of a tree-sitter-swift ``line_string_literal``; fails on interpolation."""
    out = []
    for child in node.named_children:
        text = child.text.decode("utf-8")
        if child.type == "line_str_text":
            out.append(text)
        elif child.type == "str_escaped_char":
            simple = {"\\n": "\n", "\\r": "\r", "\\t": "\t", "\\\\": "\\", '\\"': '"', "\\'": "'", "\\0": "\0"}
            out.append(simple[text] if text in simple else chr(int(text[3:-1], 16)))
        else:
            raise AssertionError(f"unexpected {child.type} in a string literal: {text!r}")
    return "".join(out)


def first_node(node, predicate):
    stack = [node]
    while stack:
        node = stack.pop()
        if predicate(node):
            return node
        stack.extend(reversed(node.children))
    return None


def swift_constant(path: Path, name: str) -> str:
    tree = swift_parser().parse(path.read_bytes())
    decl = first_node(tree.root_node, lambda n: n.type == "property_declaration" and f"let {name} =".encode() in n.text)
    assert decl is not None, f"no constant {name} in {path}"
    literal = [c for c in decl.named_children if c.type == "line_string_literal"]
    assert len(literal) == 1, decl.text
    return swift_literal_value(literal[0])


def swift_list(path: Path, name: str) -> list[str]:
    tree = swift_parser().parse(path.read_bytes())
    decl = first_node(tree.root_node, lambda n: n.type == "property_declaration" and f"let {name}:".encode() in n.text)
    assert decl is not None, f"no constant {name} in {path}"
    array = first_node(decl, lambda n: n.type == "array_literal")
    return [swift_literal_value(c) for c in array.named_children if c.type == "line_string_literal"]


def test_injected_strings_survive_unchanged(ios_projects):
    project = ios_projects["injection"]
    info = next(project.rglob("ModelInfo.swift"))
    assert swift_constant(info, "appName") == INJECTION_NAME
    plist = plistlib.loads(next(project.rglob("Info.plist")).read_bytes())
    assert plist["CFBundleDisplayName"] == INJECTION_NAME
    assert plist["NSCameraUsageDescription"].startswith(INJECTION_NAME)
    for name, labels in (("injection", INJECTION_LABELS[:4]), ("labels", INJECTION_LABELS[4:7])):
        written = next(ios_projects[name].rglob("labels.txt")).read_text(encoding="utf-8")
        assert written.split("\n")[:-1] == list(labels)
    # Sample file names with quotes, backslashes and non-ASCII letters reach the bundle and the Swift list.
    assert sorted(p.name for p in next(project.rglob("Resources/samples")).iterdir()) == sorted(INJECTION_SAMPLES)
    assert swift_list(info, "sampleFiles") == list(INJECTION_SAMPLES)
    # The project name is the ASCII part of the app name; the visible name stays whole.
    assert sorted(p.name for p in project.glob("*.xcodeproj")) == ["QuoteBackInterpXU41DollarRDBAmpBStringLi.xcodeproj"]  # 40 characters at most


def test_swift_literal_reader_sees_interpolation():
    """The injection test's reader would notice a literal that interpolates."""
    tree = swift_parser().parse(b'let appName = "a \\(x) b"\n')
    literal = first_node(tree.root_node, lambda n: n.type == "line_string_literal")
    with pytest.raises(AssertionError, match="interpolat"):
        swift_literal_value(literal)


# --- negative tests: each check bites ------------------------------------------------------------

def test_checks_catch_unescaped_strings(tmp_path, monkeypatch):
    """With the Swift and plist filters replaced by plain quoting, the injection project fails
    the Swift and plist checks: the escaping is what makes it pass."""
    from mobilepack.render.renderer import render_project
    from mobilepack.render.targets import get
    from tests.test_android_checks import _convert, _tiny_models, task_inputs

    target = get("ios")
    monkeypatch.setitem(target.filters, "swift_string", lambda v: '"' + str(v) + '"')
    monkeypatch.setitem(target.filters, "plist_string", str)
    model = _convert(_tiny_models()["generic"], "generic")
    render_project("ios", task_inputs("generic", model, app_name=INJECTION_NAME, labels=("a", "b", "c"),
                                      package="com.mobilepack.checks.raw"), tmp_path / "raw")
    assert any("ModelInfo.swift" in p for p in swift_problems(tmp_path / "raw"))
    assert any("Info.plist does not load" in p for p in plist_problems(tmp_path / "raw"))


def _copy(project: Path, dest: Path) -> Path:
    shutil.copytree(project, dest)
    return dest


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (old, path)
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def test_dangling_file_reference_fails(tmp_path):
    project = _copy(ROOT / "ios-demo", tmp_path / "p")
    (project / "DigitsDemo" / "Tokenizer.swift").unlink()
    assert any("Tokenizer.swift" in p and "does not exist" in p for p in pbxproj_problems(project))


def test_missing_object_id_fails(tmp_path):
    project = _copy(ROOT / "ios-demo", tmp_path / "p")
    pbx = xcodeproj(project)
    line = next(ln for ln in pbx.read_text(encoding="utf-8").splitlines() if "ModelRunner.swift */ = {isa = PBXFileReference" in ln)
    _edit(pbx, line + "\n", "")
    assert any("missing object" in p for p in pbxproj_problems(project))


def test_swift_file_outside_sources_phase_fails(tmp_path):
    project = _copy(ROOT / "ios-demo", tmp_path / "p")
    (project / "DigitsDemo" / "Extra.swift").write_text("let extra = 1\n", encoding="utf-8")
    assert "DigitsDemo/Extra.swift is not in the app target's Sources phase" in pbxproj_problems(project)


def test_model_missing_from_resources_phase_fails(tmp_path):
    project = _copy(ROOT / "ios-demo", tmp_path / "p")
    pbx = xcodeproj(project)
    text = pbx.read_text(encoding="utf-8")
    entry = re.search(r"\n\t+[0-9A-F]{24} /\* model\.tflite in Resources \*/,", text)[0]
    _edit(pbx, entry, "")
    assert "DigitsDemo/Resources/model.tflite is not in the app target's Resources phase" in pbxproj_problems(project)


def test_unparsable_pbxproj_fails(tmp_path):
    project = _copy(ROOT / "ios-demo", tmp_path / "p")
    _edit(xcodeproj(project), "isa = PBXProject;", "isa = PBXProject")
    assert any("does not parse" in p for p in pbxproj_problems(project))


def test_swift_syntax_error_fails(tmp_path):
    project = _copy(ROOT / "ios-demo", tmp_path / "p")
    _edit(project / "DigitsDemo" / "ModelRunner.swift", "func invoke() throws -> Double {", "func invoke() throws -> Double")
    problems = swift_problems(project)
    assert problems and all(p.startswith("DigitsDemo/ModelRunner.swift") for p in problems), problems


def test_unescaped_quote_in_swift_literal_fails():
    assert swift_syntax_errors(b'let appName = "say "hi""\nlet x = 1\n')
    assert swift_syntax_errors(b'let appName = "line\nbreak"\n')
    assert swift_syntax_errors(b'let appName = "say \\"hi\\" \\\\ \\n"\n') == []


@pytest.mark.parametrize("old,new", [
    ('				SWIFT_VERSION = 5.0;\n				TARGETED_DEVICE_FAMILY = "1,2";',
     '				TARGETED_DEVICE_FAMILY = "1,2";\n				SWIFT_VERSION = 5.0;'),
    ("PRODUCT_BUNDLE_IDENTIFIER = com.example.digitsdemo;", 'PRODUCT_BUNDLE_IDENTIFIER = "com.example.digitsdemo";'),
], ids=["unsorted-settings", "needless-quotes"])
def test_non_canonical_pbxproj_fails(tmp_path, old, new):
    project = _copy(ROOT / "ios-demo", tmp_path / "p")
    _edit(xcodeproj(project), old, new)
    assert canonical_form_problems(project), "the edit went unnoticed"


def test_unsorted_objects_fail_the_canonical_check(tmp_path):
    project = _copy(ROOT / "ios-demo", tmp_path / "p")
    pbx = xcodeproj(project)
    lines = pbx.read_text(encoding="utf-8").splitlines(keepends=True)
    first = next(i for i, ln in enumerate(lines) if "= {isa = PBXBuildFile;" in ln)
    lines[first], lines[first + 1] = lines[first + 1], lines[first]
    pbx.write_text("".join(lines), encoding="utf-8")
    assert pbxproj_problems(project) == []          # still a valid project ...
    assert any("Xcode's layout" in p for p in canonical_form_problems(project))   # ... but not in Xcode's order


@pytest.mark.parametrize("old,new,fragment", [
    ("shape: [1, 32, 32, 3], type: .float32", "shape: [1, 28, 28, 3], type: .float32", "describes input"),
    ('name: "probabilities", shape: [1, 10], type: .float32', 'name: "probabilities", shape: [1, 10], type: .uint8',
     "describes output"),
], ids=["shape", "dtype"])
def test_model_description_mismatch_fails(tmp_path, old, new, fragment):
    project = _copy(ROOT / "ios-demo", tmp_path / "p")
    _edit(project / "DigitsDemo" / "ModelInfo.swift", old, new)
    problems = model_consistency_problems(project)
    assert any(fragment in p for p in problems), problems


def test_scheme_naming_a_missing_target_fails(tmp_path):
    project = _copy(ROOT / "ios-demo", tmp_path / "p")
    scheme = next(project.rglob("*.xcscheme"))
    target_id = re.search(r'BlueprintIdentifier = "([0-9A-F]{24})"', scheme.read_text(encoding="utf-8"))[1]
    _edit(scheme, target_id, "0" * 24, count=3)
    assert any("which is no target" in p for p in scheme_problems(project))


@pytest.mark.parametrize("old,new,fragment", [
    ("options.isXNNPackEnabled = true", "options.isXnnpackEnabled = true", "no member 'isXnnpackEnabled'"),
    ("metalOptions.waitType = .passive", "metalOptions.waitType = .passiv", "no case .passiv"),
    ("Interpreter(modelPath: path,", "Interpreter(path: path,", "no initializer Interpreter(path:"),
    ("interpreter.output(at: index)", "interpreter.output(index: index)", "Interpreter.output takes"),
    ("tensor.data", "tensor.bytes", "Tensor has no member 'bytes'"),
    ("signature.copy(data, toInputNamed:", "signature.copy(data, toInputAt:", "SignatureRunner.copy takes"),
    ("signature?.output(named: info.name)", "signature?.output(name: info.name)", "SignatureRunner.output takes"),
], ids=["member", "enum-case", "initializer", "method-label", "tensor", "signature-copy", "signature-output"])
def test_tflite_api_check_bites(tmp_path, old, new, fragment):
    project = _copy(ROOT / "ios-demo", tmp_path / "p")
    _edit(project / "DigitsDemo" / "ModelRunner.swift", old, new)
    problems = tflite_api_problems(project)
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize("path,old,new,fragment", [
    ("Info.plist", "</dict>\n</plist>", "</plist>", "DigitsDemo/Info.plist does not load"),
    ("Info.plist", "<key>NSCameraUsageDescription</key>", "<key>NSCameraUsage</key>",
     "DigitsDemo/Info.plist lacks NSCameraUsageDescription"),
    ("PrivacyInfo.xcprivacy", "<array/>", "<array>", "DigitsDemo/PrivacyInfo.xcprivacy does not load"),
], ids=["broken-plist", "usage-description", "privacy-manifest"])
def test_plist_checks_bite(tmp_path, path, old, new, fragment):
    project = _copy(ROOT / "ios-demo", tmp_path / "p")
    _edit(project / "DigitsDemo" / path, old, new)
    assert any(fragment in p for p in plist_problems(project)), plist_problems(project)


def test_missing_or_wrong_app_icon_fails(tmp_path):
    from PIL import Image

    project = _copy(ROOT / "ios-demo", tmp_path / "p")
    icon = next(project.rglob("AppIcon.png"))
    Image.new("RGBA", (512, 512)).save(icon)
    problems = plist_problems(project)
    assert any("is 512x512" in p for p in problems) and any("alpha channel" in p for p in problems), problems
    icon.unlink()
    assert any("AppIcon.png (named in Contents.json) does not open" in p for p in plist_problems(project))


def test_broken_asset_catalog_json_fails(tmp_path):
    project = _copy(ROOT / "ios-demo", tmp_path / "p")
    (project / "DigitsDemo" / "Assets.xcassets" / "Contents.json").write_text("{ info: }", encoding="utf-8")
    assert any("Contents.json is not JSON" in p for p in plist_problems(project))


@pytest.mark.parametrize("old,new,fragment", [
    (":subspecs => ['CoreML', 'Metal']", ":subspecs => ['Metal']", "subspecs"),
    ("'2.17.0'", "'~> 2.0'", "pinned"),
    ("platform :ios, '16.0'", "platform :ios, '12.0'", "platform"),
    ("target 'DigitsDemo' do", "target 'Other' do", "targets"),
], ids=["subspec", "version", "platform", "target"])
def test_podfile_checks_bite(tmp_path, old, new, fragment):
    project = _copy(ROOT / "ios-demo", tmp_path / "p")
    _edit(project / "Podfile", old, new)
    problems = podfile_problems(project)
    assert any(fragment in p for p in problems), problems


# --- the image-to-image output -----------------------------------------------------------------------

# ResultDecoder.outputImage's statements (whitespace ignored): mobilepack.tasks.image_to_image.to_pixels's rule,
# value by value (range, +0.5 floored, clamp, NaN to 0) and channel by channel (R, G, B in order; grey copied).
I2I_SWIFT_RULES = (
    "let x = ((Double(v) - ModelInfo.outputMin[c]) / (ModelInfo.outputMax[c] - ModelInfo.outputMin[c]) * 255.0 + 0.5)"
    ".rounded(.down)",
    "return x.isNaN ? 0 : UInt8(min(255.0, max(0.0, x)))",
    "let r = pixel(values[p * channels], 0)",
    "rgba[p * 4] = r",
    "rgba[p * 4 + 1] = channels == 3 ? pixel(values[p * channels + 1], 1) : r",
    "rgba[p * 4 + 2] = channels == 3 ? pixel(values[p * channels + 2], 2) : r",
)


def i2i_swift_problems(results_swift: str) -> list[str]:
    squeeze = re.sub(r"\s+", "", results_swift)
    return [rule for rule in I2I_SWIFT_RULES if re.sub(r"\s+", "", rule) not in squeeze]


def test_ios_output_image_follows_pythons_pixel_rule(ios_projects):
    """The rendered ResultDecoder.outputImage holds to_pixels's statements (no Swift compiler runs here: the
    Android app's twin of it is executed against Python in tests/test_android_jvm.py); the same file with red
    and blue swapped, or the range inverted, is caught."""
    text = next(ios_projects["image_to_image"].rglob("Results.swift")).read_text(encoding="utf-8")
    assert i2i_swift_problems(text) == []
    swapped = text.replace("rgba[p * 4] = r", "rgba[p * 4 + 2] = r", 1)
    inverted = text.replace("(Double(v) - ModelInfo.outputMin[c])", "(ModelInfo.outputMax[c] - Double(v))", 1)
    assert i2i_swift_problems(swapped) and i2i_swift_problems(inverted)
