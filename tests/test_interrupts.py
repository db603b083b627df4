"""SIGINT during each stage of `convert` and `build`: OUT is left exactly as it was.

A child Python process runs the library with a progress callback that sends SIGINT to its
own process the first time a given stage reports — a real signal, delivered mid-stage,
at a deterministic point.  The child reports whether KeyboardInterrupt surfaced; the test
checks OUT (which already holds a previous build) byte for byte and that no staging
directory is left behind."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import DIGITS, snapshot

CHILD = r"""
import json, os, signal, sys
stage, kind, out, cache = sys.argv[1:5]
import mobilepack
fired = []
def progress(event):
    if event.stage == stage and not fired:
        fired.append(event.message)
        os.kill(os.getpid(), signal.SIGINT)
D = os.environ["DIGITS"]
try:
    if kind == "convert":
        mobilepack.convert(f"{D}/digits.keras", out, quantize="fp32,int8", calibration=f"{D}/calibration",
                           calibration_samples=20, progress=progress)
    else:
        mobilepack.build(f"{D}/digits.keras", out=out, target="all", cache_dir=cache, quantize=["fp32", "int8"],
                         calibration=f"{D}/calibration", calibration_samples=20, eval_data=f"{D}/eval",
                         labels=f"{D}/labels.txt", runs=3, warmup=0, target_ci=0, threads=[1], progress=progress)
    print(json.dumps({"interrupted": False, "fired": fired}))
except KeyboardInterrupt:
    print(json.dumps({"interrupted": True, "fired": fired}))
"""


@pytest.fixture(scope="module")
def previous(tmp_path_factory):
    """A previous convert output and a previous build output to protect."""
    import mobilepack

    root = tmp_path_factory.mktemp("prev")
    mobilepack.convert(DIGITS / "digits.keras", root / "convert", quantize="fp32")
    mobilepack.build(DIGITS / "digits.keras", out=str(root / "build"), target="android", quantize=["fp32"],
                     cache_dir=str(root / "cache"), runs=3, warmup=0, target_ci=0, threads=[1], delegates=["cpu"])
    return root


def _run(stage: str, kind: str, out, cache) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, stage, kind, str(out), str(cache)], capture_output=True,
                       text=True, timeout=600, env={**__import__("os").environ, "DIGITS": str(DIGITS)})
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


CONVERT_STAGES = ["load", "calibration", "reference", "export", "convert", "validate", "write"]
BUILD_STAGES = ["load", "convert", "validate", "metadata", "inspect", "bench", "evaluate", "select", "render", "write"]


@pytest.mark.parametrize("stage", CONVERT_STAGES)
def test_sigint_during_convert_stage(stage, previous, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(previous / "convert", out)
    before = snapshot(out)
    answer = _run(stage, "convert", out, tmp_path / "cache")
    assert answer["fired"], f"stage {stage!r} never reported"
    assert answer["interrupted"]
    assert snapshot(out) == before
    assert not [p for p in tmp_path.iterdir() if ".mobilepack-" in p.name]


@pytest.mark.parametrize("stage", BUILD_STAGES)
def test_sigint_during_build_stage(stage, previous, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(previous / "build", out)
    before = snapshot(out)
    answer = _run(stage, "build", out, tmp_path / "cache")  # a cold cache: every stage really runs
    assert answer["fired"], f"stage {stage!r} never reported"
    assert answer["interrupted"]
    assert snapshot(out) == before
    assert not [p for p in tmp_path.iterdir() if ".mobilepack-" in p.name]
