"""`mobilepack build` end to end: the sample for both targets, a tiny model per task type,
cache hits, user-edit protection, config files, interruption."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import mobilepack
from mobilepack.errors import OutputError
from tests import task_sources
from tests.conftest import DIGITS, assert_clean_error, interrupt_when, run_cli, snapshot

SAMPLE = dict(calibration=str(DIGITS / "calibration"), eval_data=str(DIGITS / "eval"),
              labels=str(DIGITS / "labels.txt"), samples=str(DIGITS / "samples"))
FAST = dict(runs=5, warmup=1, threads=[1], target_ci=0.0)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mp-cache")


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory, cache_dir):
    out = tmp_path_factory.mktemp("build") / "out"
    result = mobilepack.build(DIGITS / "digits.keras", out=str(out), target="all", cache_dir=str(cache_dir),
                              quantize=["fp32", "fp16", "dynamic", "int8"], **SAMPLE, **FAST)
    return out, result


@pytest.mark.smoke
def test_sample_build_outputs(sample_build):
    out, result = sample_build
    for rel in ("models/convert.json", "reports/report.json", "reports/report.md", "reports/report.html",
                "manifest.json", "android/settings.gradle.kts", "android/app/src/main/assets/model.tflite",
                "ios/Podfile"):
        assert (out / rel).is_file(), rel
    report = json.loads((out / "reports/report.json").read_text())
    assert report == json.loads(json.dumps(result.to_dict(), default=str))
    assert report["schema_version"] == "1.0"
    winner = report["selection"]["winner"]
    shipped = (out / "android/app/src/main/assets/model.tflite").read_bytes()
    variant = next(v for v in report["variants"] if v["mode"] == winner)
    assert shipped == (out / "models" / variant["path"]).read_bytes()
    # the shipped model carries metadata with the labels
    from mobilepack.metadata import read

    md = read(shipped)
    assert md is not None


def test_accuracy_matrix_covers_every_variant_and_delegate(sample_build):
    _, result = sample_build
    acc = result.report["accuracy"]
    assert acc["labelled"] and acc["samples"] == 300
    cells = {(c["mode"], c["delegate"]): c for c in acc["cells"]}
    for mode in ("fp32", "fp16", "dynamic", "int8"):
        for delegate in ("cpu", "xnnpack", "gpu"):
            assert (mode, delegate) in cells
        assert cells[(mode, "cpu")]["status"] == "ok"
        assert cells[(mode, "cpu")]["accuracy"] >= 0.95  # the real held-out digits split
    assert cells[("fp32", "cpu")]["agreement"] == 1.0


def test_software_gpu_records_come_from_lint_s_probe(sample_build):
    """On a software GPU, build's lint probe ran bench's functional check on the model it compiled:
    bench built each GPU record from that answer (not compiled again) — same numerics and timings."""
    from mobilepack.bench.engine import REUSED_NOTE
    from mobilepack.runtime.gpu import discover_vulkan

    if not discover_vulkan().software:
        pytest.skip("a real GPU is timed by bench itself; lint's probe only compiles")
    report = sample_build[1].report
    gpu = [r for r in report["bench"]["results"] if r["delegate"] == "gpu"]
    assert len(gpu) == 4
    for rec in gpu:
        checked = report["lint"][rec["model"]["variant"]]["gpu"]["functional"]
        assert rec["note"].startswith(REUSED_NOTE) and rec["stop"] == "functional", rec
        assert (rec["numerics"], rec["init_us"], rec["first_us"]) == \
            (checked["numerics"], checked["init_us"], checked["first_us"])


def test_selection_is_explained_in_every_report(sample_build):
    out, result = sample_build
    sel = result.report["selection"]
    assert sel["winner"] in ("fp32", "fp16", "dynamic", "int8")
    assert set(sel["reasons"]) == {"fp32", "fp16", "dynamic", "int8"}
    md = (out / "reports/report.md").read_text()
    html = (out / "reports/report.html").read_text()
    assert f"Ships: `{sel['winner']}`" in md and sel["rule"] in md
    assert "<svg" in html
    import re

    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "the report must not load anything"
    for mode in ("fp32", "fp16", "dynamic", "int8"):
        assert f"digits_{mode}.tflite" in md and f"digits_{mode}.tflite" in html


def test_build_result_is_typed_and_agrees_with_the_report(sample_build):
    """BuildResult's typed fields (what the CLI formats) say what report.json says."""
    _, result = sample_build
    r = result.report
    assert result.selection.winner == r["selection"]["winner"] and result.selection.rule == r["selection"]["rule"]
    assert [(v.mode, v.bytes) for v in result.variants] == [(v["mode"], v["bytes"]) for v in r["variants"]]
    for rec in r["bench"]["results"]:
        variant = rec["model"]["variant"]
        if rec["status"] == "ok":
            assert result.latency_us[variant][rec["delegate"]] <= rec["latency_us"]
    for variant, per in result.latency_us.items():
        for delegate, us in per.items():   # the best configuration of that delegate
            assert us == min(x["latency_us"] for x in r["bench"]["results"] if x["status"] == "ok"
                             and x["model"]["variant"] == variant and x["delegate"] == delegate)
    assert result.labelled is True
    for c in r["accuracy"]["cells"]:
        assert result.accuracy[c["mode"]][c["delegate"]] == (c["accuracy"] if c["status"] == "ok" else None)


def test_manifest_lists_inputs_and_outputs(sample_build):
    out, _ = sample_build
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"][0]["path"].endswith("digits.keras") and len(manifest["inputs"][0]["sha256"]) == 64
    assert {i.get("role") for i in manifest["inputs"]} >= {"calibration", "eval_data", "labels"}
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["outputs"]) == files
    assert manifest["config"]["build"]["target"] == "all"
    from importlib.metadata import version

    assert manifest["tools"]["tensorflow"] == version("tensorflow")      # the TensorFlow that built it


def test_render_only_change_hits_the_cache(sample_build, cache_dir, monkeypatch):
    """A re-run where only render options changed must not convert or benchmark again."""
    out, first = sample_build
    import mobilepack.bench.engine as engine
    import mobilepack.pipeline.convert_command as pipeline

    def boom(*a, **k):
        raise AssertionError("stage ran again despite the cache")

    monkeypatch.setattr(pipeline, "convert_into", boom)
    monkeypatch.setattr(engine, "run_bench", boom)
    again = mobilepack.build(DIGITS / "digits.keras", out=str(out), target="all", cache_dir=str(cache_dir),
                             quantize=["fp32", "fp16", "dynamic", "int8"], app_name="Renamed Digits", **SAMPLE, **FAST)
    assert again.cache_hits == {"convert": True, "metadata": True, "lint": True, "bench": True, "evaluate": True}
    import hashlib

    restored = {v["path"]: hashlib.sha256((out / "models" / Path(v["path"]).name).read_bytes()).hexdigest()
                for v in again.report["variants"]}
    assert restored == {v["path"]: v["sha256"] for v in first.report["variants"]}   # the cached bytes, with metadata
    assert "Renamed Digits" in (out / "android/app/src/main/res/values/strings.xml").read_text()
    assert again.report["selection"] == first.report["selection"]


def test_user_edits_are_protected(sample_build, cache_dir, tmp_path):
    out, _ = sample_build
    import shutil

    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    readme = copy / "android" / "README.md"
    readme.write_text(readme.read_text() + "\nmy notes\n")
    (copy / "notes.txt").write_text("mine")  # a file mobilepack did not generate
    before = snapshot(copy)
    args = ["build", DIGITS / "digits.keras", "-o", copy, "--target", "all", "--cache-dir", cache_dir,
            "--quantize", "fp32,fp16,dynamic,int8", "--calibration", SAMPLE["calibration"], "--eval-data",
            SAMPLE["eval_data"], "--labels", SAMPLE["labels"], "--samples", SAMPLE["samples"], "--runs", "5",
            "--warmup", "1", "--threads", "1", "--target-ci", "0"]
    r = run_cli(*args)
    assert_clean_error(r, 2, "edited 1 generated file", "android/README.md", "--force")
    assert snapshot(copy) == before
    r = run_cli(*args, "--force", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "my notes" not in readme.read_text()
    assert (copy / "notes.txt").read_text() == "mine"  # user files survive a rebuild


def test_foreign_directory_is_refused(tmp_path):
    out = tmp_path / "someone"
    out.mkdir()
    (out / "thesis.tex").write_text("x")
    with pytest.raises(OutputError, match="not created by mobilepack"):
        mobilepack.build(DIGITS / "digits.keras", out=str(out), quantize=["fp32"])
    assert (out / "thesis.tex").read_text() == "x" and len(list(out.iterdir())) == 1


def test_config_file_and_cli_precedence(tmp_path, cache_dir):
    cfg = tmp_path / "mobilepack.toml"
    cfg.write_text(f"""
[build]
source = "{DIGITS / 'digits.keras'}"
target = "android"
out = "built"
[convert]
quantize = ["fp32", "fp16"]
[bench]
delegates = ["cpu"]
runs = 3
warmup = 0
target_ci = 0.0
threads = [1]
[render]
package = "org.example.digits"
""")
    r = run_cli("build", "--config", cfg, "--cache-dir", cache_dir, "--app-name", "From CLI", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert [v["mode"] for v in report["variants"]] == ["fp32", "fp16"]
    assert set(report["apps"]) == {"android"} and report["apps"]["android"]["app_id"] == "org.example.digits"
    assert report["apps"]["android"]["app_name"] == "From CLI"
    assert (tmp_path / "built" / "android").is_dir()  # relative to the config file
    assert report["accuracy"]["labelled"] is False and "no labelled data" in report["selection"]["rule"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[bench]\nrunz = 3\n")
    r = run_cli("build", "--config", bad)
    assert_clean_error(r, 2, "unknown key 'runz' in [bench]", "did you mean 'runs'?")


TASKS = {
    "image_classification": (task_sources.image_classifier, dict(labels=3, cal=(16, 16, 3))),
    "object_detection": (task_sources.detector, dict(labels=4, cal=(16, 16, 3))),
    "image_segmentation": (task_sources.segmenter, dict(labels=3, cal=(16, 16, 3))),
    "text_classification": (task_sources.text_classifier, dict(labels=2, cal=(8,), dtype="int32")),
    "audio_classification": (task_sources.audio_classifier, dict(labels=3, cal=(1600,))),
    "generic": (task_sources.generic, dict(labels=0, cal=None)),
}


@pytest.mark.parametrize("task", list(TASKS))
def test_tiny_model_per_task_builds_both_apps(task, tmp_path, cache_dir):
    make, spec = TASKS[task]
    src = make(tmp_path / f"{task}.keras")
    opts = dict(out=str(tmp_path / "out"), target="all", cache_dir=str(cache_dir), quantize=["fp32", "int8"],
                task=task, delegates=["cpu", "xnnpack"], runs=3, warmup=0, target_ci=0.0, threads=[1])
    if spec["cal"]:
        opts["calibration"] = str(task_sources.calibration(tmp_path / "cal.npy", spec["cal"],
                                                           spec.get("dtype", "float32")))
    else:
        opts["calibration"] = "random"
    if spec["labels"]:
        opts["labels"] = str(task_sources.labels(tmp_path / "labels.txt", spec["labels"]))
    if task == "text_classification":
        opts.update(vocab=str(task_sources.vocab(tmp_path / "vocab.txt")), tokenizer="regex")
    if task == "audio_classification":
        opts["sample_rate"] = 16000
    if task in ("image_classification", "object_detection", "image_segmentation"):
        pass  # normalization comes from the leading Rescaling layer
    result = mobilepack.build(src, **opts)
    report = result.report
    assert report["variants"][0]["metadata"]["task"] == task
    assert report["selection"]["winner"] in ("fp32", "int8")
    out = tmp_path / "out"
    assert (out / "android/app/src/main/assets/model.tflite").is_file()
    assert (out / "ios/Podfile").is_file()
    assert any(r["status"] == "ok" for r in report["bench"]["results"])
    # without labels, evaluation reads the calibration samples convert validated on, in the same XNNPACK
    # session: the xnnpack cells are the validation's outputs (tests/test_evaluate_reuse.py: identical
    # to a child's); random samples are drawn anew, so nothing is reused there
    reused = {(c["mode"], c["delegate"]) for c in report["accuracy"]["cells"] if c.get("reused")}
    validated = {(v["mode"], "xnnpack") for v in report["variants"] if v["mode"] in ("fp32", "int8")}
    assert ("fp32", "xnnpack") in validated and reused >= (validated if spec["cal"] else set())
    assert {d for _, d in reused} <= {"xnnpack"} and (spec["cal"] or not reused)


def test_sigint_mid_build_leaves_out_unchanged(tmp_path, sample_build):
    """Ctrl-C while the build is in its stages (cold cache): exit 130, OUT as before, no staging left."""
    import shutil

    out = tmp_path / "out"
    shutil.copytree(sample_build[0], out)
    before = snapshot(out)
    cmd = [sys.executable, "-m", "mobilepack", "build", str(DIGITS / "digits.keras"), "-o", str(out), "--target",
           "all", "--cache-dir", str(tmp_path / "cold-cache"), "--calibration", SAMPLE["calibration"],
           "--eval-data", SAMPLE["eval_data"], "--labels", SAMPLE["labels"], "--quantize", "fp32,fp16,dynamic,int8",
           "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # ready once conversion is done: the build is then in metadata / lint / bench
    code, err = interrupt_when(proc, lambda: any((p / "models" / "convert.json").exists() for p in tmp_path.iterdir()
                                                 if ".mobilepack-" in p.name), timeout=180, what="conversion")
    assert code == 130, err
    assert "Traceback" not in err
    assert snapshot(out) == before
    assert not [p for p in tmp_path.iterdir() if ".mobilepack-" in p.name]


def test_render_from_a_build_output_uses_the_selected_variant(sample_build, tmp_path):
    out, result = sample_build
    r = run_cli("render", out, "--target", "android", "-o", tmp_path / "app", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["model"]["variant"] == result.report["selection"]["winner"]
    assert "XNNPACK" not in r.stderr
    shipped = (tmp_path / "app/app/src/main/assets/model.tflite").read_bytes()
    assert shipped == (out / "android/app/src/main/assets/model.tflite").read_bytes()
    assert (tmp_path / "app/app/src/main/assets/labels.txt").read_text().split() == \
        (DIGITS / "labels.txt").read_text().split()


def test_human_summary_lists_variants_and_paths(sample_build, cache_dir, tmp_path):
    """Without --json/--quiet: progress on stderr, then a summary table and the paths on stdout."""
    out, result = sample_build
    import shutil

    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    r = run_cli("build", DIGITS / "digits.keras", "-o", copy, "--target", "all", "--cache-dir", cache_dir,
                "--quantize", "fp32,fp16,dynamic,int8", "--calibration", SAMPLE["calibration"], "--eval-data",
                SAMPLE["eval_data"], "--labels", SAMPLE["labels"], "--samples", SAMPLE["samples"], "--runs", "5",
                "--warmup", "1", "--threads", "1", "--target-ci", "0", env={"COLUMNS": "120"})
    assert r.returncode == 0, r.stderr
    winner = result.report["selection"]["winner"]
    assert f"digits: ships {winner}" in r.stdout
    for mode in ("fp32", "fp16", "dynamic", "int8"):
        assert any(line.split()[:1] == [mode] for line in r.stdout.splitlines()), r.stdout
    assert f"report:   {copy}/reports/report.html" in r.stdout
    assert "Traceback" not in r.stderr
