"""The typer application.  Only parsing and printing here; the work is in the library.

Importing this module must stay cheap: no TensorFlow, no numpy-heavy imports."""

from __future__ import annotations

from typing import Annotated

import typer

from mobilepack._version import __version__
from mobilepack.cli._console import set_debug
from mobilepack.cli.bench import bench_command
from mobilepack.cli.build import build_command
from mobilepack.cli.compress import compress_app
from mobilepack.cli.convert import convert_command
from mobilepack.cli.inspect import inspect_command
from mobilepack.cli.metadata import metadata_command
from mobilepack.cli.init import init_command
from mobilepack.cli.render import render_command
from mobilepack.cli.report import report_command
from mobilepack.cli.serve import serve_command

app = typer.Typer(
    name="mobilepack",
    help="Ship a trained TensorFlow model to phones: convert, quantize, validate, benchmark, render apps.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        print(f"mobilepack {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    set_debug(debug)


app.command("build")(build_command)
app.command("convert")(convert_command)
app.command("render")(render_command)
app.command("metadata")(metadata_command)
app.command("inspect")(inspect_command)
app.command("init")(init_command)
app.command("bench")(bench_command)
app.command("report")(report_command)
app.command("serve")(serve_command)
app.add_typer(compress_app, name="compress")


def main() -> None:
    import sys

    from mobilepack.model.tfimport import lean_import

    lean_import()
    try:
        app(prog_name="mobilepack")
        code = 0
    except SystemExit as exc:
        if exc.code is not None and not isinstance(exc.code, int):
            raise
        code = exc.code or 0
    if "tensorflow" in sys.modules:
        # Everything is written and reported by now; TensorFlow's interpreter teardown alone takes
        # seconds, so skip it.
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
