"""Shared ``Annotated`` option aliases for the typer commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout (no progress output).")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show TensorFlow/converter logs.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output directory (written atomically).")]
MeanOpt = Annotated[Optional[list[float]], typer.Option(
    "--mean", help="Input normalization mean, once or once per channel: (x - mean) / std.")]
StdOpt = Annotated[Optional[list[float]], typer.Option(
    "--std", help="Input normalization std, once or once per channel.")]
PaddingOpt = Annotated[Optional[str], typer.Option(
    "--padding", help="Text models: pad/cut token ids at the end (post, the default) or the start (pre), "
    "as the model was trained.")]
UnsafeLoadOpt = Annotated[bool, typer.Option(
    "--unsafe-load", help="Load Keras models with safe_mode off: runs Python code stored in Lambda layers.")]
JobsOpt = Annotated[Optional[str], typer.Option(
    "--jobs", help="Converter processes: 1, 2 (the calibrated modes in a second process beside the others) or "
    "auto (2 for weights of 8-512 MiB when memory allows; the default).")]
ServerP99Opt = Annotated[Optional[float], typer.Option(
    "--server-p99-ms", help="--target server: the p99 latency budget (ms) the served setting must keep.")]
