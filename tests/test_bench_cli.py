"""``mobilepack bench`` end to end (real child processes, real LiteRT), and ``--adb`` against a
STAND-IN for adb (tests/fixtures/bench/fake_adb.py) that answers with real, published
benchmark_model output."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from mobilepack.report.bench import RECORD_KEYS
from mobilepack.report.schema import BENCH_DEFINITION
from tests.conftest import assert_clean_error, run_cli

FIX = Path(__file__).parent / "fixtures" / "bench"
QUICK = ("--runs", "3", "--warmup", "1", "--min-seconds", "0", "--target-ci", "0")


def test_json_run_with_a_failing_configuration_exits_0():
    r = run_cli("bench", FIX / "dense.tflite", FIX / "custom_op.tflite", "--delegates", "cpu,xnnpack", *QUICK, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema_version"] == "1.0" and doc["kind"] == "bench" and doc["source"] == "host"
    status = {(x["model"]["file"], x["delegate"]): x["status"] for x in doc["results"]}
    assert status == {("dense.tflite", "cpu"): "ok", ("dense.tflite", "xnnpack"): "ok",
                      ("custom_op.tflite", "cpu"): "failed", ("custom_op.tflite", "xnnpack"): "failed"}
    assert all(tuple(x) == RECORD_KEYS for x in doc["results"])
    assert "Traceback" not in r.stderr


def test_strict_exits_1_on_any_failure():
    r = run_cli("bench", FIX / "dense.tflite", FIX / "custom_op.tflite", "--delegates", "cpu", *QUICK, "--strict")
    assert_clean_error(r, 1, "1 of 2 configurations failed")
    assert "dense.tflite" in r.stdout and "Digamma" in r.stdout


def test_all_failed_exits_1():
    r = run_cli("bench", FIX / "custom_op.tflite", "--delegates", "cpu", *QUICK)
    assert_clean_error(r, 1, "no configuration ran")


def test_table_and_report_files(tmp_path):
    out = tmp_path / "rep"
    r = run_cli("bench", FIX / "dense.tflite", "--delegates", "cpu,xnnpack", "--threads", "1,2", *QUICK,
                "--report", out, env={"COLUMNS": "250"})
    assert r.returncode == 0, r.stderr
    assert "dense.tflite · xnnpack ×2" in r.stdout and "dense.tflite · cpu" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == ["bench.html", "bench.json", "bench.md"]
    doc = json.loads((out / "bench.json").read_text())
    assert len(doc["results"]) == 3
    # re-running into the same directory replaces the report (the files are mobilepack's own)
    assert run_cli("bench", FIX / "dense.tflite", "--delegates", "cpu", *QUICK, "--report", out).returncode == 0
    assert len(json.loads((out / "bench.json").read_text())["results"]) == 1


@pytest.mark.parametrize("args, fragment", [
    (["--delegates", "tpu"], "unknown delegate"),
    (["--threads", "0"], "positive"),
    (["--adb"], "--benchmark-binary"),
    (["--serial", "X"], "need --adb"),
    (["--delegates", "nnapi"], "only on phones"),
    (["--target-ci", "1.5"], "--target-ci"),
    (["--max-seconds", "0"], "--max-seconds"),
    (["--runs", "30", "--max-runs", "20"], "--max-runs (20) is below --runs (30)"),
], ids=["delegate", "threads", "adb-binary", "serial", "nnapi-host", "target-ci", "max-seconds", "max-runs"])
def test_bad_usage_exit_2(args, fragment):
    assert_clean_error(run_cli("bench", FIX / "dense.tflite", *args), 2, fragment)


def test_table_states_the_achieved_interval_and_the_functional_gpu_check():
    r = run_cli("bench", FIX / "dense.tflite", "--delegates", "xnnpack,gpu", "--runs", "5", "--warmup", "0",
                "--target-ci", "0.05", "--max-seconds", "1", "--json")
    assert r.returncode == 0, r.stderr
    recs = {x["delegate"]: x for x in json.loads(r.stdout)["results"]}
    x = recs["xnnpack"]
    assert x["definition"] == BENCH_DEFINITION and x["stop"] in ("ci", "max_seconds", "max_runs")
    assert x["latency_ci95_rel"] > 0 and (x["stop"] != "ci" or x["latency_ci95_rel"] <= 0.05)
    assert x["ci95_rel"] > 0 and x["latency_statistic"] == "trimmed_mean_20"   # the mean's own interval is kept
    if recs["gpu"]["software"]:
        assert recs["gpu"]["stop"] == "functional" and recs["gpu"]["numerics"]["ok"] is True
    table = run_cli("bench", FIX / "dense.tflite", "--delegates", "xnnpack", "--runs", "5", "--target-ci", "0",
                    env={"COLUMNS": "160"})
    import re

    assert table.returncode == 0 and re.search(r"configuration\s*┃\s*latency\s*┃\s*±95%", table.stdout), table.stdout


def test_bad_model_exit_2(tmp_path):
    bad = tmp_path / "m.tflite"
    bad.write_text("hello")
    assert_clean_error(run_cli("bench", bad), 2, "not a TFLite model")
    assert_clean_error(run_cli("bench", tmp_path / "missing.tflite"), 2, "model not found")


# -- phones, through the adb stand-in ----------------------------------------------------------

@pytest.fixture
def fake_adb(tmp_path):
    wrapper = tmp_path / "adb"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FIX / "fake_adb.py"}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "adb.log"
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"\x7fELF stand-in binary")

    def run(*args, devices="SER1,SER2"):
        env = {"MOBILEPACK_ADB": str(wrapper), "FAKE_ADB_LOG": str(log), "FAKE_ADB_DEVICES": devices}
        result = run_cli("bench", *args, env=env)
        calls = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
        return result, calls

    run.binary = binary
    return run


def test_adb_sequence_and_parsed_records(fake_adb):
    r, calls = fake_adb(FIX / "dense.tflite", "--adb", "--benchmark-binary", fake_adb.binary,
                        "--delegates", "cpu,xnnpack,gpu,nnapi", "--threads", "1,4", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["source"] == "adb"
    for serial in ("SER1", "SER2"):
        mine = [c[2:] for c in calls if c[:2] == ["-s", serial]]
        pushes = [c for c in mine if c[0] == "push"]
        assert pushes == [["push", str(fake_adb.binary), "/data/local/tmp/benchmark_model"],
                          ["push", str(FIX / "dense.tflite"), "/data/local/tmp/dense.tflite"]]
        assert ["shell", "chmod", "755", "/data/local/tmp/benchmark_model"] in mine
        assert ["shell", "getprop", "ro.product.model"] in mine
        # getprop and pushes come before the first benchmark run
        first_run = next(i for i, c in enumerate(mine) if c[1].endswith("benchmark_model") and c[0] == "shell")
        assert all(c[0] != "push" for c in mine[first_run:])
        runs = [c for c in mine if c[0] == "shell" and c[1] == "/data/local/tmp/benchmark_model"]
        flags = [(next(f for f in c if f.startswith("--use_")), next(f for f in c if f.startswith("--num_threads")))
                 for c in runs]
        assert flags == [("--use_xnnpack=false", "--num_threads=1"), ("--use_xnnpack=true", "--num_threads=1"),
                         ("--use_xnnpack=true", "--num_threads=4"), ("--use_gpu=true", "--num_threads=1"),
                         ("--use_nnapi=true", "--num_threads=1")]
        assert all("--graph=/data/local/tmp/dense.tflite" in c and "--num_runs=10" in c for c in runs)
    recs = doc["results"]
    assert len(recs) == 10
    by = {(x["device"]["serial"], x["delegate"], x["threads"]): x for x in recs}
    cpu = by[("SER1", "cpu", 1)]
    assert cpu["status"] == "ok" and cpu["mean_us"] == 220000.0 and cpu["runs"] == 50
    assert (cpu["min_us"], cpu["max_us"], cpu["std_us"], cpu["init_us"]) == (206675.0, 231957.0, 6795.0, 1430.0)
    assert cpu["device"]["model"] == "Pixel 7 (SER1)" and cpu["device"]["soc"] == "Tensor G2"
    assert cpu["device"]["release"] == "14" and cpu["device"]["sdk_int"] == 34
    assert by[("SER2", "gpu", 1)]["mean_us"] == 99646.2
    nnapi = by[("SER2", "nnapi", 1)]
    assert nnapi["status"] == "failed" and nnapi["failure"] == "delegate_refused"
    assert "ANEURALNETWORKS_BAD_DATA" in nnapi["error"]


def test_adb_serial_selection_and_device_errors(fake_adb):
    r, calls = fake_adb(FIX / "dense.tflite", "--adb", "--benchmark-binary", fake_adb.binary, "--serial", "SER2",
                        "--delegates", "cpu", "--json")
    assert r.returncode == 0, r.stderr
    assert {c[1] for c in calls if c[:1] == ["-s"]} == {"SER2"}
    r, _ = fake_adb(FIX / "dense.tflite", "--adb", "--benchmark-binary", fake_adb.binary, devices="")
    assert_clean_error(r, 2, "no Android device connected")
    r, _ = fake_adb(FIX / "dense.tflite", "--adb", "--benchmark-binary", fake_adb.binary, "--serial", "NOPE")
    assert_clean_error(r, 2, "NOPE is not connected")
    r, _ = fake_adb(FIX / "dense.tflite", "--adb", "--benchmark-binary", fake_adb.binary.parent / "missing")
    assert_clean_error(r, 2, "benchmark binary not found")


def test_adb_missing_is_a_clean_error(tmp_path):
    r = run_cli("bench", FIX / "dense.tflite", "--adb", "--benchmark-binary", FIX / "dense.tflite",
                env={"MOBILEPACK_ADB": "", "PATH": str(tmp_path)})
    assert_clean_error(r, 2, "adb not found")
