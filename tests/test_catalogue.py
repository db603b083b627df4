"""The catalogue of bad inputs (issue 9): one row per case, across every command.

Each case runs the real CLI in a child process and asserts: the documented exit code,
exactly one `error:` line plus a `hint:` line, no traceback, the expected words, nothing
changed anywhere in the case's directory (inputs included), and OUT unchanged.
Cases needing a converted sample share one session-scoped conversion."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DIGITS, assert_clean_error, run_cli, snapshot

MODEL = DIGITS / "digits.keras"


@pytest.fixture(scope="session")
def converted(tmp_path_factory) -> Path:
    import mobilepack

    out = tmp_path_factory.mktemp("catalogue") / "conv"
    mobilepack.convert(MODEL, out, quantize="fp32,int8", calibration=DIGITS / "calibration",
                       calibration_samples=20)
    return out


@dataclass(frozen=True)
class Case:
    id: str
    argv: Callable[[Path, Path], list]      # (case dir, converted dir) -> CLI arguments
    code: int
    fragments: tuple[str, ...]
    setup: Callable[[Path], None] | None = None


def _write(name: str, data: bytes):
    def setup(d: Path) -> None:
        (d / name).write_bytes(data)
    return setup


def _npy(name: str, array):
    def setup(d: Path) -> None:
        np.save(d / name, array)
    return setup


def _images(folder: str, *, corrupt: bool = False, count: int = 2):
    def setup(d: Path) -> None:
        from PIL import Image

        (d / folder).mkdir()
        for i in range(count):
            Image.new("RGB", (32, 32), (i * 50, 0, 0)).save(d / folder / f"{i}.png")
        if corrupt:
            (d / folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return setup


def _zip(name: str):
    def setup(d: Path) -> None:
        with zipfile.ZipFile(d / name, "w") as z:
            z.writestr("hello.txt", "not a model")
    return setup


def _labels(count: int):
    def setup(d: Path) -> None:
        (d / "labels.txt").write_text("\n".join(f"class {i}" for i in range(count)) + "\n")
    return setup


def _file(name: str, text: str = "x"):
    def setup(d: Path) -> None:
        (d / name).write_text(text)
    return setup


def _both(*setups):
    def setup(d: Path) -> None:
        for s in setups:
            s(d)
    return setup


M = str(MODEL)
CASES = [
    # -- convert: the source ----------------------------------------------------------------
    Case("convert-missing-source", lambda d, c: ["convert", d / "nope.keras", "-o", d / "out"], 2, ("does not exist",)),
    Case("convert-empty-keras", lambda d, c: ["convert", d / "e.keras", "-o", d / "out"], 2, ("is empty",),
         _write("e.keras", b"")),
    Case("convert-text-as-keras", lambda d, c: ["convert", d / "t.keras", "-o", d / "out"], 2,
         ("not a Keras 3 archive",), _write("t.keras", b"hello")),
    Case("convert-zip-as-keras", lambda d, c: ["convert", d / "z.keras", "-o", d / "out"], 2,
         ("cannot load Keras model",), _zip("z.keras")),
    Case("convert-gif-as-h5", lambda d, c: ["convert", d / "g.h5", "-o", d / "out"], 2, ("not an HDF5 file",),
         _write("g.h5", b"GIF89a....")),
    Case("convert-random-tflite", lambda d, c: ["convert", d / "r.tflite", "-o", d / "out"], 2,
         ("not a TFLite flatbuffer",), _write("r.tflite", bytes(range(256)))),
    Case("convert-unsupported-format", lambda d, c: ["convert", d / "m.onnx", "-o", d / "out"], 2,
         ("unsupported model file",), _write("m.onnx", b"\x08\x07")),
    Case("convert-dir-not-savedmodel", lambda d, c: ["convert", d, "-o", d / "out"], 2, ("not a SavedModel",)),
    Case("convert-lambda-unsafe", lambda d, c: ["convert", d / "lam.keras", "-o", d / "out"], 2,
         ("Lambda",), None),  # setup filled in below (needs Keras)
    Case("convert-signature-on-keras", lambda d, c: ["convert", M, "-o", d / "out", "--signature", "x"], 2,
         ("applies to SavedModels only",)),
    # -- convert: data -----------------------------------------------------------------------
    Case("convert-calibration-missing", lambda d, c: ["convert", M, "-o", d / "out", "-q", "int8", "--calibration",
                                                      d / "nope"], 2, ("calibration data not found",)),
    Case("convert-calibration-wrong-shape", lambda d, c: ["convert", M, "-o", d / "out", "-q", "int8",
                                                          "--calibration", d / "c.npy"], 2,
         ("[3, 28, 28, 1]", "expected [N, 32, 32, 3]"), _npy("c.npy", np.zeros((3, 28, 28, 1), np.float32))),
    Case("convert-calibration-wrong-dtype", lambda d, c: ["convert", M, "-o", d / "out", "-q", "int8",
                                                          "--calibration", d / "c.npy"], 2,
         ("dtype complex64, expected float32",), _npy("c.npy", np.zeros((3, 32, 32, 3), np.complex64))),
    Case("convert-calibration-empty-folder", lambda d, c: ["convert", M, "-o", d / "out", "-q", "int8",
                                                           "--calibration", d / "imgs"], 2, ("no .png/.jpg images",),
         lambda d: (d / "imgs").mkdir()),
    Case("convert-calibration-corrupt-image", lambda d, c: ["convert", M, "-o", d / "out", "-q", "int8",
                                                            "--calibration", d / "imgs"], 2,
         ("cannot read image", "bad.png"), _images("imgs", corrupt=True)),
    Case("convert-calibration-garbage-npz", lambda d, c: ["convert", M, "-o", d / "out", "-q", "int8",
                                                          "--calibration", d / "c.npz"], 2, ("cannot read",),
         _write("c.npz", b"PK\x03\x04garbage")),
    Case("convert-npz-missing-key", lambda d, c: ["convert", M, "-o", d / "out", "-q", "int8", "--calibration",
                                                  d / "c.npz"], 2, ("no key for input(s) ['image']",),
         lambda d: np.savez(d / "c.npz", other=np.zeros((2, 32, 32, 3), np.float32))),
    Case("convert-int8-without-calibration", lambda d, c: ["convert", M, "-o", d / "out", "-q", "int8"], 2,
         ("need(s) calibration data",)),
    Case("convert-unknown-mode", lambda d, c: ["convert", M, "-o", d / "out", "-q", "int9"], 2,
         ("unknown quantization mode 'int9'", "did you mean 'int8'")),
    Case("convert-io-dtype-without-int8", lambda d, c: ["convert", M, "-o", d / "out", "-q", "fp16", "--io-dtype",
                                                        "int8"], 2, ("applies to the int8 mode",)),
    Case("convert-io-dtype-int16x8", lambda d, c: ["convert", M, "-o", d / "out", "-q", "int8,int16x8",
                                                   "--calibration", "random", "--io-dtype", "uint8"], 2,
         ("cannot apply to int16x8",)),
    Case("convert-io-dtype-unknown", lambda d, c: ["convert", M, "-o", d / "out", "--io-dtype", "int4"], 2,
         ("unknown --io-dtype 'int4'",)),
    Case("convert-input-shape-malformed", lambda d, c: ["convert", M, "-o", d / "out", "--input-shape", "image=a,b"], 2,
         ("is not NAME=D1,D2",)),
    Case("convert-input-shape-unknown-name", lambda d, c: ["convert", M, "-o", d / "out", "--input-shape",
                                                           "img=1,32,32,3"], 2, ("unknown input 'img'", "image")),
    Case("convert-input-shape-wrong-rank", lambda d, c: ["convert", M, "-o", d / "out", "--input-shape",
                                                         "image=1,32,32"], 2, ("has rank 3",)),
    Case("convert-batch-zero", lambda d, c: ["convert", M, "-o", d / "out", "--batch", "0"], 2, ("--batch must be",)),
    Case("convert-mean-without-std", lambda d, c: ["convert", M, "-o", d / "out", "--mean", "127.5"], 2,
         ("--mean and --std must be given together",)),
    Case("convert-std-zero", lambda d, c: ["convert", M, "-o", d / "out", "--mean", "0", "--std", "0"], 2,
         ("non-zero",)),
    Case("convert-calibration-samples-zero", lambda d, c: ["convert", M, "-o", d / "out", "--calibration-samples",
                                                           "0"], 2, ("must be ≥ 1",)),
    # -- convert: the output ----------------------------------------------------------------
    Case("convert-out-is-file", lambda d, c: ["convert", M, "-o", d / "f.txt", "-q", "fp32"], 2,
         ("not a directory",), _file("f.txt")),
    Case("convert-out-parent-is-file", lambda d, c: ["convert", M, "-o", d / "f.txt" / "out", "-q", "fp32"], 2,
         ("is a file",), _file("f.txt")),
    Case("convert-out-read-only-fs", lambda d, c: ["convert", M, "-o", "/proc/mobilepack-out", "-q", "fp32"], 2,
         ("cannot write",)),
    Case("convert-out-foreign-file", lambda d, c: ["convert", M, "-o", d / "out", "-q", "fp32"], 2,
         ("not written by mobilepack",),
         lambda d: ((d / "out").mkdir(), (d / "out" / "digits_fp32.tflite").write_bytes(b"mine"))),
    # -- render -----------------------------------------------------------------------------
    Case("render-missing-source", lambda d, c: ["render", d / "nope", "-o", d / "app"], 2, ("does not exist",)),
    Case("render-dir-without-record", lambda d, c: ["render", d, "-o", d / "app"], 2, ("has no convert.json",)),
    Case("render-unknown-target", lambda d, c: ["render", c, "-o", d / "app", "--target", "windows"], 2,
         ("unknown target 'windows'",)),
    Case("render-ambiguous-variant", lambda d, c: ["render", c, "-o", d / "app"], 2, ("several variants",)),
    Case("render-unknown-variant", lambda d, c: ["render", c, "-o", d / "app", "--variant", "fp16"], 2,
         ("no 'fp16' variant",)),
    Case("render-bad-package-digit", lambda d, c: ["render", c, "-o", d / "app", "--variant", "int8", "--package",
                                                   "com.1bad.app"], 2, ("com.1bad.app",)),
    Case("render-package-keyword", lambda d, c: ["render", c, "-o", d / "app", "--variant", "int8", "--package",
                                                 "com.class.app"], 2, ("class",)),
    Case("render-bad-bundle-id", lambda d, c: ["render", c, "-o", d / "app", "--variant", "int8", "--target", "ios",
                                               "--bundle-id", "com example"], 2, ("com example",)),
    Case("render-package-for-ios", lambda d, c: ["render", c, "-o", d / "app", "--variant", "int8", "--target", "ios",
                                                 "--package", "com.example.app"], 2, ("does not apply",)),
    Case("render-label-count-mismatch", lambda d, c: ["render", c, "-o", d / "app", "--variant", "int8", "--labels",
                                                      d / "labels.txt"], 2, ("3 labels for 10",), _labels(3)),
    Case("render-labels-missing", lambda d, c: ["render", c, "-o", d / "app", "--variant", "int8", "--labels",
                                                d / "nope.txt"], 2, ("labels file not found",)),
    Case("render-out-is-file", lambda d, c: ["render", c, "-o", d / "f.txt", "--variant", "int8"], 2,
         ("not a directory",), _file("f.txt")),
    # -- inspect ----------------------------------------------------------------------------
    Case("inspect-missing", lambda d, c: ["inspect", d / "nope.tflite"], 2, ("nope.tflite",)),
    Case("inspect-empty", lambda d, c: ["inspect", d / "e.tflite"], 2, ("e.tflite",), _write("e.tflite", b"")),
    Case("inspect-random-bytes", lambda d, c: ["inspect", d / "r.tflite"], 2, ("r.tflite",),
         _write("r.tflite", bytes((i * 37) % 256 for i in range(4096)))),
    Case("inspect-zip", lambda d, c: ["inspect", d / "z.tflite"], 2, ("z.tflite",), _zip("z.tflite")),
    Case("inspect-truncated", lambda d, c: ["inspect", d / "t.tflite"], 2, ("t.tflite",), None),
    # -- metadata ---------------------------------------------------------------------------
    Case("metadata-missing-model", lambda d, c: ["metadata", d / "nope.tflite", "-o", d / "o.tflite"], 2,
         ("nope.tflite",)),
    Case("metadata-label-count", lambda d, c: ["metadata", c / "digits_fp32.tflite", "-o", d / "o.tflite", "--task",
                                               "image_classification", "--labels", d / "labels.txt", "--mean", "0",
                                               "--std", "1"], 2, ("3", "10"), _labels(3)),
    Case("metadata-out-is-directory", lambda d, c: ["metadata", c / "digits_fp32.tflite", "-o", d, "--task",
                                                    "generic"], 2, ("is a directory",)),
    # -- bench ------------------------------------------------------------------------------
    Case("bench-missing-model", lambda d, c: ["bench", d / "nope.tflite"], 2, ("model not found",)),
    Case("bench-not-tflite", lambda d, c: ["bench", d / "m.tflite"], 2, ("not a TFLite model",),
         _write("m.tflite", b"not a flatbuffer at all")),
    Case("bench-empty-dir", lambda d, c: ["bench", d], 2, ("no .tflite files",)),
    Case("bench-unknown-delegate", lambda d, c: ["bench", c / "digits_fp32.tflite", "--delegates", "tpu"], 2,
         ("unknown delegate 'tpu'",)),
    Case("bench-bad-threads", lambda d, c: ["bench", c / "digits_fp32.tflite", "--threads", "two"], 2,
         ("threads",)),
    Case("bench-runs-zero", lambda d, c: ["bench", c / "digits_fp32.tflite", "--runs", "0"], 2, ("--runs",)),
    Case("bench-delegate-lib-missing", lambda d, c: ["bench", c / "digits_fp32.tflite", "--delegate-lib",
                                                     f"mine={d / 'nope.so'}"], 2, ("delegate library not found",)),
    Case("bench-adb-without-binary", lambda d, c: ["bench", c / "digits_fp32.tflite", "--adb"], 2, ("benchmark",)),
    # -- report -----------------------------------------------------------------------------
    Case("report-import-missing", lambda d, c: ["report", "--import", d / "nope.json", "-o", d / "rep"], 2,
         ("nope.json",)),
    Case("report-import-garbage", lambda d, c: ["report", "--import", d / "g.json", "-o", d / "rep"], 2,
         ("g.json",), _write("g.json", b"{not json")),
    Case("report-import-model-not-object", lambda d, c: ["report", "--import", d / "b.json", "-o", d / "rep"], 2,
         ("'model' must be an object",),
         _write("b.json", b'{"schema_version": "1.0", "results": [{"delegate": "cpu", "model": "x"}]}')),
    # -- build ------------------------------------------------------------------------------
    Case("build-no-source", lambda d, c: ["build", "-o", d / "out"], 2, ("no model given",)),
    Case("build-unknown-target", lambda d, c: ["build", M, "-o", d / "out", "--target", "web"], 2,
         ("unknown --target 'web'",)),
    Case("build-config-missing", lambda d, c: ["build", M, "--config", d / "nope.toml"], 2,
         ("config file not found",)),
    Case("build-config-unknown-key", lambda d, c: ["build", "--config", d / "m.toml"], 2,
         ("unknown key 'quantise' in [convert]", "did you mean 'quantize'?"),
         _file("m.toml", "[convert]\nquantise = ['fp32']\n")),
    Case("build-config-bad-toml", lambda d, c: ["build", "--config", d / "m.toml"], 2, ("not valid TOML",),
         _file("m.toml", "[build\n")),
    Case("build-eval-data-missing", lambda d, c: ["build", M, "-o", d / "out", "--eval-data", d / "nope"], 2,
         ("evaluation data not found",)),
    Case("build-bad-package", lambda d, c: ["build", M, "-o", d / "out", "--package", "Com..x"], 2, ("Com..x",)),
    Case("build-drop-out-of-range", lambda d, c: ["build", M, "-o", d / "out", "--max-accuracy-drop", "5"], 2,
         ("--max-accuracy-drop",)),
    Case("build-foreign-out", lambda d, c: ["build", M, "-o", d / "out", "-q", "fp32"], 2,
         ("not created by mobilepack", "--force"), lambda d: ((d / "out").mkdir(), (d / "out" / "x.txt").write_text("x"))),
    Case("build-eval-without-fp32", lambda d, c: ["build", M, "-o", d / "out", "-q", "fp16", "--eval-data",
                                                  DIGITS / "eval"], 2, ("add fp32 to --quantize",)),
    Case("build-samples-missing", lambda d, c: ["build", M, "-o", d / "out", "-q", "fp32", "--delegates", "cpu",
                                                "--runs", "1", "--warmup", "0", "--samples", d / "nope"], 2,
         ("sample images folder not found",)),
    Case("build-int8-without-calibration", lambda d, c: ["build", M, "-o", d / "out", "-q", "fp32,int8"], 2,
         ("need(s) calibration data",)),
    # -- init -------------------------------------------------------------------------------
    Case("init-existing", lambda d, c: ["init", "--path", d / "mobilepack.toml"], 2, ("already exists",),
         _file("mobilepack.toml", "# mine\n")),
]


def _lambda_model(d: Path) -> None:
    from mobilepack.model.tfimport import keras

    k = keras()
    inp = k.Input(shape=(3,))
    k.Model(inp, k.layers.Lambda(lambda t: t + 1.0, output_shape=(3,))(inp)).save(d / "lam.keras")


def _truncated_model(d: Path) -> None:
    shipped = Path(__file__).resolve().parent.parent / "android-demo" / "app" / "src" / "main" / "assets" / "model.tflite"
    (d / "t.tflite").write_bytes(shipped.read_bytes()[:3000])


SETUPS = {"convert-lambda-unsafe": _lambda_model, "inspect-truncated": _truncated_model}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, tmp_path, converted):
    d = tmp_path / "case"
    d.mkdir()
    setup = case.setup or SETUPS.get(case.id)
    if setup:
        setup(d)
    before = snapshot(d)
    conv_before = snapshot(converted)
    r = run_cli(*case.argv(d, converted))
    assert_clean_error(r, case.code, *case.fragments)
    assert snapshot(d) == before, "a failed command changed files"
    assert snapshot(converted) == conv_before
    assert not [p for p in tmp_path.rglob("*") if ".mobilepack-" in p.name], "staging left behind"


def test_catalogue_size():
    assert len(CASES) >= 40


@pytest.fixture()
def tiny_tmpfs(tmp_path):
    """A 96 KiB tmpfs: a real full disk (root can mount one here and in CI)."""
    import shutil
    import subprocess

    mnt = tmp_path / "full"
    mnt.mkdir()
    ok = shutil.which("mount") and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mnt)],
                                                   capture_output=True).returncode == 0
    from tests.conftest import require

    require(bool(ok), "cannot mount a tmpfs here (needs root): the full-disk case is not run")
    yield mnt
    subprocess.run(["umount", str(mnt)], capture_output=True)


@pytest.mark.parametrize("command", ["convert", "build"])
def test_full_disk(tiny_tmpfs, command):
    """No space left mid-write: one clear error (exit 2), and nothing left on the full file system."""
    out = tiny_tmpfs / "out"
    if command == "convert":
        r = run_cli("convert", MODEL, "-o", out, "-q", "fp32,fp16")
    else:
        r = run_cli("build", MODEL, "-o", out, "-q", "fp32,fp16", "--delegates", "cpu", "--runs", "2", "--target-ci", "0",
                    "--warmup", "0", "--threads", "1", "--cache-dir", tiny_tmpfs.parent / "cache")
    assert_clean_error(r, 2, "No space left on device")
    assert list(tiny_tmpfs.iterdir()) == []
