"""A process that has imported TensorFlow, Keras and LiteRT once and forks a fresh child per CLI call.

Most of the suite's time went on starting Python: every ``run_cli`` paid about 4 s importing
TensorFlow and Keras before mobilepack read its first argument.  This module is that import done
once per xdist worker; each call is still a process of its own (``fork``): its own exit code,
stdout and stderr (files, never a terminal, as with ``capture_output``), environment and working
folder, ``python -m mobilepack`` run by :mod:`runpy` as the real entry point does, and the
interpreter's exit handlers run before it exits.

What a forked call does not see, and where the suite keeps real ``python -m mobilepack`` processes
(``run_cli(..., fresh=True)``, chosen automatically by :mod:`tests.cli_runner`):

* which modules a command imports (tests of start-up cost run their own interpreter).  mobilepack
  itself is not imported by the zygote, so what it reads from the environment at import time is read
  in each child;
* variables read when TensorFlow is imported (``TF_CPP_*``, ``CUDA_*``, ``PYTHON*``, ``LD_*``): a call
  that changes one runs fresh;
* an installed package under test (``MOBILEPACK_TEST_INSTALLED=1``): every call runs fresh.

Protocol, one JSON object per line on stdin / stdout: ``{"args", "env", "cwd", "out", "err"}`` (and an
optional ``"module"``, default ``mobilepack``) in;
``{"pid"}`` when the child started, then ``{"rc"}`` when it ended (``-N`` for signal N, as
``subprocess`` says).  Run as ``python -m tests.cli_zygote``.
"""

from __future__ import annotations

import json
import os
import signal
import sys


def _child(request: dict) -> None:
    """In the forked child: become ``python -m mobilepack ARGS`` (or ``python -m MODULE ARGS`` for a
    request naming ``module``, e.g. tests/interrupt_child.py) and never return.  Its stdin, stdout
    and stderr (the server's request and reply pipes among them) are replaced by /dev/null and the
    two files."""
    import atexit
    import runpy

    signal.signal(signal.SIGINT, signal.default_int_handler)
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (2, request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        target = os.open(path, flags, 0o600)
        if target != fd:
            os.dup2(target, fd)
            os.close(target)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.path[0] = request["cwd"]  # what `python -m` puts first
    module = request.get("module", "mobilepack")
    sys.argv = [module, *request["args"]]
    code = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if not isinstance(exit_.code, int) and exit_.code is not None:
            print(exit_.code, file=sys.stderr)
    except BaseException:  # what the interpreter does with an uncaught exception
        import traceback

        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def _status(raw: int) -> int:
    return -os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)


def serve() -> None:
    import ai_edge_litert.interpreter  # noqa: F401
    import keras  # noqa: F401
    import tensorflow  # noqa: F401

    reply = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        reply.write(json.dumps({"pid": pid}) + "\n")
        reply.flush()
        _, raw = os.waitpid(pid, 0)
        reply.write(json.dumps({"rc": _status(raw)}) + "\n")
        reply.flush()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in pytest stops the calls, not the server
    serve()
