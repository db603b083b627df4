"""Importing TensorFlow lazily and quietly.

TensorFlow takes seconds to import and writes log noise from C++ straight to
file descriptors 1 and 2.  Everything that needs TF calls :func:`tensorflow`
inside the function that needs it, and wraps noisy native work in
:func:`silenced`, which redirects the process-level stdout/stderr to a
temporary file unless verbose output was asked for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator

_VERBOSE = False
_LEAN = False


def lean_import() -> None:
    """In mobilepack's own processes (the CLI, its converter child): TensorFlow's import loads Keras, and
    Keras loads scikit-learn (when installed) for its scikit-learn wrappers, 0.8-1.7 s of a ~5 s import on
    this 2-core machine.  mobilepack never uses those wrappers; Keras defines them without scikit-learn
    when its import fails, so :func:`tensorflow` hides scikit-learn during the import.  Not done for a
    library caller (``import mobilepack``), whose own Keras may need the wrappers."""
    global _LEAN
    _LEAN = True


def set_verbose(verbose: bool) -> None:
    global _VERBOSE
    _VERBOSE = verbose


def is_verbose() -> bool:
    return _VERBOSE


class CapturedLog:
    """What the native code printed while silenced (available after the block)."""

    def __init__(self) -> None:
        self.text = ""

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.text.strip().splitlines()[-lines:])


@contextlib.contextmanager
def silenced(verbose: bool | None = None) -> Iterator[CapturedLog]:
    """Redirect fds 1 and 2 (and Python warnings) for the duration of the block."""
    log = CapturedLog()
    if verbose if verbose is not None else _VERBOSE:
        yield log
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as sink, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield log
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            log.text = sink.read().decode("utf-8", "replace")


def _quiet_environment() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if not _VERBOSE:
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def tensorflow(need_keras: bool = True):
    """Return the ``tensorflow`` module, importing it quietly the first time.

    ``need_keras`` False (loading a SavedModel source, the second converter): after
    :func:`lean_import`, Keras and the matplotlib it loads for its plotting helpers are left out of
    the import too, ~0.7 s of it on this machine (#21).  Each is importable again afterwards:
    ``import keras`` then loads Keras on its own (~1.6 s, more than within TensorFlow's import, so a
    Keras source's import keeps it)."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    _quiet_environment()
    names = ("sklearn",) if need_keras else ("sklearn", "keras", "matplotlib")
    hidden = [name for name in names if _LEAN and name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None   # type: ignore[assignment]  # `import sklearn` raises ImportError
    try:
        with silenced():
            import tensorflow as tf
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]   # importable again afterwards (Keras' wrappers stay without it)
    if "keras" in hidden:
        _keras_on_path(tf)
    with silenced():
        tf.get_logger().setLevel(logging.ERROR)
        try:
            import absl.logging

            absl.logging.set_verbosity(absl.logging.ERROR)
        except ImportError:  # pragma: no cover - absl ships with TF
            pass
    return tf


def _keras_on_path(tf) -> None:
    """TensorFlow's ``__init__`` puts Keras' folders first on ``tf.__path__`` (so that ``import
    tensorflow.keras`` works); with Keras hidden it put ``None`` there instead.  Put them back as it
    would have (finding a package's folder imports nothing)."""
    from tensorflow.python.tools.module_util import get_parent_dir_for_name

    legacy = os.environ.get("TF_USE_LEGACY_KERAS") in ("true", "True", "1")
    folders = [get_parent_dir_for_name("tf_keras.api._v2.keras" if legacy else "keras.api._v2.keras"),
               get_parent_dir_for_name("keras._tf_keras.keras")]
    tf.__path__[:] = [p for p in folders if p] + [p for p in tf.__path__ if p is not None and p not in folders]


def keras():
    tensorflow()
    with silenced():
        import keras as _keras
    return _keras
