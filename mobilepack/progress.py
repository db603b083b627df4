"""Progress events: stages report through a callback and never print."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    stage: str                 # "load", "calibration", "export", "convert", "validate", "write"
    message: str
    current: int | None = None
    total: int | None = None
    warning: bool = False


ProgressCallback = Callable[[ProgressEvent], None]


def _ignore(event: ProgressEvent) -> None:
    return None


def or_ignore(callback: ProgressCallback | None) -> ProgressCallback:
    return callback or _ignore
