"""Score calibration: a per-class sigmoid that makes classifier scores comparable across classes.

The file has one line per class, in class-index order: ``scale,slope,offset`` or
``scale,slope,offset,min_score``, or an empty line for a class that keeps ``default_score``.
The calibrated score is ``scale / (1 + exp(-(slope * g(x) + offset)))`` with ``g`` the
transformation (identity, log, or inverse logistic); below ``min_score`` a score becomes the
default.  It is packed beside the labels and described by a ``ScoreCalibrationOptions`` process
unit on the scores output."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from mobilepack.errors import InputError, UsageError
from mobilepack.metadata import schema

CALIBRATION_FILE = "score_calibration.txt"
DESCRIPTION = ("Contains sigmoid-based score calibration parameters. The main purposes of score calibration is "
               "to make scores across classes comparable, so that a common threshold can be used for all output "
               "classes.")
TRANSFORMATIONS = {"identity": "IDENTITY", "log": "LOG", "inverse_logistic": "INVERSE_LOGISTIC"}


@dataclass(frozen=True)
class ScoreCalibration:
    path: str                         # the parameters file (CSV lines, see the module docstring)
    transformation: str = "identity"  # identity | log | inverse_logistic
    default_score: float = 0.0


def check(calibration: ScoreCalibration, classes: int | None, tensor: str) -> bytes:
    """The file's bytes, after checking every line and the line count against the classes."""
    if calibration.transformation not in TRANSFORMATIONS:
        raise UsageError(f"unknown --score-transformation {calibration.transformation!r}",
                         f"valid: {', '.join(TRANSFORMATIONS)}")
    if not math.isfinite(calibration.default_score):
        raise UsageError(f"--default-score must be a finite number (got {calibration.default_score})", "e.g. 0.0")
    p = Path(calibration.path)
    try:
        data = p.read_bytes()
        lines = data.decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read score calibration file {p}: {type(exc).__name__}",
                         "pass a UTF-8 text file of scale,slope,offset[,min_score] lines") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split(",")
        try:
            values = [float(f) for f in fields]
        except ValueError:
            values = []
        if len(fields) not in (3, 4) or len(values) != len(fields) or not all(map(math.isfinite, values)):
            raise InputError(f"{p}:{number}: expected 3 or 4 numbers (scale,slope,offset[,min_score]), got {line!r}",
                             "one line per class, or an empty line for a class without calibration")
        if values[0] < 0:
            raise InputError(f"{p}:{number}: the scale must not be negative (got {values[0]})",
                             "fix the calibration parameters")
    if classes is not None and classes > 0 and len(lines) != classes:
        raise InputError(f"score calibration has {len(lines)} lines but output {tensor!r} has {classes} classes",
                         f"give exactly {classes} lines, one per class in class-index order")
    return data


def file_md(path: str) -> dict:
    return {"name": path, "description": DESCRIPTION, "type": schema.FILE_TYPE["TENSOR_AXIS_SCORE_CALIBRATION"]}


def process_unit(calibration: ScoreCalibration) -> dict:
    return {"options": ("ScoreCalibrationOptions", {
        "score_transformation": schema.SCORE_TRANSFORMATION[TRANSFORMATIONS[calibration.transformation]],
        "default_score": float(calibration.default_score)})}
