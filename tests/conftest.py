"""Shared fixtures and helpers.

* ``require(ok, reason)``: skip with a visible reason when a system tool is missing —
  but fail when ``CI=true`` (CI must run everything).
* ``run_cli(*args)``: run ``python -m mobilepack`` in a child process (real exit codes,
  real stderr).
* tiny models built in the tests, session-scoped so TensorFlow work is shared.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "examples" / "digits"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# tests/setup/other-pythons.sh tests the installed package: fail at once if the source tree was imported
if os.environ.get("MOBILEPACK_TEST_INSTALLED") == "1":
    import mobilepack

    if Path(mobilepack.__file__).resolve().parent == ROOT / "mobilepack":
        raise pytest.UsageError(f"MOBILEPACK_TEST_INSTALLED=1 but mobilepack came from the source tree: "
                                f"{mobilepack.__file__} (run with PYTHONSAFEPATH=1 and --import-mode=append)")


def require(ok: bool, reason: str) -> None:
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and a required tool is missing: {reason}")
    pytest.skip(reason)


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, timeout: float = 300, env: dict | None = None, cwd: str | Path | None = None,
            fresh: bool = False) -> CliResult:
    """``python -m mobilepack ARGS`` in a process of its own: forked from a worker that has imported
    TensorFlow once (tests/cli_zygote.py), or a fresh interpreter when ``fresh`` or when the call's
    environment is read at import time (tests/cli_runner.py)."""
    from tests.cli_runner import forkable, run_forked

    full_env = dict(os.environ, **(env or {}))
    full_env.pop("MOBILEPACK_DEBUG", None)
    if not fresh and forkable(full_env):
        forked = run_forked([str(a) for a in args], full_env, cwd, timeout)
        if forked is not None:
            return CliResult(*forked)
    proc = subprocess.run([sys.executable, "-m", "mobilepack", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=cwd)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def assert_clean_error(result: CliResult, code: int, *fragments: str) -> None:
    """Exit code, one error line plus an optional hint line, no traceback, and the fragments."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert any(ln.strip().startswith("hint:") for ln in lines), result.stderr
    text = " ".join(lines)
    for f in fragments:
        assert f in text, (f, result.stderr)


def interrupt_when(proc, ready, *, timeout: float, what: str, poll: float = 0.05) -> tuple[int, str]:
    """Wait until ``ready()`` while ``proc`` runs, send it SIGINT, and return (exit code, stderr)."""
    import signal
    import time

    deadline = time.time() + timeout
    became_ready = False
    while time.time() < deadline and proc.poll() is None and not became_ready:
        became_ready = bool(ready())
        if not became_ready:
            time.sleep(poll)
    assert became_ready and proc.poll() is None, f"{what} never happened: {proc.communicate()}"
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:   # say what still runs (and holds the pipes), then end it
        tree = subprocess.run(["ps", "-eo", "pid,ppid,pgid,stat,etime,args", "--forest"], capture_output=True,
                              text=True).stdout
        proc.kill()
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            err = "(not read: another process still holds its stderr)"
        raise AssertionError(f"{what}: no exit within 180 s of SIGINT (it exited {proc.returncode} once killed)\n"
                             f"processes then:\n{tree[-6000:]}\nits stderr:\n{err[-3000:]}") from None
    return proc.returncode, err


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (relative name -> bytes), for 'unchanged' assertions."""
    if not path.exists():
        return {}
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def digits_model() -> Path:
    return DIGITS / "digits.keras"


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` runs with the grouping and order of tests/scheduling.py."""
    if config.getoption("dist") != "loadfile":
        return None
    from tests.scheduling import GroupedFileScheduling

    return GroupedFileScheduling(config, log)
