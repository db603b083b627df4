"""Training on several workers: ``--workers host:port,…`` runs the training stages under
``MultiWorkerMirroredStrategy``.  Two worker processes on loopback prune the digits model, and
distill a student from it, and end with the weights of the one-worker run (same global batch,
same seed)."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DIGITS, assert_clean_error, run_cli
from tests.test_compress import train_npz  # noqa: F401 - the digits training split, a module fixture

MODEL = DIGITS / "digits.keras"
EVAL = DIGITS / "eval"
# Float32 all-reduce sums the two half-batch gradients in another order than one worker sums the
# whole batch: weights (|w| ≤ ~1.1 here) drift by ≤ 1e-5 in one epoch.  A run with another seed
# differs by ~1e-1, so 1e-4 separates "the same training" from "another training".
WEIGHT_TOLERANCE = 1e-4


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _prune_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["compress", "prune", str(MODEL), "--data", str(data), "--eval", str(EVAL), "--epochs", "1",
            "--no-bench", "--json", "-o", str(out), *extra]


def keras_weights(path: Path) -> dict[str, np.ndarray]:
    """Every weight array stored in a ``.keras`` file, by its path in ``model.weights.h5``."""
    import h5py

    found: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as z, h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, np.asarray(obj))
                     if isinstance(obj, h5py.Dataset) else None)
    return found


def weight_gap(a: Path, b: Path) -> tuple[float, int]:
    """(largest |Δw|, weights zero in one and not the other) between two ``.keras`` files."""
    wa, wb = keras_weights(a), keras_weights(b)
    assert wa.keys() == wb.keys()
    gap = max(float(np.abs(wa[k] - wb[k]).max()) for k in wa)
    masks = sum(int(((wa[k] == 0) != (wb[k] == 0)).sum()) for k in wa)
    return gap, masks


def _one_then_two_workers(args, tmp: Path) -> dict:
    """``args(out)`` run as one worker into ``tmp/one``, then as two workers on loopback into ``tmp/w0``
    and ``tmp/w1``; the three ``--json`` payloads."""
    single = run_cli(*args(tmp / "one"), timeout=300)
    assert single.returncode == 0, single.stderr
    workers = ",".join(f"127.0.0.1:{p}" for p in _free_ports(2))
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "MOBILEPACK_WORKER_INDEX", "MOBILEPACK_DEBUG")}
    procs = [subprocess.Popen([sys.executable, "-m", "mobilepack", *map(str, args(tmp / f"w{i}")),
                               "--workers", workers, *(["--worker-index", str(i)] if i else [])],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for i in (1, 0)]  # the other worker first, then the chief, as on two machines
    try:
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
    return {"one": json.loads(single.stdout), "w1": json.loads(outs[0][0]), "w0": json.loads(outs[1][0])}


@pytest.fixture(scope="module")
def one_and_two_workers(train_npz, tmp_path_factory):  # noqa: F811
    """The one-worker reference, then the same command as two workers on loopback."""
    tmp = tmp_path_factory.mktemp("workers")
    return tmp, _one_then_two_workers(lambda out: _prune_args(train_npz, out), tmp)


def test_two_workers_on_loopback_train_what_one_worker_trains(one_and_two_workers):
    tmp, payloads = one_and_two_workers
    assert payloads["one"]["training"]["strategy"] == {"name": "default", "replicas": 1}
    for w in ("w0", "w1"):
        assert payloads[w]["training"]["strategy"] == {"name": "MultiWorkerMirroredStrategy", "replicas": 2}
        assert payloads[w]["training"]["steps_per_epoch"] == payloads["one"]["training"]["steps_per_epoch"]
        gap, masks = weight_gap(tmp / "one" / "digits_pruned.keras", tmp / w / "digits_pruned.keras")
        assert gap <= WEIGHT_TOLERANCE, (w, gap)
        assert masks == 0, (w, masks)  # the same weights pruned
        after = {r["role"]: r["accuracy"] for r in payloads[w]["rows"]}["after"]
        assert after == pytest.approx({r["role"]: r["accuracy"] for r in payloads["one"]["rows"]}["after"],
                                      abs=1 / 300 + 1e-9)  # at most one of the 300 eval images differs
    gap, masks = weight_gap(tmp / "w0" / "digits_pruned.keras", tmp / "w1" / "digits_pruned.keras")
    assert gap <= 1e-6 and masks == 0  # the workers hold one model


def test_malformed_workers_is_one_line_and_writes_nothing(tmp_path):
    for bad, fragment in (("host1", "'host1' is not host:port"), ("h:1,h:70000", "'h:70000' is not host:port"),
                          ("h:1,h:1", "the same host:port twice"), ("h:1,,h:2", "'' is not host:port")):
        result = run_cli("compress", "qat", MODEL, "--data", EVAL, "-o", tmp_path / "out", "--workers", bad)
        assert_clean_error(result, 2, fragment, "--workers host1:12345,host2:12345")
        assert not (tmp_path / "out").exists()


def test_worker_index_and_strategy_must_fit_the_workers(tmp_path):
    base = ("compress", "prune", MODEL, "--data", EVAL, "-o", tmp_path / "out")
    assert_clean_error(run_cli(*base, "--workers", "a:1,b:2", "--worker-index", "2"), 2, "between 0 and 1")
    assert_clean_error(run_cli(*base, "--worker-index", "1"), 2, "--worker-index 1 needs --workers")
    assert_clean_error(run_cli(*base, "--workers", "a:1,b:2", env={"MOBILEPACK_WORKER_INDEX": "5"}), 2,
                       "(got 5)")  # the environment variable is the same option
    assert_clean_error(run_cli(*base, "--workers", "a:1,b:2", "--strategy", "mirrored"), 2,
                       "--workers needs --strategy auto or multi-worker")
    tf_config = json.dumps({"cluster": {"worker": ["c:1"]}, "task": {"type": "worker", "index": 0}})
    assert_clean_error(run_cli(*base, "--workers", "a:1,b:2", env={"TF_CONFIG": tf_config}), 2,
                       "both --workers and the TF_CONFIG")
    assert not (tmp_path / "out").exists()


def test_two_workers_on_loopback_distill_what_one_worker_distills(tmp_path):
    """Distillation trains in Keras 3 by its own loop (not ``fit``, keras-team/keras#20585): one epoch of the
    small-cnn student on the 300 eval images, as one worker and as two; the students' weights match."""
    def args(out):
        return ("compress", "distill", "--teacher", MODEL, "--student-preset", "small-cnn", "--data", EVAL,
                "--eval", EVAL, "--epochs", "1", "--no-bench", "--json", "-o", out)

    payloads = _one_then_two_workers(args, tmp_path)
    assert payloads["one"]["training"]["strategy"] == {"name": "default", "replicas": 1}
    student = payloads["one"]["model"]
    for w in ("w0", "w1"):
        assert payloads[w]["training"]["strategy"] == {"name": "MultiWorkerMirroredStrategy", "replicas": 2}
        gap, _ = weight_gap(tmp_path / "one" / student, tmp_path / w / student)
        assert gap <= WEIGHT_TOLERANCE, (w, gap)  # measured: 8e-8
        assert payloads[w]["training"]["final_loss"] == pytest.approx(payloads["one"]["training"]["final_loss"],
                                                                      rel=1e-5)
    assert weight_gap(tmp_path / "w0" / student, tmp_path / "w1" / student)[0] <= 1e-6  # one model


def test_config_workers_take_the_index_from_the_environment(monkeypatch):
    from mobilepack.compress import CompressConfig, Technique
    from mobilepack.errors import UsageError

    section = {"stages": ["prune"], "data": "train/", "workers": ["h1:2222", "h2:2222"]}
    monkeypatch.setenv("MOBILEPACK_WORKER_INDEX", "1")
    train = CompressConfig.from_section(section).options[Technique.PRUNE].train
    assert (train.workers, train.worker_index) == (("h1:2222", "h2:2222"), 1)
    with pytest.raises(UsageError, match="none is set"):
        CompressConfig.from_section({"workers": ["h1:2222"]})
    with pytest.raises(UsageError, match="'h2' is not host:port"):
        CompressConfig.from_section({**section, "workers": ["h1:2222", "h2"]})


def test_build_workers_without_stages_is_refused(tmp_path):
    result = run_cli("build", MODEL, "-o", tmp_path / "out", "--workers", "h1:2222,h2:2222")
    assert_clean_error(result, 2, "trains the compression stages, but none is set")
    assert not (tmp_path / "out").exists()
