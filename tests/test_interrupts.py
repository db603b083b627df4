"""SIGINT during each stage of `convert` and `build`: OUT is left exactly as it was.

A child Python process (tests/interrupt_child.py) runs the library with a progress callback that
sends SIGINT to its own process the first time a given stage reports — a real signal, delivered mid-stage,
at a deterministic point.  The child reports whether KeyboardInterrupt surfaced; the test
checks OUT (which already holds a previous build) byte for byte and that no staging
directory is left behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.cli_runner import ROOT, forkable, run_forked
from tests.conftest import DIGITS, snapshot


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
    """tests/interrupt_child.py in a child process: forked from the CLI zygote (TensorFlow imported
    once per worker, tests/cli_zygote.py), or a fresh interpreter where a fork would not be faithful."""
    args, env = [stage, kind, str(out), str(cache)], {**os.environ, "DIGITS": str(DIGITS)}
    forked = run_forked(args, env, ROOT, 600, module="tests.interrupt_child") if forkable(env) else None
    if forked is None:
        r = subprocess.run([sys.executable, "-m", "tests.interrupt_child", *args], capture_output=True, text=True,
                           timeout=600, env=env, cwd=ROOT)
        forked = (r.returncode, r.stdout, r.stderr)
    rc, stdout, stderr = forked
    assert rc == 0, stderr[-2000:]
    return json.loads(stdout.strip().splitlines()[-1])


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
