"""``mobilepack render``: a demo app project from a converted model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mobilepack.cli._console import handle_errors, out_console, print_json
from mobilepack.cli._options import JsonOpt, MeanOpt, OutOpt, StdOpt


def render_command(
    source: Annotated[Path, typer.Argument(help="A `mobilepack convert` output directory, or a .tflite.",
                                           show_default=False)],
    out: OutOpt,
    target: Annotated[str, typer.Option("--target", "-t", help="Project to render: android, ios or server "
                                        "(server: from a `build` output).")] = "android",
    variant: Annotated[Optional[str], typer.Option(
        "--variant", help="Which converted variant the app ships (fp32, fp16, dynamic, int8, int16x8).")] = None,
    app_name: Annotated[Optional[str], typer.Option("--app-name", help="Visible app name.")] = None,
    package: Annotated[Optional[str], typer.Option("--package", help="Android application id (com.example.app).")] = None,
    bundle_id: Annotated[Optional[str], typer.Option("--bundle-id", help="iOS bundle identifier (com.example.app).")] = None,
    labels: Annotated[Optional[Path], typer.Option("--labels", help="Labels file, one per line.")] = None,
    samples: Annotated[Optional[Path], typer.Option("--samples", help="Folder of sample images bundled into the app.")] = None,
    mean: MeanOpt = None,
    std: StdOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Render a ready-to-build demo app project (Android Gradle or iOS Xcode) for a converted model."""
    with handle_errors():
        from mobilepack.errors import UsageError
        from mobilepack.render.renderer import render_project
        from mobilepack.render.sources import render_inputs
        from mobilepack.render.targets import get as get_target

        tgt = get_target(target)
        if tgt.writer is not None:   # the server target: from a build's OUT, measured again here
            return _render_server(source, out, json_out)
        given = {"package": package, "bundle_id": bundle_id}
        for key, value in given.items():
            if value is not None and key != tgt.id_key:
                flag = "--" + key.replace("_", "-")
                raise UsageError(f"{flag} does not apply to --target {tgt.name}", f"use {tgt.id_flag}")
        app_id = given.get(tgt.id_key)
        inputs = render_inputs(source, app_name=app_name, app_id=app_id, default_id=tgt.default_id,
                               variant=variant, labels=labels, mean=mean, std=std, samples=samples)
        result = render_project(tgt.name, inputs, out)
        if json_out:
            print_json(result.to_dict())
            return
        console = out_console()
        console.print(f"rendered the {tgt.name} project for [bold]{inputs.app_name}[/] "
                      f"({inputs.variant}) into [bold]{result.out_dir}[/] ({len(result.files)} files)")
        console.print(f"next: see {result.out_dir}/README.md")


def _render_server(source: Path, out: Path, json_out: bool) -> None:
    from mobilepack.server.render import render_server

    record = render_server(source, out)
    if json_out:
        print_json({"target": "server", "out_dir": str(Path(out).absolute()), "server": record})
        return
    out_console().print(f"wrote the server setups for [bold]{record['name']}[/] into [bold]{Path(out).absolute()}[/] "
                        f"(Ray Serve: {record['ray']['variant']}, batch ≤ {record['ray']['max_batch_size']})")
    out_console().print(f"next: mobilepack serve {out}")
