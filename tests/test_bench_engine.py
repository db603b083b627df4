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
from mobilepack.bench.definition import DEFINITION, pattern_array, pattern_inputs
from mobilepack.bench.stats import TrimmedStop, ci95_halfwidth, t975, trimmed
from mobilepack.bench.engine import FUNCTIONAL_NOTE, host_key
from mobilepack.runtime.gpu import SOFTWARE_NOTE, discover_vulkan

FIX = Path(__file__).parent / "fixtures" / "bench"


@pytest.fixture(scope="module")
def result():
    models = [FIX / n for n in ("dense.tflite", "dense_int8.tflite", "custom_op.tflite", "unique.tflite",
                                "partial_lrn.tflite")]
    plan = plan_bench(models, delegates="cpu,xnnpack,gpu", threads="1,2", runs=5, warmup=1, min_seconds=0,
                      target_ci=0.05, max_seconds=0.5)
    events = []
    res = run_bench(plan, progress=events.append, workers=2)   # the software GPU's checks two at a time (build's)
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
    if require_vulkan().software:   # the five GPU configurations were checked first, two at a time
        assert any(e.message == "5 functional checks on the software GPU, 2 at a time" for e in events)
    assert [(r["model"]["file"], r["delegate"], r["threads"]) for r in res.records] == \
        [(m.path.name, d.name, t) for m, d, t in res.plan.configurations()]


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
        assert rec["definition"] == DEFINITION
        # adaptive: it stopped because the interval was reached (then it is within target) or at the time cap
        assert rec["stop"] in ("ci", "max_seconds", "max_runs") and rec["target_ci"] == 0.05
        assert rec["runs"] <= 50 or rec["stop"] == "max_seconds"   # the default cap: the fixed scheme's 50
        assert rec["ci95_us"] == pytest.approx(t975(rec["runs"] - 1) * rec["std_us"] / rec["runs"] ** 0.5)
        assert rec["ci95_rel"] == pytest.approx(rec["ci95_us"] / rec["mean_us"])
        # the headline: the 20 % trimmed mean, inside [min, max], with Yuen's interval; "ci" means it was reached
        assert rec["latency_statistic"] == "trimmed_mean_20" and rec["min_us"] <= rec["latency_us"] <= rec["max_us"]
        assert rec["latency_ci95_rel"] == pytest.approx(rec["latency_ci95_us"] / rec["latency_us"])
        if rec["stop"] == "ci":
            assert rec["latency_ci95_rel"] <= 0.05


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
        # a software GPU gets a functional check: at most 3 invocations (first + 2 timed), no warm-up,
        # and its outputs compared with the reference CPU kernels
        assert rec["software"] is True and rec["note"] == FUNCTIONAL_NOTE and rec["stop"] == "functional"
        assert rec["runs"] == 2 and rec["warmup"] == 0 and rec["first_us"] > 0
        assert rec["numerics"]["ok"] is True and rec["numerics"]["cosine"] > 0.99
        assert rec["numerics"]["max_abs_err"] < 0.05


def test_software_gpu_latency_only_when_asked():
    setup = require_vulkan()
    if not setup.software:
        pytest.skip("a real GPU is always timed")
    plan = plan_bench([FIX / "dense.tflite"], delegates="gpu", runs=4, warmup=1, target_ci=0, gpu_latency=True)
    [rec] = run_bench(plan).records
    assert rec["status"] == "ok" and rec["stop"] == "runs" and rec["runs"] == 4 and rec["warmup"] == 1
    assert rec["note"] == SOFTWARE_NOTE and rec["numerics"] is None


def test_functional_numerics_check_fails_on_differing_outputs(tmp_path):
    """The comparison itself: a session whose outputs are off is reported, not passed."""
    from mobilepack.bench.measure import compare_with_reference
    from mobilepack.runtime.delegates import open_session, get

    session = open_session(get("xnnpack").to_dict(), str(FIX / "dense.tflite"), 1)
    session.feed(pattern_inputs(session.inputs))
    good = session.run()
    assert compare_with_reference(str(FIX / "dense.tflite"), session, good)["ok"] is True
    bad = compare_with_reference(str(FIX / "dense.tflite"), session, [-np.asarray(good[0]) + 1.0])
    assert bad["ok"] is False and "cosine" in bad["message"]
    nan = compare_with_reference(str(FIX / "dense.tflite"), session, [np.full_like(good[0], np.nan)])
    assert nan["ok"] is False and nan["message"] == "non-finite GPU outputs"


def test_fixed_scheme_runs_exactly_runs():
    plan = plan_bench([FIX / "dense.tflite"], delegates="xnnpack", runs=7, warmup=0, target_ci=0)
    [rec] = run_bench(plan).records
    assert rec["status"] == "ok" and rec["runs"] == 7 and rec["stop"] == "runs"


def test_adaptive_stops_at_max_seconds_when_the_interval_is_out_of_reach():
    plan = plan_bench([FIX / "dense.tflite"], delegates="xnnpack", runs=5, warmup=0, target_ci=1e-9,
                      max_seconds=0.2, max_runs=10**9)
    [rec] = run_bench(plan).records
    assert rec["status"] == "ok" and rec["stop"] == "max_seconds" and rec["latency_ci95_rel"] > 1e-9


def test_adaptive_stops_at_max_runs_and_never_below_the_minimum():
    plan = plan_bench([FIX / "dense.tflite"], delegates="cpu", runs=5, warmup=0, target_ci=1e-9, max_runs=25,
                      max_seconds=60)
    [rec] = run_bench(plan).records
    assert rec["status"] == "ok" and rec["stop"] == "max_runs" and rec["runs"] == 25
    assert plan_bench([FIX / "dense.tflite"], delegates="cpu").max_runs == 50        # default: the fixed 50
    assert plan_bench([FIX / "dense.tflite"], delegates="cpu", runs=80).max_runs == 80   # never below --runs
    with pytest.raises(UsageError, match=r"--max-runs \(20\) is below --runs \(30\)"):
        plan_bench([FIX / "dense.tflite"], delegates="cpu", runs=30, max_runs=20)


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


def test_timeout_is_a_failed_record_not_an_exception(monkeypatch):
    """A configuration whose child never answers (``tests/plugins/stalled_delegate.py``) is killed at
    its timeout and recorded; the next configuration still runs."""
    import runpy

    from mobilepack.runtime import delegates

    monkeypatch.setattr(delegates, "_REGISTRY", dict(delegates._REGISTRY))
    monkeypatch.setattr(delegates, "_OPENERS", dict(delegates._OPENERS))
    runpy.run_path(str(Path(__file__).resolve().parent / "plugins" / "stalled_delegate.py"))
    plan = plan_bench([FIX / "dense.tflite"], delegates="stalled,cpu", runs=3, min_seconds=0, timeout=1.0)
    stalled, cpu = run_bench(plan).records
    assert stalled["failure"] == "timeout" and "timed out" in stalled["error"], stalled
    assert cpu["status"] == "ok"


@pytest.mark.parametrize("kwargs, fragment", [
    ({"delegates": "cpu,tpu"}, "unknown delegate 'tpu'"),
    ({"delegates": "nnapi"}, "runs only on phones"),
    ({"threads": "0"}, "positive"),
    ({"threads": "two"}, "comma-separated integers"),
    ({"runs": 0}, "--runs"),
    ({"warmup": -1}, "--warmup"),
    ({"min_seconds": -1}, "--min-seconds"),
    ({"target_ci": -0.1}, "--target-ci"),
    ({"target_ci": 1.5}, "--target-ci"),
    ({"max_seconds": 0}, "--max-seconds"),
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


def test_inputs_follow_the_shared_definition():
    """v = (i * 7919) mod 256; floats v/255, uint8 v, int8 v-128, int32/int64/bool v mod 2."""
    v = [(i * 7919) % 256 for i in range(6)]
    assert v[:3] == [0, 239, 222]
    assert pattern_array([1, 6], "float32").ravel().tolist() == pytest.approx([x / 255 for x in v])
    assert pattern_array([2, 3], "float16").dtype == np.float16
    assert pattern_array([6], "uint8").tolist() == v
    assert pattern_array([6], "int8").tolist() == [x - 128 for x in v]
    assert pattern_array([6], "int32").tolist() == [x % 2 for x in v]
    assert pattern_array([6], "int64").dtype == np.int64
    assert pattern_array([-1, 6], "bool").shape == (1, 6)   # dynamic dims become 1
    a, b = pattern_inputs([{"shape": [1, 4], "dtype": "float32"}, {"shape": [3], "dtype": "int8"}])
    assert a.shape == (1, 4) and b.dtype == np.int8


def test_confidence_interval_and_running_statistics():
    # t quantiles (two-sided 95 %) against published values
    for df, t in ((1, 12.706), (5, 2.571), (10, 2.228), (30, 2.042), (100, 1.984), (10000, 1.960)):
        assert t975(df) == pytest.approx(t, abs=2e-3)
    xs = [10.0, 12.0, 11.0, 13.0, 9.0, 10.5]
    s = summarize(xs)
    assert s["ci95_us"] == pytest.approx(2.571 * np.std(xs, ddof=1) / np.sqrt(6), rel=1e-3)
    assert summarize([5.0])["ci95_us"] is None and summarize([5.0])["latency_ci95_us"] is None
    # below five runs nothing is trimmed: the trimmed interval is Student's t of the mean
    four = [10.0, 12.0, 11.0, 13.0]
    assert trimmed(four) == pytest.approx((11.5, ci95_halfwidth(4, np.std(four, ddof=1))))
    one = TrimmedStop()
    one.add(1.0)
    assert one.ci_rel() == float("inf")


def test_trimmed_mean_and_yuen_interval_by_hand():
    """n = 10, g = 0.2: two runs cut at each end.  Kept 12..17: mean 14.5.  Winsorized
    [12,12,12,13,14,15,16,17,17,17]: mean 14.5, squared deviations 42.5, s_w = sqrt(42.5/9);
    half-width t(0.975, 5) · s_w / (0.6 · sqrt(10)) = 2.5706 · 2.17307 / 1.89737 = 2.9442."""
    xs = [16.0, 10.0, 1000.0, 13.0, 11.0, 18.0, 12.0, 15.0, 17.0, 14.0]
    tmean, half = trimmed(sorted(xs))
    assert tmean == pytest.approx(14.5) and half == pytest.approx(2.9442, abs=1e-3)
    s = summarize(xs)
    assert s["latency_us"] == pytest.approx(14.5) and s["mean_us"] == pytest.approx(112.6)
    assert s["latency_statistic"] == "trimmed_mean_20"
    assert s["latency_ci95_rel"] == pytest.approx(2.9442 / 14.5, abs=1e-4)
    assert s["ci95_rel"] > 1.0          # the one preempted-like run decides the plain mean's interval
    stop = TrimmedStop()
    for x in xs:                         # arrival order does not matter: the runs are kept sorted
        stop.add(x)
    assert stop.ci_rel() == pytest.approx(2.9442 / 14.5, abs=1e-4)
    # a second outlier at the other end is trimmed too; a third run of 1000 among 10 is not cut
    assert trimmed(sorted(xs[:-1] + [0.001]))[0] == pytest.approx((12 + 13 + 15 + 16 + 17 + 11) / 6)
    assert trimmed(sorted([1000.0] * 3 + xs[:7]))[0] > 100


def test_stop_reasons_of_the_timing_loop_on_a_fake_clock():
    """Each iteration takes 1 µs of a fake clock and alternates 1 and 3 µs of latency, so the interval
    never reaches 1e-9: the cap stops it at exactly 50 runs; with a 100 µs minimum the minimum decides."""
    from mobilepack.bench.measure import _timed

    clock = {"ns": 0, "i": 0}

    def now():
        return clock["ns"]

    def iteration():
        clock["i"] += 1
        clock["ns"] += 1000 if clock["i"] % 2 else 3000

    def timed(**kw):
        clock.update(ns=0, i=0)
        args = dict(runs=10, min_seconds=0.0, max_seconds=60.0, target_ci=1e-9, max_runs=50, now=now)
        return _timed(iteration, **{**args, **kw})

    samples, stop = timed()
    assert (len(samples), stop) == (50, "max_runs")
    samples, stop = timed(min_seconds=200e-6)          # 200 µs of 2 µs runs: 100 runs, past the cap
    assert stop == "min_seconds" and len(samples) == 100
    samples, stop = timed(target_ci=0.0, min_seconds=0.0)
    assert (len(samples), stop) == (10, "runs")
    samples, stop = timed(target_ci=0.75)              # ±71 % at 10 runs: a loose target is met at the minimum
    assert (len(samples), stop) == (10, "ci")
    assert set(samples) == {1.0, 3.0}


def test_trimmed_stop_rechecks_sparsely_after_64_runs():
    stop = TrimmedStop()
    for i in range(64):
        stop.add(100.0 + (i % 7))
    first = stop.ci_rel()
    stop.add(10_000.0)               # one run later: not re-computed yet (every n/32 runs past 64)
    assert stop.ci_rel() == first
    stop.add(100.0)
    assert stop.ci_rel() != first    # 66 runs: recomputed


def test_host_key_names_the_cpu_and_core_count_not_the_hostname():
    import os

    key = host_key()
    assert key["cpu_count"] == os.cpu_count() and key["cpu"] and "hostname" not in key


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


def test_build_bench_cache_is_per_host(tmp_path, monkeypatch):
    """Bench numbers measured on another CPU (model or core count) are never reused; conversion is."""
    import mobilepack
    from mobilepack.bench import engine

    d = Path(__file__).resolve().parent.parent / "examples" / "digits"
    opts = dict(out=str(tmp_path / "out"), quantize=["fp32"], calibration=str(d / "calibration"),
                labels=str(d / "labels.txt"), delegates=["cpu"], runs=3, warmup=0, target_ci=0, threads=[1],
                cache_dir=str(tmp_path / "cache"), force=True)
    first = mobilepack.build(str(d / "digits.keras"), **opts)
    same = mobilepack.build(str(d / "digits.keras"), **opts)
    assert first.cache_hits["bench"] is False and same.cache_hits["bench"] is True
    real = engine.host_key()
    monkeypatch.setattr(engine, "host_key", lambda: {**real, "cpu_count": (real["cpu_count"] or 1) + 2})
    other = mobilepack.build(str(d / "digits.keras"), **opts)
    assert other.cache_hits["convert"] is True and other.cache_hits["bench"] is False


def test_a_slow_warm_up_stops_after_max_seconds():
    """Warm-up runs stop once they have taken max_seconds, counted from the first inference's start: a
    first inference that alone took them was the warm-up (none more); the record says how many ran."""
    plan = plan_bench([FIX / "dense.tflite"], delegates="cpu", runs=2, warmup=50, target_ci=0, max_seconds=1e-6)
    [rec] = run_bench(plan).records
    assert rec["status"] == "ok" and rec["warmup"] == 0 and rec["runs"] == 2 and rec["first_us"] > 0
    plan = plan_bench([FIX / "dense.tflite"], delegates="cpu", runs=2, warmup=3, target_ci=0, max_seconds=30)
    [rec] = run_bench(plan).records
    assert rec["warmup"] == 3          # a fast model gets every warm-up run it asked for


def test_a_gpu_refusal_lint_saw_is_recorded_without_compiling_again():
    from types import SimpleNamespace

    from mobilepack.bench.engine import KNOWN_NOTE
    from mobilepack.pipeline.measure import _gpu_known

    plan = plan_bench([FIX / "dense.tflite"], delegates="cpu,gpu", runs=1, warmup=0, target_ci=0)
    seen = {"status": "rejected", "message": "Failed to compile: ADD is not supported", "adapter": "SwiftShader",
            "software": True}
    records = run_bench(plan, known={("dense.tflite", "gpu"): seen}).records
    gpu = next(r for r in records if r["delegate"] == "gpu")
    assert tuple(gpu) == RECORD_KEYS and gpu["definition"] == DEFINITION
    assert (gpu["status"], gpu["failure"], gpu["note"]) == ("failed", "delegate_refused", KNOWN_NOTE)
    assert "ADD is not supported" in gpu["error"] and gpu["software"] is True
    assert next(r for r in records if r["delegate"] == "cpu")["status"] == "ok"   # only the known pair is skipped
    # only a refusal of the same GPU-only compilation is known; a partial or full probe is compiled by bench
    variants = [SimpleNamespace(mode=m, path=Path(f"m_{m}.tflite")) for m in ("fp32", "int8", "fp16", "dynamic")]
    refused = "Some ops are not accelerated. Add kLiteRtHwAcceleratorCpu to the compilation accelerator set"
    by_mode = {"fp32": {"gpu": {"status": "rejected", "message": "x"}},
               "int8": {"gpu": {"status": "partial", "message": ""}},                  # compiled, partly on the CPU
               "fp16": {"gpu": {"status": "full", "message": ""}},
               "dynamic": {"gpu": {"status": "partial", "message": refused, "cpu_ops": ["GATHER"]}}}
    state = SimpleNamespace(lint=SimpleNamespace(by_mode=by_mode), models=SimpleNamespace(variants=variants))
    known = _gpu_known(state)
    assert list(known) == ["m_fp32.tflite", "m_dynamic.tflite"]
    assert known["m_dynamic.tflite"]["message"] == refused + " (not on the GPU: GATHER)"   # as bench's own record says
    assert _gpu_known(SimpleNamespace(lint=None, models=SimpleNamespace(variants=variants))) == {}


def test_a_functional_check_lint_ran_makes_bench_s_record_without_compiling_again(result, monkeypatch):
    """On a software GPU, build's lint probe (``probe_gpu(functional=PROBE_CHILD)``) also runs bench's
    functional check in its child, on the model it compiled; bench builds the GPU record from that
    answer — no child of its own — with the numerics bench's own check computes (the module's run)."""
    from types import SimpleNamespace

    from mobilepack.bench.engine import REUSED_NOTE
    from mobilepack.bench.measure import PROBE_CHILD
    from mobilepack.inspect.report import probe
    from mobilepack.pipeline.measure import _gpu_known
    from mobilepack.runtime import child

    if not require_vulkan().software:
        pytest.skip("a real GPU is timed by bench itself; lint's probe only compiles")
    path = FIX / "dense.tflite"
    lint = probe(path, timeout=120, functional=PROBE_CHILD)
    plain = probe(path, timeout=120)   # `mobilepack inspect`: the probe alone, its verdict unchanged
    assert "functional" not in plain and {k: lint[k] for k in plain} == plain
    state = SimpleNamespace(lint=SimpleNamespace(by_mode={"fp32": {"gpu": lint}}),
                            models=SimpleNamespace(variants=[SimpleNamespace(mode="fp32", path=path)]))
    known = {(name, "gpu"): seen for name, seen in _gpu_known(state).items()}
    children = []
    spawn = child.run_in_child
    monkeypatch.setattr(child, "run_in_child",
                        lambda target, *a, **kw: children.append(target) or spawn(target, *a, **kw))
    [rec] = run_bench(plan_bench([path], delegates="gpu", runs=5, warmup=1, target_ci=0.05, max_seconds=0.5),
                      known=known).records
    assert children == []                      # bench did not compile it again
    own = _rec(result, "dense.tflite", "gpu")  # bench's own functional check of the same file
    assert (rec["note"], own["note"]) == (REUSED_NOTE, FUNCTIONAL_NOTE)
    same = ("status", "failure", "numerics", "adapter", "software", "fully_delegated", "stop", "runs", "warmup",
            "target_ci", "noisy", "definition")
    assert {k: rec[k] for k in same} == {k: own[k] for k in same} and rec["numerics"]["ok"] is True
    assert tuple(rec) == RECORD_KEYS and rec["init_us"] == lint["functional"]["init_us"] > 0
    # a numerics miss is bench's failure kind; with --gpu-latency bench times the GPU itself
    miss = {"ok": False, "cosine": 0.5, "max_abs_err": 1.0, "message": "cosine 0.5000 < 0.99 vs the reference CPU kernels"}
    off = {**known[("dense.tflite", "gpu")], "functional": {**lint["functional"], "numerics": miss}}
    [bad] = run_bench(plan_bench([path], delegates="gpu", runs=1, warmup=0, target_ci=0),
                      known={("dense.tflite", "gpu"): off}).records
    assert (bad["status"], bad["failure"]) == ("failed", "numerics") and "cosine 0.5000" in bad["error"]
    children.clear()   # (the miss ran the delegate doctor's children)
    [timed] = run_bench(plan_bench([path], delegates="gpu", runs=1, warmup=0, target_ci=0, gpu_latency=True),
                        known=known).records
    assert children == ["mobilepack.bench.measure:measure_in_child"] and timed["stop"] == "runs"


def test_the_run_floor_stops_a_slow_configuration_and_not_a_fast_one():
    """build's run floor (``floor_runs``): past max_seconds adaptive timing needs only 3 runs, not 10.  A
    configuration slower than its budget (here: a budget of 1 µs) stops at the floor, its first run its only
    warm-up; one within budget goes past it; without a floor (an explicit --runs) the 10 runs are honoured."""
    slow = plan_bench([FIX / "dense.tflite"], delegates="cpu", runs=10, floor_runs=3, warmup=5, target_ci=1e-9,
                      max_seconds=1e-6)
    [rec] = run_bench(slow).records
    assert (rec["status"], rec["runs"], rec["stop"], rec["warmup"]) == ("ok", 3, "max_seconds", 0)
    assert run_bench(slow).to_dict()["settings"]["floor_runs"] == 3
    fast = plan_bench([FIX / "dense.tflite"], delegates="cpu", runs=10, floor_runs=3, warmup=0, target_ci=1e-9,
                      max_seconds=60, max_runs=20)
    [rec] = run_bench(fast).records
    assert (rec["runs"], rec["stop"]) == (20, "max_runs")       # the floor never cuts a configuration in budget
    exact = plan_bench([FIX / "dense.tflite"], delegates="cpu", runs=10, warmup=0, target_ci=1e-9, max_seconds=1e-6)
    [rec] = run_bench(exact).records
    assert (rec["runs"], rec["stop"]) == (10, "max_seconds")    # no floor: the minimum holds past max_seconds
    with pytest.raises(UsageError, match="run floor"):
        plan_bench([FIX / "dense.tflite"], delegates="cpu", runs=3, floor_runs=5)


def test_build_applies_the_run_floor_only_when_runs_is_unset(tmp_path):
    """``build`` without --runs: each row of a configuration past --max-seconds gets the floor's 3 runs;
    an explicit --runs 10 (or [bench] runs = 10) gets exactly its 10."""
    import mobilepack
    from mobilepack.pipeline.options import resolve_build_options

    d = Path(__file__).resolve().parent.parent / "examples" / "digits"
    toml = tmp_path / "mobilepack.toml"
    toml.write_text("[bench]\nruns = 10\n", encoding="utf-8")
    assert resolve_build_options(str(d / "digits.keras"), config=toml).bench.floor_runs == 10
    opts = dict(out=str(tmp_path / "out"), quantize=["fp32"], calibration=str(d / "calibration"),
                labels=str(d / "labels.txt"), delegates=["cpu"], warmup=5, target_ci=1e-9, threads=[1],
                max_seconds=1e-6, cache_dir=str(tmp_path / "cache"), force=True)
    floored = mobilepack.build(str(d / "digits.keras"), **opts).report["bench"]
    assert floored["settings"]["runs"] == 10 and floored["settings"]["floor_runs"] == 3
    assert [(r["runs"], r["stop"], r["warmup"]) for r in floored["results"]] == [(3, "max_seconds", 0)]
    explicit = mobilepack.build(str(d / "digits.keras"), runs=10, **opts).report["bench"]
    assert explicit["settings"]["floor_runs"] == 10
    assert [(r["runs"], r["stop"]) for r in explicit["results"]] == [(10, "max_seconds")]
