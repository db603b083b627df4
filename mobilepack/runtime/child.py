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
        timed_out = False
        try:
            proc.communicate(json.dumps(request).encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(proc)
        except KeyboardInterrupt:
            kill_group(proc)
            raise
    return proc.returncode, timed_out


# Only variables that native code reads when it starts working (not at load time) may differ
# between the zygote and a forked child.  LD_LIBRARY_PATH is read once, at process start: the zygote
# starts with the one the GPU needs (chromium's libvulkan.so.1 where no system loader exists), and a
# request that needs another gets a new interpreter.
_FORKABLE_ENV = {"VK_ICD_FILENAMES", "VK_DRIVER_FILES", "MOBILEPACK_CHILD_MEMORY_MB", "TF_CPP_MIN_LOG_LEVEL"}


def _fork_allowed() -> bool:
    return os.environ.get("MOBILEPACK_CHILD_FORK", "1") != "0" and hasattr(os, "fork")


class _ZygoteClient:
    """The caller's side of :mod:`mobilepack.runtime.zygote` (started on first use, one per process)."""

    def __init__(self) -> None:
        import threading

        self.proc: subprocess.Popen | None = None
        self.library_path: str | None = None
        self.broken = False
        self.buf = b""
        self.lock = threading.Lock()

    def _start(self) -> bool:
        if self.proc is not None and self.proc.poll() is None:
            return True
        if self.broken:
            return False
        try:
            from mobilepack.runtime.vulkan import discover_vulkan

            env = dict(os.environ)
            env.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
            self.library_path = discover_vulkan().env.get("LD_LIBRARY_PATH")
            if self.library_path:
                env["LD_LIBRARY_PATH"] = self.library_path
            self.proc = subprocess.Popen([sys.executable, "-m", "mobilepack.runtime.zygote"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                                         start_new_session=True)
            self.buf = b""
            import atexit

            atexit.register(self.close)
            return True
        except OSError:
            self.broken = True
            return False

    def close(self) -> None:
        """End of its stdin ends the zygote; nobody waits for it to finish tearing down."""
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except Exception:
                self.proc.kill()
            self.proc = None

    def _give_up(self) -> None:
        """The zygote cannot be trusted any more: close it; the caller starts a fresh child instead."""
        self.broken = True
        self.close()
        return None

    def _readline(self, deadline: float | None):
        import select

        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError("zygote ended")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def run(self, job: dict, timeout: float, env: dict[str, str], forkable=frozenset()):
        """(returncode, timed_out), or None when the zygote cannot serve (the caller then spawns)."""
        with self.lock:
            if not self._start():
                return None
            extra = {k: v for k, v in env.items() if k not in _FORKABLE_ENV and k not in forkable}
            if extra and extra != ({"LD_LIBRARY_PATH": self.library_path} if self.library_path else {}):
                return None
            try:
                self.proc.stdin.write((json.dumps(job) + "\n").encode())
                self.proc.stdin.flush()
                started = self._readline(time.monotonic() + 60)
            except (OSError, EOFError, ValueError):
                return self._give_up()
            if started is None:
                return self._give_up()
            pid = started["pid"]
            timed_out = False
            try:
                done = self._readline(time.monotonic() + timeout)
                if done is None:
                    timed_out = True
                    _kill_pid_group(pid)
                    done = self._readline(time.monotonic() + 60)
            except KeyboardInterrupt:
                _kill_pid_group(pid)
                try:
                    self._readline(time.monotonic() + 10)
                except Exception:
                    self.close()
                raise
            except (OSError, EOFError, ValueError):
                _kill_pid_group(pid)
                return self._give_up()
            if done is None:
                return self._give_up()
            return os.waitstatus_to_exitcode(done["status"]), timed_out


_ZYGOTE = _ZygoteClient()


def prestart() -> None:
    """Start the zygote now, so its imports overlap the caller's own work (e.g. conversion)."""
    if _fork_allowed():
        with _ZYGOTE.lock:
            _ZYGOTE._start()


def _kill_pid_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def kill_group(proc: subprocess.Popen) -> None:
    """Kill ``proc`` and its process group (it was started with ``start_new_session``) and reap it."""
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
