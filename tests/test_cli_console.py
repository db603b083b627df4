"""The CLI's error mapping: one line, the documented exit code, and Ctrl-C recognised even when a
native module turns the KeyboardInterrupt into another exception."""

from __future__ import annotations

import os
import signal

import pytest
import typer

from mobilepack.cli._console import handle_errors
from mobilepack.errors import InputError


def _interrupt_then(exc: Exception):
    try:
        os.kill(os.getpid(), signal.SIGINT)  # delivered to handle_errors' handler
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
    except KeyboardInterrupt:
        raise exc from None  # what a pybind module import does with it ("initialization failed")


@pytest.mark.parametrize("exc", [ImportError("initialization failed"), RuntimeError("native abort"),
                                 InputError("runtime gave up", "hint")], ids=["import", "runtime", "mobilepack"])
def test_interrupt_surfacing_as_another_exception_exits_130(exc, capsys):
    with pytest.raises(typer.Exit) as e:
        with handle_errors():
            _interrupt_then(exc)
    assert e.value.exit_code == 130


def test_errors_keep_their_codes_without_interrupt():
    with pytest.raises(typer.Exit) as e:
        with handle_errors():
            raise InputError("bad", "fix it")
    assert e.value.exit_code == 2
    with pytest.raises(typer.Exit) as e:
        with handle_errors():
            raise RuntimeError("a bug")
    assert e.value.exit_code == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
