"""The host benchmark on real LiteRT runs (tiny committed models, see tests/fixtures/bench/make_models.py).

No timing asserts: only structure, failure reasons and statistical invariants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mobilepack.bench.engine import collect_models, model_file, plan_bench, run_bench
from mobilepack.bench.stats import NOISY_CV, percentile, summarize
from mobilepack.errors import InputError, UsageError
from mobilepack.report.bench import RECORD_KEYS
from mobilepack.runtime.delegates import random_inputs
from mobilepack.runtime.gpu import SOFTWARE_NOTE, discover_vulkan

FIX = Path(__file__).parent / "fixtures" / "bench"


@pytest.fixture(scope="module")
def result():
    models = [FIX / n for n in ("dense.tflite", "dense_int8.tflite", "custom_op.tflite", "unique.tflite",
                                "partial_lrn.tflite")]
    plan = plan_bench(models, delegates="cpu,xnnpack,gpu", threads="1,2", runs=5, warmup=1, min_seconds=0)
    events = []
    res = run_bench(plan, progress=events.append)
    return res, events


def _rec(result, file, delegate, threads=1):
    res, _ = result
    [rec] = [r for r in res.records if r["model"]["file"] == file and r["delegate"] == delegate
             and r["threads"] == threads]
    return rec


def test_every_configuration_has_one_record_with_the_schema_keys(result):
    res, events = result
    assert len(res.records) == 5 * 4  # cpu, xnnpack x1, xnnpack x2, gpu
    for rec in res.records:
        assert tuple(rec) == RECORD_KEYS
        assert rec["status"] in ("ok", "failed")
    assert events[-1].message == "done" and events[-1].current == events[-1].total == 20


def test_measured_records_have_consistent_statistics(result):
    for delegate, threads in (("cpu", 1), ("xnnpack", 1), ("xnnpack", 2)):
        rec = _rec(result, "dense_int8.tflite", delegate, threads)
        assert rec["status"] == "ok", rec["error"]
        assert rec["runs"] >= 5 and rec["warmup"] == 1
        assert 0 < rec["min_us"] <= rec["p50_us"] <= rec["p90_us"] <= rec["p99_us"] <= rec["max_us"]
        assert rec["min_us"] <= rec["mean_us"] <= rec["max_us"]
        assert rec["ips"] == pytest.approx(1e6 / rec["mean_us"])
        assert rec["init_us"] > 0 and rec["first_us"] > 0 and rec["warmup_mean_us"] > 0
        assert rec["peak_rss_bytes"] > 1024 * 1024
        assert isinstance(rec["rss_growth_bytes"], int)
        assert rec["noisy"] == (rec["cv"] > NOISY_CV)
        assert rec["model"]["bytes"] == (FIX / "dense_int8.tflite").stat().st_size


def test_unresolved_custom_op_fails_every_host_configuration_with_the_op_named(result):
    for delegate, threads in (("cpu", 1), ("xnnpack", 1), ("xnnpack", 2), ("gpu", 1)):
        rec = _rec(result, "custom_op.tflite", delegate, threads)
        assert rec["status"] == "failed" and rec["failure"] == "unsupported_op"
        assert "Digamma" in rec["error"]
        assert rec["mean_us"] is None


def test_gpu_refusals_are_recorded_while_cpu_configurations_succeed(result):
    require_vulkan()
    unique = _rec(result, "unique.tflite", "gpu")
    assert unique["status"] == "failed" and unique["failure"] == "delegate_refused"
    assert "Failed to modify graph with delegate" in unique["error"]
    partial = _rec(result, "partial_lrn.tflite", "gpu")
    assert partial["failure"] == "delegate_refused" and "LOCAL_RESPONSE_NORMALIZATION" in partial["error"]
    for name in ("unique.tflite", "partial_lrn.tflite"):
        assert _rec(result, name, "cpu")["status"] == "ok"
        assert _rec(result, name, "xnnpack", 2)["status"] == "ok"


def test_gpu_record_names_adapter_and_software_note(result):
    setup = require_vulkan()
    rec = _rec(result, "dense.tflite", "gpu")
    assert rec["status"] == "ok", rec["error"]
    assert rec["fully_delegated"] is True and rec["adapter"]
    if setup.software:
        assert rec["software"] is True and rec["note"] == SOFTWARE_NOTE


def require_vulkan():
    from tests.conftest import require

    setup = discover_vulkan()
    require(setup.source != "none", setup.message)
    return setup


def test_external_delegate_that_is_not_a_delegate_fails_cleanly(tmp_path):
    import ai_edge_litert

    lib = Path(ai_edge_litert.__file__).parent / "libLiteRtWebGpuAccelerator.so"
    plan = plan_bench([FIX / "dense.tflite"], delegates="mine,cpu", runs=3, min_seconds=0,
                      delegate_libs=[f"mine={lib}"])
    res = run_bench(plan)
    mine = [r for r in res.records if r["delegate"] == "mine"][0]
    assert mine["status"] == "failed" and mine["failure"] == "delegate_load_failed", mine
    assert [r["status"] for r in res.records if r["delegate"] == "cpu"] == ["ok"]


def test_timeout_is_a_failed_record_not_an_exception():
    plan = plan_bench([FIX / "dense.tflite"], delegates="cpu", runs=3, min_seconds=0, timeout=0.01)
    [rec] = run_bench(plan).records
    assert rec["failure"] == "timeout" and "timed out" in rec["error"]


@pytest.mark.parametrize("kwargs, fragment", [
    ({"delegates": "cpu,tpu"}, "unknown delegate 'tpu'"),
    ({"delegates": "nnapi"}, "runs only on phones"),
    ({"threads": "0"}, "positive"),
    ({"threads": "two"}, "comma-separated integers"),
    ({"runs": 0}, "--runs"),
    ({"warmup": -1}, "--warmup"),
    ({"min_seconds": -1}, "--min-seconds"),
    ({"delegate_libs": ["nopath"]}, "NAME=PATH"),
    ({"delegate_libs": ["x=/no/such/lib.so"]}, "not found"),
    ({"delegate_libs": ["cpu=/bin/sh"]}, "built-in"),
], ids=lambda v: str(v)[:30])
def test_bad_options_are_usage_errors(kwargs, fragment):
    with pytest.raises(UsageError) as info:
        plan_bench([FIX / "dense.tflite"], **kwargs)
    assert fragment in str(info.value) and info.value.hint and info.value.exit_code == 2


def test_unknown_delegate_lists_the_valid_ones():
    with pytest.raises(UsageError) as info:
        plan_bench([FIX / "dense.tflite"], delegates="tpu")
    assert all(n in info.value.hint for n in ("cpu", "xnnpack", "gpu"))


def test_bad_model_inputs(tmp_path):
    (tmp_path / "x.tflite").write_bytes(b"0123456789")
    (tmp_path / "empty").mkdir()
    for paths, fragment in (([tmp_path / "nope.tflite"], "not found"), ([tmp_path / "x.tflite"], "not a TFLite"),
                            ([tmp_path / "empty"], "no .tflite files"), ([], "no model")):
        with pytest.raises((InputError, UsageError)) as info:
            collect_models(paths)
        assert fragment in info.value.message


def test_directory_and_variant_naming(tmp_path):
    for name in ("digits_fp32.tflite", "digits_int8.tflite", "plain.tflite"):
        (tmp_path / name).write_bytes((FIX / "dense.tflite").read_bytes())
    models = collect_models([tmp_path, tmp_path / "plain.tflite"])
    assert [(m.name, m.variant) for m in models] == [("digits", "fp32"), ("digits", "int8"), ("plain", None)]
    assert model_file(tmp_path / "plain.tflite").bytes == (FIX / "dense.tflite").stat().st_size


def test_random_inputs_respect_dtype_and_quantized_range():
    inputs = [{"shape": [1, 4096], "dtype": "int8", "quantization": [0.05, 3]},
              {"shape": [2, 3], "dtype": "float32", "quantization": [0.0, 0]},
              {"shape": [5], "dtype": "int32", "quantization": [0.0, 0]},
              {"shape": [-1, 2], "dtype": "bool", "quantization": [0.0, 0]}]
    a = random_inputs(inputs, seed=7)
    b = random_inputs(inputs, seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    q, f, i, t = a
    assert q.dtype == np.int8 and q.min() < -100 and q.max() > 100
    assert f.dtype == np.float32 and -1 <= f.min() and f.max() <= 1
    assert i.dtype == np.int32 and 0 <= i.min() and i.max() < 10
    assert t.dtype == np.bool_ and t.shape == (1, 2)
    assert not np.array_equal(random_inputs(inputs, seed=8)[0], q)


def test_summary_statistics_on_known_samples():
    s = summarize([10.0, 20.0, 30.0, 40.0, 1000.0])
    assert s["runs"] == 5 and s["mean_us"] == 220.0
    assert (s["min_us"], s["p50_us"], s["p90_us"], s["p99_us"], s["max_us"]) == (10.0, 30.0, 1000.0, 1000.0, 1000.0)
    assert s["std_us"] == pytest.approx(np.std([10, 20, 30, 40, 1000], ddof=1))
    assert s["noisy"] is True  # the outlier is kept and flagged, not trimmed
    assert summarize([100.0, 101.0, 99.0])["noisy"] is False
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    with pytest.raises(ValueError):
        summarize([])
