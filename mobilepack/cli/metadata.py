"""``mobilepack metadata``: attach TFLite metadata to a .tflite (written atomically)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from mobilepack.cli._console import err_console, handle_errors, out_console, print_json
from mobilepack.cli._options import JsonOpt, MeanOpt, PaddingOpt, StdOpt

SCORE_HELP = "Classification score threshold (0..1); yolo_detection: the decode's (default 0.25)."
IOU_HELP = "yolo_detection: the NMS IoU threshold (0..1, default 0.45)."
CALIBRATION_HELP = ("Classification: score calibration file, one line per class: scale,slope,offset[,min_score] "
                    "(an empty line: no calibration for that class).")
KEYPOINTS_HELP = ("keypoints: which output holds the points and how: "
                  "POINTSxVALUES[,output=N][,presence=N|none][,units=pixels|ratios][,skeleton=FILE].")


def metadata_command(
    model: Annotated[Path, typer.Argument(help="The .tflite model.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .tflite (written atomically; may equal MODEL).",
                                      show_default=False)],
    task: Annotated[Optional[str], typer.Option(
        "--task", help="A registered task (image_classification, object_detection, yolo_detection, image_to_image, "
        "image_segmentation, text_classification, text_embedding, audio_classification, generic or a plug-in's). "
        "Default: detected from the model's inputs/outputs.")] = None,
    labels: Annotated[Optional[Path], typer.Option("--labels", help="Labels file, one per line (UTF-8).")] = None,
    mean: MeanOpt = None,
    std: StdOpt = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Model name.")] = None,
    version: Annotated[Optional[str], typer.Option("--version", help="Model version.")] = None,
    author: Annotated[Optional[str], typer.Option("--author", help="Model author.")] = None,
    license_: Annotated[Optional[str], typer.Option("--license", help="Model license.")] = None,
    description: Annotated[Optional[str], typer.Option("--description", help="Model description.")] = None,
    score_threshold: Annotated[Optional[float], typer.Option("--score-threshold", help=SCORE_HELP)] = None,
    iou_threshold: Annotated[Optional[float], typer.Option("--iou-threshold", help=IOU_HELP)] = None,
    keypoints_layout: Annotated[Optional[str], typer.Option("--keypoints-layout", help=KEYPOINTS_HELP)] = None,
    score_calibration: Annotated[Optional[Path], typer.Option("--score-calibration", help=CALIBRATION_HELP)] = None,
    score_transformation: Annotated[str, typer.Option(
        "--score-transformation", help="With --score-calibration: identity, log or inverse_logistic.")] = "identity",
    default_score: Annotated[float, typer.Option(
        "--default-score", help="With --score-calibration: the score of a class without calibration.")] = 0.0,
    vocab: Annotated[Optional[Path], typer.Option("--vocab", help="Vocabulary file for text_classification and text_embedding.")] = None,
    tokenizer: Annotated[Optional[str], typer.Option(
        "--tokenizer", help="Text tokenizer (text_classification, text_embedding): regex (NLClassifier) or bert (WordPiece). "
        "Default: bert for 3 inputs, else regex.")] = None,
    sample_rate: Annotated[Optional[int], typer.Option("--sample-rate", help="Audio sample rate in Hz.")] = None,
    channels: Annotated[int, typer.Option("--channels", help="Audio channels.")] = 1,
    padding: PaddingOpt = None,
    value_range: Annotated[Optional[list[str]], typer.Option(
        "--value-range", help="A tensor's value range, NAME=MIN,MAX (generic; image_to_image: its output's).")] = None,
    spec: Annotated[Optional[Path], typer.Option(
        "--spec", help="convert.json whose model spec to use (default: the convert.json beside MODEL, if it "
        "lists MODEL).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Attach TFLite metadata (task, labels, normalization, model info) and check it by reading it back."""
    with handle_errors():
        from mobilepack.metadata import GeneralInfo, attach, spec_beside
        from mobilepack.metadata.labels import read_labels
        from mobilepack.model.normalization import from_flags

        data = _read_input(model)
        _check_out(out)
        model_spec = _read_spec(spec) if spec is not None else spec_beside(model)
        result = attach(
            data, task=task, spec=model_spec, labels=read_labels(labels) if labels is not None else None,
            normalization=from_flags(mean, std), info=GeneralInfo(name=name, description=description,
                                                                  version=version, author=author, license=license_),
            score_threshold=score_threshold, iou_threshold=iou_threshold, vocab=vocab, tokenizer=tokenizer, sample_rate=sample_rate,
            channels=channels, value_ranges=_parse_ranges(value_range), padding=padding, keypoints_layout=keypoints_layout,
            score_calibration=_calibration(score_calibration, score_transformation, default_score))
        _write_atomic(out, result.model)
        if json_out:
            print_json(result.to_dict(output=str(out)))
            return
        _print(result, out)


def _calibration(path: Path | None, transformation: str, default_score: float):
    from mobilepack.errors import UsageError
    from mobilepack.metadata import ScoreCalibration

    if path is None:
        if transformation != "identity" or default_score != 0.0:
            raise UsageError("--score-transformation and --default-score go with --score-calibration",
                             "pass --score-calibration FILE, or drop them")
        return None
    return ScoreCalibration(str(path), transformation, default_score)


def _read_input(model: Path) -> bytes:
    from mobilepack.inspect.report import read_model_file, verify

    data = read_model_file(model)
    verify(data, model)
    return data


def _read_spec(path: Path):
    import json

    from mobilepack.errors import InputError
    from mobilepack.model.spec import spec_from_dict

    try:
        return spec_from_dict(json.loads(path.read_text(encoding="utf-8"))["model"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"--spec {path} is not a readable convert.json ({type(exc).__name__})",
                         "pass the convert.json written by `mobilepack convert`") from None


def _parse_ranges(items: list[str] | None) -> dict[str, tuple[float, float]]:
    import math
    import re

    from mobilepack.errors import UsageError

    ranges = {}
    for item in items or []:
        m = re.fullmatch(r"\s*(.+?)\s*=\s*([^,]+),([^,]+)\s*", item)
        try:
            lo, hi = (float(m.group(2)), float(m.group(3))) if m else (math.nan, math.nan)
        except ValueError:
            lo = hi = math.nan
        if not m or not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
            raise UsageError(f"--value-range {item!r} is not NAME=MIN,MAX with MIN ≤ MAX", "e.g. --value-range x=0,1")
        ranges[m.group(1)] = (lo, hi)
    return ranges


def _check_out(out: Path) -> None:
    from mobilepack.errors import OutputError

    if out.is_dir():
        raise OutputError(f"-o {out} is a directory", "give the output .tflite file path, e.g. -o model_md.tflite")
    parent = out.absolute().parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"cannot write {out}: {parent} is not a directory", "choose another -o")


def _write_atomic(out: Path, data: bytes) -> None:
    from mobilepack.errors import OutputError

    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}", "choose a writable -o") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, out)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {out}: {exc.strerror or exc}", "check free space and permissions") \
                from None
        raise


def _print(result, out: Path) -> None:
    from rich.markup import escape

    console = out_console()
    src = {"option": "--task", "spec": "model spec", "metadata": "existing metadata", "detected": "detected",
           "undetected": "not detected"}
    console.print(f"wrote [bold]{escape(str(out))}[/] ({len(result.model) / 1024:,.1f} KiB)")
    console.print(f"  task           {result.task} ({src.get(result.task_source, result.task_source)}: "
                  f"{escape(result.task_reason)})")
    if result.sample_rate:
        console.print(f"  sample rate    {result.sample_rate} Hz (from {'--sample-rate' if result.sample_rate_source == 'option' else 'existing metadata'})")
    if result.normalization:
        n = result.normalization
        extra = " — the model normalizes itself; apps feed raw values" if n["in_model"] else ""
        console.print(f"  normalization  mean {n['mean']} std {n['std']} from {n['source']}{extra}")
    console.print(f"  labels         {len(result.labels)}" + (f" ({escape(', '.join(result.labels[:5]))}"
                                                             f"{', …' if len(result.labels) > 5 else ''})"
                                                             if result.labels else ""))
    console.print(f"  files          {', '.join(result.associated_files) or 'none'}"
                  + ("; replaced the model's earlier metadata" if result.replaced_existing else ""))
    for w in result.warnings:
        err_console().print(f"[yellow]note:[/] {escape(w)}")
