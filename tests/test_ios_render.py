"""Rendering the iOS project: the golden ``ios-demo/``, determinism, bundle-id rules, escaping
filters and the CLI's errors.

``ios-demo/`` is the project rendered from the bundled sample.  Regenerate it after a template
change (and commit it in the same commit) with exactly:

    mobilepack convert examples/digits/digits.keras -o /tmp/digits-ios --quantize int8 \\
        --calibration examples/digits/calibration
    mobilepack render /tmp/digits-ios --target ios --variant int8 --labels examples/digits/labels.txt \\
        --samples examples/digits/samples -o ios-demo
"""

from __future__ import annotations

import json
import plistlib
import re

import pytest

from tests.conftest import DIGITS, ROOT, assert_clean_error, run_cli, snapshot

GOLDEN = ROOT / "ios-demo"


def render_sample_args(converted, out):
    return ("render", converted, "--target", "ios", "--variant", "int8", "--labels", DIGITS / "labels.txt",
            "--samples", DIGITS / "samples", "-o", out)


@pytest.fixture(scope="session")
def digits_int8(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits-ios") / "conv"
    result = run_cli("convert", DIGITS / "digits.keras", "-o", out, "--quantize", "int8",
                     "--calibration", DIGITS / "calibration")
    assert result.returncode == 0, result.stderr
    return out


def test_ios_demo_is_the_rendered_sample(digits_int8, tmp_path):
    result = run_cli(*render_sample_args(digits_int8, tmp_path / "ios"))
    assert result.returncode == 0, result.stderr
    rendered, golden = snapshot(tmp_path / "ios"), snapshot(GOLDEN)
    assert sorted(rendered) == sorted(golden), "file lists differ: re-render ios-demo/ (see this module's docstring)"
    changed = [name for name in rendered if rendered[name] != golden[name]]
    assert changed == [], f"re-render ios-demo/ (see this module's docstring); differing: {changed}"


def test_rendering_is_deterministic(digits_int8, tmp_path):
    from mobilepack.render.renderer import render_project
    from mobilepack.render.sources import render_inputs
    from mobilepack.render.targets import get

    inputs = render_inputs(digits_int8, variant="int8", labels=DIGITS / "labels.txt", samples=DIGITS / "samples",
                           default_id=get("ios").default_id)
    render_project("ios", inputs, tmp_path / "a")
    render_project("ios", inputs, tmp_path / "b")
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")


def test_sample_project_facts():
    info = plistlib.loads((GOLDEN / "DigitsDemo" / "Info.plist").read_bytes())
    assert info["CFBundleDisplayName"] == "Digits Demo"
    pbx = (GOLDEN / "DigitsDemo.xcodeproj" / "project.pbxproj").read_text(encoding="utf-8")
    assert "PRODUCT_BUNDLE_IDENTIFIER = com.example.digitsdemo;" in pbx
    model_info = (GOLDEN / "DigitsDemo" / "ModelInfo.swift").read_text(encoding="utf-8")
    # The digits model normalizes itself (Rescaling layer): the app must feed raw pixels.
    assert "static let normalizeInApp = false" in model_info
    assert 'TensorInfo(name: "image", shape: [1, 32, 32, 3], type: .float32' in model_info
    assert (GOLDEN / "DigitsDemo" / "Resources" / "labels.txt").read_text(encoding="utf-8") == \
        (DIGITS / "labels.txt").read_text(encoding="utf-8")
    record = json.loads((GOLDEN / "mobilepack-render.json").read_text(encoding="utf-8"))
    assert record["target"] == "ios"
    readme = (GOLDEN / "README.md").read_text(encoding="utf-8")
    for step in ("pod install", "DigitsDemo.xcworkspace", "Team", "mobilepack report --import"):
        assert step in readme, step


def _bench_json_source() -> str:
    swift = (GOLDEN / "DigitsDemo" / "Benchmark.swift").read_text(encoding="utf-8")
    return swift[swift.index("func json()"):swift.index("enum Benchmark")]


def test_bench_export_uses_the_shared_keys():
    """The in-app benchmark writes the same per-configuration keys as the Android app's."""
    swift = _bench_json_source()
    for key in ("delegate", "threads", "status", "runs", "warmup", "fully_delegated", "error", "failure", "init_us",
                "first_us", "warmup_mean_us", "mean_us", "std_us", "min_us", "max_us", "p50_us", "p90_us", "p99_us",
                "ips"):
        assert f'"{key}"' in swift, key


def test_bench_export_keys_are_in_the_bench_schema():
    """Every key the app writes is one the bench schema (issue 4) knows."""
    bench = pytest.importorskip("mobilepack.report.bench", reason="the bench schema module is not in this tree yet")
    swift = _bench_json_source()
    written = set(re.findall(r'entry\["(\w+)"\]', swift)) | set(re.findall(r'^\s+"(\w+)": ', swift, re.M))
    assert len(written) > 10 and written <= set(bench.RECORD_KEYS), written - set(bench.RECORD_KEYS)


# --- identifiers and names -----------------------------------------------------------------------

@pytest.mark.parametrize("value", ["com.example.app", "com.example.my-app", "io.github.x1.Demo2", "a.b"])
def test_valid_bundle_ids(value):
    from mobilepack.render.ios import validate_bundle_id

    validate_bundle_id(value)


@pytest.mark.parametrize("value,fragment", [
    ("", "empty"), ("app", "two parts"), ("com..app", "empty part"), ("com.example.my_app", "'_'"),
    ("com.example.-app", "starts or ends"), ("com.exämple.app", "'ä'"), ("com.example.app ", "' '"),
    ("com.example." + "a" * 160, "at most 155"),
])
def test_invalid_bundle_ids(value, fragment):
    from mobilepack.errors import UsageError
    from mobilepack.render.ios import validate_bundle_id

    with pytest.raises(UsageError) as info:
        validate_bundle_id(value)
    assert fragment in info.value.message and "reverse-DNS" in info.value.hint


def test_default_ids_and_project_names():
    from mobilepack.render.ios import default_bundle_id, project_name, validate_bundle_id

    assert default_bundle_id("Digits Demo") == "com.example.digitsdemo"
    assert default_bundle_id("🚀 שלום") == "com.example.demo"
    for name in ("Digits Demo", "🚀 שלום", "3D scan", 'a"b\\c'):
        validate_bundle_id(default_bundle_id(name))
    assert project_name("Digits Demo") == "DigitsDemo"
    assert project_name("🚀 שלום") == "MobilepackDemo"
    assert project_name("3D scan") == "App3DScan"
    # The target is the app's Swift module: never a module it imports, a type it declares, or Pods/.
    assert project_name("Tensor Flow Lite") == "TensorFlowLiteApp"
    assert project_name("pods") == "PodsApp"
    assert project_name("Model Runner") == "ModelRunnerApp"


def test_reserved_project_names_cover_every_declared_type():
    """Each type the app's Swift declares is in the reserved list (a new template type must be added)."""
    import re

    from mobilepack.render.ios import _RESERVED_PROJECT_NAMES

    declared = set()
    for swift in (GOLDEN / "DigitsDemo").glob("*.swift"):
        declared |= set(re.findall(r"^(?:@MainActor\s+)?(?:final )?(?:struct|class|enum|protocol) (\w+)",
                                   swift.read_text(encoding="utf-8"), re.M))
    assert len(declared) > 10
    assert {d.lower() for d in declared} <= _RESERVED_PROJECT_NAMES, declared - {
        d for d in declared if d.lower() in _RESERVED_PROJECT_NAMES}


def test_object_ids_are_stable_and_distinct():
    from mobilepack.render.ios import object_id

    assert object_id("file", "A/B.swift") == object_id("file", "A/B.swift")
    assert len({object_id(k, p) for k in ("file", "build") for p in ("A/B.swift", "A/C.swift")}) == 4
    assert all(len(object_id("file", p)) == 24 and object_id("file", p).isupper() for p in ("x", "y/z"))


# --- escaping filters ----------------------------------------------------------------------------

def test_swift_string_escapes():
    from mobilepack.render.ios import swift_string

    assert swift_string('a "b" \\(x)') == '"a \\"b\\" \\\\(x)"'
    assert swift_string("line\nnext\ttab") == '"line\\nnext\\ttab"'
    assert swift_string("🚀 שלום") == '"🚀 שלום"'
    assert swift_string("\u202eevil") == '"\\u{202e}evil"'   # bidi override written as an escape
    assert swift_string("\x01") == '"\\u{1}"'


def test_swift_string_round_trips_through_the_swift_parser():
    from mobilepack.render.ios import swift_string
    from tests.test_ios_checks import first_node, swift_literal_value, swift_parser, swift_syntax_errors

    for value in ('Quote " back \\ \\(x) \\u{41}', "new\nline\r\t", "🚀 שלום عربى", "\u202e\x00\x7f", "*/ /* //"):
        source = f"let value = {swift_string(value)}\n".encode("utf-8")
        assert swift_syntax_errors(source) == [], value
        tree = swift_parser().parse(source)
        literal = first_node(tree.root_node, lambda n: n.type == "line_string_literal")
        assert swift_literal_value(literal) == value


def test_pbx_string_and_comment():
    from mobilepack.render.ios import pbx_comment, pbx_string

    assert pbx_string("DigitsDemo/Info.plist") == "DigitsDemo/Info.plist"
    assert pbx_string("16.0") == "16.0"
    assert pbx_string("a b") == '"a b"'
    assert pbx_string('q"\\') == '"q\\"\\\\"'
    assert pbx_string("") == '""'
    assert pbx_comment("a */ b\nc") == "a *_/ b c"


def test_plist_string_round_trips_through_plistlib():
    from mobilepack.render.ios import FILTERS

    plist_string = FILTERS["plist_string"]
    value = 'a & b <c> "d" \'e\' 🚀 שלום\nline'
    doc = ('<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict><key>k</key>'
           f"<string>{plist_string(value)}</string></dict></plist>\n")
    assert plistlib.loads(doc.encode("utf-8"))["k"] == value


# --- CLI errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("extra,fragments", [
    (("--bundle-id", "com.example.my_app"), ("--bundle-id", "reverse-DNS")),
    (("--package", "com.example.app"), ("--package does not apply to --target ios", "--bundle-id")),
    (("--app-name", "bell\x07name"), ("U+0007", "property list")),
], ids=["bundle-id", "package", "control-character"])
def test_bad_options_are_one_clean_error(digits_int8, tmp_path, extra, fragments):
    out = tmp_path / "ios"
    result = run_cli(*render_sample_args(digits_int8, out), *extra)
    assert_clean_error(result, 2, *fragments)
    assert not out.exists()


def test_app_name_and_bundle_id_options(digits_int8, tmp_path):
    out = tmp_path / "ios"
    result = run_cli(*render_sample_args(digits_int8, out), "--app-name", "Zahlen 🚀", "--bundle-id",
                     "org.example.zahlen", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["target"] == "ios" and payload["app"] == {"name": "Zahlen 🚀", "id": "org.example.zahlen"}
    assert (out / "Zahlen.xcodeproj" / "project.pbxproj").is_file()
    assert plistlib.loads((out / "Zahlen" / "Info.plist").read_bytes())["CFBundleDisplayName"] == "Zahlen 🚀"


@pytest.mark.slow
def test_ios_templates_render_from_the_wheel(digits_int8, tmp_path):
    """The installed layout (templates inside the package, folder names with Jinja in them)
    renders the same project as the checkout."""
    import subprocess
    import sys
    import zipfile

    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                        str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    with zipfile.ZipFile(next(tmp_path.glob("mobilepack-*.whl"))) as z:
        assert "mobilepack/templates/ios/{{ ios.project }}/ModelRunner.swift.j2" in z.namelist()
        z.extractall(tmp_path / "site")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import mobilepack; "
            "assert mobilepack.__file__.startswith(sys.argv[1]), mobilepack.__file__; "
            "from mobilepack.cli import main; sys.argv = ['mobilepack', *sys.argv[2:]]; main()")
    args = [str(a) for a in render_sample_args(digits_int8, tmp_path / "ios")]
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "site"), *args], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert snapshot(tmp_path / "ios") == snapshot(GOLDEN)


def _text_without_surrogates():
    from hypothesis import strategies as st

    return st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


def test_swift_and_plist_escaping_round_trip_any_text():
    """Property: any text (app names and labels are arbitrary Unicode) survives the Swift literal
    (read back through tree-sitter-swift) and, where XML can hold it, the plist (plistlib)."""
    from hypothesis import given, settings

    from mobilepack.render.ios import FILTERS, swift_string
    from tests.test_ios_checks import first_node, swift_literal_value, swift_parser, swift_syntax_errors

    parser = swift_parser()

    @settings(max_examples=300, deadline=None)
    @given(_text_without_surrogates())
    def check(value):
        source = f"let value = {swift_string(value)}\n".encode("utf-8")
        assert swift_syntax_errors(source, parser) == []
        literal = first_node(parser.parse(source).root_node, lambda n: n.type == "line_string_literal")
        assert swift_literal_value(literal) == value
        if all(ch in "\t\n" or 0x20 <= ord(ch) < 0xFFFE for ch in value) and "\r" not in value:
            doc = ('<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict><key>k</key>'
                   f"<string>{FILTERS['plist_string'](value)}</string></dict></plist>\n")
            assert plistlib.loads(doc.encode("utf-8"))["k"] == value

    check()


def test_app_describes_the_shipped_variant_not_the_source(tmp_path):
    """A full-integer variant with int8 I/O: the app must feed int8 with the variant's scale and
    zero point (convert.json's model entry describes the float source), and the README warns that
    the Swift API has no int8 tensor type."""
    conv = tmp_path / "conv"
    result = run_cli("convert", DIGITS / "digits.keras", "-o", conv, "--quantize", "int8", "--calibration",
                     DIGITS / "calibration", "--calibration-samples", "20", "--io-dtype", "int8")
    assert result.returncode == 0, result.stderr
    result = run_cli("render", conv, "--target", "ios", "-o", tmp_path / "ios")
    assert result.returncode == 0, result.stderr
    info = (tmp_path / "ios" / "DigitsDemo" / "ModelInfo.swift").read_text(encoding="utf-8")
    assert 'TensorInfo(name: "image", shape: [1, 32, 32, 3], type: .int8, scale: 1.0, zeroPoint: -128)' in info
    assert 'TensorInfo(name: "probabilities", shape: [1, 10], type: .int8' in info
    assert "**int8 tensors**: image, probabilities are int8." in (tmp_path / "ios" / "README.md").read_text(encoding="utf-8")
    assert "int8 tensors" not in (GOLDEN / "README.md").read_text(encoding="utf-8")
