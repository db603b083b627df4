"""``mobilepack report --import FILE...``: merge bench results into one report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mobilepack.cli._console import handle_errors
from mobilepack.cli._options import JsonOpt


def report_command(
    imports: Annotated[Optional[list[Path]], typer.Option(
        "--import", "-i", help="bench.json, a demo app's export, or an adb logcat capture with MobilepackBench "
        "lines (repeatable).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for bench.json, bench.md, bench.html.")] = Path("bench-report"),
    json_out: JsonOpt = False,
) -> None:
    """Merge benchmark results (from mobilepack bench, the demo apps or logcat) into one report."""
    with handle_errors():
        from mobilepack.cli.bench import finish
        from mobilepack.errors import UsageError
        from mobilepack.report.importing import import_results

        if not imports:
            raise UsageError("nothing to report", "pass --import FILE (bench.json, app export or logcat capture)")
        doc = import_results([str(p) for p in imports])
        finish(doc, json_out=json_out, report=out, strict=False)
