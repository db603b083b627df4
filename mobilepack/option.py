"""One option of ``mobilepack.toml``: its kind, default, help and valid values.

A leaf module: the sections that define options (``config``, ``compress.options``)
import it, and it imports nothing of mobilepack, so no section needs ``config``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Option:
    kind: str                 # "str" | "int" | "float" | "bool" | "path" | "list[str]" | "list[int]" | "list[float]" | "table[list[int]]"
    default: Any
    help: str
    # the valid values, or a registry's ``names`` function (read when checked, so a mode, target or
    # delegate registered after import is valid too)
    choices: tuple[str, ...] | Callable[[], Iterable[str]] = ()
    example: Any = None       # shown (commented) in the starter file when default is None

    def valid(self) -> tuple[str, ...]:
        """The valid values now (empty: any value of the kind)."""
        return tuple(self.choices() if callable(self.choices) else self.choices)
