"""The convert command as a user meets it: exit codes, one-line errors, OUT untouched,
the JSON contract, quiet logs, fast --help, Ctrl-C safety."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DIGITS, ROOT, assert_clean_error, interrupt_when, run_cli, snapshot

MODEL = DIGITS / "digits.keras"


@pytest.fixture()
def existing_out(tmp_path):
    """An OUT directory that already holds a user's file: it must survive every failure unchanged."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    return out


def _unchanged(out: Path, before: dict) -> None:
    assert snapshot(out) == before
    leftovers = [p.name for p in out.parent.iterdir() if ".mobilepack-" in p.name]
    assert not leftovers, leftovers


def test_missing_path(existing_out):
    before = snapshot(existing_out)
    r = run_cli("convert", existing_out.parent / "nope.keras", "-o", existing_out)
    assert_clean_error(r, 2, "does not exist", "nope.keras")
    _unchanged(existing_out, before)


@pytest.mark.parametrize("name,content,fragment", [
    ("model.keras", b"this is text, not a zip", "not a Keras 3 archive"),
    ("model.h5", b"GIF89a not hdf5 at all", "not an HDF5 file"),
    ("model.tflite", b"\x00" * 64, "not a TFLite flatbuffer"),
    ("model.onnx", b"\x08\x01\x12\x00", "unsupported model file"),
    ("empty.keras", b"", "is empty"),
], ids=["keras-text", "h5-gif", "tflite-zeros", "onnx", "empty"])
def test_not_a_model(tmp_path, existing_out, name, content, fragment):
    bad = tmp_path / name
    bad.write_bytes(content)
    before = snapshot(existing_out)
    r = run_cli("convert", bad, "-o", existing_out)
    assert_clean_error(r, 2, fragment)
    _unchanged(existing_out, before)


def test_directory_that_is_not_a_saved_model(tmp_path, existing_out):
    (tmp_path / "empty_dir").mkdir()
    r = run_cli("convert", tmp_path / "empty_dir", "-o", existing_out)
    assert_clean_error(r, 2, "not a SavedModel")


def test_wrong_calibration_shape(tmp_path, existing_out):
    import numpy as np

    np.save(tmp_path / "cal.npy", np.zeros((4, 28, 28, 1), np.float32))
    before = snapshot(existing_out)
    r = run_cli("convert", MODEL, "-o", existing_out, "--quantize", "int8", "--calibration", tmp_path / "cal.npy")
    assert_clean_error(r, 2, "[4, 28, 28, 1]", "expected [N, 32, 32, 3]", "'image'")
    _unchanged(existing_out, before)


def test_integer_mode_without_calibration(existing_out):
    before = snapshot(existing_out)
    r = run_cli("convert", MODEL, "-o", existing_out, "--quantize", "fp32,int8")
    assert_clean_error(r, 2, "int8 need(s) calibration data", "--calibration")
    _unchanged(existing_out, before)


def test_unknown_mode_lists_valid_ones(existing_out):
    r = run_cli("convert", MODEL, "-o", existing_out, "--quantize", "fp32,int4")
    assert_clean_error(r, 2, "unknown quantization mode 'int4'", "fp32, fp16, dynamic, int8, int16x8")


def test_io_dtype_without_int8(existing_out):
    r = run_cli("convert", MODEL, "-o", existing_out, "--quantize", "fp16", "--io-dtype", "uint8")
    assert_clean_error(r, 2, "--io-dtype uint8 applies to the int8 mode")


@pytest.mark.parametrize("kind", ["out-is-a-file", "parent-is-a-file", "read-only-filesystem"])
def test_unwritable_out(tmp_path, kind):
    if kind == "out-is-a-file":
        out = tmp_path / "file.txt"
        out.write_text("x")
        fragment = "not a directory"
    elif kind == "parent-is-a-file":
        (tmp_path / "file.txt").write_text("x")
        out = tmp_path / "file.txt" / "out"
        fragment = "is a file"
    else:
        out = Path("/proc/mobilepack-out")  # procfs refuses new entries, even for root
        fragment = "cannot write"
    before = snapshot(tmp_path)
    r = run_cli("convert", MODEL, "-o", out, "--quantize", "fp32")
    assert_clean_error(r, 2, fragment)
    assert snapshot(tmp_path) == before
    assert not Path("/proc/mobilepack-out").exists()


def test_foreign_file_in_out_is_never_overwritten(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "digits_fp32.tflite").write_bytes(b"someone else's model")
    before = snapshot(out)
    r = run_cli("convert", MODEL, "-o", out, "--quantize", "fp32")
    assert_clean_error(r, 2, "digits_fp32.tflite", "not written by mobilepack")
    assert snapshot(out) == before


CONVERT_KEYS = {"schema_version", "out_dir", "source", "model", "options", "calibration", "validation_data",
                "variants", "warnings", "tools", "files", "timings"}
VARIANT_KEYS = {"mode", "path", "bytes", "sha256", "input_dtypes", "output_dtypes", "conversion_seconds",
                "validation_seconds", "validation", "tool_versions"}
VALIDATION_KEYS = {"samples", "max_abs_error", "mean_abs_error", "cosine_similarity", "top1_agreement", "passed",
                   "tolerance", "warnings"}
TOOL_KEYS = {"mobilepack", "python", "tensorflow", "keras", "ai-edge-litert", "flatbuffers", "numpy"}


def test_json_contract_and_quiet_logs(tmp_path):
    """--json prints exactly convert.json; the schema's keys are pinned; no TF noise reaches the user."""
    out = tmp_path / "out"
    r = run_cli("convert", MODEL, "-o", out, "--quantize", "fp32,int8", "--calibration", DIGITS / "calibration",
                "--calibration-samples", "20", "--json")
    assert r.returncode == 0, r.stderr
    payload = json.loads(r.stdout)
    assert payload == json.loads((out / "convert.json").read_text())
    assert set(payload) == CONVERT_KEYS
    assert payload["schema_version"] == "1.0"
    assert set(payload["source"]) == {"path", "format", "sha256"}
    assert set(payload["timings"]) == {"load", "data", "reference", "export", "convert", "validate", "total"}
    assert set(payload["calibration"]) == {"source", "kind", "samples"}
    assert set(payload["validation_data"]) == {"source", "kind", "samples"}
    for v in payload["variants"]:
        assert set(v) == VARIANT_KEYS
        assert set(v["validation"]) == VALIDATION_KEYS
        assert set(v["tool_versions"]) == TOOL_KEYS
        assert len(v["sha256"]) == 64
    assert set(payload["model"]) >= {"name", "inputs", "outputs", "normalization", "task", "labels"}
    assert payload["model"]["normalization"] == {"mean": [0.0], "std": [255.0], "source": "model_layer",
                                                 "in_model": True}
    noise = [ln for ln in r.stderr.splitlines() if any(s in ln for s in (
        "W0000", "I0000", "E0000", "cuda", "XNNPACK", "tensorflow", "oneDNN", "absl"))]
    assert not noise, noise
    assert r.stderr.strip() == ""  # --json: no progress either


def test_human_output_lists_variants(tmp_path):
    r = run_cli("convert", MODEL, "-o", tmp_path / "o", "--quantize", "fp32,fp16")
    assert r.returncode == 0, r.stderr
    assert "digits_fp32.tflite" in r.stdout and "digits_fp16.tflite" in r.stdout
    assert "W0000" not in r.stderr and "XNNPACK" not in r.stderr


@pytest.mark.parametrize("argv", [["--help"], ["convert", "--help"], ["render", "--help"]])
def test_help_does_not_import_tensorflow(argv):
    code = ("import sys\nfrom mobilepack.cli import app\n"
            f"try:\n    app({argv!r}, prog_name='mobilepack')\nexcept SystemExit as e:\n    assert e.code == 0\n"
            "print('TF-LOADED' if 'tensorflow' in sys.modules or 'keras' in sys.modules else 'TF-ABSENT')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("TF-ABSENT"), r.stdout[-300:]


def test_python_dash_m_and_version():
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("mobilepack ")


def test_sigint_leaves_out_unchanged(tmp_path):
    """Ctrl-C in the middle of conversion: exit 130, OUT exactly as before, no staging left."""
    out = tmp_path / "out"
    first = run_cli("convert", MODEL, "-o", out, "--quantize", "fp32")
    assert first.returncode == 0, first.stderr
    before = snapshot(out)
    proc = subprocess.Popen([sys.executable, "-m", "mobilepack", "convert", str(MODEL), "-o", str(out),
                             "--quantize", "fp32,fp16,dynamic,int8,int16x8", "--calibration",
                             str(DIGITS / "calibration")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, COLUMNS="200"))
    # ready once the first variant has been written to staging: conversion is under way
    code, err = interrupt_when(proc, lambda: [p for p in tmp_path.iterdir()
                                              if ".mobilepack-" in p.name and any(p.iterdir())],
                               timeout=120, what="conversion")
    assert code == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert snapshot(out) == before
    assert not [p for p in tmp_path.iterdir() if ".mobilepack-" in p.name]


def test_templates_ship_inside_the_wheel(tmp_path):
    """Build the wheel, unpack it, and check the installed layout finds its templates."""
    import zipfile

    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                        str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next(tmp_path.glob("mobilepack-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "mobilepack/templates/report/convert.md.j2" in names
        assert "mobilepack/cli/__init__.py" in names
        z.extractall(tmp_path / "site")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from mobilepack.render.environment import templates_root; print(templates_root())")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "site")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == tmp_path / "site" / "mobilepack" / "templates"
