"""Running native inference in a fresh child process.

A crash inside the runtime (a segfault in a delegate, an abort in a driver)
must become a recorded failure, never take the parent down.  The parent starts
``python -m mobilepack.runtime.child MODULE:FUNCTION RESULT_PATH``, writes the
request as JSON on the child's stdin, and reads the function's JSON answer
from ``RESULT_PATH``.  Everything the native code prints on fds 1/2 is kept
(LiteRT tells *why* it refused a model only there).

The function runs in the child and must return a JSON-serialisable dict.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ChildOutcome:
    """What happened to one child: its answer, or how it died."""

    answer: dict | None        # the function's return value; None when the child gave none
    returncode: int | None     # None when it was killed for the timeout
    log: str                   # everything it wrote on stdout/stderr (native logs included)
    timed_out: bool
    seconds: float

    @property
    def signal_name(self) -> str | None:
        if self.returncode is not None and self.returncode < 0:
            try:
                return signal.Signals(-self.returncode).name
            except ValueError:
                return f"signal {-self.returncode}"
        return None

    def failure(self) -> str | None:
        """A one-line reason when the child did not answer, else None."""
        if self.timed_out:
            return f"timed out after {self.seconds:.3g} s"
        if self.signal_name:
            return f"crashed ({self.signal_name})"
        if self.answer is None:
            tail = last_error_line(self.log)
            return f"exited with code {self.returncode}" + (f": {tail}" if tail else "")
        return None


def last_error_line(log: str) -> str:
    """The last line of a native log that looks like an error, else the last line."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith(("ERROR", "E0", "Traceback")) or "Error" in ln:
            return ln[:300]
    return lines[-1][:300] if lines else ""


def run_in_child(target: str, request, *, timeout: float, env: dict[str, str] | None = None) -> ChildOutcome:
    """Run ``target`` (``"package.module:function"``) on ``request`` in a fresh interpreter."""
    child_env = dict(os.environ)
    child_env.update(env or {})
    child_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
    with tempfile.TemporaryDirectory(prefix="mobilepack-child-") as tmp:
        result_path = os.path.join(tmp, "answer.json")
        log_path = os.path.join(tmp, "log.txt")
        start = time.perf_counter()
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mobilepack.runtime.child", target, result_path],
                stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT, env=child_env,
                start_new_session=True)
            timed_out = False
            try:
                proc.communicate(json.dumps(request).encode(), timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
            except KeyboardInterrupt:
                _kill_group(proc)
                raise
        seconds = time.perf_counter() - start
        with open(log_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        answer = None
        if not timed_out and os.path.exists(result_path):
            try:
                with open(result_path, encoding="utf-8") as f:
                    answer = json.load(f)
            except (OSError, ValueError):
                answer = None
    return ChildOutcome(answer=answer, returncode=None if timed_out else proc.returncode, log=log,
                        timed_out=timed_out, seconds=seconds)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


DEFAULT_MEMORY_LIMIT = 16 << 30  # bytes of address space; MOBILEPACK_CHILD_MEMORY_MB overrides


def limit_memory() -> int | None:
    """Cap this (child) process's address space, so a model with absurd tensors fails with an
    allocation error instead of exhausting the machine.  Returns the limit set."""
    import resource

    try:
        limit = int(os.environ.get("MOBILEPACK_CHILD_MEMORY_MB", "0")) << 20 or DEFAULT_MEMORY_LIMIT
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or hard > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
            return limit
    except (ValueError, OSError):
        return None
    return None


def _main(argv: list[str]) -> int:
    limit_memory()
    target, result_path = argv[1], argv[2]
    module_name, func_name = target.split(":")
    request = json.loads(sys.stdin.read() or "{}")
    answer = getattr(importlib.import_module(module_name), func_name)(request)
    sys.stdout.flush()
    sys.stderr.flush()
    tmp = result_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(answer, f)
    os.replace(tmp, result_path)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
