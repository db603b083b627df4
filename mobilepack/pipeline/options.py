"""The options of ``build``, typed and frozen, validated once before any heavy work.

``resolve_build_options`` merges defaults < mobilepack.toml < keyword arguments
(``config.resolve``), checks every value, and returns a :class:`BuildOptions`
whose parts the stages read: ``convert`` (:class:`ConvertOptions`), ``metadata``,
``bench`` (:class:`BenchOptions`), ``render`` (:class:`RenderOptions`) and
``compress``.  Nothing after it re-validates or re-parses an option."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobilepack.config import SCHEMA, load_config, resolve
from mobilepack.errors import InputError, UsageError
from mobilepack.pipeline.convert_command import ConvertOptions, plan_convert

_SECTION_OF = {key: section for section, options in SCHEMA.items() for key in options}


@dataclass(frozen=True)
class MetadataOptions:
    """The ``[metadata]`` section, with the labels file read once."""

    section: dict[str, Any]
    labels: tuple[str, ...]

    def __getitem__(self, key: str) -> Any:
        return self.section[key]

    def key(self) -> dict[str, Any]:
        """What the metadata written depends on (file contents hashed), for the cache key."""
        from mobilepack.cache import hash_path

        out = {k: v for k, v in self.section.items() if k != "labels"}
        if out.get("vocab"):
            out["vocab"] = hash_path(out["vocab"])
        return {**out, "labels": list(self.labels)}


@dataclass(frozen=True)
class BenchOptions:
    delegates: tuple[str, ...]
    threads: tuple[int, ...]
    runs: int
    warmup: int
    target_ci: float
    max_seconds: float
    gpu_latency: bool
    max_runs: int
    floor_runs: int      # past max_seconds adaptive timing needs only this many: 3 with [bench] runs unset, else runs

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> BenchOptions:
        from mobilepack.runtime.delegates import get as get_delegate

        for name in section["delegates"]:
            get_delegate(name)
        explicit = section["runs"] is not None
        from mobilepack.bench.engine import BUILD_FLOOR_RUNS, DEFAULT_RUNS, check_max_runs

        runs = section["runs"] if explicit else DEFAULT_RUNS
        if runs < 1 or section["warmup"] < 0 or any(t < 1 for t in section["threads"]):
            raise UsageError("[bench] runs must be ≥ 1, warmup ≥ 0 and threads ≥ 1", "e.g. --runs 10 --threads 1,2")
        if not 0 <= section["target_ci"] < 1 or section["max_seconds"] <= 0:
            raise UsageError("[bench] target_ci must be in [0, 1) and max_seconds > 0",
                             "e.g. --target-ci 0.02 --max-seconds 3")
        return cls(tuple(section["delegates"]), tuple(section["threads"]), runs, section["warmup"],
                   section["target_ci"], section["max_seconds"], section["gpu_latency"],
                   check_max_runs(runs, section.get("max_runs")),
                   runs if explicit else min(runs, BUILD_FLOOR_RUNS))

    def key(self) -> dict[str, Any]:
        return {"delegates": list(self.delegates), "threads": list(self.threads), "runs": self.runs,
                "warmup": self.warmup, "target_ci": self.target_ci, "max_seconds": self.max_seconds,
                "gpu_latency": self.gpu_latency, "max_runs": self.max_runs, "floor_runs": self.floor_runs}


@dataclass(frozen=True)
class RenderOptions:
    targets: tuple[str, ...]
    app_name: str | None
    ids: dict[str, str | None]          # [render] identifier key -> value ("package", "bundle_id")
    samples: str | None

    @classmethod
    def from_sections(cls, target: str, section: dict[str, Any]) -> RenderOptions:
        from mobilepack.render.targets import expand, get as get_target

        targets = expand(target)
        for name in targets:
            tgt = get_target(name)
            if section.get(tgt.id_key) is not None:
                tgt.validate_id(section[tgt.id_key])
        if section["samples"] is not None and not Path(section["samples"]).is_dir():
            raise InputError(f"sample images folder not found: {section['samples']}",
                             "pass a folder of .png/.jpg images to --samples")
        ids = {k: v for k, v in section.items() if k not in ("app_name", "samples")}
        return cls(targets, section["app_name"], ids, section["samples"])


@dataclass(frozen=True)
class BuildOptions:
    source: str
    out: Path
    force: bool
    cache_dir: str | None
    eval_data: str | None
    max_accuracy_drop: float
    convert: ConvertOptions
    metadata: MetadataOptions
    bench: BenchOptions
    render: RenderOptions
    compress: Any                       # compress.options.CompressConfig
    compress_section: dict[str, Any]    # the resolved [compress] section (its cache key)
    resolved: dict[str, dict[str, Any]]  # every section as resolved (report and manifest)
    preflight: Any = None               # metadata checks on the loaded model (metadata.preflight.for_build)

    @property
    def eval_source(self) -> str | None:
        """The samples evaluation reads: labelled data, else the validation or calibration data."""
        return self.eval_data or self.convert.validation or self.convert.calibration


def split_overrides(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"quantize": [...], "runs": 5}`` -> ``{"convert": {...}, "bench": {...}}``; unknown names are errors."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        if key not in _SECTION_OF:
            close = difflib.get_close_matches(key, list(_SECTION_OF), n=1)
            raise UsageError(f"unknown build option {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                             "see `mobilepack build --help`")
        out.setdefault(_SECTION_OF[key], {})[key] = value
    return out


def resolve_options(source: Any = None, *, config: str | Path | None = None, **flat: Any) -> dict[str, dict[str, Any]]:
    """Defaults < config file < keyword arguments, as plain sections (``mobilepack init``'s schema)."""
    file_cfg = load_config(config) if config else {}
    overrides = split_overrides({k: v for k, v in flat.items() if v is not None})
    if source is not None:
        overrides.setdefault("build", {})["source"] = str(source)
    opts = resolve(file_cfg, overrides)
    if not opts["build"]["source"]:
        raise UsageError("no model given", "pass SRC, or set [build] source in mobilepack.toml")
    from mobilepack.render.targets import names as target_names

    valid_targets = (*target_names(), "all")
    if opts["build"]["target"] not in valid_targets:
        raise UsageError(f"unknown --target {opts['build']['target']!r}", f"valid: {', '.join(valid_targets)}")
    drop = opts["build"]["max_accuracy_drop"]
    if not 0 <= drop < 1:
        raise UsageError(f"--max-accuracy-drop must be in [0, 1) (got {drop})", "e.g. 0.01 for one point")
    return opts


def _convert_options(b: dict[str, Any], c: dict[str, Any], md: dict[str, Any], *,
                     mean_from_flags: bool) -> ConvertOptions:
    return plan_convert(b["source"], quantize=c["quantize"], calibration=c["calibration"],
                        calibration_samples=c["calibration_samples"], validation=c["validation"],
                        io_dtype=c["io_dtype"], signature=c["signature"],
                        input_shapes={k: tuple(v) for k, v in (c["input_shape"] or {}).items()}, batch=c["batch"],
                        mean=md["mean"], std=md["std"], allow_float_fallback=c["allow_float_fallback"],
                        unsafe_load=c["unsafe_load"], normalization_source="flags" if mean_from_flags else "config",
                        padding=md["padding"], doctor="auto" if c["doctor"] is None else c["doctor"],
                        doctor_seconds=c["doctor_seconds"], max_accuracy_drop=b["max_accuracy_drop"],
                        keep_going=not b["strict"], task=md["task"], keypoints_layout=md["keypoints_layout"],
                        jobs=c["jobs"])


def _check_eval_data(b: dict[str, Any], md: dict[str, Any], convert: ConvertOptions) -> None:
    if b["eval_data"] is not None and convert.modes and "fp32" not in convert.modes:
        raise UsageError("--eval-data selects against the fp32 variant, which --quantize leaves out",
                         "add fp32 to --quantize")
    if b["eval_data"] is not None and not Path(b["eval_data"]).exists():
        raise InputError(f"evaluation data not found: {b['eval_data']}",
                         "pass a folder per class of images or .npz with x and y (classification), a folder "
                         "with annotations.json (detection) or with masks/ (segmentation)")
    from mobilepack.evaluate.tasks import check_eval_data

    check_eval_data(md["task"], b["eval_data"])  # the layout the task's labelled metric reads


def _then_eval_data(check, eval_data: str):
    """The preflight, then ``--eval-data`` against the task it found (before conversion)."""
    from mobilepack.evaluate.tasks import check_eval_data

    def run(spec):
        task = check(spec)
        check_eval_data(task, eval_data)
        return task

    return run


def _compress_config(section: dict[str, Any], b: dict[str, Any], md: dict[str, Any]):
    from mobilepack.compress.options import CompressConfig, Technique

    cfg = CompressConfig.from_section(section, eval_data=b["eval_data"], labels=md["labels"])
    if Technique.QAT in cfg.stages and cfg.stages[-1] != Technique.QAT:
        raise UsageError("[compress] qat must be the last stage (it produces the int8 .tflite itself)",
                         "move qat to the end of stages")
    return cfg


def _read_labels(path) -> tuple[str, ...]:
    if not path:
        return ()
    from mobilepack.metadata.labels import read_labels

    return tuple(read_labels(path))


def resolve_build_options(source: Any = None, *, config: str | Path | None = None, **flat: Any) -> BuildOptions:
    """Every option of ``build``, resolved and validated (see the module docstring)."""
    opts = resolve_options(source, config=config, **flat)
    b, c, md = opts["build"], opts["convert"], opts["metadata"]
    from mobilepack.tasks import parse as parse_task

    parse_task(md["task"])   # an unknown --task is refused before anything is loaded
    convert = _convert_options(b, c, md, mean_from_flags=flat.get("mean") is not None)
    metadata = MetadataOptions(dict(md), _read_labels(md["labels"]))
    from mobilepack.metadata import preflight

    check = preflight.for_build(b["source"], md, metadata.labels, convert)  # fails fast on what needs no conversion
    render = RenderOptions.from_sections(b["target"], opts["render"])
    if "server" in render.targets:   # the optional extra, the [server] options and the source kind, up front
        from mobilepack.server.target import preflight as server_preflight

        server_preflight(b["source"], opts["server"])
    _check_eval_data(b, md, convert)
    if b["eval_data"] is not None and md["task"] is None:   # a detected task: its layout, once it is known
        check = _then_eval_data(check, b["eval_data"])
    bench = BenchOptions.from_section(opts["bench"])
    compress = _compress_config(opts["compress"], b, md)
    return BuildOptions(source=b["source"], out=Path(b["out"]).absolute(), force=b["force"], cache_dir=b["cache_dir"],
                        eval_data=b["eval_data"], max_accuracy_drop=b["max_accuracy_drop"], convert=convert,
                        metadata=metadata, bench=bench, render=render, compress=compress,
                        compress_section=dict(opts["compress"]), resolved=opts, preflight=check)
