"""The delegate doctor (``runtime.departure``): the first op at which one delegate departs, named
in two made-to-depart cases built here with real Keras/TFLite conversions:

* the reference CPU kernels depart: a dynamic-range FULLY_CONNECTED with 16,384 inputs whose
  activations and weights are all of one sign (LiteRT's built-in hybrid kernel computes it wrongly
  from about 4,000 such inputs; XNNPACK and the GPU compute it right);
* the GPU departs: FLOOR_MOD of values near 3e7, which the GPU computes as x - y*floor(x/y) in
  fp32 (an ulp of 2 there) while the CPU kernels compute it exactly.

Both are found by ``inspect --delegates`` (JSON and terminal) and named by ``bench``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import assert_clean_error, require, run_cli
from tests.models import keras, tf

ALL = "cpu,xnnpack,gpu"


def _convert(model, dynamic: bool = False) -> bytes:
    c = tf().lite.TFLiteConverter.from_keras_model(model)
    if dynamic:
        c.optimizations = [tf().lite.Optimize.DEFAULT]
    return c.convert()


@pytest.fixture(scope="module")
def reference_departs(tmp_path_factory):
    """conv (positive weights) -> flatten (16,384) -> dense 8 (positive weights) -> dense 3, dynamic range."""
    k = keras()
    rng = np.random.default_rng(0)
    inp = k.Input((64, 64, 1), batch_size=1)
    x = k.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = k.layers.Dense(8)(k.layers.Flatten()(x))
    m = k.Model(inp, k.layers.Dense(3)(x))
    m.layers[1].set_weights([rng.uniform(0, 0.2, (3, 3, 1, 4)).astype("f"), np.zeros(4, "f")])
    m.layers[3].set_weights([rng.uniform(0, 1e-3, (16384, 8)).astype("f"), np.linspace(-3.5, 3.5, 8).astype("f")])
    m.layers[4].set_weights([rng.standard_normal((8, 3)).astype("f"), np.zeros(3, "f")])
    path = tmp_path_factory.mktemp("doctor") / "fc_dynamic.tflite"
    path.write_bytes(_convert(m, dynamic=True))
    return path


@pytest.fixture(scope="module")
def gpu_departs(tmp_path_factory):
    """relu -> x * 3e7 -> floor_mod 7.3 -> dense 4, float."""
    k = keras()
    k.utils.set_random_seed(0)
    inp = k.Input((64,), batch_size=1)
    x = k.layers.ReLU()(inp)
    x = k.layers.Lambda(lambda v: tf().math.floormod(v * 3e7, 7.3))(x)
    path = tmp_path_factory.mktemp("doctor") / "floormod.tflite"
    path.write_bytes(_convert(k.Model(inp, k.layers.Dense(4)(x))))
    return path


@pytest.fixture(scope="module")
def vulkan():
    from mobilepack.runtime.vulkan import discover_vulkan

    setup = discover_vulkan()
    require(setup.source != "none", setup.message)
    return setup


def _doctor(path, *extra):
    r = run_cli("inspect", path, "--no-gpu", "--json", "--delegates", ALL, *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["delegate_doctor"]


def test_reference_kernels_depart_at_the_large_fully_connected(reference_departs, vulkan):
    d = _doctor(reference_departs)
    dep = d["departure"]
    assert dep["delegate"] == "cpu", d
    assert dep["op"]["index"] == 2 and dep["op"]["type"] == "FULLY_CONNECTED", dep
    assert dep["op"]["input_shapes"][0] == [1, 16384] and dep["op"]["output_shapes"] == [[1, 8]]
    assert sorted(dep["agreeing"]) == ["gpu", "xnnpack"]
    assert dep["relative"] > 0.2 and dep["max_abs_diff"] > 1
    assert "reference CPU kernels" in d["message"] and "op 2 FULLY_CONNECTED" in d["message"]
    assert "bisection" in d["method"] and "kept" in d["method"]
    r = run_cli("inspect", reference_departs, "--no-gpu", "--delegates", ALL)
    assert r.returncode == 0, r.stderr
    assert "cpu (reference CPU kernels) departs at op 2 FULLY_CONNECTED" in " ".join(r.stdout.split())


def test_gpu_departs_at_floor_mod(gpu_departs, vulkan):
    dep = _doctor(gpu_departs)["departure"]
    assert dep["delegate"] == "gpu" and dep["op"]["index"] == 2 and dep["op"]["type"] == "FLOOR_MOD", dep
    assert sorted(dep["agreeing"]) == ["cpu", "xnnpack"]


def test_agreeing_delegates_name_no_op(gpu_departs):
    from mobilepack.runtime.delegates import get
    from mobilepack.runtime.departure import diagnose

    d = diagnose(gpu_departs, [get("cpu"), get("xnnpack")])   # the CPU kernels agree on FLOOR_MOD
    assert d.departure is None and d.outputs_agree, d.to_dict()
    assert "agree at every output" in d.message()


def test_a_spent_budget_stops_the_search_and_says_so(reference_departs):
    from mobilepack.runtime.delegates import get
    from mobilepack.runtime.departure import diagnose

    d = diagnose(reference_departs, [get("cpu"), get("xnnpack")], budget=0.0)
    assert not d.complete and d.probes == 0 and d.departure is None, d.to_dict()
    assert "stopped at its time budget" in d.message() and d.to_dict()["complete"] is False


def test_data_feeds_the_doctor(gpu_departs, tmp_path, vulkan):
    np.save(tmp_path / "x.npy", np.linspace(0, 1, 64, dtype="float32").reshape(1, 64))
    d = _doctor(gpu_departs, "--data", tmp_path / "x.npy")
    assert d["data"].endswith("x.npy") and d["departure"]["delegate"] == "gpu"


def test_bad_delegate_lists_are_one_line(gpu_departs):
    assert_clean_error(run_cli("inspect", gpu_departs, "--delegates", "cpu"), 2, "at least two")
    assert_clean_error(run_cli("inspect", gpu_departs, "--delegates", "cpu,nope"), 2, "unknown delegate")


def test_bench_names_the_culprit(reference_departs, gpu_departs, vulkan):
    r = run_cli("bench", reference_departs, gpu_departs, "--runs", "3", "--max-seconds", "0.2", "--json")
    assert r.returncode == 0, r.stderr
    recs = {(x["model"]["file"], x["delegate"]): x for x in json.loads(r.stdout)["results"]}
    # the reference kernels depart: the GPU is measured, the cpu row says it departs
    gpu, cpu = recs[("fc_dynamic.tflite", "gpu")], recs[("fc_dynamic.tflite", "cpu")]
    assert gpu["status"] == "ok" and not gpu["numerics"]["ok"] and "not the GPU" in gpu["note"], gpu
    assert cpu["departure"]["departure"]["op"]["type"] == "FULLY_CONNECTED" and "departs" in cpu["note"]
    # the GPU departs: failed, the op named
    bad = recs[("floormod.tflite", "gpu")]
    assert bad["status"] == "failed" and bad["failure"] == "numerics", bad
    assert bad["error"].startswith("gpu (GPU) departs at op 2 FLOOR_MOD"), bad["error"]


def test_software_gpu_rows_get_no_speedup():
    from mobilepack.report.bench_views import rows

    base = {"status": "ok", "model": {"name": "m", "variant": "fp32"}, "device": {"platform": "host"},
            "threads": 1, "software": False}
    doc = {"results": [dict(base, delegate="cpu", latency_us=100.0),
                       dict(base, delegate="xnnpack", latency_us=50.0),
                       dict(base, delegate="gpu", latency_us=10.0, software=True)]}
    speed = {r["delegate"]: r["speedup"] for r in rows(doc)}
    assert speed == {"cpu": 1.0, "xnnpack": 2.0, "gpu": None}


def test_build_report_and_selection_name_the_culprit(reference_departs, tmp_path, vulkan):
    out = tmp_path / "out"
    r = run_cli("build", reference_departs, "-o", out, "--target", "android")
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "reports" / "report.json").read_text())
    dep = report["delegate_doctor"]["passthrough"]["departure"]
    assert dep["delegate"] == "cpu" and dep["op"]["type"] == "FULLY_CONNECTED"
    assert "delegate doctor: cpu (reference CPU kernels) departs at op 2" in report["selection"]["reasons"]["passthrough"]
    md = (out / "reports" / "report.md").read_text()
    assert "## Delegate doctor" in md and "departs: cpu (reference CPU kernels)" in md


def _labelled_by_xnnpack(model, path):
    """16 samples labelled with XNNPACK's answers (the right ones: the reference kernels compute the
    16,384-input FULLY_CONNECTED wrongly, and every sample's top class with it)."""
    from ai_edge_litert.interpreter import Interpreter

    xs = np.random.default_rng(1).uniform(0, 1, (16, 64, 64, 1)).astype("f")
    it = Interpreter(model_path=str(model))
    it.allocate_tensors()
    ys = []
    for x in xs:
        it.set_tensor(it.get_input_details()[0]["index"], x[None])
        it.invoke()
        ys.append(int(it.get_tensor(it.get_output_details()[0]["index"])[0].argmax()))
    np.savez(path, x=xs, y=np.array(ys))
    return path


def test_build_runs_the_doctor_when_the_matrix_delegates_disagree(reference_departs, tmp_path, vulkan):
    """The accuracy matrix (labelled, so every delegate runs) has the reference kernels far from
    XNNPACK.  No GPU in --delegates: bench's GPU check never runs the doctor; build's own trigger does,
    on the evaluation sample where the two differ most, with the GPU as a third voter.  The second
    build into the same cache gets the diagnosis from the cache."""
    data = _labelled_by_xnnpack(reference_departs, tmp_path / "eval.npz")
    args = ["--target", "android", "--task", "image_classification", "--mean", "0", "--std", "255", "--eval-data", data,
            "--delegates", "cpu,xnnpack", "--runs", "1", "--max-seconds", "0.1", "--cache-dir", tmp_path / "cache"]
    r = run_cli("build", reference_departs, "-o", tmp_path / "a", *args, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert not any(rec.get("departure") for rec in report["bench"]["results"])   # bench ran no doctor
    entry = report["delegate_doctor"]["passthrough"]
    assert entry["trigger"]["delegates"] == ["cpu", "xnnpack"] and entry["trigger"]["gap"] > 0.5, entry["trigger"]
    dep = entry["departure"]
    assert dep["delegate"] == "cpu" and dep["op"]["index"] == 2 and dep["op"]["type"] == "FULLY_CONNECTED", dep
    assert sorted(dep["agreeing"]) == ["gpu", "xnnpack"] and entry["complete"]
    assert entry["explanation"].startswith("cpu 0.0000 vs xnnpack 1.0000 top-1 accuracy on 16 samples")
    assert "cpu (reference CPU kernels) departs at op 2 FULLY_CONNECTED" in entry["explanation"]
    assert "departs at op 2 FULLY_CONNECTED" in report["selection"]["reasons"]["passthrough"]
    md = (tmp_path / "a" / "reports" / "report.md").read_text()
    assert "0.0000‡" in md and "- `passthrough`: cpu 0.0000 vs xnnpack 1.0000" in md
    assert 'id="delegate-doctor"' in (tmp_path / "a" / "reports" / "report.html").read_text()
    again = run_cli("build", reference_departs, "-o", tmp_path / "b", *args)
    assert again.returncode == 0, again.stderr
    assert "delegate doctor (passthrough): cpu 0.0000 vs xnnpack 1.0000" in " ".join(again.stdout.split())
    second = json.loads((tmp_path / "b" / "reports" / "report.json").read_text())
    assert second["cache_hits"]["delegates"] is True
    assert second["delegate_doctor"]["passthrough"]["departure"] == dep
