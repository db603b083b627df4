"""The zygotes that fork native-inference children (:mod:`mobilepack.runtime.zygote` is their side),
and running several children at once: a stage whose children are mostly single-threaded (lint's
probes, evaluate's cells) runs one per core with :func:`run_concurrently`, each on its own zygote."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

# Only variables that native code reads when it starts working (not at load time) may differ
# between the zygote and a forked child.  LD_LIBRARY_PATH is read once, at process start: the zygote
# starts with the one the GPU needs (chromium's libvulkan.so.1 where no system loader exists), and a
# request that needs another gets a new interpreter.
_FORKABLE_ENV = {"VK_ICD_FILENAMES", "VK_DRIVER_FILES", "MOBILEPACK_CHILD_MEMORY_MB", "TF_CPP_MIN_LOG_LEVEL"}


class _ZygoteClient:
    """The caller's side of :mod:`mobilepack.runtime.zygote` (started on first use, one per process)."""

    def __init__(self) -> None:
        import threading

        self.proc: subprocess.Popen | None = None
        self.library_path: str | None = None
        self.broken = False
        self.buf = b""
        self.lock = threading.Lock()
        self.running: int | None = None    # the pid of the child it waits for (pool.kill_running)

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
            pid = self.running = started["pid"]
            timed_out = False
            try:
                done = self._readline(time.monotonic() + timeout)
                if done is None:
                    timed_out = True
                    kill_pid_group(pid)
                    done = self._readline(time.monotonic() + 60)
            except KeyboardInterrupt:
                kill_pid_group(pid)
                try:
                    self._readline(time.monotonic() + 10)
                except Exception:
                    self.close()
                raise
            except (OSError, EOFError, ValueError):
                kill_pid_group(pid)
                return self._give_up()
            finally:
                self.running = None
            if done is None:
                return self._give_up()
            return os.waitstatus_to_exitcode(done["status"]), timed_out


class _ZygotePool:
    """One zygote per child running at once: a caller takes a free one (the most recently used, so a
    one-at-a-time caller keeps a single zygote), and a second is started only when two callers run
    children at the same time (:func:`run_concurrently`)."""

    def __init__(self) -> None:
        import threading

        self.clients: list[_ZygoteClient] = []
        self.free: list[_ZygoteClient] = []
        self.cond = threading.Condition()

    def _take(self) -> _ZygoteClient:
        with self.cond:
            if not self.free:
                self.clients.append(_ZygoteClient())
                return self.clients[-1]
            return self.free.pop()

    def run(self, job: dict, timeout: float, env: dict[str, str], forkable=frozenset()):
        client = self._take()
        try:
            return client.run(job, timeout, env, forkable)
        finally:
            with self.cond:
                self.free.append(client)

    def prestart(self, count: int = 1) -> None:
        """Start ``count`` zygotes now (a new one's Popen returns at once; its imports run beside the
        caller's work), so that the first ``count`` children run at once do not wait for them."""
        with self.cond:
            while len(self.clients) < count:
                self.clients.append(_ZygoteClient())
                self.free.insert(0, self.clients[-1])   # taken after the ones already warm
            clients = self.clients[:count]
        for client in clients:
            if client.lock.acquire(blocking=False):   # one that is serving a caller is running already
                try:
                    client._start()
                finally:
                    client.lock.release()

    def kill_running(self) -> None:
        """Kill the children the zygotes' callers wait for (an interrupted :func:`run_concurrently`)."""
        for client in list(self.clients):
            if client.running is not None:
                kill_pid_group(client.running)

    def pids(self) -> set[int]:
        """The live zygotes' process ids (a caller may be served by any of them: the free one used last)."""
        return {c.proc.pid for c in list(self.clients) if c.proc is not None and c.proc.poll() is None}

    @property
    def broken(self) -> bool:
        return bool(self.clients) and self.clients[0].broken


ZYGOTES = _ZygotePool()
SPAWNED: set = set()   # new-interpreter children in flight (runtime.child._spawn; an interrupted run_concurrently kills them)


def kill_spawned() -> None:
    """Kill the new-interpreter children in flight (their callers' threads then see them end)."""
    for proc in list(SPAWNED):
        kill_pid_group(proc.pid)


def kill_pid_group(pid: int) -> None:
    """SIGKILL the process group ``pid`` leads (a child started in its own session), else the process."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def child_workers(jobs: str | int | None = None) -> int:
    """How many native-inference children a stage runs at once: one per core, at most two (lint's
    and evaluate's children are mostly single-threaded; bench's never overlap).  ``jobs`` "1" (or 1)
    keeps one at a time; ``MOBILEPACK_CHILD_WORKERS`` overrides the core count."""
    if str(jobs) == "1":
        return 1
    try:
        cores = int(os.environ.get("MOBILEPACK_CHILD_WORKERS", "0")) or (os.cpu_count() or 1)
    except ValueError:
        cores = os.cpu_count() or 1
    return max(1, min(2, cores))


def run_concurrently(fn, items: list, workers: int, on_done=None) -> list:
    """``[fn(item) for item in items]``, with up to ``workers`` calls at once (threads whose work is
    waiting for child processes).  ``on_done(index, result)`` runs in the caller's thread as each one
    finishes.  Ctrl-C kills the children in flight and re-raises."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    results: list = [None] * len(items)
    if workers <= 1 or len(items) <= 1:
        for i, item in enumerate(items):
            results[i] = fn(item)
            if on_done is not None:
                on_done(i, results[i])
        return results
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mobilepack-child")
    pending: dict = {}
    try:
        pending = {pool.submit(fn, item): i for i, item in enumerate(items)}
        while pending:
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                i = pending.pop(future)
                results[i] = future.result()
                if on_done is not None:
                    on_done(i, results[i])
    except BaseException:
        for future in pending:
            future.cancel()
        deadline = time.monotonic() + 10     # a child being forked right now is killed on the next round
        while any(not f.done() for f in pending) and time.monotonic() < deadline:
            ZYGOTES.kill_running()
            kill_spawned()
            wait(pending, timeout=0.1)
        pool.shutdown(wait=False)
        raise
    pool.shutdown(wait=True)
    return results
