"""Bench reports: the pinned JSON contract, Markdown, the self-contained HTML (screenshotted in
headless Chromium), and ``mobilepack report --import`` of bench.json, demo-app exports and logcat."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mobilepack.report.bench import DOCUMENT_KEYS, RECORD_KEYS, document, normalize_record
from mobilepack.report.bench_views import html, markdown, rows, write_report
from mobilepack.runtime.gpu import SOFTWARE_NOTE
from tests.conftest import assert_clean_error, require, run_cli

FIX = Path(__file__).parent / "fixtures" / "bench"

# The contract: changing any of these is a schema change (bump BENCH_SCHEMA_VERSION).
PINNED_DOCUMENT_KEYS = ("schema_version", "kind", "created", "source", "tool", "settings", "results")
PINNED_RECORD_KEYS = (
    "model", "device", "source", "delegate", "threads", "status", "failure", "error", "runs", "warmup",
    "init_us", "first_us", "warmup_mean_us", "mean_us", "std_us", "min_us", "max_us", "p50_us", "p90_us", "p99_us",
    "ips", "cv", "noisy", "peak_rss_bytes", "rss_growth_bytes", "fully_delegated", "adapter", "software", "note",
    # additive in 1.0 (records without them read as None): the benchmark definition, the achieved interval
    "definition", "ci95_us", "ci95_rel", "target_ci", "stop", "numerics",
    # additive in 1.0: the headline latency (host: 20 % trimmed mean), what it is, its interval
    "latency_us", "latency_statistic", "latency_ci95_us", "latency_ci95_rel", "departure")


def _ok(file, variant, delegate, threads, mean, **extra):
    rec = {"model": {"name": "digits", "file": file, "variant": variant, "bytes": 1000 + len(file)},
           "device": {"platform": "host"}, "source": "host", "delegate": delegate, "threads": threads,
           "status": "ok", "runs": 50, "warmup": 5, "init_us": 1000.0, "first_us": mean * 2,
           "warmup_mean_us": mean * 1.1, "mean_us": mean, "std_us": mean * 0.01, "min_us": mean * 0.9,
           "max_us": mean * 1.5, "p50_us": mean, "p90_us": mean * 1.1, "p99_us": mean * 1.4, "ips": 1e6 / mean,
           "cv": 0.01, "noisy": False, "peak_rss_bytes": 50 << 20, "rss_growth_bytes": 0, "fully_delegated": None}
    rec.update(extra)
    return normalize_record(rec)


@pytest.fixture(scope="module")
def doc():
    recs = [
        _ok("digits_fp32.tflite", "fp32", "cpu", 1, 200.0),
        _ok("digits_fp32.tflite", "fp32", "xnnpack", 2, 25.0),
        _ok("digits_int8.tflite", "int8", "cpu", 1, 50.0),
        _ok("digits_int8.tflite", "int8", "xnnpack", 1, 10.0, cv=0.4, noisy=True),
        _ok("digits_fp32.tflite", "fp32", "gpu", 1, 1500.0, adapter="SwiftShader Device (Subzero)", software=True,
            note=SOFTWARE_NOTE, fully_delegated=True),
        normalize_record({"model": {"name": "digits", "file": "digits_int8.tflite", "variant": "int8", "bytes": 1018},
                          "device": {"platform": "host"}, "delegate": "gpu", "threads": 1, "status": "failed",
                          "failure": "delegate_refused", "error": "Failed to modify graph with <delegate> | x",
                          "software": True, "note": SOFTWARE_NOTE, "adapter": "SwiftShader Device (Subzero)"}),
    ]
    return document(recs, source="host", settings={"runs": 50})


def test_contract_keys_are_pinned(doc):
    assert DOCUMENT_KEYS == PINNED_DOCUMENT_KEYS and RECORD_KEYS == PINNED_RECORD_KEYS
    assert tuple(doc) == PINNED_DOCUMENT_KEYS
    assert all(tuple(r) == PINNED_RECORD_KEYS for r in doc["results"])
    json.dumps(doc)


def test_rows_sorted_by_latency_with_speedup_vs_fp32_cpu(doc):
    r = rows(doc)
    assert [x["mean_us"] for x in r if x["status"] == "ok"] == [10.0, 25.0, 50.0, 200.0, 1500.0]
    assert r[-1]["status"] == "failed"
    speed = {x["label"]: x["speedup"] for x in r}
    assert speed["digits_int8.tflite · xnnpack ×1"] == pytest.approx(20.0)
    assert speed["digits_fp32.tflite · cpu"] == pytest.approx(1.0)
    assert speed["digits_int8.tflite · gpu"] is None


def test_views_read_the_headline_latency_not_the_mean():
    """A host record whose preempted runs inflate the mean: sorting, speed-up, tables, the chart and
    latency per variant follow ``latency_us`` (the trimmed mean); an imported record's headline is its mean."""
    from mobilepack.report.bench_views import latency_us

    recs = [_ok("digits_fp32.tflite", "fp32", "cpu", 1, 200.0, latency_us=100.0, latency_ci95_rel=0.01,
                latency_statistic="trimmed_mean_20"),
            _ok("digits_int8.tflite", "int8", "cpu", 1, 90.0, latency_us=120.0, latency_ci95_rel=0.013,
                latency_statistic="trimmed_mean_20"),
            _ok("digits_int8.tflite", "int8", "xnnpack", 1, 50.0, ci95_rel=0.2)]   # imported: mean only
    d = document(recs, source="host")
    ordered = rows(d)
    assert [x["latency_us"] for x in ordered] == [50.0, 100.0, 120.0]      # by latency, not by mean (90 < 200)
    assert ordered[2]["speedup"] == pytest.approx(100.0 / 120.0)
    assert ordered[0]["latency_statistic"] == "mean" and ordered[0]["latency_ci95_rel"] == 0.2
    assert latency_us(d) == {"fp32": {"cpu": 100.0}, "int8": {"cpu": 120.0, "xnnpack": 50.0}}
    md = markdown(d)
    assert "| `digits_fp32.tflite · cpu` | 100.0 µs | 1.0% |" in md   # the latency and its interval, not the mean


def test_markdown_lists_every_configuration_and_labels_software(doc):
    md = markdown(doc)
    for x in rows(doc):
        assert f"`{x['label']}`" in md
    assert md.count(SOFTWARE_NOTE) >= 2 and "noisy (cv 40%)" in md
    assert "20.00×" in md
    assert "Failed to modify graph with <delegate> \\| x" in md  # pipes escaped inside the table


def test_html_is_self_contained_and_escaped(doc):
    page = html(doc)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert "src=\"http" not in page and "href=\"http" not in page
    assert not re.search(r"url\(\s*['\"]?(?!#)", page)  # only in-document references (#clip ids)
    assert page.count("<svg") == 3  # latency, speed-up, size charts
    assert "&lt;delegate&gt;" in page and "<delegate>" not in page.split("<details>")[0]
    for x in rows(doc):
        assert f'data-config="{x["label"]}"' in page
    assert SOFTWARE_NOTE in page


def test_html_screenshot_in_headless_chromium(doc, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    require(chromium is not None, "Debian chromium is not installed (tests/setup/apt-packages.txt)")
    from PIL import Image

    out = tmp_path / "rep"
    write_report(doc, out)
    shot = tmp_path / "shot.png"
    dump = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                           (out / "bench.html").as_uri()], capture_output=True, text=True, timeout=120)
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1200,1600", f"--screenshot={shot}", (out / "bench.html").as_uri()],
                   capture_output=True, timeout=120)
    assert shot.is_file(), "chromium wrote no screenshot"
    img = Image.open(shot).convert("RGB")
    colors = img.getcolors(maxcolors=1 << 20) or []
    non_white = sum(n for n, c in colors if c != (255, 255, 255))
    assert len(colors) > 50 and non_white > 0.02 * img.width * img.height, "the page rendered blank"
    for x in rows(doc):  # every configuration is in the DOM Chromium built
        assert f'data-config="{x["label"]}"' in dump.stdout


def test_write_report_files(doc, tmp_path):
    files = write_report(doc, tmp_path / "r")
    assert [f.name for f in files] == ["bench.json", "bench.md", "bench.html"]
    data = json.loads(files[0].read_text())
    assert data["results"] == doc["results"] and data["files"] == ["bench.json", "bench.md", "bench.html"]


# -- import -------------------------------------------------------------------------------------

# What the Android demo app's BenchReport.toJson() writes (templates/android/.../BenchStats.kt.j2).
APP_EXPORT = {
    "schema_version": "1.0", "source": "android-app", "generator": "mobilepack 0.1.0",
    "model": {"name": "digits", "file": "digits_int8.tflite", "variant": "int8", "task": "image_classification",
              "bytes": 23456},
    "device": {"platform": "android", "manufacturer": "Google", "model": "Pixel 7", "sdk_int": 34, "release": "14",
               "abis": ["arm64-v8a"], "soc": "Tensor G2"},
    "results": [
        {"delegate": "xnnpack", "threads": 4, "status": "ok", "runs": 50, "warmup": 5, "fully_delegated": None,
         "init_us": 1200, "first_us": 900, "mean_us": 310.5, "std_us": 12.0, "min_us": 290, "max_us": 360,
         "p50_us": 305, "p90_us": 330, "p99_us": 355, "ips": 3220.6},
        {"delegate": "gpu", "threads": 1, "status": "failed", "runs": 0, "warmup": 5, "fully_delegated": None,
         "error": "GpuDelegate: Following operations are not supported: CUSTOM"},
    ],
}


def test_import_app_export_logcat_and_bench_json(tmp_path, doc):
    app = tmp_path / "app.json"
    app.write_text(json.dumps(APP_EXPORT))
    ios = dict(APP_EXPORT, source="ios-app", device={"platform": "ios", "model": "iPhone", "machine": "iPhone15,2"})
    log = tmp_path / "bench.log"
    log.write_text(
        "--------- beginning of main\n"
        f"11-24 07:00:01.234  4242  4242 I MobilepackBench: {json.dumps(APP_EXPORT)}\n"
        "11-24 07:00:01.300  4242  4300 I OtherTag: ignored\n"
        f"MobilepackBench {json.dumps(ios)}\n")
    host = tmp_path / "bench.json"
    host.write_text(json.dumps(doc))
    out = tmp_path / "merged"
    r = run_cli("report", "--import", app, "--import", log, "--import", host, "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    merged = json.loads(r.stdout)
    assert merged["source"] == "merged" and len(merged["results"]) == 2 + 4 + len(doc["results"])
    assert all(tuple(x) == RECORD_KEYS for x in merged["results"])
    pixel = [x for x in merged["results"] if x["device"].get("model") == "Pixel 7"]
    assert {x["source"] for x in pixel} == {"android-app"}
    ok = [x for x in pixel if x["status"] == "ok"][0]
    assert ok["model"]["file"] == "digits_int8.tflite" and ok["cv"] == pytest.approx(12.0 / 310.5)
    failed = [x for x in pixel if x["status"] == "failed"][0]
    assert failed["failure"] == "error" and "CUSTOM" in failed["error"]
    page = (out / "bench.html").read_text()
    assert "digits_int8.tflite · xnnpack ×4 · Pixel 7" in page and "iPhone" in page


@pytest.mark.parametrize("content, fragment", [
    ("not json, no tags\n", "neither bench JSON nor MobilepackBench"),
    ('{"results": []}', "no schema_version"),
    ('{"schema_version": "2.0", "results": []}', "schema 2.0 is not supported"),
    ('{"schema_version": "1.0", "results": [{"status": "ok"}]}', "has no delegate"),
    ('{"schema_version": "1.0", "results": [', "not valid JSON"),
    ('I MobilepackBench: {"schema_version": "1.0", "resu\n', "does not hold a complete JSON object"),
], ids=["text", "no-version", "version", "no-delegate", "bad-json", "cut-line"])
def test_import_bad_input_exit_2(tmp_path, content, fragment):
    f = tmp_path / "in.txt"
    f.write_text(content)
    assert_clean_error(run_cli("report", "--import", f, "--out", tmp_path / "o"), 2, fragment)
    assert not (tmp_path / "o").exists()


def test_report_without_import_and_missing_file(tmp_path):
    assert_clean_error(run_cli("report"), 2, "nothing to report")
    assert_clean_error(run_cli("report", "--import", tmp_path / "none.json"), 2, "file not found")
