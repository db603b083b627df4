"""The registry of render targets (android, ios, ...).

A target is one module that calls :func:`register` with a :class:`Target`:
its template folder (under ``templates/``, or an absolute path), the Jinja filters
its languages need, which ``[render]`` key of mobilepack.toml holds its app
identifier and how it validates it, and the extra binary assets it ships.  The
built-in targets are imported by :func:`_load_builtin`; any other module that calls
:func:`register` adds a target to ``--target``, mobilepack.toml and ``build``.
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
    template_dir: str                      # relative to templates/, or an absolute path
    description: str
    id_key: str                            # the [render] key of mobilepack.toml (and flag) of its app
                                           # identifier: "package", "bundle_id"
    default_id: Callable[[str], str]       # app name -> default identifier
    validate_id: Callable[[str], None]     # raises UsageError
    filters: dict[str, Callable[..., str]] = field(default_factory=dict)
    # (RenderInputs, context) -> {relative output path: bytes}: the model, labels, sample images
    # (see mobilepack.render.context.common_assets)
    assets: Callable[[Any, dict[str, Any]], dict[str, bytes]] | None = None
    # (context) -> extra template variables for this target (e.g. pbxproj object ids)
    extend_context: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # False: only named explicitly (--target all means the phone apps)
    in_all: bool = True
    # a target that writes its own tree from the build (directory, build state, options, emit) -> record,
    # instead of rendering templates (the server target)
    writer: Callable[..., dict[str, Any]] | None = None

    @property
    def id_flag(self) -> str:
        """The command-line flag of :attr:`id_key` (``bundle_id`` -> ``--bundle-id``)."""
        return "--" + self.id_key.replace("_", "-")


_TARGETS: dict[str, Target] = {}


def register(target: Target) -> None:
    _TARGETS[target.name] = target


def _load_builtin() -> None:
    import importlib

    for module in ("mobilepack.render.android", "mobilepack.render.ios", "mobilepack.server.target"):
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


def expand(name: str) -> tuple[str, ...]:
    """``all`` -> every target in ``all`` (the phone apps); any other name -> that (validated) target."""
    return tuple(n for n in names() if _TARGETS[n].in_all) if name == "all" else (get(name).name,)
