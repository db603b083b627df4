"""A pre-warmed parent for native-inference child processes.

Starting ``python`` and importing LiteRT (its GPU runtime above all) costs up to a second per child
process, and a build starts dozens.  The zygote is one helper process, started on first use, that
imports numpy and LiteRT's Python modules once and then forks one fresh child per request.  Each
child is still a separate process with its own session (killable as a group), its own log file on
fds 1/2, the caller's environment and the memory cap — a crash or hang ends the child, never the
zygote or the caller.  Nothing native is initialised before the fork (no interpreter, no GPU
environment): only modules are imported.

Protocol over the zygote's stdin/stdout, one JSON line each: the caller sends
``{target, request, result, log, environ}``; the zygote answers ``{"pid": N}`` right after the fork
and ``{"status": S}`` (a ``waitpid`` status) when the child has exited.  End of stdin ends it.
"""

from __future__ import annotations

import json
import os
import sys

PRELOAD = ("numpy", "ai_edge_litert.interpreter", "ai_edge_litert.compiled_model",
           "ai_edge_litert.hardware_accelerator", "mobilepack.runtime.delegates", "mobilepack.runtime.gpu",
           "mobilepack.bench.measure", "mobilepack.bench.definition", "mobilepack.evaluate.accuracy",
           "mobilepack.pipeline.metadata_jobs", "mobilepack.metadata", "mobilepack.model.variant",
           "mobilepack.runtime.interpreter")


def _child(job: dict) -> None:
    """In the forked child: become a fresh session with the caller's environment, run, exit."""
    os.setsid()
    fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.environ.clear()
    os.environ.update(job["environ"])
    sys.path[:] = job.get("sys_path") or sys.path
    if job.get("cwd"):
        os.chdir(job["cwd"])
    from mobilepack.runtime.child import answer_request

    answer_request(job["target"], job["request"], job["result"])


def main() -> int:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional module only costs its import later
            pass
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        out.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _child(job)
                code = 0
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                except Exception:
                    pass
                os._exit(code)
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()
        _, status = os.waitpid(pid, 0)
        out.write(json.dumps({"status": status}) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
