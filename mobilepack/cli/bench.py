"""``mobilepack bench``: parse options, run the benchmark (host or phones), print/write the reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mobilepack.cli._console import err_console, handle_errors, out_console, print_json
from mobilepack.cli._options import JsonOpt
from mobilepack.cli._progress import progress_display


def bench_command(
    models: Annotated[list[Path], typer.Argument(metavar="MODEL...", help=".tflite files, or directories of them (e.g. a convert output).",
                                                 show_default=False)],
    delegates: Annotated[str, typer.Option("--delegates", "-d", help="Comma-separated: cpu, xnnpack, gpu "
                                           "(nnapi with --adb), plus names given with --delegate-lib.")] = "cpu,xnnpack,gpu",
    threads: Annotated[str, typer.Option("--threads", "-t", help="Thread counts swept for xnnpack and external "
                                         "delegates, e.g. 1,2,4.")] = "1",
    runs: Annotated[int, typer.Option("--runs", help="Minimum timed runs per configuration.")] = 10,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed warmup runs before timing.")] = 5,
    min_seconds: Annotated[float, typer.Option("--min-seconds", help="Keep timing until at least this long.")] = 0.0,
    target_ci: Annotated[float, typer.Option("--target-ci", help="Stop once the 95% confidence interval of the latency "
                                             "(20% trimmed mean) is within ± this fraction of it (0: exactly --runs runs).")] = 0.02,
    max_seconds: Annotated[float, typer.Option("--max-seconds", help="Stop timing a configuration after this long "
                                               "even if the interval is wider.")] = 2.0,
    max_runs: Annotated[Optional[int], typer.Option("--max-runs", help="Stop timing a configuration at this many "
                                                    "runs even if the interval is wider (default: 50, or --runs "
                                                    "when larger).", show_default=False)] = None,
    gpu_latency: Annotated[bool, typer.Option("--gpu-latency", help="Time the GPU even on a software adapter "
                                              "(SwiftShader); otherwise it gets a functional check only.")] = False,
    delegate_lib: Annotated[Optional[list[str]], typer.Option(
        "--delegate-lib", help="External TFLite delegate library, NAME=PATH (repeatable); add NAME to --delegates.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds before one configuration is stopped.")] = 300.0,
    report: Annotated[Optional[Path], typer.Option(
        "--report", help="Write bench.json, bench.md and bench.html into this directory.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 if any configuration failed.")] = False,
    adb: Annotated[bool, typer.Option("--adb", help="Run on Android phones over adb with benchmark_model.")] = False,
    serial: Annotated[Optional[list[str]], typer.Option(
        "--serial", help="Device serial for --adb (repeatable; default: every connected device).")] = None,
    benchmark_binary: Annotated[Optional[Path], typer.Option(
        "--benchmark-binary", help="The official Android benchmark_model binary, for --adb.")] = None,
    input_shape: Annotated[Optional[list[str]], typer.Option(
        "--input-shape", help="Resize a dynamic input before allocation, NAME=D1,D2,... (repeatable; cpu/xnnpack).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Measure latency per model x delegate x threads, each configuration in a fresh process."""
    with handle_errors():
        from mobilepack.bench.engine import plan_bench, run_bench
        from mobilepack.errors import UsageError

        if not adb and (serial or benchmark_binary):
            raise UsageError("--serial and --benchmark-binary need --adb", "add --adb to bench on a phone")
        if adb and not benchmark_binary:
            raise UsageError("--adb needs --benchmark-binary PATH",
                             "download the Android benchmark_model binary for your phone's ABI")
        from mobilepack.model.loading import parse_input_shapes

        plan = plan_bench([str(m) for m in models], delegates=delegates, threads=threads, runs=runs, warmup=warmup,
                          min_seconds=min_seconds, delegate_libs=delegate_lib, timeout=timeout, target_ci=target_ci,
                          max_seconds=max_seconds, max_runs=max_runs, gpu_latency=gpu_latency, on_phone=adb,
                          input_shapes=parse_input_shapes(input_shape))
        with progress_display(err_console(), enabled=not json_out) as on_event:
            if adb:
                from mobilepack.bench.adb import run_adb_bench

                result = run_adb_bench(plan, binary=benchmark_binary, serials=serial, progress=on_event)
            else:
                result = run_bench(plan, progress=on_event)
        doc = result.to_dict()
        finish(doc, json_out=json_out, report=report, strict=strict)


def finish(doc: dict, *, json_out: bool, report: Path | None, strict: bool) -> None:
    """Print (JSON or table), write the report, and map failures to the exit code."""
    from mobilepack.errors import MobilepackError

    if report is not None:
        from mobilepack.report.bench_views import write_report

        write_report(doc, report)
    if json_out:
        print_json(doc)
    else:
        print_table(doc)
        if report is not None:
            out_console().print(f"wrote bench.json, bench.md, bench.html to [bold]{report}[/]")
    results = doc["results"]
    failed = [r for r in results if r["status"] != "ok"]
    if results and len(failed) == len(results):
        raise MobilepackError(f"no configuration ran: all {len(results)} failed", "the reasons are listed per configuration")
    if strict and failed:
        raise MobilepackError(f"{len(failed)} of {len(results)} configurations failed (--strict)",
                              "drop --strict to accept partial results")


def print_table(doc: dict) -> None:
    from rich.markup import escape
    from rich.table import Table

    from mobilepack.report.bench_views import fmt_us, rows
    from mobilepack.runtime.behaviour import SKIPPED_KINDS
    from mobilepack.runtime.gpu import SOFTWARE_NOTE

    table = Table(title="latency per configuration (sorted, fastest first)", title_justify="left")
    table.add_column("configuration", min_width=18)
    for col in ("latency", "±95%", "runs", "p50–p90", "inf/s", "vs fp32 cpu"):
        table.add_column(col, justify="right")
    table.add_column("delegated")
    table.add_column("note", min_width=16)
    adapters: set[str] = set()
    for r in rows(doc):
        label = escape(r["label"])
        if r["status"] != "ok":
            if r["failure"] in SKIPPED_KINDS:
                table.add_row(label, "[yellow]skipped[/]", "", "", "", "", "", "", f"[yellow]{escape(r['error'])}[/]")
            else:
                table.add_row(label, "[red]failed[/]", "", "", "", "", "", "",
                              f"[red]{escape(r['failure'])}[/]: {escape(r['error'])}")
            continue
        notes = []
        if r["software"]:
            notes.append(f"[yellow]{escape(r.get('note') or SOFTWARE_NOTE)}[/]")
            adapters.add(r["adapter"] or "software adapter")
        if r.get("departs"):
            notes.append(f"[red]departs: {escape(r['departs'])}[/]")
        if r["noisy"]:
            notes.append(f"[magenta]noisy[/] (cv {100 * r['cv']:.0f}%)")
        spread = f"{fmt_us(r['p50_us'])}–{fmt_us(r['p90_us'])}" if r["p50_us"] is not None else "–"
        ci = f"{100 * r['latency_ci95_rel']:.1f}%" if r.get("latency_ci95_rel") is not None and r.get("stop") != "functional" else "–"
        table.add_row(label, fmt_us(r["latency_us"]), ci, str(r["runs"]), spread, f"{r['ips']:.0f}" if r["ips"] else "–",
                      f"{r['speedup']:.2f}×" if r["speedup"] is not None else "–",
                      {True: "yes", False: "no"}.get(r["fully_delegated"], "–"), "; ".join(notes))
    out_console().print(table)
    for adapter in sorted(adapters):
        out_console().print(f"[yellow]GPU adapter {escape(adapter)} is software Vulkan: {SOFTWARE_NOTE}[/]")
