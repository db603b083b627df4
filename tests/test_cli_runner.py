"""The suite's CLI runner: a call forked from the TensorFlow-loaded zygote answers exactly as a fresh
``python -m mobilepack`` does (exit code, stdout, stderr), in the call's folder and environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.cli_runner import forkable, run_forked
from tests.conftest import DIGITS

CALLS = {
    "version": (["--version"], None, {}),
    "help": (["convert", "--help"], None, {}),
    "usage-error": (["convert"], None, {}),
    "bad-option": (["build", "x.keras", "--quantize", "int3"], None, {}),
    # a path relative to the call's folder, in its error message
    "relative-path": (["inspect", "digits_missing.tflite"], "examples", {}),
    "cwd-model": (["inspect", "digits/digits.keras", "--no-gpu", "--json"], "examples", {}),
    # a variable mobilepack reads when its console module is imported
    "debug-env": (["inspect", "nope.tflite"], None, {"MOBILEPACK_DEBUG": "1"}),
}


def _fresh(args, cwd, env):
    """A fresh interpreter with exactly this environment (run_cli would drop MOBILEPACK_DEBUG)."""
    return subprocess.run([sys.executable, "-m", "mobilepack", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)


@pytest.mark.parametrize("name", CALLS)
def test_a_forked_call_answers_as_a_fresh_interpreter(name):
    args, folder, env = CALLS[name]
    cwd = DIGITS.parent.parent / folder if folder else None
    full_env = {k: v for k, v in os.environ.items() if k != "MOBILEPACK_DEBUG"} | env
    forked = run_forked(args, full_env, cwd, timeout=120)
    assert forked is not None, "the zygote did not start"
    fresh = _fresh(args, cwd, full_env)
    assert (forked[0], forked[1], _settled(forked[2])) == (fresh.returncode, fresh.stdout, _settled(fresh.stderr))


def _settled(stderr: str) -> str:
    """stderr without the progress lines, whose spinner frame and elapsed time depend on timing."""
    return "\n".join(line for line in stderr.split("\n") if not (line[:1] and 0x2800 <= ord(line[0]) <= 0x28FF))


def test_a_call_past_its_timeout_is_killed_and_the_zygote_serves_on(tmp_path):
    env = dict(os.environ)
    with pytest.raises(subprocess.TimeoutExpired):
        run_forked(["convert", str(DIGITS / "digits.keras"), "-o", str(tmp_path / "out"), "--quantize", "fp32"],
                   env, None, timeout=0.5)
    rc, out, _ = run_forked(["--version"], env, None, timeout=60)
    assert rc == 0 and out.strip()


def test_import_time_variables_and_installed_runs_go_fresh(monkeypatch):
    from tests.cli_runner import _ZYGOTE

    assert run_forked(["--version"], dict(os.environ), None, timeout=60)[0] == 0   # the zygote runs
    base = dict(_ZYGOTE["env"])   # the environment it imported TensorFlow under (earlier tests may differ)
    assert forkable(base)
    assert forkable(base | {"MOBILEPACK_CACHE_DIR": "/tmp/x"})
    assert not forkable(base | {"TF_CPP_MIN_LOG_LEVEL": "0" if base.get("TF_CPP_MIN_LOG_LEVEL") != "0" else "1"})
    assert not forkable(base | {"PYTHONHASHSEED": "1" if base.get("PYTHONHASHSEED") != "1" else "2"})
    flipped = "0" if base.get("TF_CPP_MIN_LOG_LEVEL") != "0" else "1"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", flipped)   # os.environ changed after the zygote imported TF
    assert not forkable(dict(os.environ))
    monkeypatch.setenv("MOBILEPACK_TEST_INSTALLED", "1")
    assert not forkable(dict(os.environ))
