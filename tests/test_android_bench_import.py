"""The Android app's benchmark results carry the shared benchmark definition, and
``mobilepack report --import`` refuses to merge results measured by different definitions."""

from __future__ import annotations

import json

from mobilepack.report.schema import BENCH_DEFINITION
from tests.conftest import ROOT, assert_clean_error, run_cli


def _app_export(definition: str | None) -> dict:
    """A document shaped as BenchReport.toJson() (templates/android/.../BenchStats.kt.j2) writes it."""
    doc = {"schema_version": "1.0", "source": "android-app", "generator": "mobilepack",
           "model": {"name": "digits", "file": "model.tflite", "variant": "int8", "task": "image_classification", "bytes": 1},
           "device": {"platform": "android", "model": "Pixel 7"},
           "results": [{"delegate": "xnnpack", "threads": 1, "status": "ok", "runs": 3, "warmup": 1, "fully_delegated": None,
                        "init_us": 10, "first_us": 9, "mean_us": 5.0, "std_us": 0.1, "min_us": 4, "max_us": 6,
                        "p50_us": 5, "p90_us": 6, "p99_us": 6, "ips": 2e5}]}
    if definition is not None:
        doc["definition"] = definition
    return doc


def test_the_app_states_the_definition():
    stats = next((ROOT / "android-demo").rglob("BenchStats.kt")).read_text(encoding="utf-8")
    config = next((ROOT / "android-demo").rglob("ModelConfig.kt")).read_text(encoding="utf-8")
    assert 'put("definition", ModelConfig.BENCH_DEFINITION)' in stats
    assert f'const val BENCH_DEFINITION = "{BENCH_DEFINITION}"' in config


def test_same_definition_merges(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.log"
    a.write_text(json.dumps(_app_export(BENCH_DEFINITION)))
    b.write_text(f"I MobilepackBench: {json.dumps(_app_export(BENCH_DEFINITION))}\n")
    r = run_cli("report", "--import", a, "--import", b, "--out", tmp_path / "o", "--json")
    assert r.returncode == 0, r.stderr
    merged = json.loads(r.stdout)
    assert len(merged["results"]) == 2 and merged["settings"]["definition"] == BENCH_DEFINITION


def test_different_definitions_are_refused(tmp_path):
    new, old = tmp_path / "new.json", tmp_path / "old.json"
    new.write_text(json.dumps(_app_export(BENCH_DEFINITION)))
    old.write_text(json.dumps(_app_export(None)))        # an app rendered before definitions existed
    assert_clean_error(run_cli("report", "--import", new, "--import", old, "--out", tmp_path / "o"), 2,
                       "different benchmark definitions", f"new.json: {BENCH_DEFINITION}", "old.json: unstated")
    assert not (tmp_path / "o").exists()
