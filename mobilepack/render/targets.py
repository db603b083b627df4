"""The registry of render targets (android, ios, ...).

A target is one module that calls :func:`register` with a :class:`Target`:
its template folder under ``templates/``, the Jinja filters its languages need,
how it validates its identifier option, and the extra binary assets it ships.
Adding a target is one new module plus one import in :func:`_load_builtin`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mobilepack.errors import UsageError


@dataclass(frozen=True)
class Target:
    name: str
    template_dir: str                      # relative to templates/
    description: str
    id_option: str                         # "--package" or "--bundle-id"
    default_id: Callable[[str], str]       # app name -> default identifier
    validate_id: Callable[[str], None]     # raises UsageError
    filters: dict[str, Callable[..., str]] = field(default_factory=dict)
    # (RenderInputs, context) -> {relative output path: bytes}: the model, labels, sample images
    # (see mobilepack.render.context.common_assets)
    assets: Callable[[Any, dict[str, Any]], dict[str, bytes]] | None = None
    # (context) -> extra template variables for this target (e.g. pbxproj object ids)
    extend_context: Callable[[dict[str, Any]], dict[str, Any]] | None = None


_TARGETS: dict[str, Target] = {}


def register(target: Target) -> None:
    _TARGETS[target.name] = target


def _load_builtin() -> None:
    import importlib

    for module in ("mobilepack.render.android", "mobilepack.render.ios"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a target still being written
            if exc.name != module:
                raise


def get(name: str) -> Target:
    _load_builtin()
    if name not in _TARGETS:
        valid = sorted(_TARGETS)
        close = difflib.get_close_matches(name, valid, n=1)
        raise UsageError(f"unknown target {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                         f"valid targets: {', '.join(valid) or 'none installed'}")
    return _TARGETS[name]


def names() -> list[str]:
    _load_builtin()
    return sorted(_TARGETS)
