"""``mobilepack inspect``: what a .tflite holds and whether it will deploy.  No TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mobilepack.cli._console import err_console, handle_errors, out_console, print_json
from mobilepack.cli._options import JsonOpt

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def inspect_command(
    model: Annotated[Path, typer.Argument(help="Any .tflite model.", show_default=False)],
    json_out: JsonOpt = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 if any error-severity finding exists.")] = False,
    gpu: Annotated[bool, typer.Option("--gpu/--no-gpu", help="Compile with LiteRT's GPU accelerator "
                                      "(child process) to check GPU delegation.")] = True,
    gpu_timeout: Annotated[float, typer.Option("--gpu-timeout", help="Seconds the GPU check may take.")] = 120.0,
    input_shape: Annotated[Optional[list[str]], typer.Option(
        "--input-shape", help="Resize a dynamic input before the load check, NAME=D1,D2,... (repeatable).")] = None,
    against: Annotated[Optional[Path], typer.Option(
        "--against", help="The float .tflite MODEL was quantized from: add the error per quantized layer "
        "(RMSE/scale, LiteRT tensor comparison), ranked.", show_default=False)] = None,
    data: Annotated[Optional[str], typer.Option(
        "--data", help="Inputs for --against or --delegates: image folder, .npy or .npz (default: seeded random "
        "inputs for --against, the bench's input pattern for --delegates).", show_default=False)] = None,
    delegates: Annotated[Optional[str], typer.Option(
        "--delegates", help="Run the delegate doctor on these delegates (e.g. cpu,xnnpack,gpu): the first op at "
        "which one departs from the others.", show_default=False)] = None,
) -> None:
    """Show inputs/outputs, signatures, ops, metadata and a deployability lint for a .tflite."""
    with handle_errors():
        from mobilepack.errors import UsageError
        from mobilepack.inspect import inspect_model
        from mobilepack.model.loading import parse_input_shapes

        shapes = parse_input_shapes(input_shape)
        if gpu_timeout <= 0:
            raise UsageError(f"--gpu-timeout must be > 0 (got {gpu_timeout})", "e.g. --gpu-timeout 120")
        layer_errors = _checked_extras(model, against, data, delegates)
        doctor = None
        if json_out:
            result = inspect_model(model, gpu=gpu, gpu_timeout=gpu_timeout, input_shapes=shapes)
            if delegates is not None:
                doctor = _doctor(model, delegates, data, None)
            print_json({**result.to_dict(), **({"layer_errors": layer_errors} if layer_errors else {}),
                        **({"delegate_doctor": doctor} if doctor else {})})
        else:
            with err_console().status("inspecting…") as status:
                result = inspect_model(model, gpu=gpu, gpu_timeout=gpu_timeout, input_shapes=shapes,
                                       progress=lambda message: status.update(message))
            _print(result.to_dict())
            if layer_errors:
                from mobilepack.cli.doctor_table import print_layer_errors

                print_layer_errors(out_console(), layer_errors)
            if delegates is not None:
                from mobilepack.inspect.delegate_doctor import print_doctor

                with err_console().status("delegate doctor…") as status:
                    doctor = _doctor(model, delegates, data, lambda message: status.update(message))
                print_doctor(out_console(), doctor)
        if strict and result.errors:
            err_console().print(f"[bold red]strict:[/] {len(result.errors)} error-severity finding(s)")
            raise typer.Exit(1)


def _checked_extras(model: Path, against: Path | None, data: str | None, delegates: str | None):
    """The quantization doctor's table for ``--against`` (else None); ``--data`` and ``--delegates``
    checked before anything runs."""
    from mobilepack.errors import UsageError

    if delegates is not None:
        from mobilepack.inspect.delegate_doctor import parse_delegates

        parse_delegates(delegates)   # a bad list is exit 2 before anything runs
    if against is not None:  # the quantization doctor's tensor comparison (conversion/layer_errors.py)
        from mobilepack.conversion.layer_errors import diagnose_files

        return diagnose_files(model, against, data)
    if data is not None and delegates is None:
        raise UsageError("--data is read only with --against or --delegates",
                         "add --against FLOAT.tflite or --delegates cpu,xnnpack,gpu")
    return None


def _doctor(model: Path, delegates: str, data: str | None, progress) -> dict:
    from mobilepack.errors import InputError
    from mobilepack.inspect.delegate_doctor import doctor_file

    if not model.is_file():
        raise InputError(f"model not found: {model}", "pass the path of a .tflite file")
    return doctor_file(model, delegates, data, progress)


def _shape(t: dict) -> str:
    dims = t["shape_signature"] if t["dynamic"] else t["shape"]
    return "[" + ",".join("?" if d < 0 else str(d) for d in dims) + "]"


def _quant(t: dict) -> str:
    q = t["quantization"]
    if not q:
        return "–"
    if len(q["scale"]) == 1:
        return f"scale {q['scale'][0]:.6g}, zero point {q['zero_point'][0] if q['zero_point'] else 0}"
    return f"per-channel ({len(q['scale'])} scales, axis {q['quantized_dimension']})"


def _print(d: dict) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = out_console()
    console.print(f"[bold]{escape(d['path'])}[/]  {d['bytes'] / 1024:,.1f} KiB  sha256 {d['sha256'][:16]}…  "
                  f"{d['subgraph_count']} subgraph(s)")
    table = Table(title="tensors (subgraph 0)", title_justify="left")
    for col in ("", "name", "shape", "dtype", "quantization"):
        table.add_column(col)
    for kind in ("inputs", "outputs"):
        for t in d[kind]:
            table.add_row(kind[:-1], escape(t["name"]), _shape(t), t["dtype"], _quant(t))
    console.print(table)
    for s in d["signatures"]:
        console.print(f"signature [bold]{escape(s['key'])}[/] (subgraph {s['subgraph']}): "
                      f"{escape(', '.join(i['name'] for i in s['inputs']))} → "
                      f"{escape(', '.join(o['name'] for o in s['outputs']))}")
    for sg in d["subgraphs"]:
        ops = ", ".join(f"{k}×{v}" for k, v in sorted(sg["ops"].items(), key=lambda kv: -kv[1]))
        console.print(f"ops in subgraph {sg['index']}{' ' + escape(sg['name']) if sg['name'] else ''}: "
                      f"{escape(ops) or 'none'}")
    ops = d["ops"]
    for key, label in (("custom", "custom ops"), ("flex", "Flex (SELECT_TF_OPS) ops"),
                       ("resource_variables", "resource-variable ops")):
        if ops[key]:
            console.print(f"{label}: {escape(', '.join(ops[key]))}")
    md = d["metadata"]
    if md is None:
        console.print("metadata: none")
    else:
        labels = md["labels"]
        console.print(f"metadata: task {md['task']}, name {escape(md['name']) or '–'}, version "
                      f"{escape(md['version']) or '–'}, min parser {md['min_parser_version'] or '–'}")
        if labels:
            console.print(f"  labels: {labels['count']} ({escape(', '.join(labels['first']))}"
                          f"{', …' if labels['count'] > len(labels['first']) else ''})")
        if md["normalization"]:
            console.print(f"  normalization: mean {md['normalization']['mean']} std {md['normalization']['std']}")
        if md["associated_files"]:
            console.print("  associated files: " + escape(", ".join(f["name"] for f in md["associated_files"])))
    if d["gpu"]:
        g = d["gpu"]
        console.print(f"gpu: {g['status']}" + (f" on {escape(g['adapter'])}" if g.get("adapter") else "")
                      + (" (software)" if g.get("software") else "")
                      + (f": {escape(g['message'])}" if g["status"] == "skipped" and g.get("message") else ""))
    s = d["summary"]
    console.print(f"\n[bold]lint[/]: {s['errors']} error(s), {s['warnings']} warning(s), {s['infos']} info")
    for f in d["findings"]:
        style = SEVERITY_STYLE[f["severity"]]
        console.print(f"[{style}]{f['severity']:>7}[/] {escape(f['title'])} [dim]({f['id']})[/]")
        console.print(f"          {escape(f['explanation'])}")
        console.print(f"          [dim]fix:[/] {escape(f['fix'])}")
