"""Running native inference in a fresh child process.

A crash inside the runtime (a segfault in a delegate, an abort in a driver)
must become a recorded failure, never take the parent down.  The child is forked
from a pre-warmed zygote (:mod:`mobilepack.runtime.zygote`: LiteRT imported once,
so a child costs milliseconds instead of an interpreter start and LiteRT's
import), or, where that cannot serve, started as
``python -m mobilepack.runtime.child MODULE:FUNCTION RESULT_PATH`` with the
request as JSON on stdin.  Either way the function's JSON answer is read from
``RESULT_PATH``.  ``MOBILEPACK_CHILD_FORK=0`` always starts a new interpreter.  Everything the native code prints on fds 1/2 is kept
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

from mobilepack.runtime.pool import SPAWNED, ZYGOTES as _ZYGOTE, kill_pid_group


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


def run_in_child(target: str, request, *, timeout: float, env: dict[str, str] | None = None,
                 forkable: frozenset[str] | set[str] = frozenset()) -> ChildOutcome:
    """Run ``target`` (``"package.module:function"``) on ``request`` in a fresh child process.

    The child is forked from the pre-warmed zygote (:mod:`mobilepack.runtime.zygote`) when it can be,
    else started as a new interpreter; either way it is a separate process with its own session.
    ``forkable`` names variables of ``env`` that native code reads only when it starts working (a
    delegate's :class:`~mobilepack.runtime.behaviour.ChildSetup` says which), so a fork may set them."""
    child_env = dict(os.environ)
    child_env.update(env or {})
    child_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
    with tempfile.TemporaryDirectory(prefix="mobilepack-child-") as tmp:
        result_path = os.path.join(tmp, "answer.json")
        log_path = os.path.join(tmp, "log.txt")
        start = time.perf_counter()
        returncode, timed_out = None, False
        forked = _fork_allowed() and _ZYGOTE.run(
            {"target": target, "request": request, "result": result_path, "log": log_path, "environ": child_env,
             "sys_path": list(sys.path), "cwd": os.getcwd()}, timeout, env or {}, forkable)
        if forked:
            returncode, timed_out = forked
        else:
            returncode, timed_out = _spawn(target, request, result_path, log_path, child_env, timeout)
        seconds = time.perf_counter() - start
        log = ""
        if os.path.exists(log_path):
            with open(log_path, "rb") as f:
                log = f.read().decode("utf-8", "replace")
        answer = None
        if not timed_out and os.path.exists(result_path):
            try:
                with open(result_path, encoding="utf-8") as f:
                    answer = json.load(f)
            except (OSError, ValueError):
                answer = None
    return ChildOutcome(answer=answer, returncode=None if timed_out else returncode, log=log,
                        timed_out=timed_out, seconds=seconds)


def _spawn(target: str, request, result_path: str, log_path: str, child_env: dict, timeout: float):
    """A new interpreter: ``python -m mobilepack.runtime.child TARGET RESULT`` with the request on stdin."""
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mobilepack.runtime.child", target, result_path],
            stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT, env=child_env,
            start_new_session=True)
        SPAWNED.add(proc)
        timed_out = False
        try:
            proc.communicate(json.dumps(request).encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(proc)
        except KeyboardInterrupt:
            kill_group(proc)
            raise
        finally:
            SPAWNED.discard(proc)
    return proc.returncode, timed_out


def _fork_allowed() -> bool:
    return os.environ.get("MOBILEPACK_CHILD_FORK", "1") != "0" and hasattr(os, "fork")


def prestart(count: int = 1) -> None:
    """Start ``count`` zygotes now, so their imports overlap the caller's own work (e.g. conversion)."""
    if _fork_allowed():
        _ZYGOTE.prestart(count)


def kill_group(proc: subprocess.Popen) -> None:
    """Kill ``proc`` and its process group (it was started with ``start_new_session``) and reap it."""
    kill_pid_group(proc.pid)
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


def answer_request(target: str, request, result_path: str) -> None:
    """In the child: cap memory, run ``target`` on ``request`` and write its JSON answer atomically."""
    limit_memory()
    module_name, func_name = target.split(":")
    answer = getattr(importlib.import_module(module_name), func_name)(request)
    sys.stdout.flush()
    sys.stderr.flush()
    tmp = result_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(answer, f)
    os.replace(tmp, result_path)


def _main(argv: list[str]) -> int:
    request = json.loads(sys.stdin.read() or "{}")
    answer_request(argv[1], request, argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
