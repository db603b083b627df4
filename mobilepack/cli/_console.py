"""Consoles, error mapping and progress display for every command.

The consoles write to duplicates of the original stdout/stderr file descriptors,
so output survives while the library redirects fds 1/2 to silence native logs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import traceback
from collections.abc import Iterator

from rich.console import Console

from mobilepack.errors import EXIT_FAILURE, EXIT_INTERRUPTED, MobilepackError

_state = {"debug": bool(os.environ.get("MOBILEPACK_DEBUG"))}


def set_debug(value: bool) -> None:
    _state["debug"] = value or _state["debug"]


def _dup_stream(fd: int, fallback):
    try:
        return os.fdopen(os.dup(fd), "w", buffering=1, encoding="utf-8", errors="replace")
    except OSError:
        return fallback


_dups: dict[int, object] = {}


def _stream(stream):
    """A duplicate of ``stream``'s file descriptor (cached per fd), or the stream
    itself when it has none (e.g. under a test runner)."""
    if not _has_fileno(stream):
        return stream
    fd = stream.fileno()
    if fd not in _dups:
        stream.flush()
        _dups[fd] = _dup_stream(fd, stream)
    return _dups[fd]


def out_console() -> Console:
    return Console(file=_stream(sys.stdout), soft_wrap=True, highlight=False)


def err_console() -> Console:
    return Console(file=_stream(sys.stderr), stderr=True, highlight=False, soft_wrap=True)


def _has_fileno(stream) -> bool:
    try:
        stream.fileno()
        return True
    except (AttributeError, OSError, ValueError):
        return False


def print_json(payload) -> None:
    stream = out_console().file
    stream.write(json.dumps(payload, indent=2) + "\n")
    stream.flush()


def _raise_interrupt(signum, frame):
    # Remember it: a KeyboardInterrupt raised inside a native module's import or callback can
    # surface as another exception (e.g. "ImportError: initialization failed").
    _state["interrupted"] = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def handle_errors() -> Iterator[None]:
    """Map every failure to one line plus a hint and the documented exit code."""
    import typer

    _state["interrupted"] = False
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    previous_int = signal.signal(signal.SIGINT, _raise_interrupt)
    err = err_console()
    try:
        yield
    except MobilepackError as exc:
        if _state.get("interrupted"):  # e.g. a runtime error caused by the interrupt itself
            err.print("[bold yellow]interrupted[/]: outputs were left as they were")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        if _state["debug"]:
            err.print(traceback.format_exc(), markup=False)
        err.print(f"[bold red]error:[/] {_escape(exc.message)}")
        if exc.hint:
            err.print(f"  [dim]hint:[/] {_escape(exc.hint)}")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("[bold yellow]interrupted[/]: outputs were left as they were")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except typer.Exit:
        raise
    except Exception as exc:  # a bug: still one line unless --debug
        if _state.get("interrupted"):  # the interrupt surfaced as another exception
            err.print("[bold yellow]interrupted[/]: outputs were left as they were")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        if _state["debug"]:
            err.print(traceback.format_exc(), markup=False)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {_escape(first[:300])}")
        err.print("  [dim]hint:[/] rerun with --debug for the traceback and report it")
        raise typer.Exit(EXIT_FAILURE) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
