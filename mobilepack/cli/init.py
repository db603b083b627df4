"""``mobilepack init``: write a commented starter mobilepack.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mobilepack.cli._console import handle_errors, out_console


def init_command(
    source: Annotated[Optional[str], typer.Argument(help="The model the config is for (optional).")] = None,
    path: Annotated[Path, typer.Option("--path", help="Where to write the file.")] = Path("mobilepack.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented mobilepack.toml listing every build option with its default."""
    with handle_errors():
        from mobilepack.config import starter_config
        from mobilepack.errors import OutputError

        if path.exists() and not force:
            raise OutputError(f"{path} already exists", "pass --force to overwrite it")
        try:
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(starter_config(source), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}", "choose a writable --path") from exc
        out_console().print(f"wrote {path} — edit it, then run `mobilepack build --config {path}`")
