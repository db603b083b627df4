"""``mobilepack convert``: parse options, call ``mobilepack.convert``, print the result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mobilepack.cli._console import err_console, handle_errors, out_console, print_json
from mobilepack.cli._options import JobsOpt, JsonOpt, MeanOpt, OutOpt, StdOpt, UnsafeLoadOpt, VerboseOpt, PaddingOpt
from mobilepack.cli._progress import progress_display


def convert_command(
    src: Annotated[Path, typer.Argument(help="SavedModel directory, .keras, legacy .h5, or .tflite (passed through).",
                                        show_default=False)],
    out: OutOpt,
    quantize: Annotated[Optional[str], typer.Option(
        "--quantize", "-q", help="Comma-separated modes: fp32,fp16,dynamic,int8,int16x8,int8-mixed. "
        "Default: fp32,fp16,dynamic, plus int8 when --calibration is given.")] = None,
    calibration: Annotated[Optional[str], typer.Option(
        "--calibration", help="Calibration data: image folder, .npy, .npz, or 'random' (explicit; int8 may collapse).")] = None,
    calibration_samples: Annotated[Optional[int], typer.Option(
        "--calibration-samples", help="Samples used for calibration (default 100).")] = None,
    validation: Annotated[Optional[str], typer.Option(
        "--validation", help="Validation data (default: the calibration data).")] = None,
    io_dtype: Annotated[str, typer.Option("--io-dtype", help="I/O dtype of the int8 variant: float32, int8 or uint8.")] = "float32",
    signature: Annotated[Optional[str], typer.Option("--signature", help="SavedModel signature key (default serving_default).")] = None,
    input_shape: Annotated[Optional[list[str]], typer.Option(
        "--input-shape", help="Fix an input's full shape, batch included: NAME=1,224,224,3 (repeatable).")] = None,
    batch: Annotated[int, typer.Option("--batch", help="Batch size that dynamic batch dimensions are fixed to.")] = 1,
    mean: MeanOpt = None,
    std: StdOpt = None,
    padding: PaddingOpt = None,
    allow_float_fallback: Annotated[bool, typer.Option(
        "--allow-float-fallback", help="Let integer modes keep ops without integer kernels in float.")] = False,
    unsafe_load: UnsafeLoadOpt = False,
    jobs: JobsOpt = None,
    doctor: Annotated[bool, typer.Option(
        "--doctor", help="Quantization doctor: rank int8's error per layer and add int8-mixed, the smallest set of "
        "ops kept in float that meets --max-accuracy-drop (needs --calibration).")] = False,
    doctor_seconds: Annotated[Optional[float], typer.Option(
        "--doctor-seconds", help="Time limit of the doctor's search, in seconds (default 120).")] = None,
    max_accuracy_drop: Annotated[Optional[float], typer.Option(
        "--max-accuracy-drop", help="The doctor's budget with labelled validation data (a classifier's top-1 "
        "accuracy drop vs the source, default 0.01); without labels the task's agreement threshold applies, as in "
        "build.")] = None,
    task: Annotated[Optional[str], typer.Option(
        "--task", help="The model's task (detected when unset): the metric validation and the doctor judge by, "
        "as build's selection does.")] = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Convert a model to TFLite, one .tflite per quantization mode, validated against the source."""
    with handle_errors():
        from mobilepack.model.loading import parse_input_shapes
        from mobilepack.model.tfimport import set_verbose

        set_verbose(verbose)
        shapes = parse_input_shapes(input_shape)
        import mobilepack

        with progress_display(err_console(), enabled=not json_out) as on_event:
            result = mobilepack.convert(
                str(src), out, quantize=quantize, calibration=calibration, calibration_samples=calibration_samples,
                validation=validation, io_dtype=io_dtype, signature=signature, input_shapes=shapes, batch=batch,
                mean=mean, std=std, allow_float_fallback=allow_float_fallback, unsafe_load=unsafe_load,
                padding=padding or "post", doctor=doctor, doctor_seconds=doctor_seconds,
                max_accuracy_drop=max_accuracy_drop, task=task, jobs=jobs, progress=on_event)
        if json_out:
            print_json(result.to_dict())
            return
        _print_summary(result)


def _print_summary(result) -> None:
    from rich.table import Table

    console = out_console()
    table = Table(title=f"{result.model['name']} → {result.out_dir}", title_justify="left")
    for col, just in (("mode", "left"), ("size", "right"), ("I/O", "left"), ("max abs err", "right"),
                      ("cosine", "right"), ("top-1 agree", "right"), ("convert s", "right"), ("status", "left")):
        table.add_column(col, justify=just)
    for v in result.variants:
        val = v.validation
        status = "[green]ok[/]" if val and val["passed"] else ("[yellow]tolerance missed[/]" if val else "not validated")
        top1 = f"{val['top1_agreement']:.3f}" if val and val["top1_agreement"] is not None else "–"
        table.add_row(v.mode, f"{v.bytes / 1024:,.1f} KiB", _io(v),
                      f"{val['max_abs_error']:.3g}" if val else "–", f"{val['cosine_similarity']:.5f}" if val else "–",
                      top1, f"{v.conversion_seconds:.1f}", status)
    console.print(table)
    for v in result.variants:
        console.print(f"  {result.out_dir}/{v.path}")
    if result.doctor:
        from mobilepack.cli.doctor_table import print_doctor

        print_doctor(console, result.doctor)
    console.print(f"wrote {len(result.files)} files to [bold]{result.out_dir}[/] (details: convert.json, convert.md)")


def _io(variant) -> str:
    short = {"float32": "f32", "float16": "f16", "int8": "i8", "uint8": "u8", "int16": "i16"}
    ins = ",".join(short.get(d, d) for d in variant.input_dtypes)
    outs = ",".join(short.get(d, d) for d in variant.output_dtypes)
    return f"{ins}→{outs}"
