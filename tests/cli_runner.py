"""Runs ``python -m mobilepack`` for the tests: a child forked from :mod:`tests.cli_zygote` (TensorFlow
already imported) where that is faithful, a fresh interpreter where it is not (see the zygote's
docstring for the rule).  One zygote per test process, started at the first call and stopped at exit.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# variables read while TensorFlow or Python start: a call that sets one differently runs fresh
IMPORT_TIME_PREFIXES = ("PYTHON", "TF_CPP", "TF_ENABLE", "CUDA", "LD_", "OMP_", "MKL_", "XLA_")

_ZYGOTE: dict = {}


def forkable(env: dict) -> bool:
    """Whether a call with this environment can be a fork of the zygote."""
    if os.environ.get("MOBILEPACK_TEST_INSTALLED") == "1" or os.environ.get("MOBILEPACK_TEST_FRESH") == "1":
        return False
    # compared with the environment the zygote imported TensorFlow under (a test may have changed os.environ since)
    started = _ZYGOTE.get("env", os.environ)
    changed = {k for k in set(env) | set(started) if env.get(k) != started.get(k)}
    return not any(k.startswith(IMPORT_TIME_PREFIXES) for k in changed)


def _zygote() -> subprocess.Popen | None:
    proc = _ZYGOTE.get("proc")
    if proc is not None and proc.poll() is None:
        return proc
    if _ZYGOTE.get("failed"):
        return None
    proc = subprocess.Popen([sys.executable, "-m", "tests.cli_zygote"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=ROOT, bufsize=1)
    _ZYGOTE["proc"], _ZYGOTE["env"] = proc, dict(os.environ)
    atexit.register(_stop, proc)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _read(proc: subprocess.Popen, deadline: float | None) -> dict | None:
    """The zygote's next reply, or None when ``deadline`` passed first."""
    while True:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([proc.stdout], [], [], wait)
        if ready:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("the CLI zygote stopped (see the test's stderr)")
            return json.loads(line)
        if deadline is not None and time.monotonic() >= deadline:
            return None


def run_forked(args: list[str], env: dict, cwd, timeout: float,
               module: str = "mobilepack") -> tuple[int, str, str] | None:
    """(exit code, stdout, stderr) of a forked ``python -m MODULE ARGS``, or None when no zygote could start."""
    proc = _zygote()
    if proc is None:
        return None
    with tempfile.TemporaryDirectory(prefix="mobilepack-cli-") as tmp:
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        request = {"args": args, "env": env, "cwd": str(Path(cwd or os.getcwd()).resolve()),
                   "out": str(out), "err": str(err), "module": module}
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        pid = _read(proc, None)["pid"]
        reply = _read(proc, time.monotonic() + timeout)
        if reply is None:
            os.kill(pid, signal.SIGKILL)
            _read(proc, None)
            raise subprocess.TimeoutExpired([module, *args], timeout,
                                            out.read_text(errors="replace"), err.read_text(errors="replace"))
        return reply["rc"], out.read_text(errors="replace"), err.read_text(errors="replace")
