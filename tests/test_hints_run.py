"""Every hint that names a mobilepack command runs (issue 26, part 3).

The lint's findings (``inspect``) are collected on real models — a grayscale digits classifier
trained here, the same with generic metadata, a .tflite with a dynamic batch, the bundled digits
model in int8 — and each command a fix names is run, its placeholders filled for that model: the
CLI must accept it (exit 0).  The errors' hints that name a command are collected from the source
and each one is run the same way (or, for a command that trains or builds, parsed by the CLI)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from tests import hint_models
from tests.conftest import DIGITS, run_cli

ROOT = Path(__file__).resolve().parent.parent
COMMAND = re.compile(r"`(mobilepack [^`{}]+)`")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import mobilepack

    work = tmp_path_factory.mktemp("hints")
    gray = hint_models.gray_classifier(work / "gray")
    out = mobilepack.convert(gray["keras"], work / "gray_conv", quantize="fp32")
    gray["tflite"] = work / "gray_conv" / out.variants[0].path
    digits = mobilepack.convert(DIGITS / "digits.keras", work / "digits", quantize="int8",
                                calibration=DIGITS / "calibration", calibration_samples=20)
    from tests.task_sources import labels, vocab

    text = {"tflite": hint_models.string_input(work), "labels": labels(work / "three.txt", 3),
            "vocab": vocab(work / "vocab.txt")}
    return {"work": work, "gray": gray, "dynamic": hint_models.dynamic_batch(work), "text": text,
            "digits_int8": work / "digits" / digits.variants[0].path}


def _lint(model: Path) -> list[dict]:
    r = run_cli("inspect", model, "--no-gpu", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["findings"]


def _commands(findings: list[dict]) -> dict[str, list[str]]:
    """finding id -> the mobilepack commands its fix names."""
    return {f["id"]: COMMAND.findall(f["fix"]) for f in findings if COMMAND.search(f["fix"])}


def _run(command: str, fill: dict[str, str]) -> None:
    argv = [fill.get(a, a) for a in shlex.split(command)]
    from mobilepack.inspect.commands import PLACEHOLDERS

    left = [a for a in argv if a in PLACEHOLDERS]
    assert not left, f"placeholders {left} not filled in {command!r}"
    r = run_cli(*argv[1:])
    assert r.returncode == 0, (command, argv, r.stderr[-1500:])


def test_the_lint_hints_run_for_the_model_they_are_given_for(models, tmp_path):
    """Before: the grayscale model was told `metadata ... --labels labels.txt --mean M --std S`, which
    refuses labels for the generic model it is without --task; the dynamic .tflite was told
    `convert --input-shape NAME=1,H,W,C`, which convert refuses for a .tflite; the generic model was
    told to re-attach --mean/--std, which the generic metadata then dropped."""
    gray, dyn = models["gray"], models["dynamic"]
    seen: dict[str, list[str]] = {}
    common = {"labels.txt": str(gray["labels"]), "M": "0", "S": "16"}    # both classifiers have 10 classes
    cases = [
        (gray["tflite"], {}),
        (dyn["tflite"], {"SRC": str(dyn["saved_model"])}),
        (models["digits_int8"], {"SRC": str(DIGITS / "digits.keras"), "DATA": str(DIGITS / "calibration")}),
        (models["text"]["tflite"], {"labels.txt": str(models["text"]["labels"]),
                                    "vocab.txt": str(models["text"]["vocab"])}),
    ]
    for i, (model, fill) in enumerate(cases):
        fill = {**common, **fill}
        for finding, commands in _commands(_lint(model)).items():
            seen.setdefault(finding, []).extend(commands)
            for j, command in enumerate(commands):
                _run(command, {**fill, "MODEL.tflite": str(model), "OUT.tflite": str(tmp_path / f"{i}-{j}.tflite"),
                               "DIR": str(tmp_path / f"{i}-{j}")})
    assert {"missing_metadata", "dynamic_shapes", "integer_internals_float_io"} <= set(seen), seen
    assert any("--task image_classification" in c for c in seen["missing_metadata"]), seen
    assert any("--input-shape x=1,4" in c for c in seen["dynamic_shapes"]), seen


def test_a_generic_image_like_model_gets_its_normalization_in_the_metadata(models, tmp_path):
    """The missing_normalization hint on generic metadata runs, and afterwards the metadata has the
    normalization (the apps read it); lint no longer reports it."""
    gray = models["gray"]
    generic = tmp_path / "generic.tflite"
    r = run_cli("metadata", gray["tflite"], "-o", generic, "--task", "generic")
    assert r.returncode == 0, r.stderr
    commands = _commands(_lint(generic))
    (command,) = commands["missing_normalization"]
    assert "--labels" not in command and "--mean M --std S" in command
    fixed = tmp_path / "fixed.tflite"
    _run(command, {"MODEL.tflite": str(generic), "OUT.tflite": str(fixed), "M": "0", "S": "16"})
    r = run_cli("inspect", fixed, "--no-gpu", "--json")
    doc = json.loads(r.stdout)
    assert "missing_normalization" not in [f["id"] for f in doc["findings"]], doc["findings"]
    assert '"std": [16.0]' in json.dumps(doc["metadata"]), doc["metadata"]


# -- the errors' hints --------------------------------------------------------------------------

def _source_hint_commands() -> set[str]:
    """Every backticked `mobilepack ...` command in the strings given to an error (``...Error(...)``,
    ``ConfigError``, ``FlatbufferError``...): the errors' messages and hints."""
    import ast

    found = set()
    for path in (ROOT / "mobilepack").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
            if not name.endswith("Error"):
                continue
            for arg in list(node.args) + [k.value for k in node.keywords]:
                for const in ast.walk(arg):
                    if isinstance(const, ast.Constant) and isinstance(const.value, str):
                        found.update(" ".join(c.split()) for c in COMMAND.findall(const.value))
    return found


# each command an error's hint names -> how to run it for a model it is given for (its placeholders
# and the arguments it leaves to the user filled): the CLI must accept it (exit 0)
def _runs(models, tmp: Path) -> dict[str, list]:
    dyn, gray = models["dynamic"], models["gray"]
    return {
        "mobilepack inspect": ["inspect", gray["tflite"], "--no-gpu"],
        "mobilepack metadata": ["metadata", gray["tflite"], "-o", tmp / "m.tflite", "--task", "generic"],
        "mobilepack convert SRC -o DIR --input-shape ...": ["convert", dyn["saved_model"], "-o", tmp / "c1", "-q",
                                                            "fp32", "--input-shape", "x=1,4"],
        "mobilepack convert": ["convert", gray["keras"], "-o", tmp / "c2", "-q", "fp32"],
        "mobilepack convert MODEL -o DIR": ["convert", gray["keras"], "-o", tmp / "c2", "-q", "fp32"],   # run once
        "mobilepack convert MODEL.tflite --input-shape …": ["convert", dyn["tflite"], "-o", tmp / "c4",
                                                             "--input-shape", "x=1,4"],
        "mobilepack init": ["init", "--path", tmp / "mobilepack.toml"],
        "mobilepack build --help": ["build", "--help"],
        "mobilepack build": ["build", gray["tflite"], "-o", tmp / "b1", "--target", "android", "--delegates", "cpu"],
        "mobilepack build MODEL --target server": ["build", gray["keras"], "-o", tmp / "b2", "--target", "server",
                                                   "-q", "fp32", "--delegates", "xnnpack", "--server-batch", "1",
                                                   "--server-concurrency", "1", "--server-requests", "20",
                                                   "--server-seconds", "1"],
    }


def test_every_command_an_error_hint_names_is_known_here():
    """A new hint naming a command must be added to the runs below (so that it is run)."""
    missing = _source_hint_commands() - set(_runs({"dynamic": {"saved_model": "", "tflite": ""},
                                                   "gray": {"tflite": "", "keras": ""}}, Path()))
    assert not missing, f"hints naming commands with no run in tests/test_hints_run.py: {sorted(missing)}"


def test_every_command_an_error_hint_names_runs(models, tmp_path):
    ran: set[tuple[str, ...]] = set()
    for command, argv in _runs(models, tmp_path).items():
        if tuple(map(str, argv)) in ran:    # two hints naming one run (`convert` and `convert MODEL -o DIR`)
            continue
        ran.add(tuple(map(str, argv)))
        r = run_cli(*argv)
        assert r.returncode == 0, (command, r.stderr[-1500:])
