"""``mobilepack.toml``: every build option in one file; the CLI overrides it.

The schema below is the single list of options: it validates the file (an unknown
section or key is an error naming it and the nearest valid one), writes the
commented starter file for ``mobilepack init``, and resolves relative paths
against the file's directory."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from mobilepack.compress.options import config_schema as compress_section
from mobilepack.errors import InputError, UsageError
from mobilepack.option import Option

CONFIG_NAME = "mobilepack.toml"


class ConfigError(UsageError):
    """mobilepack.toml is invalid (exit 2)."""


def _modes() -> tuple[str, ...]:
    from mobilepack.conversion.quantization import names

    return names()


def _io_dtypes() -> tuple[str, ...]:
    from mobilepack.conversion.quantization import io_dtype_names

    return io_dtype_names()


def _targets() -> tuple[str, ...]:
    from mobilepack.render.targets import names

    return (*names(), "all")


def _tasks() -> tuple[str, ...]:
    from mobilepack.tasks import names

    return tuple(names())


def _delegates() -> tuple[str, ...]:
    from mobilepack.runtime.delegates import names

    return tuple(names())


SCHEMA: dict[str, dict[str, Option]] = {
    "build": {
        "source": Option("path", None, "the model: SavedModel dir, .keras, .h5 or .tflite", example="model.keras"),
        "target": Option("str", "android", "which app projects to render", _targets),
        "out": Option("path", "mobilepack-out", "output directory"),
        "eval_data": Option("path", None, "labelled data: a folder per class, or .npz with x and y",
                            example="data/eval"),
        "max_accuracy_drop": Option("float", 0.01, "largest accuracy drop vs fp32 a shipped variant may have"),
        "cache_dir": Option("path", None, "conversion/bench cache (default ~/.cache/mobilepack)",
                            example="~/.cache/mobilepack"),
        "force": Option("bool", False, "overwrite files you edited in OUT, or write into a foreign directory"),
        "strict": Option("bool", False, "stop at a quantization mode that cannot be produced (default: record "
                         "it in the report and build the rest)"),
    },
    "convert": {
        "quantize": Option("list[str]", None, "quantization modes (default: fp32, fp16, dynamic, plus int8 "
                           "when calibration data is given)", _modes,
                           example=["fp32", "fp16", "dynamic", "int8"]),
        "calibration": Option("path", None, "calibration data: image folder, .npy, .npz or 'random'",
                              example="data/calibration"),
        "calibration_samples": Option("int", 100, "calibration samples used"),
        "validation": Option("path", None, "numerical-validation data (default: calibration data)",
                             example="data/validation"),
        "io_dtype": Option("str", "float32", "I/O dtype of the int8 variant", _io_dtypes),
        "signature": Option("str", None, "SavedModel signature key", example="serving_default"),
        "input_shape": Option("table[list[int]]", None, "fixed input shapes, batch included",
                              example={"image": [1, 224, 224, 3]}),
        "batch": Option("int", 1, "batch size dynamic batch dimensions are fixed to"),
        "allow_float_fallback": Option("bool", False, "let integer modes keep ops without integer kernels in float"),
        "unsafe_load": Option("bool", False, "load Keras Lambda layers (runs the model's Python code)"),
        "jobs": Option("str", "auto", "converter processes: 1, 2 (the calibrated modes in a second process beside "
                       "the others) or auto (2 for weights of 8–512 MiB when memory allows)", ("auto", "1", "2")),
        "doctor": Option("bool", None, "quantization doctor: diagnose int8 per layer and add int8-mixed (the "
                         "smallest float set meeting max_accuracy_drop); unset: build runs it when int8 misses "
                         "the budget with real calibration data", example=True),
        "doctor_seconds": Option("float", 120.0, "time limit of the doctor's search, in seconds"),
    },
    "metadata": {
        "task": Option("str", None, "task (detected when unset)", _tasks,
                       example="image_classification"),
        "labels": Option("path", None, "labels file, one per line", example="labels.txt"),
        "mean": Option("list[float]", None, "input normalization mean (once or per channel)", example=[127.5]),
        "std": Option("list[float]", None, "input normalization std (once or per channel)", example=[127.5]),
        "name": Option("str", None, "model name in the metadata", example="My classifier"),
        "version": Option("str", None, "model version", example="1.0"),
        "author": Option("str", None, "model author", example="Example Inc."),
        "license": Option("str", None, "model license", example="Apache-2.0"),
        "score_threshold": Option("float", None, "classification score threshold (0..1)", example=0.5),
        "keypoints_layout": Option("str", None, "keypoints: POINTSxVALUES[,output=N][,presence=N|none]"
                                   "[,units=pixels|ratios][,skeleton=FILE] (unset: detected)", example="21x3,presence=1"),
        "iou_threshold": Option("float", None, "yolo_detection: the NMS IoU threshold (0..1; unset: 0.45)",
                                example=0.45),
        "vocab": Option("path", None, "vocabulary file for text_classification and text_embedding", example="vocab.txt"),
        "tokenizer": Option("str", None, "text tokenizer", ("regex", "bert"), example="regex"),
        "padding": Option("str", "post", "text models: pad/cut token ids at the end (post) or start (pre), as "
                          "trained", ("pre", "post")),
        "sample_rate": Option("int", None, "audio sample rate in Hz", example=16000),
        "channels": Option("int", 1, "audio channels"),
    },
    "bench": {
        "delegates": Option("list[str]", ["cpu", "xnnpack", "gpu"], "host delegates to measure", _delegates),
        "threads": Option("list[int]", [1, 2], "thread counts swept for xnnpack"),
        "runs": Option("int", None, "minimum timed runs per configuration, honoured exactly when set (unset: 10, "
                       "or 3 once max_seconds has passed, so a slow model is timed for max_seconds, not 10 runs)",
                       example=10),
        "warmup": Option("int", 5, "warm-up runs per configuration (at most: they stop once they and the first "
                          "inference have taken max_seconds, after at least one)"),
        "target_ci": Option("float", 0.02, "stop timing once the 95% confidence interval of the latency (20% trimmed mean) is within "
                            "± this fraction of it (0: exactly `runs` runs)"),
        "max_seconds": Option("float", 0.25, "stop timing a configuration after this long even if the interval is wider "
                               "(build's quick look; `mobilepack bench` takes 2 s)"),
        "max_runs": Option("int", None, "stop timing a configuration at this many runs even if the interval is wider "
                           "(default: 50, the fixed scheme's count, or `runs` when larger)", example=200),
        "gpu_latency": Option("bool", False, "time the GPU even on a software adapter (SwiftShader); otherwise "
                              "it gets a functional check only"),
    },
    "render": {
        "app_name": Option("str", None, "visible app name (default from the model name)", example="Digits Demo"),
        "package": Option("str", None, "Android application id", example="com.example.digits"),
        "bundle_id": Option("str", None, "iOS bundle identifier", example="com.example.digits"),
        "samples": Option("path", None, "folder of sample images bundled into the apps", example="samples"),
    },
    "server": {
        "server_p99_ms": Option("float", 100.0, "--target server: the p99 latency budget (ms) the served setting "
                                "must keep; also sizes TF Serving's batches"),
        "server_batch": Option("list[int]", [1, 8], "--target server: max batch sizes (requests per batch) "
                               "load-tested"),
        "server_concurrency": Option("list[int]", [1, 8], "--target server: client concurrencies load-tested"),
        "server_replicas": Option("list[int]", [1], "--target server: replica counts load-tested"),
        "server_requests": Option("int", 200, "--target server: most requests per load-test cell"),
        "server_seconds": Option("float", 2.0, "--target server: longest time per load-test cell, in seconds"),
    },
    **compress_section(),
}


def _nearest(name: str, valid) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}?" if close else f"valid: {', '.join(valid)}"


def _check_value(section: str, key: str, opt: Option, value: Any, base: Path) -> Any:
    where = f"[{section}] {key}"

    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{CONFIG_NAME}: {where} must be {expected} (got {value!r})",
                           "see `mobilepack init` for an example of every option")

    k = opt.kind
    if k == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
    elif k == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
    elif k == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        value = float(value)
    elif k in ("str", "path"):
        if not isinstance(value, str) or not value:
            raise bad("a non-empty string")
        if k == "path" and value != "random":
            p = Path(value).expanduser()
            value = str(p if p.is_absolute() else (base / p))
    elif k.startswith("list["):
        inner = k[5:-1]
        if not isinstance(value, list):
            raise bad(f"a list of {inner}s")
        for item in value:
            ok = (isinstance(item, str) if inner == "str" else
                  (isinstance(item, int) and not isinstance(item, bool)) if inner == "int" else
                  (isinstance(item, (int, float)) and not isinstance(item, bool)))
            if not ok:
                raise bad(f"a list of {inner}s")
        if inner == "float":
            value = [float(v) for v in value]
    elif k == "table[list[int]]":
        if not isinstance(value, dict) or not all(
                isinstance(v, list) and v and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in v)
                for v in value.values()):
            raise bad("a table of name = [positive integers]")
    valid = opt.valid()
    if valid:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item not in valid:
                raise ConfigError(f"{CONFIG_NAME}: {where} has invalid value {item!r}",
                                  _nearest(str(item), valid))
    return value


def parse_config(text: str, *, base: Path, source: str = CONFIG_NAME) -> dict[str, dict[str, Any]]:
    """Validate TOML text against the schema; returns only the keys the file sets."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}", "fix the syntax (see `mobilepack init`)") from exc
    result: dict[str, dict[str, Any]] = {}
    for section, table in data.items():
        if section not in SCHEMA:
            raise ConfigError(f"{source}: unknown section [{section}]", _nearest(section, SCHEMA))
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: {section} must be a [{section}] table", "see `mobilepack init`")
        result[section] = {}
        for key, value in table.items():
            if key not in SCHEMA[section]:
                raise ConfigError(f"{source}: unknown key {key!r} in [{section}]", _nearest(key, SCHEMA[section]))
            result[section][key] = _check_value(section, key, SCHEMA[section][key], value, base)
    return result


def load_config(path: str | Path) -> dict[str, dict[str, Any]]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"config file not found: {p}", "create one with `mobilepack init`")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {p}: {exc}", "save it as UTF-8 text") from exc
    return parse_config(text, base=p.resolve().parent, source=str(p))


def resolve(config: dict[str, dict[str, Any]], overrides: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Defaults < config file < CLI (``None`` in ``overrides`` means 'not given')."""
    out: dict[str, dict[str, Any]] = {}
    for section, options in SCHEMA.items():
        out[section] = {}
        for key, opt in options.items():
            value = opt.default
            if key in config.get(section, {}):
                value = config[section][key]
            cli = overrides.get(section, {}).get(key)
            if cli is not None:
                value = cli
            out[section][key] = value
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def starter_config(source: str | None = None) -> str:
    """The commented file ``mobilepack init`` writes: every option, with its default."""
    lines = ["# mobilepack.toml — every `mobilepack build` option; command-line flags override these.",
             "# Relative paths are relative to this file. Uncomment a line to set it.", ""]
    for section, options in SCHEMA.items():
        lines.append(f"[{section}]")
        for key, opt in options.items():
            valid = opt.valid()
            choices = f" ({' | '.join(valid)})" if valid else ""
            lines.append(f"# {opt.help}{choices}")
            if section == "build" and key == "source" and source:
                lines.append(f"{key} = {_toml_value(source)}")
            elif opt.default is None:
                lines.append(f"# {key} = {_toml_value(opt.example)}")
            else:
                lines.append(f"# {key} = {_toml_value(opt.default)}")
        lines.append("")
    return "\n".join(lines)

