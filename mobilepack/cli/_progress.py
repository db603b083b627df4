"""A rich progress display fed by the library's ProgressEvents."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from mobilepack.progress import ProgressEvent


@contextlib.contextmanager
def progress_display(console: Console, *, enabled: bool) -> Iterator:
    """Yields a callback; when disabled (``--json``/``--quiet``) it prints nothing."""
    if not enabled:
        yield None
        return
    columns = [SpinnerColumn(), TextColumn("[bold]{task.fields[stage]:<11}"), TextColumn("{task.description}"),
               BarColumn(bar_width=20), TextColumn("{task.fields[count]}"), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False) as bar:
        overall = bar.add_task("starting", stage="mobilepack", total=None, count="")

        def on_event(event: ProgressEvent) -> None:
            if event.warning:
                bar.console.print(f"[yellow]warning:[/] {event.message}", markup=True, highlight=False)
                return
            kwargs = {"description": event.message, "stage": event.stage, "count": ""}
            if event.total:
                done = event.current - 1 if event.stage == "convert" else event.current
                kwargs.update(total=event.total, completed=done, count=f"{done}/{event.total}")
            bar.update(overall, **kwargs)

        yield on_event
        task = bar.tasks[0]
        bar.update(overall, description="done", stage="mobilepack", count="",
                   completed=task.total if task.total else 0)
