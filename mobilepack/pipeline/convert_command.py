"""``mobilepack convert`` and the build's convert stage proper.

load -> normalization -> calibration/validation data -> export a fixed-signature
SavedModel -> per mode: convert, write, validate -> convert.json and convert.md ->
(``convert``) move everything into OUT at once.  :class:`ConvertOptions` are every
convert option, validated up front by :func:`plan_convert`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobilepack.cache import hash_path
from mobilepack.conversion.quantization import (ConverterOptions, IODtype, check_io_dtype, default_modes,
                                                get as mode_spec, parse_modes)
from mobilepack.errors import DataError, UsageError
from mobilepack.progress import ProgressCallback, ProgressEvent, or_ignore
from mobilepack.pipeline.convert_loop import DEFAULT_VALIDATION_SAMPLES  # noqa: F401 - re-exported
from mobilepack.pipeline.convert_record import RECORD, ConvertResult, VariantResult, add_variant  # noqa: F401 - re-exported
from mobilepack.report.schema import tool_versions
from mobilepack.staging import StagedOutput

DEFAULT_CALIBRATION_SAMPLES = 100


def _plan_modes(quantize, source_is_tflite: bool, calibration) -> tuple[str, ...]:
    if source_is_tflite:  # passed through, unless --quantize asks for variants (AI Edge Quantizer)
        if quantize is None:
            return ()
        return parse_modes(quantize)
    if quantize is None:
        return default_modes(calibrated=calibration is not None)
    return parse_modes(quantize)


@dataclass(frozen=True)
class ConvertOptions:
    """Every convert option, validated up front (before any heavy work) by :func:`plan_convert`."""

    modes: tuple[str, ...]   # names in the quantization registry
    io_dtype: IODtype
    calibration: str | None
    calibration_samples: int
    validation: str | None
    validation_samples: int | None   # None: DEFAULT_VALIDATION_SAMPLES, fewer for a large model (convert_loop)
    signature: str | None
    input_shapes: dict[str, tuple[int, ...]]
    batch: int
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    allow_float_fallback: bool
    unsafe_load: bool
    normalization_source: str = "flags"   # where mean/std came from: "flags" (CLI/API) or "config"
    padding: str = "post"                 # text models: where token ids are padded ("pre" | "post")
    doctor: bool | str = False           # quantization doctor (adds int8-mixed); "auto": only if int8 misses
    doctor_seconds: float = 120.0
    max_accuracy_drop: float = 0.01
    keep_going: bool = False             # build: a mode that cannot be produced is recorded, not fatal
    task: str | None = None              # --task (None: detected): the metric the doctor and validation use
    keypoints_layout: str | None = None  # build's --keypoints-layout: how the doctor's scorer reads the points
    jobs: str = "auto"                   # converter processes: "1", "2" or "auto" (conversion/parallel.py)

    def to_dict(self) -> dict[str, Any]:
        return {
            "quantize": list(self.modes), "keep_going": self.keep_going, "calibration": self.calibration,
            "calibration_samples": self.calibration_samples, "validation": self.validation,
            "validation_samples": self.validation_samples, "io_dtype": self.io_dtype.value,
            "signature": self.signature, "input_shapes": {k: list(v) for k, v in self.input_shapes.items()},
            "batch": self.batch, "mean": list(self.mean) if self.mean else None,
            "std": list(self.std) if self.std else None, "allow_float_fallback": self.allow_float_fallback,
            "unsafe_load": self.unsafe_load, "padding": self.padding,
            "normalization_source": self.normalization_source if self.mean else None,
            "doctor": self.doctor, "doctor_seconds": self.doctor_seconds,
            "max_accuracy_drop": self.max_accuracy_drop, "task": self.task, "jobs": self.jobs,
            **({"keypoints_layout": self.keypoints_layout} if self.keypoints_layout else {}),
        }


ConvertPlan = ConvertOptions   # the earlier name


def plan_convert(source: Any, *, quantize: str | list[str] | None = None, calibration: str | Path | None = None,
                 calibration_samples: int = DEFAULT_CALIBRATION_SAMPLES, validation: str | Path | None = None,
                 validation_samples: int | None = None, io_dtype: str = "float32",
                 signature: str | None = None, input_shapes: dict | None = None, batch: int = 1,
                 mean: list[float] | None = None, std: list[float] | None = None,
                 allow_float_fallback: bool = False, unsafe_load: bool = False,
                 normalization_source: str = "flags", padding: str = "post", doctor: bool | str = False,
                 doctor_seconds: float = 120.0, max_accuracy_drop: float = 0.01,
                 keep_going: bool = False, task: str | None = None,
                 keypoints_layout: str | None = None, jobs: str | int = "auto") -> ConvertOptions:
    from mobilepack.model.loading import detect_format
    from mobilepack.model.normalization import from_flags
    from mobilepack.model.spec import SourceFormat

    try:
        io = IODtype(io_dtype)
    except ValueError:
        raise UsageError(f"unknown --io-dtype {io_dtype!r}", f"valid: {', '.join(d.value for d in IODtype)}") from None
    if calibration_samples < 1 or (validation_samples is not None and validation_samples < 1):
        raise UsageError("sample counts must be ≥ 1", "e.g. --calibration-samples 100")
    if batch < 1:
        raise UsageError(f"--batch must be ≥ 1 (got {batch})", "the default is 1")
    from mobilepack.conversion.parallel import parse_jobs

    jobs = parse_jobs(jobs)
    from mobilepack.tasks import parse as parse_task

    task = parse_task(task)   # an unknown --task is refused before anything is loaded
    fmt = detect_format(source) if isinstance(source, (str, Path)) else SourceFormat.KERAS_OBJECT
    modes = _plan_modes(quantize, fmt == SourceFormat.TFLITE, calibration)
    from mobilepack.conversion.doctor_stage import plan_doctor

    modes, doctor = plan_doctor(modes, doctor=doctor, seconds=doctor_seconds, max_accuracy_drop=max_accuracy_drop,
                                source_is_tflite=fmt == SourceFormat.TFLITE, calibration=calibration)
    if io != IODtype.FLOAT32 and fmt == SourceFormat.TFLITE and modes:
        raise UsageError(f"--io-dtype {io.value} does not apply to a .tflite source: AI Edge Quantizer "
                         "decides the I/O (int8/int16 for its static recipes, float32 otherwise)",
                         "drop --io-dtype, or convert the original model")
    check_io_dtype(io, modes)
    if fmt == SourceFormat.TFLITE and not modes:
        _check_passthrough(calibration=calibration, validation=validation,
                           allow_float_fallback=allow_float_fallback)
    _check_data(modes, calibration, validation)
    norm = from_flags(mean, std, source=normalization_source)
    from mobilepack.model.spec import check_padding

    padding = check_padding(padding)
    return ConvertOptions(modes=modes, io_dtype=io, calibration=str(calibration) if calibration is not None else None,
                       calibration_samples=calibration_samples,
                       validation=str(validation) if validation is not None else None,
                       validation_samples=validation_samples, signature=signature,
                       input_shapes={k: tuple(v) for k, v in (input_shapes or {}).items()}, batch=batch,
                       mean=norm.mean if norm else None, std=norm.std if norm else None,
                       allow_float_fallback=allow_float_fallback, unsafe_load=unsafe_load,
                       normalization_source=normalization_source, padding=padding, doctor=doctor,
                       doctor_seconds=float(doctor_seconds), max_accuracy_drop=float(max_accuracy_drop),
                       keep_going=keep_going, task=task, keypoints_layout=keypoints_layout, jobs=jobs)


def _check_data(modes, calibration, validation) -> None:
    """Calibration for the modes that need it, and the data files named, before anything is loaded."""
    needs_cal = [m for m in modes if mode_spec(m).needs_calibration]
    if needs_cal and calibration is None:
        raise UsageError(f"{', '.join(needs_cal)} need(s) calibration data",
                         "pass --calibration DIR|FILE.npy|FILE.npz (or --calibration random, accepting "
                         "that int8 accuracy may collapse)")
    for what, p in (("calibration", calibration), ("validation", validation)):
        if p is not None and str(p) != "random" and not Path(p).exists():
            raise DataError(f"{what} data not found: {p}", "pass a folder of images, a .npy or a .npz file")


def _check_passthrough(**given: Any) -> None:
    """A .tflite source without ``--quantize`` is passed through unchanged: data and converter options
    would go unused, silently."""
    flags = {"calibration": "--calibration", "validation": "--validation",
             "allow_float_fallback": "--allow-float-fallback"}
    unused = [flags[k] for k, v in given.items() if v]
    if unused:
        raise UsageError(f"{' and '.join(unused)} would go unused: a .tflite source without --quantize is passed "
                         "through unchanged (not quantized, not validated)",
                         "add --quantize (e.g. -q int8 with --calibration: AI Edge Quantizer quantizes a float "
                         f".tflite), or drop {' and '.join(unused)}")


# convert's options that only act with another one (given explicitly, they must take effect)
NEEDS = {"calibration_samples": ("calibration", "--calibration-samples", "--calibration DATA"),
         "doctor_seconds": ("doctor", "--doctor-seconds", "--doctor (or int8-mixed in --quantize)"),
         "max_accuracy_drop": ("doctor", "--max-accuracy-drop", "--doctor (or int8-mixed in --quantize)")}


def check_unused(plan: ConvertOptions, given: set[str]) -> None:
    """An option given explicitly that cannot take effect is an error that says what to add."""
    for key, (needs, flag, add) in NEEDS.items():
        if key in given and not getattr(plan, needs):
            raise UsageError(f"{flag} has no effect without {add.split(' ')[0]}", f"add {add}, or drop {flag}")


def convert(source: Any, out: str | Path, *, progress: ProgressCallback | None = None, **options: Any) -> ConvertResult:
    """Convert ``source`` into one ``.tflite`` per quantization mode under ``out`` (atomically).

    Options (all keyword): quantize, calibration, calibration_samples, validation, validation_samples,
    io_dtype, signature, input_shapes, batch, mean, std, allow_float_fallback, unsafe_load, doctor,
    doctor_seconds, max_accuracy_drop, task, jobs.  An option given that cannot take effect (``--doctor-seconds``
    without the doctor, ``--calibration-samples`` without calibration data...) is an error."""
    given = {k for k, v in options.items() if v is not None}
    plan = plan_convert(source, **{k: v for k, v in options.items() if v is not None})
    check_unused(plan, given)
    with StagedOutput(out, record=RECORD) as stage:
        result = convert_into(stage.path, source, plan, progress=progress, out_label=str(stage.out),
                              check_names=stage.check_names)
        stage.commit()
    return result


def _with_flags(src, plan: ConvertOptions):
    """The loaded model with the normalization and text padding the options give."""
    from mobilepack.model.loading import with_normalization
    from mobilepack.model.normalization import from_flags

    norm_flags = from_flags(plan.mean, plan.std, source=plan.normalization_source)
    if norm_flags is not None:
        src = with_normalization(src, norm_flags)
    if plan.padding != src.spec.padding:
        from dataclasses import replace

        src.spec = replace(src.spec, padding=plan.padding, provenance=dict(src.spec.provenance, padding="flags"))
    return src


def convert_into(directory: Path, source: Any, plan: ConvertOptions, *, progress: ProgressCallback | None = None,
                 out_label: str | None = None, check_names=None, preflight=None, kept: list | None = None) -> ConvertResult:
    """The convert stage: the variants, convert.json and convert.md into ``directory``; ``kept`` gets validation's outputs.
    Where a second converter may be used, its process starts first (``conversion.parallel.warm_child``)."""
    from mobilepack.conversion.parallel import close_warm, warm_child

    emit = or_ignore(progress)
    warnings: list[str] = []

    def warn(text: str) -> None:
        warnings.append(text)
        emit(ProgressEvent("warning", text, warning=True))

    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    warm = warm_child(source, plan.jobs, tuple(plan.modes))
    try:
        return _convert_loaded(directory, source, plan, emit, warn, warnings, timings, t_start, out_label=out_label,
                               check_names=check_names, preflight=preflight, kept=kept, warm=warm)
    finally:
        close_warm(warm)   # unused, or the loop's child converter already ended it


def _convert_loaded(directory: Path, source: Any, plan: ConvertOptions, emit, warn, warnings, timings, t_start, *,
                    out_label, check_names, preflight, kept, warm) -> ConvertResult:
    from mobilepack.model.loading import load
    from mobilepack.pipeline.convert_loop import convert_modes

    emit(ProgressEvent("load", f"loading {source if isinstance(source, (str, Path)) else 'model'}"))
    src = _with_flags(load(source, signature_key=plan.signature, input_shapes=plan.input_shapes, batch=plan.batch,
                           safe_mode=not plan.unsafe_load), plan)
    timings["load"] = time.perf_counter() - t_start
    # the task the metadata will describe (build's preflight checks it), so that the doctor and the
    # validation judge the variants by the metric the selection uses
    from mobilepack.metadata.preflight import task_of

    task = preflight(src.spec) if preflight is not None else task_of(src.spec, plan.task)
    spec = src.spec
    planned = [mode_spec(m).variant_file(spec.name) for m in plan.modes] or [f"{spec.name}.tflite"]
    if check_names is not None:
        check_names(planned + [RECORD, "convert.md"])
    source_info = {"path": spec.source_path, "format": spec.source_format.value,
                   "sha256": hash_path(source) if isinstance(source, (str, Path)) else None}
    tools = tool_versions()
    extra: dict[str, Any] = {"kept": kept} if kept is not None else {}
    if src.is_tflite and not plan.modes:
        variants = [_passthrough(src, directory / planned[0], tools)]
        cal_info, val_info = None, {"source": None, "kind": None, "samples": 0}
        warn("a .tflite source is passed through unchanged and not validated (no reference model)")
    else:
        cal_info, val_info, variants = convert_modes(
            src, plan.modes, directory, planned, calibration=plan.calibration,
            calibration_samples=plan.calibration_samples, validation=plan.validation,
            validation_samples=plan.validation_samples,
            options=ConverterOptions(io_dtype=plan.io_dtype, allow_float_fallback=plan.allow_float_fallback),
            tools=tools, emit=emit, warn=warn, timings=timings, plan=plan, extra=extra, task=task or "generic", warm=warm)
    files = tuple([v.path for v in variants] + [RECORD, "convert.md"])
    emit(ProgressEvent("write", f"writing {out_label or directory}"))
    timings["total"] = time.perf_counter() - t_start  # everything but writing the record itself
    result = ConvertResult(out_dir=out_label or str(directory), source=source_info, model=spec.to_dict(),
                           options=plan.to_dict(), calibration=cal_info, validation_data=val_info,
                           variants=tuple(variants), warnings=tuple(warnings), tools=tools, files=files,
                           timings=timings, doctor=extra.get("doctor"), failed=tuple(extra.get("failed", ())))
    _write_record(directory, result)
    return result


def _write_record(directory: Path, result: ConvertResult) -> None:
    """convert.json and convert.md."""
    from mobilepack.report.doctor_view import view as doctor_view
    from mobilepack.render.environment import render

    payload = result.to_dict()
    (directory / RECORD).write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    (directory / "convert.md").write_text(render("report/convert.md.j2", **payload,
                                                 doc=doctor_view(payload.get("doctor"))), encoding="utf-8")


def _passthrough(src, path: Path, tools) -> VariantResult:
    data = src.tflite_bytes or b""
    path.write_bytes(data)
    spec = src.spec
    return VariantResult("passthrough", path.name, len(data), hashlib.sha256(data).hexdigest(),
                         tuple(t.dtype for t in spec.inputs), tuple(t.dtype for t in spec.outputs), 0.0, 0.0, None,
                         tools)
