"""``mobilepack build``: the headline command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mobilepack.cli._console import err_console, handle_errors, out_console, print_json
from mobilepack.cli._options import JobsOpt, JsonOpt, MeanOpt, PaddingOpt, ServerP99Opt, StdOpt, UnsafeLoadOpt, VerboseOpt
from mobilepack.cli._progress import progress_display


def _split(text: str | None) -> list[str] | None:
    return [p.strip() for p in text.split(",") if p.strip()] if text else None


def _ints(text: str | None, flag: str = "--threads") -> list[int] | None:
    if not text:
        return None
    from mobilepack.errors import UsageError

    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a comma-separated list of integers", f"e.g. {flag} 1,2") from None


_NOT_OPTIONS = ("src", "config", "json_out", "quiet", "verbose", "set_verbose", "mobilepack", "parse_input_shapes")
_LISTS = ("quantize", "delegates", "workers")
_INT_LISTS = ("threads", "server_batch", "server_concurrency", "server_replicas")


def _options(given: dict, parse_input_shapes) -> dict:
    """The command's parameters as build() keywords: lists split, shapes parsed, paths as strings."""
    options = {k: v for k, v in given.items() if k not in _NOT_OPTIONS}
    shapes = parse_input_shapes(options["input_shape"]) if options["input_shape"] else None
    options["input_shape"] = {k: list(v) for k, v in shapes.items()} if shapes else None
    options["out"] = str(options["out"]) if options["out"] else None
    options["unsafe_load"] = options["unsafe_load"] or None
    for key in _LISTS:
        options[key] = _split(options[key])
    for key in _INT_LISTS:
        options[key] = _ints(options[key], "--" + key.replace("_", "-"))
    return options


def build_command(
    src: Annotated[Optional[str], typer.Argument(help="The model (SavedModel dir, .keras, .h5, .tflite); "
                                                "or set [build] source in the config.", show_default=False)] = None,
    target: Annotated[Optional[str], typer.Option("--target", "-t", help="android, ios or all.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output directory (default mobilepack-out).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="mobilepack.toml (CLI options override it).")] = None,
    quantize: Annotated[Optional[str], typer.Option("--quantize", "-q", help="Modes, e.g. fp32,fp16,dynamic,int8.")] = None,
    calibration: Annotated[Optional[str], typer.Option("--calibration", help="Calibration data or 'random'.")] = None,
    calibration_samples: Annotated[Optional[int], typer.Option("--calibration-samples")] = None,
    validation: Annotated[Optional[str], typer.Option("--validation", help="Numerical-validation data.")] = None,
    io_dtype: Annotated[Optional[str], typer.Option("--io-dtype", help="int8 variant I/O: float32, int8, uint8.")] = None,
    signature: Annotated[Optional[str], typer.Option("--signature", help="SavedModel signature key.")] = None,
    input_shape: Annotated[Optional[list[str]], typer.Option("--input-shape", help="NAME=1,224,224,3 (repeatable).")] = None,
    batch: Annotated[Optional[int], typer.Option("--batch")] = None,
    allow_float_fallback: Annotated[Optional[bool], typer.Option("--allow-float-fallback/--no-float-fallback")] = None,
    eval_data: Annotated[Optional[str], typer.Option("--eval-data", help="Labelled data: folder per class or .npz x/y; detection: DIR with annotations.json (COCO); segmentation: DIR with masks/.")] = None,
    max_accuracy_drop: Annotated[Optional[float], typer.Option("--max-accuracy-drop", help="Largest accuracy drop vs fp32 (0.01 = one point).")] = None,
    task: Annotated[Optional[str], typer.Option("--task", help="Metadata task (detected when unset).")] = None,
    labels: Annotated[Optional[str], typer.Option("--labels", help="Labels file, one per line.")] = None,
    mean: MeanOpt = None,
    std: StdOpt = None,
    padding: PaddingOpt = None,
    vocab: Annotated[Optional[str], typer.Option("--vocab", help="Vocabulary file (text_classification, text_embedding).")] = None,
    tokenizer: Annotated[Optional[str], typer.Option("--tokenizer", help="Text tokenizer: regex or bert.")] = None,
    sample_rate: Annotated[Optional[int], typer.Option("--sample-rate", help="Audio sample rate in Hz.")] = None,
    score_threshold: Annotated[Optional[float], typer.Option("--score-threshold", help="Classification score threshold.")] = None,
    iou_threshold: Annotated[Optional[float], typer.Option("--iou-threshold", help="yolo_detection: NMS IoU threshold.")] = None,
    keypoints_layout: Annotated[Optional[str], typer.Option("--keypoints-layout", help="keypoints: POINTSxVALUES[,output=N][,presence=N|none][,units=pixels|ratios][,skeleton=FILE].")] = None,
    delegates: Annotated[Optional[str], typer.Option("--delegates", help="Host delegates to bench: cpu,xnnpack,gpu.")] = None,
    threads: Annotated[Optional[str], typer.Option("--threads", help="XNNPACK thread counts, e.g. 1,2.")] = None,
    runs: Annotated[Optional[int], typer.Option("--runs", help="Minimum timed runs per configuration, honoured exactly "
                                                "(default: 10, or 3 once --max-seconds has passed).")] = None,
    warmup: Annotated[Optional[int], typer.Option("--warmup", help="Warm-up runs per configuration.")] = None,
    target_ci: Annotated[Optional[float], typer.Option("--target-ci", help="Stop timing once the 95% CI of the latency "
                                                       "(20% trimmed mean) is within ± this fraction (0: exactly --runs).")] = None,
    max_seconds: Annotated[Optional[float], typer.Option("--max-seconds", help="Longest timing per configuration.")] = None,
    max_runs: Annotated[Optional[int], typer.Option("--max-runs", help="Most timed runs per configuration "
                                                    "(default: 50, or --runs when larger).")] = None,
    gpu_latency: Annotated[Optional[bool], typer.Option("--gpu-latency", help="Time the GPU even on SwiftShader "
                                                        "(otherwise a functional check only).")] = None,
    app_name: Annotated[Optional[str], typer.Option("--app-name")] = None,
    package: Annotated[Optional[str], typer.Option("--package", help="Android application id.")] = None,
    bundle_id: Annotated[Optional[str], typer.Option("--bundle-id", help="iOS bundle identifier.")] = None,
    samples: Annotated[Optional[str], typer.Option("--samples", help="Sample images bundled into the apps.")] = None,
    cache_dir: Annotated[Optional[str], typer.Option("--cache-dir", help="Cache directory (default ~/.cache/mobilepack).")] = None,
    force: Annotated[Optional[bool], typer.Option("--force", help="Overwrite edited files / write into a foreign OUT.")] = None,
    strict: Annotated[Optional[bool], typer.Option(
        "--strict", help="Stop at a quantization mode that cannot be produced (default: record it and go on).")] = None,
    server_p99_ms: ServerP99Opt = None,
    workers: Annotated[Optional[str], typer.Option("--workers", help="[compress] stages: train on several machines, host:port of every worker, the chief first (index from MOBILEPACK_WORKER_INDEX).")] = None,
    server_batch: Annotated[Optional[str], typer.Option("--server-batch", help="--target server: max batch sizes load-tested, e.g. 1,8.")] = None,
    server_concurrency: Annotated[Optional[str], typer.Option("--server-concurrency", help="--target server: client concurrencies load-tested, e.g. 1,8.")] = None,
    server_replicas: Annotated[Optional[str], typer.Option("--server-replicas", help="--target server: replica counts load-tested, e.g. 1,2.")] = None,
    server_requests: Annotated[Optional[int], typer.Option("--server-requests", help="--target server: most requests per load-test cell.")] = None,
    server_seconds: Annotated[Optional[float], typer.Option("--server-seconds", help="--target server: longest time per load-test cell.")] = None,
    unsafe_load: UnsafeLoadOpt = False,
    jobs: JobsOpt = None,
    json_out: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress output; just the final paths.")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Convert, add metadata, lint, benchmark, evaluate, choose a variant and render the app projects."""
    with handle_errors():
        import mobilepack
        from mobilepack.model.loading import parse_input_shapes
        from mobilepack.model.tfimport import set_verbose

        set_verbose(verbose)
        options = _options(dict(locals()), parse_input_shapes)
        with progress_display(err_console(), enabled=not (json_out or quiet)) as on_event:
            result = mobilepack.build(src, config=str(config) if config else None, progress=on_event, **options)
        if json_out:
            print_json(result.to_dict())
            return
        _summary(result, quiet=quiet)


def _metric_name(accuracy: dict) -> str:
    """The task's metric, short: "top-1 accuracy", "mAP@0.5", "mIoU"; without labels "box agreement"..."""
    from mobilepack.evaluate.tasks import METRIC_NAMES

    if accuracy["labelled"]:
        return accuracy.get("metric") or "acc"
    return METRIC_NAMES.get(accuracy.get("agreement_key"), "agree")


def _table(result):
    """Variants × (size, latency per bench delegate, metric per evaluated delegate, ships)."""
    from rich.table import Table

    r, sel = result.report, result.selection
    bench_delegates = list(dict.fromkeys(rec["delegate"] for rec in r["bench"].get("results", [])))
    delegates = list(dict.fromkeys(d for per in result.accuracy.values() for d in per))
    table = Table(title=f"{result.model_name}: ships {sel.winner}", title_justify="left", padding=(0, 1),
                  box=None, header_style="bold")
    table.add_column("variant", no_wrap=True)
    table.add_column("KiB", justify="right", no_wrap=True)
    for d in bench_delegates:
        table.add_column(f"{d}\nµs", justify="right", no_wrap=True)
    for d in delegates:
        table.add_column(f"{d}\n{_metric_name(r['accuracy'])}", justify="right", no_wrap=True)
    table.add_column("ships", no_wrap=True)
    for v in result.variants:
        latency, scores = result.latency_us.get(v.mode, {}), result.accuracy.get(v.mode, {})
        row = [v.mode, f"{v.bytes / 1024:,.1f}"]
        gone = {d for m, d in result.skipped if m == v.mode}
        row += [f"{latency[d]:,.0f}" if d in latency else "skipped" if d in gone else "failed" for d in bench_delegates]
        departs = ((r.get("delegate_doctor", {}).get(v.mode) or {}).get("departure") or {}).get("delegate")
        row += [(f"{scores[d]:.4f}" + ("‡" if d == departs else "")) if scores.get(d) is not None
                else "skipped" if d in gone else "failed" for d in delegates]
        row.append("[green]✔[/]" if v.mode == sel.winner else "")
        table.add_row(*row)
    return table


def _summary(result, *, quiet: bool) -> None:
    r = result.report
    console = out_console()
    if not quiet:
        console.print(_table(result))
        console.print(f"[dim]{result.selection.rule}[/]")
        if result.gpu_software:
            console.print("[dim]gpu ran on SwiftShader (software): "
                          + ("a functional check (≤ 3 invocations, numerics vs CPU; --gpu-latency times it)"
                             if result.gpu_functional_only else "functional only — latency not representative")
                          + "[/]")
        for mode, d in r.get("delegate_doctor", {}).items():
            from rich.markup import escape

            console.print(f"[yellow]delegate doctor ({escape(mode)}): {escape(d.get('explanation') or d['message'])}[/]")
        if result.gpu_unavailable is not None:
            from rich.markup import escape

            console.print(f"[yellow]note: the GPU check was skipped: {escape(result.gpu_unavailable)}[/]")
    console.print(f"report:   {r['reports']['report.html']}")
    for t, app in r["apps"].items():
        console.print(f"{t + ':':9} {app['path']}")
    console.print(f"models:   {r['out_dir']}/models")
