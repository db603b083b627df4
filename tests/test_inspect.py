"""``mobilepack inspect``: structure, metadata, lint findings, malformed input, the JSON
contract, no TensorFlow import, and the GPU-delegation verdict."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mobilepack.errors import InputError
from mobilepack.inspect import inspect_model
from mobilepack.metadata import attach
from mobilepack.model.flatbuffer import CheckedBuffer
from mobilepack.model.spec import Normalization
from tests.conftest import ROOT, DIGITS, assert_clean_error, run_cli
from tests.test_metadata_models import digits, model_file, tiny  # noqa: F401 - fixtures


def inspect_json(path, *args) -> dict:
    r = run_cli("inspect", path, "--json", "--no-gpu", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def ids(d: dict, severity: str | None = None) -> set[str]:
    return {f["id"] for f in d["findings"] if severity is None or f["severity"] == severity}


# -- the sample's variants ----------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["fp32", "fp16", "dynamic", "int8"])
def test_inspect_sample_variants(digits, mode):
    path = digits / f"digits_{mode}.tflite"
    d = inspect_json(path)
    data = path.read_bytes()
    assert d["bytes"] == len(data) and d["sha256"] == hashlib.sha256(data).hexdigest()
    assert [t["shape"] for t in d["inputs"]] == [[1, 32, 32, 3]] and [t["shape"] for t in d["outputs"]] == [[1, 10]]
    assert d["inputs"][0]["dtype"] == "float32" and d["inputs"][0]["dynamic"] is False
    assert d["signatures"][0]["key"] == "serving_default"
    assert [i["name"] for i in d["signatures"][0]["inputs"]] == ["image"]
    assert d["subgraph_count"] == 1 and d["ops"]["histogram"]["CONV_2D"] == 3
    assert d["runtime"]["status"] == "ok"
    assert "missing_metadata" in ids(d, "warning") and d["metadata"] is None
    assert ("integer_internals_float_io" in ids(d)) == (mode == "int8")
    if mode == "fp16":
        assert d["ops"]["histogram"].get("DEQUANTIZE", 0) > 0
    summary = d["summary"]
    assert summary["errors"] + summary["warnings"] + summary["infos"] == len(d["findings"])


def test_inspect_after_metadata_shows_it(digits, tmp_path):
    out = tmp_path / "md.tflite"
    r = run_cli("metadata", digits / "digits_fp32.tflite", "-o", out, "--labels", DIGITS / "labels.txt",
                "--version", "7")
    assert r.returncode == 0, r.stderr
    d = inspect_json(out)
    md = d["metadata"]
    assert md["task"] == "image_classification" and md["version"] == "7"
    assert md["labels"] == {"count": 10, "first": ["zero", "one", "two", "three", "four"], "file": "labels.txt"}
    assert md["normalization"] == {"mean": [0.0], "std": [1.0]}
    assert md["min_parser_version"] and [f["name"] for f in md["associated_files"]] == ["labels.txt"]
    assert md["associated_files"][0]["bytes"] == len((DIGITS / "labels.txt").read_bytes())
    assert not ids(d) & {"missing_metadata", "missing_normalization", "labels_mismatch"}


def test_human_output(digits):
    r = run_cli("inspect", digits / "digits_int8.tflite", "--no-gpu")
    assert r.returncode == 0, r.stderr
    for fragment in ("[1,32,32,3]", "serving_default", "CONV_2D×3", "lint:", "integer_internals_float_io",
                     "fix:"):
        assert fragment in r.stdout, fragment


# -- lint findings on models built here --------------------------------------------------------

def test_custom_op_unresolved_and_strict(tiny):
    path = tiny("custom_op")
    d = inspect_json(path)
    assert d["ops"]["custom"] == ["Erfinv"]
    assert d["runtime"]["status"] == "failed" and d["runtime"]["unresolved_ops"] == ["Erfinv"]
    finding = next(f for f in d["findings"] if f["id"] == "unresolved_custom_ops")
    assert finding["severity"] == "error" and "Erfinv" in finding["title"] and finding["fix"]
    strict = run_cli("inspect", path, "--strict", "--no-gpu")
    assert strict.returncode == 1 and "Traceback" not in strict.stderr and "strict" in strict.stderr


def test_flex_ops(tiny):
    d = inspect_json(tiny("flex_op"))
    assert d["ops"]["flex"] == ["FlexMatrixDeterminant"]
    flex = next(f for f in d["findings"] if f["id"] == "flex_ops")
    assert flex["severity"] == "error" and "MB" in flex["explanation"]
    assert run_cli("inspect", tiny("flex_op"), "--strict", "--no-gpu").returncode == 1


def test_stateful_resource_variables_several_subgraphs(tiny):
    d = inspect_json(tiny("stateful"))
    assert d["subgraph_count"] > 1 and len(d["subgraphs"]) == d["subgraph_count"]
    assert set(d["ops"]["resource_variables"]) == {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"}
    assert "WHILE" in d["ops"]["control_flow"]
    assert {"resource_variables", "multiple_subgraphs"} <= ids(d, "info")
    assert d["runtime"]["status"] == "ok"
    assert sum(sum(sg["ops"].values()) for sg in d["subgraphs"]) == sum(d["ops"]["histogram"].values())


def test_dynamic_shapes(tiny):
    d = inspect_json(tiny("dynamic"))
    assert d["inputs"][0]["shape_signature"] == [-1, 4] and d["inputs"][0]["dynamic"] is True
    assert "dynamic_shapes" in ids(d, "warning")


def test_nchw_input(tiny):
    assert "nchw_input" in ids(inspect_json(tiny("nchw")), "warning")
    assert "nchw_input" not in ids(inspect_json(tiny("classifier")))


def test_integer_io_quantization(tiny):
    d = inspect_json(tiny("int8_io"))
    q = d["inputs"][0]["quantization"]
    assert d["inputs"][0]["dtype"] == "int8" and len(q["scale"]) == 1 and q["scale"][0] > 0
    assert isinstance(q["zero_point"][0], int)
    assert "integer_internals_float_io" not in ids(d)


def test_labels_mismatch_from_foreign_metadata(tiny, tmp_path):
    """A model whose metadata was written elsewhere (tflite-support 0.4.4 itself, see
    tests/goldens/metadata/make_goldens.py) with 3 labels for 4 classes."""
    from tests.test_metadata_goldens import GOLDENS

    d = inspect_json(GOLDENS / "foreign_labels_mismatch.tflite")
    finding = next(f for f in d["findings"] if f["id"] == "labels_mismatch")
    assert finding["severity"] == "error" and "3 labels" in finding["title"] and "4 classes" in finding["title"]


def test_missing_normalization(tiny, tmp_path):
    path = tmp_path / "generic_md.tflite"
    path.write_bytes(attach(tiny("classifier").read_bytes(), task="generic").model)
    d = inspect_json(path)
    assert "missing_normalization" in ids(d, "warning") and "missing_metadata" not in ids(d)
    path.write_bytes(attach(tiny("classifier").read_bytes(),
                            normalization=Normalization((127.5,), (127.5,), "flags")).model)
    assert "missing_normalization" not in ids(inspect_json(path))


# -- JSON contract --------------------------------------------------------------------------------

TOP_KEYS = {"schema_version", "path", "bytes", "sha256", "schema_version_tflite", "description", "inputs", "outputs",
            "signatures", "subgraph_count", "subgraphs", "ops", "metadata", "runtime", "gpu", "findings", "summary"}
TENSOR_KEYS = {"name", "index", "shape", "shape_signature", "dynamic", "dtype", "quantization"}
METADATA_KEYS = {"task", "name", "description", "version", "author", "license", "min_parser_version", "labels",
                 "normalization", "associated_files", "inputs", "outputs"}


def test_json_contract(digits, tmp_path):
    out = tmp_path / "md.tflite"
    assert run_cli("metadata", digits / "digits_int8.tflite", "-o", out, "--labels",
                   DIGITS / "labels.txt").returncode == 0
    d = inspect_json(out)
    assert set(d) == TOP_KEYS and d["schema_version"] == "1.0"
    assert set(d["inputs"][0]) == TENSOR_KEYS and set(d["outputs"][0]) == TENSOR_KEYS
    assert set(d["signatures"][0]) == {"key", "subgraph", "inputs", "outputs"}
    assert set(d["signatures"][0]["inputs"][0]) == {"name", "tensor"}
    assert set(d["subgraphs"][0]) == {"index", "name", "tensors", "operators", "ops"}
    assert set(d["ops"]) == {"histogram", "custom", "flex", "resource_variables", "control_flow"}
    assert set(d["metadata"]) == METADATA_KEYS
    assert set(d["metadata"]["labels"]) == {"count", "first", "file"}
    assert set(d["metadata"]["associated_files"][0]) == {"name", "type", "owner", "bytes"}
    assert set(d["runtime"]) == {"status", "message", "unresolved_ops", "dynamic_inputs", "input_shapes"}
    assert set(d["summary"]) == {"errors", "warnings", "infos"}
    assert d["gpu"] is None  # --no-gpu
    for f in d["findings"]:
        assert set(f) == {"id", "severity", "title", "explanation", "fix"}
        assert f["severity"] in {"error", "warning", "info"}


# -- no TensorFlow ----------------------------------------------------------------------------------

def test_inspect_does_not_import_tensorflow(digits):
    code = ("import sys\n"
            "from mobilepack.cli import main\n"
            f"sys.argv = ['mobilepack', 'inspect', {str(digits / 'digits_int8.tflite')!r}, '--json']\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "sys.stderr.write('TF_IMPORTED=%s\\n' % ('tensorflow' in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={k: v for k, v in os.environ.items() if k != "MOBILEPACK_DEBUG"})
    assert proc.returncode == 0, proc.stderr
    assert "TF_IMPORTED=False" in proc.stderr
    assert json.loads(proc.stdout)["inputs"][0]["shape"] == [1, 32, 32, 3]


# -- malformed input -----------------------------------------------------------------------------

def _field_pos(data: bytes, path: list[tuple[int, int | str | None]]) -> int:
    """Byte position of a field, following (field index, vector element) pairs from the root."""
    tables = [CheckedBuffer(data).root()]
    for field, element in path[:-1]:
        if element == "*":  # any element that stores the final field (defaults are not stored)
            tables = [t for parent in tables for t in parent.tables(field, "t")]
        else:
            tables = [t.tables(field, "t")[element] if element is not None else t.table(field, "t") for t in tables]
    positions = [t._field(path[-1][0], 4) for t in tables]
    return next(p for p in positions if p is not None)


def _patch(data: bytes, pos: int, value: int) -> bytes:
    return data[:pos] + value.to_bytes(4, "little") + data[pos + 4:]


def _malformed(name: str, good: bytes, tmp: Path) -> bytes:
    if name == "empty":
        return b""
    if name == "truncated_half":
        return good[: len(good) // 2]
    if name == "truncated_header":
        return good[:7]
    if name == "random":
        return os.urandom(0) or bytes((i * 37 + 11) % 256 for i in range(4096))
    if name == "random_with_identifier":
        return b"\x10\x00\x00\x00TFL3" + bytes((i * 91 + 7) % 256 for i in range(2048))
    if name == "zip":
        with zipfile.ZipFile(tmp / "a.zip", "w") as zf:
            zf.writestr("model.tflite", good)
        return (tmp / "a.zip").read_bytes()
    if name == "root_offset":
        return _patch(good, 0, 0x7FFFFFF0)
    if name == "subgraphs_offset":
        return _patch(good, _field_pos(good, [(2, None)]), 0x00FFFFFF)
    if name == "buffers_length":
        pos = _field_pos(good, [(4, None)])
        vec = pos + int.from_bytes(good[pos:pos + 4], "little")
        return _patch(good, vec, 0x0FFFFFFF)
    if name == "tensor_buffer_index":
        return _patch(good, _field_pos(good, [(2, 0), (0, 0), (2, None)]), 99999)
    if name == "opcode_index":
        return _patch(good, _field_pos(good, [(2, 0), (3, "*"), (0, None)]), 4242)
    if name == "operator_input_index":
        pos = _field_pos(good, [(2, 0), (3, 0), (1, None)])
        vec = pos + int.from_bytes(good[pos:pos + 4], "little")
        return _patch(good, vec + 4, 77777)
    raise AssertionError(name)


MALFORMED = ["empty", "truncated_half", "truncated_header", "random", "random_with_identifier", "zip", "root_offset",
             "subgraphs_offset", "buffers_length", "tensor_buffer_index", "opcode_index", "operator_input_index"]


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_model_exit_2(tiny, tmp_path, name):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(_malformed(name, tiny("generic").read_bytes(), tmp_path))
    r = run_cli("inspect", bad, "--json")
    assert_clean_error(r, 2, "bad.tflite")
    assert r.stdout == ""


def test_corrupted_metadata_exit_2(tiny, tmp_path):
    model = attach(tiny("generic").read_bytes()).model
    from mobilepack.model.flatbuffer import parse_model

    fb = parse_model(model)
    off, _ = fb.buffer_spans[dict(fb.metadata)["TFLITE_METADATA"]]
    bad = tmp_path / "bad_md.tflite"
    bad.write_bytes(_patch(model, off, 0x7FFFFF00))
    assert_clean_error(run_cli("inspect", bad), 2, "metadata is malformed")


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_bad_paths(tmp_path, kind):
    target = tmp_path / "nope.tflite" if kind == "missing" else tmp_path
    assert_clean_error(run_cli("inspect", target), 2, "not found" if kind == "missing" else "directory")


# -- property: mutated bytes give a result or a clean error, never a crash ------------------------

mutations = st.lists(st.tuples(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=255)),
                     min_size=1, max_size=6)


def _mutate(data: bytes, edits, cut: int | None) -> bytes:
    b = bytearray(data)
    for pos, value in edits:
        b[pos % len(b)] = value
    return bytes(b[:cut] if cut else b)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(edits=mutations, cut=st.one_of(st.none(), st.integers(min_value=1, max_value=1200)))
def test_mutated_bytes_structure_never_crash(tmp_path_factory, edits, cut):
    path = model_file(tmp_path_factory, "generic")
    mutated = tmp_path_factory.getbasetemp() / "mutated_structure.tflite"
    mutated.write_bytes(_mutate(path.read_bytes(), edits, cut))
    try:
        result = inspect_model(mutated, runtime=False)
    except InputError as exc:
        assert exc.exit_code == 2 and exc.message and "\n" not in exc.message
    else:
        assert result.to_dict()["inputs"] is not None


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(edits=mutations)
def test_mutated_bytes_with_litert_never_crash(tmp_path_factory, edits):
    """Mutants that pass the verifier reach LiteRT, in a child process: still a result or a clean error."""
    path = model_file(tmp_path_factory, "classifier")
    mutated = tmp_path_factory.getbasetemp() / "mutated_runtime.tflite"
    mutated.write_bytes(_mutate(path.read_bytes(), edits, None))
    try:
        result = inspect_model(mutated, gpu=False, load_timeout=60)
    except InputError as exc:
        assert exc.exit_code == 2 and "\n" not in exc.message
    else:
        assert result.runtime["status"] in {"ok", "failed", "timeout"}


# -- GPU delegation -------------------------------------------------------------------------------

def _gpu_probe():
    try:
        from mobilepack.runtime import gpu
    except ImportError:
        return None
    return gpu


def test_gpu_verdicts_differ(tiny):
    """A conv net the GPU accelerator takes whole vs a model with UNIQUE (data-dependent shape)."""
    from tests.conftest import require

    gpu = _gpu_probe()
    require(gpu is not None, "mobilepack.runtime.gpu (the GPU probe) is not installed")
    full = inspect_model(tiny("classifier"), gpu=True)
    require(full.gpu["status"] != "unavailable", f"no Vulkan driver or SwiftShader: {full.gpu['message']}")
    rejected = inspect_model(tiny("unique_op"), gpu=True)
    assert set(full.gpu) == {"status", "fully_accelerated", "adapter", "software", "message", "cpu_ops"}
    assert full.gpu["status"] == "full" and full.gpu["fully_accelerated"] is True
    assert rejected.gpu["status"] in {"partial", "rejected"} and rejected.gpu["fully_accelerated"] is not True
    verdict = {r.gpu["status"]: next(f for f in r.findings if f.id == "gpu_delegation") for r in (full, rejected)}
    assert verdict["full"].severity == "info"
    assert verdict[rejected.gpu["status"]].severity == "warning"


# -- models nobody here made look like these ---------------------------------------------------------

def test_stateful_int8_model(tiny):
    d = inspect_json(tiny("stateful_int8"))
    assert d["subgraph_count"] == 2 and "CALL_ONCE" in d["ops"]["control_flow"]
    assert "VAR_HANDLE" in d["ops"]["resource_variables"]
    assert d["inputs"][0]["dtype"] == "int8" and d["inputs"][0]["quantization"]["scale"][0] > 0
    assert d["runtime"]["status"] == "ok"


def test_multi_output_detector_and_custom_op_segmenter(tiny):
    det = inspect_json(tiny("detector"))
    assert sorted(len(t["shape"]) for t in det["outputs"]) == [1, 2, 2, 3]
    assert {o["name"] for o in det["signatures"][0]["outputs"]} == {"boxes", "classes", "scores", "count"}
    seg = inspect_json(tiny("segmenter_custom"))
    assert seg["outputs"][0]["shape"] == [1, 16, 16, 3] and seg["ops"]["custom"] == ["Erfinv"]
    assert "unresolved_custom_ops" in ids(seg, "error")


@pytest.mark.parametrize("status,severity", [("full", "info"), ("partial", "warning"), ("rejected", "warning"),
                                             ("crashed", "warning"), ("timeout", "warning"),
                                             ("unavailable", "info")])
def test_gpu_finding_per_probe_status(tiny, status, severity):
    """The GPU finding for each verdict the probe can return (the lint itself runs no native code)."""
    from mobilepack.inspect import lint
    from mobilepack.inspect.report import describe
    from mobilepack.model.flatbuffer import parse_model

    data = tiny("classifier").read_bytes()
    fb = parse_model(data)
    verdict = {"status": status, "fully_accelerated": status == "full", "adapter": "SwiftShader Device",
               "software": True, "message": "Some ops are not accelerated", "cpu_ops": ["UNIQUE"]}
    found = [f for f in lint.run(lint.LintContext(fb=fb, data=data, metadata=None, model=describe(fb), load=None,
                                                  gpu=verdict)) if f.id == "gpu_delegation"]
    assert len(found) == 1 and found[0].severity == severity
    if status == "partial":
        assert "UNIQUE" in found[0].title and "latency not representative" in found[0].title
