"""A quantization mode that cannot be produced, recorded instead of ending the build.

``build`` asks for several modes, some of which the user never named (int8 joins the default set
when calibration data is given).  One that cannot be produced — ops without an integer kernel, a
converter error, a variant that gives NaN or does not run — is recorded with its reason and next
step, and the build goes on with the rest; ``convert`` (and ``build --strict``) still stop at it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mobilepack.errors import ConversionError, RuntimeFailure, ValidationError

RECORDED = (ConversionError, ValidationError, RuntimeFailure)


@dataclass(frozen=True)
class ModeFailure:
    mode: str
    stage: str      # "convert" (the converter or the quantizer refused) or "validate" (the variant is broken)
    reason: str
    hint: str

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "stage": self.stage, "reason": self.reason, "hint": self.hint}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModeFailure:
        return cls(d["mode"], d["stage"], d["reason"], d["hint"])

    @property
    def line(self) -> str:
        return f"{self.mode} was not produced ({self.stage}): {self.reason}"


def failure(mode: str, stage: str, exc: Exception) -> ModeFailure:
    message = getattr(exc, "message", str(exc))
    return ModeFailure(mode, stage, message.removeprefix(f"{mode}: "), getattr(exc, "hint", ""))


def none_produced(failures: list[ModeFailure]) -> ConversionError:
    """The error when every mode failed: each mode and its reason."""
    reasons = "; ".join(f"{f.mode}: {f.reason}" for f in failures)
    return ConversionError(f"no variant could be produced ({reasons})",
                           failures[0].hint or "add fp32 to --quantize, or see each mode's reason")
