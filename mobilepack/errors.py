"""The error hierarchy.

Every error the user can cause or meet carries a ``message`` (what is wrong),
a ``hint`` (what to do next) and an ``exit_code``.  The CLI catches
:class:`MobilepackError` once, prints one line plus the hint, and exits with the
code.  Exit codes (documented in docs/exit-codes.md):

* 0   success
* 1   processing failure (conversion failed, validation found NaN, ...)
* 2   bad usage or bad input (missing path, not a model, wrong shapes, ...)
* 130 interrupted (Ctrl-C); outputs are left as they were
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class MobilepackError(Exception):
    """Base class: a message, a next step, an exit code."""

    exit_code: int = EXIT_FAILURE

    def __init__(self, message: str, hint: str = "", *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(MobilepackError):
    """An option or argument is invalid (exit 2)."""

    exit_code = EXIT_USAGE


class InputError(MobilepackError):
    """An input file or directory is missing, unreadable or of the wrong kind (exit 2)."""

    exit_code = EXIT_USAGE


class ModelLoadError(InputError):
    """The source model cannot be loaded (exit 2)."""


class DataError(InputError):
    """Calibration / validation / evaluation data do not fit the model (exit 2)."""


class OutputError(MobilepackError):
    """The output location cannot be used (exit 2)."""

    exit_code = EXIT_USAGE


class ConversionError(MobilepackError):
    """The TFLite converter failed (exit 1)."""


class ValidationError(MobilepackError):
    """A converted variant is numerically broken: NaN outputs or wrong shapes (exit 1)."""


class RuntimeFailure(MobilepackError):
    """The LiteRT runtime failed to load or run a model (exit 1)."""
