"""The Jinja environment and where the templates live.

From a checkout the templates are the top-level ``templates/`` folder; in an
installed wheel they are packaged as ``mobilepack/templates/``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from mobilepack.errors import MobilepackError

_PACKAGE = Path(__file__).resolve().parent.parent


def templates_root() -> Path:
    for candidate in (_PACKAGE / "templates", _PACKAGE.parent / "templates"):
        if (candidate / "report").is_dir():
            return candidate
    raise MobilepackError("mobilepack's templates are missing from this installation",
                          "reinstall mobilepack (pip install --force-reinstall mobilepack)")


@lru_cache(maxsize=None)
def environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_root())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    return env


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)
