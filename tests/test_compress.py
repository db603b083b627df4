"""mobilepack compress: prune, cluster, QAT and distillation on the real digits sample.

Training data is the digits training split (scikit-learn's bundled scans, disjoint from
examples/digits/eval); accuracy is measured in LiteRT on examples/digits/eval.  Epoch counts
are the smallest that meet the issue's thresholds on this sample."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DIGITS, ROOT, assert_clean_error, interrupt_when, run_cli, snapshot

EVAL = DIGITS / "eval"
MODEL = DIGITS / "digits.keras"


def _bench_module():
    spec = importlib.util.spec_from_file_location("benchmarks_compress", ROOT / "benchmarks" / "compress.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def train_npz(tmp_path_factory) -> Path:
    return _bench_module().write_digits_training_npz(tmp_path_factory.mktemp("data") / "digits_train.npz")


@pytest.fixture(scope="module")
def pruned(train_npz, tmp_path_factory):
    """Prune through the CLI (--json): the contract and the thresholds in one run."""
    out = tmp_path_factory.mktemp("prune") / "out"
    result = run_cli("compress", "prune", MODEL, "--data", train_npz, "--eval", EVAL, "--target-sparsity", "0.5",
                     "--epochs", "6", "--no-bench", "-o", out, "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    return out, json.loads(result.stdout)


def _rows(payload) -> dict:
    return {r["role"]: r for r in payload["rows"]}


def test_prune_reaches_half_sparsity_within_two_points(pruned):
    out, payload = pruned
    rows = _rows(payload)
    assert payload["technique"] == "prune"
    assert payload["eval_data"]["samples"] == 300
    kernels = [v for v in payload["layers"].values() if v["pruned"]]
    assert len(kernels) == 5  # every conv and dense kernel of the digits CNN
    zeros = sum(v["zeros"] for v in kernels)
    total = sum(v["weights"] for v in kernels)
    assert zeros / total >= 0.5
    assert all(v["sparsity"] >= 0.5 for v in kernels)
    assert rows["before"]["accuracy"] - rows["after"]["accuracy"] <= 0.02
    assert rows["after"]["gzip_bytes"] < 0.75 * rows["before"]["gzip_bytes"]


def test_prune_writes_a_keras3_model_with_zeroed_kernels(pruned):
    from mobilepack.model.tfimport import keras

    out, payload = pruned
    assert sorted(p.name for p in out.iterdir()) == sorted(payload["files"])
    model = keras().models.load_model(out / payload["model"])  # wrappers stripped: plain Keras 3 layers
    assert [type(layer).__name__ for layer in model.layers] == [
        type(layer).__name__ for layer in keras().models.load_model(MODEL).layers]
    kernel = model.get_layer("conv2d_2").get_weights()[0]
    assert np.mean(kernel == 0) >= 0.5
    assert (out / payload["tflite"]).read_bytes()[4:8] == b"TFL3"
    assert payload["schema_version"] == "1.0"
    assert "| before | fp32 |" in (out / "compress.md").read_text()


def test_parent_process_keeps_keras3_and_never_imports_tfmot(train_npz, tmp_path):
    """Cluster in this process: tfmot runs in the worker; this process stays on Keras 3."""
    import mobilepack.compress as c
    from mobilepack.model.tfimport import keras

    result = c.cluster(MODEL, train_npz, tmp_path / "out",
                       c.ClusterOptions(clusters=8, train=c.TrainOptions(epochs=1, eval_data=str(EVAL), bench=False)))
    assert "tensorflow_model_optimization" not in sys.modules
    assert keras().__version__.startswith("3.")
    model = keras().models.load_model(tmp_path / "out" / result.model)
    for name, info in result.layers.items():
        assert info["clustered"]
        assert info["unique_values"] <= 8
        assert np.unique(model.get_layer(name).get_weights()[0]).size <= 8
    rows = {r.role: r for r in result.rows}
    assert rows["after"].gzip_bytes < 0.5 * rows["before"].gzip_bytes
    assert rows["before"].accuracy - rows["after"].accuracy <= 0.03


def test_qat_int8_is_no_worse_than_post_training_int8(train_npz, tmp_path):
    import mobilepack.compress as c
    from mobilepack.model.flatbuffer import float_compute_ops

    result = c.qat(MODEL, train_npz, tmp_path / "out",
                   c.QatOptions(train=c.TrainOptions(epochs=2, eval_data=str(EVAL), bench=False)))
    rows = {r.role: r for r in result.rows}
    assert rows["after"].mode == rows["ptq_int8"].mode == "int8"
    assert rows["after"].accuracy >= rows["ptq_int8"].accuracy - 0.01
    data = (tmp_path / "out" / result.tflite).read_bytes()
    assert float_compute_ops(data) == []  # full-integer kernels, nothing left in float
    assert rows["after"].bytes < 0.5 * rows["before"].bytes


def test_distilled_student_is_three_times_smaller_within_three_points(train_npz, tmp_path):
    import mobilepack.compress as c

    result = c.distill(MODEL, train_npz, tmp_path / "out",
                       c.DistillOptions(student_preset="small-cnn", temperature=4.0, alpha=0.1,
                                        train=c.TrainOptions(epochs=60, eval_data=str(EVAL))))
    rows = {r.role: r for r in result.rows}
    assert rows["teacher"].bytes >= 3 * rows["student"].bytes
    assert rows["teacher"].params >= 3 * rows["student"].params
    assert rows["teacher"].accuracy - rows["student"].accuracy <= 0.03
    for role in ("teacher", "student"):  # measured through the bench engine (no timing thresholds)
        assert rows[role].latency_ms is not None and rows[role].latency_ms > 0
    assert (tmp_path / "out" / result.model).is_file()


# -- bad input: one line, a hint, exit 2, nothing written ---------------------------------------

def test_subclassed_model_is_refused_before_training(tmp_path):
    import mobilepack.compress as c
    from mobilepack.compress.errors import UnsupportedModel
    from tests.models import subclassed

    subclassed().save(tmp_path / "sub.keras")  # registered in this process, so it loads
    np.savez(tmp_path / "d.npz", x=np.zeros((8, 5), np.float32), y=np.zeros(8, np.int64))
    with pytest.raises(UnsupportedModel, match="subclassed") as info:
        c.prune(tmp_path / "sub.keras", tmp_path / "d.npz", tmp_path / "out",
                c.PruneOptions(train=c.TrainOptions(epochs=1, bench=False)))
    assert info.value.exit_code == 2 and "functional" in info.value.hint
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["missing-data", "unlabelled-npy", "bad-sparsity", "tflite-source",
                                  "labels-out-of-range"])
def test_bad_input_is_one_clean_line(case, tmp_path, train_npz):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    before = snapshot(out)
    args = {"src": MODEL, "data": train_npz, "extra": []}
    fragment = None
    if case == "missing-data":
        args["data"], fragment = tmp_path / "nope.npz", "training data not found"
    elif case == "unlabelled-npy":
        np.save(tmp_path / "x.npy", np.zeros((4, 32, 32, 3), np.float32))
        args["data"], fragment = tmp_path / "x.npy", "has no labels"
    elif case == "bad-sparsity":
        args["extra"], fragment = ["--target-sparsity", "1.5"], "--target-sparsity"
    elif case == "tflite-source":
        (tmp_path / "m.tflite").write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 64)
        args["src"], fragment = tmp_path / "m.tflite", "must be a Keras model"
    elif case == "labels-out-of-range":
        np.savez(tmp_path / "d.npz", x=np.zeros((8, 32, 32, 3), np.float32), y=np.full(8, 12, np.int64))
        args["data"], fragment = tmp_path / "d.npz", "10 classes"
    result = run_cli("compress", "prune", args["src"], "--data", args["data"], "-o", out, "--epochs", "1",
                     "--no-bench", *args["extra"])
    assert_clean_error(result, 2, *([fragment] if fragment else []))
    assert snapshot(out) == before


def test_layer_without_a_tf_keras_equivalent_is_named(tmp_path):
    """RMSNormalization exists in Keras 3 only: the worker refuses it by name, exit 2, OUT untouched."""
    from mobilepack.model.tfimport import keras

    k = keras()
    inp = k.Input(shape=(6,), name="features")
    x = k.layers.RMSNormalization(name="norm")(k.layers.Dense(4, name="hidden")(inp))
    k.Model(inp, k.layers.Dense(3, activation="softmax", name="scores")(x)).save(tmp_path / "rms.keras")
    np.savez(tmp_path / "d.npz", x=np.ones((16, 6), np.float32), y=np.arange(16, dtype=np.int64) % 3)
    result = run_cli("compress", "prune", tmp_path / "rms.keras", "--data", tmp_path / "d.npz", "--epochs", "1",
                     "--no-bench", "-o", tmp_path / "out")
    assert_clean_error(result, 2, "layer 'norm' (RMSNormalization) has no tf-keras equivalent")
    assert not (tmp_path / "out").exists()


def test_sigint_during_training_stops_the_worker_and_leaves_out_unchanged(train_npz, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    before = snapshot(out)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "mobilepack", "compress", "prune", str(MODEL), "--data",
                             str(train_npz), "--eval", str(EVAL), "--epochs", "200", "--no-bench", "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, TMPDIR=str(scratch)))
    code, err = interrupt_when(proc, lambda: any("epoch" in p.read_text() for p in scratch.rglob("progress.jsonl")),
                               timeout=180, what="training in the worker", poll=0.2)
    assert code == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert snapshot(out) == before
    assert not [p for p in tmp_path.iterdir() if ".mobilepack-" in p.name]
    assert not list(scratch.glob("mobilepack-*"))  # the job directory was removed...
    workers = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "mobilepack.compress.worker" in text and str(scratch) in text:
            workers.append(text)
    assert not workers  # ...and the worker process is gone


def test_distill_needs_exactly_one_student():
    result = run_cli("compress", "distill", "--teacher", MODEL, "--data", EVAL, "-o", "unused",
                     "--student-preset", "small-cnn", "--student", MODEL)
    assert_clean_error(result, 2, "exactly one of --student and --student-preset")
    result = run_cli("compress", "distill", "--teacher", MODEL, "--data", EVAL, "-o", "unused",
                     "--student-preset", "tiny")
    assert_clean_error(result, 2, "unknown --student-preset 'tiny'", "small-cnn")


def test_unknown_strategy_lists_the_valid_ones():
    result = run_cli("compress", "qat", MODEL, "--data", EVAL, "-o", "unused", "--strategy", "tpu")
    assert_clean_error(result, 2, "unknown --strategy 'tpu'", "multi-worker")


def test_multi_worker_without_tf_config_is_a_usage_error(monkeypatch):
    from mobilepack.compress import strategy
    from mobilepack.errors import UsageError

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UsageError, match="TF_CONFIG"):
        strategy.make("multi-worker", tf=None)


# -- the tf-keras bridge on a graph with a residual Add and BatchNormalization -------------------

@pytest.fixture()
def residual(tmp_path) -> tuple[Path, Path]:
    """A functional model with a residual Add (two inputs) and BatchNormalization, plus .npz data."""
    from mobilepack.model.tfimport import keras

    k = keras()
    k.utils.set_random_seed(0)
    inp = k.Input(shape=(8, 8, 1), name="image")
    a = k.layers.Conv2D(4, 3, padding="same", name="a")(inp)
    b = k.layers.BatchNormalization(name="bn")(a)
    s = k.layers.Add(name="skip")([a, k.layers.ReLU(name="relu")(b)])
    x = k.layers.GlobalAveragePooling2D(name="gap")(s)
    out = k.layers.Dense(3, name="logits")(x)
    k.Model(inp, out, name="residual").save(tmp_path / "residual.keras")
    rng = np.random.default_rng(0)
    x_data = rng.normal(size=(96, 8, 8, 1)).astype(np.float32)
    y_data = (x_data.mean(axis=(1, 2, 3)) > 0).astype(np.int64) + (x_data[:, 0, 0, 0] > 1)
    np.savez(tmp_path / "d.npz", x=x_data, y=y_data)
    return tmp_path / "residual.keras", tmp_path / "d.npz"


def test_residual_functional_model_round_trips_through_the_worker(residual, tmp_path):
    """Rebuilt in tf-keras, pruned, and its weights come back into the Keras 3 model layer by layer."""
    import mobilepack.compress as c
    from mobilepack.model.tfimport import keras

    model, data = residual
    result = c.prune(model, data, tmp_path / "out",
                     c.PruneOptions(target_sparsity=0.5, train=c.TrainOptions(epochs=2, bench=False)))
    assert set(result.layers) == {"a", "logits"}
    assert all(v["sparsity"] >= 0.5 for v in result.layers.values())
    back = keras().models.load_model(tmp_path / "out" / result.model)
    assert np.mean(back.get_layer("a").get_weights()[0] == 0) >= 0.5
    assert any("held out" in w for w in result.warnings)  # no --eval: 20% of --data held out, and said so
    assert result.eval_data["samples"] == 19 and result.data["samples"] == 77


def test_multi_worker_strategy_with_a_one_worker_tf_config(residual, tmp_path):
    """The documented multi-machine path, on one machine: TF_CONFIG with a single local worker."""
    import socket

    model, data = residual
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    tf_config = json.dumps({"cluster": {"worker": [f"127.0.0.1:{port}"]}, "task": {"type": "worker", "index": 0}})
    result = run_cli("compress", "cluster", model, "--data", data, "--clusters", "4", "--epochs", "1", "--no-bench",
                     "--strategy", "multi-worker", "-o", tmp_path / "out", "--json", env={"TF_CONFIG": tf_config})
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["training"]["strategy"] == {"name": "MultiWorkerMirroredStrategy", "replicas": 1}
    assert all(v["unique_values"] <= 4 for v in payload["layers"].values())


def test_image_folder_training_data_maps_classes_by_labels_txt(tmp_path):
    """--data as a folder per class: folder names are mapped to outputs through labels.txt beside the model."""
    import mobilepack.compress as c

    result = c.cluster(MODEL, EVAL, tmp_path / "out",
                       c.ClusterOptions(clusters=16, train=c.TrainOptions(epochs=1, bench=False)))
    assert result.data["label_mapping"] == "class folders by labels.txt"
    rows = {r.role: r for r in result.rows}
    assert rows["before"].accuracy >= 0.95  # a wrong class mapping would score near 10%


def test_compress_config_section_orders_stages_and_validates():
    from mobilepack.compress import CompressConfig, Technique, config_schema
    from mobilepack.errors import UsageError

    cfg = CompressConfig.from_section({"stages": ["distill", "prune"], "data": "train.npz",
                                       "student_preset": "small-cnn", "target_sparsity": 0.6})
    assert cfg.stages == (Technique.DISTILL, Technique.PRUNE)
    assert cfg.options[Technique.PRUNE].target_sparsity == 0.6
    assert set(config_schema()["compress"]) >= {"stages", "data", "epochs", "target_sparsity", "clusters"}
    with pytest.raises(UsageError, match="labelled training data"):
        CompressConfig.from_section({"stages": ["prune"]})
    with pytest.raises(UsageError, match="exactly one"):
        CompressConfig.from_section({"stages": ["distill"], "data": "d.npz"})


def test_build_runs_prune_then_qat_and_reports_every_result(train_npz, tmp_path):
    """[compress] stages in mobilepack.toml: build runs prune -> qat before conversion; the pruned
    model's variants and QAT's own int8 model sit in one accuracy/latency matrix and the report
    lists every compression row."""
    cfg = tmp_path / "mobilepack.toml"
    cfg.write_text(f"""
[build]
source = "{MODEL}"
target = "android"
out = "out"
eval_data = "{EVAL}"
[convert]
quantize = ["fp32", "int8"]
calibration = "{DIGITS / 'calibration'}"
calibration_samples = 20
[metadata]
labels = "{DIGITS / 'labels.txt'}"
[bench]
delegates = ["cpu", "xnnpack"]
threads = [1]
runs = 3
warmup = 0
target_ci = 0.0
[compress]
stages = ["prune", "qat"]
data = "{train_npz}"
epochs = 1
""")
    r = run_cli("build", "--config", cfg, "--cache-dir", tmp_path / "cache", "--json", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout)
    assert [st["technique"] for st in report["compression"]] == ["prune", "qat"]
    assert [v["mode"] for v in report["variants"]] == ["fp32", "int8", "qat"]
    assert report["variants"][0]["path"].startswith("digits_pruned")
    modes = {c["mode"] for c in report["accuracy"]["cells"] if c["status"] == "ok"}
    assert modes == {"fp32", "int8", "qat"}
    assert report["selection"]["winner"] in ("fp32", "int8", "qat")
    md = (tmp_path / "out" / "reports" / "report.md").read_text()
    assert "## Compression" in md and "| prune |" in md and "| qat |" in md
    assert (tmp_path / "out" / "compress" / "prune" / "compress.json").is_file()
