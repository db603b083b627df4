"""A second converter process (``conversion/parallel.py``, ``--jobs``) makes exactly the bytes the
parent would: TFLiteConverter's own, from the same fixed-shape SavedModel and the same calibration
samples in the same order.  Its refused modes come back as the same recorded failures
(tests/test_build_failed_modes.py runs its build with ``--jobs 2`` too)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import assert_clean_error, run_cli

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "examples" / "digits"


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.tflite"))}


def test_the_child_converts_the_same_bytes_as_the_parent(digits_model, tmp_path):
    common = ["--quantize", "dynamic,int8,int16x8", "--calibration", str(DIGITS / "calibration"),
              "--calibration-samples", "24", "--json"]
    one = run_cli("convert", str(digits_model), "-o", str(tmp_path / "one"), "--jobs", "1", *common, timeout=600)
    two = run_cli("convert", str(digits_model), "-o", str(tmp_path / "two"), "--jobs", "2", *common, timeout=600)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert _hashes(tmp_path / "one") == _hashes(tmp_path / "two") and len(_hashes(tmp_path / "one")) == 3
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    assert [v["mode"] for v in b["variants"]] == ["dynamic", "int8", "int16x8"]   # the order asked for
    assert [v["validation"] for v in a["variants"]] == [v["validation"] for v in b["variants"]]
    assert a["options"]["jobs"] == "1" and b["options"]["jobs"] == "2"
    # --jobs 2 handed its request to the child started ahead (warm_child); where that one is gone, a
    # new child is started and makes the same bytes
    from mobilepack.conversion import parallel
    from mobilepack.pipeline.convert_command import convert

    dead = parallel.warm_child(str(digits_model), "2", ("dynamic", "int8"))
    parallel.close_warm(dead)
    assert dead.poll() is not None
    real = parallel.warm_child
    parallel.warm_child = lambda *args: dead
    try:
        convert(str(digits_model), tmp_path / "three", quantize="dynamic,int8,int16x8", jobs="2",
                calibration=str(DIGITS / "calibration"), calibration_samples=24)
    finally:
        parallel.warm_child = real
    assert _hashes(tmp_path / "three") == _hashes(tmp_path / "one")


@pytest.mark.parametrize("jobs", ["3", "0", "many"])
def test_jobs_other_than_one_two_or_auto_is_refused(digits_model, tmp_path, jobs):
    r = run_cli("convert", str(digits_model), "-o", str(tmp_path / "c"), "--jobs", jobs)
    assert_clean_error(r, 2, "--jobs must be 1, 2 or auto")
    assert not (tmp_path / "c").exists()


def test_auto_keeps_small_models_and_short_calibrations_in_one_process(tmp_path):
    from mobilepack.conversion.parallel import MAX_WEIGHTS, MIN_WEIGHTS, plan_jobs

    modes = ("fp32", "fp16", "dynamic", "int8", "int8-mixed")
    (tmp_path / "variables").mkdir()
    weights = tmp_path / "variables" / "variables.data-00000-of-00001"
    for size, seconds, child in ((MIN_WEIGHTS // 2, 5.0, ()), (MIN_WEIGHTS * 2, 0.2, ()),
                                 (MIN_WEIGHTS * 2, 5.0, ("int8",)), (MAX_WEIGHTS * 2, 5.0, ())):
        with open(weights, "wb") as f:
            f.truncate(size)
        assert plan_jobs("auto", tmp_path, modes, seconds) == child, (size, seconds)
        assert plan_jobs("1", tmp_path, modes, seconds) == ()
        assert plan_jobs("2", tmp_path, modes, 0.0) == ("int8",)
    assert plan_jobs("2", tmp_path, ("fp32", "fp16", "dynamic"), 0.0) == ("fp16", "dynamic")   # no calibrated mode
    with open(weights, "wb") as f:
        f.truncate(MIN_WEIGHTS * 2)
    assert plan_jobs("auto", tmp_path, modes, 0.2, warm=True) == ("int8",)   # its start is paid already


def test_a_child_is_started_ahead_only_where_it_may_be_used(tmp_path):
    """warm_child: not for --jobs 1, one mode, or (auto) weights under MIN_WEIGHTS; always for --jobs 2.
    A warm child that is never given a request is ended by close_warm."""
    from mobilepack.conversion.parallel import MIN_WEIGHTS, close_warm, warm_child

    (tmp_path / "variables").mkdir()
    with open(tmp_path / "variables" / "variables.data-00000-of-00001", "wb") as f:
        f.truncate(MIN_WEIGHTS // 2)
    modes = ("fp32", "int8")
    assert warm_child(tmp_path, "auto", modes) is None and warm_child(tmp_path, "1", modes) is None
    assert warm_child(tmp_path, "2", ("int8",)) is None
    with open(tmp_path / "variables" / "variables.data-00000-of-00001", "wb") as f:
        f.truncate(MIN_WEIGHTS * 2)
    for jobs in ("auto", "2"):
        proc = warm_child(tmp_path, jobs, modes)
        assert proc is not None and proc.poll() is None
        close_warm(proc)
        assert proc.poll() is not None


def _hold_parent_until_claimed(monkeypatch, mode: str, then=None) -> list:
    """Patch the parent so that fp32's validation waits until the child has claimed ``mode`` (then
    calls ``then(child)``); returns the list the ChildConverter made is appended to."""
    import time

    from mobilepack.conversion import parallel, validation

    children = []
    real_init, real_validate = parallel.ChildConverter.__init__, validation.validate_variant

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        children.append(self)

    def validate(name, *args, **kwargs):
        deadline = time.monotonic() + 120
        while name == "fp32" and not (children[0].root / f"{mode}.claim").exists():
            assert time.monotonic() < deadline, "the child never claimed the parent's spare mode"
            time.sleep(0.005)
        if name == "fp32" and then is not None:
            then(children[0])
        return real_validate(name, *args, **kwargs)

    monkeypatch.setattr(parallel.ChildConverter, "__init__", init)
    monkeypatch.setattr(validation, "validate_variant", validate)
    return children


def test_the_child_takes_a_mode_the_parent_has_not_begun(digits_model, tmp_path, monkeypatch):
    """Once its own modes are done, the child converts the parent's last mode if the parent has not
    claimed it yet (here the parent is held in fp32's validation until the child has claimed dynamic):
    the parent takes that mode from the child, after the others, and the bytes are the parent's own.
    Without the child's claim the test fails on the wait."""
    from mobilepack.conversion import parallel
    from mobilepack.pipeline.convert_command import convert

    common = dict(quantize="fp32,dynamic,int8", calibration=str(DIGITS / "calibration"), calibration_samples=24)
    convert(str(digits_model), tmp_path / "one", jobs="1", **common)
    taken = []
    real_take = parallel.ChildConverter.take

    def take(self, mode):
        taken.append(mode)
        return real_take(self, mode)

    children = _hold_parent_until_claimed(monkeypatch, "dynamic")
    monkeypatch.setattr(parallel.ChildConverter, "take", take)
    result = convert(str(digits_model), tmp_path / "two", jobs="2", **common)
    assert children[0].spare == ("dynamic", "fp32") and taken == ["int8", "dynamic"]
    assert [v.mode for v in result.variants] == ["fp32", "dynamic", "int8"]
    assert _hashes(tmp_path / "two") == _hashes(tmp_path / "one")


def test_weights_count_each_variable_once(tmp_path):
    """A Keras-exported SavedModel stores every variable twice; the plan counts the model's own weights."""
    import numpy as np

    from mobilepack.model.loading import load
    from tests.models import keras as _keras

    keras = _keras()
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256), keras.layers.Dense(10)])
    model.export(str(tmp_path / "sm"), verbose=False)
    params = int(sum(np.prod(w.shape) for w in model.weights))
    src = load(str(tmp_path / "sm"))
    on_disk = sum(p.stat().st_size for p in (tmp_path / "sm" / "variables").glob("*"))
    assert src.weight_bytes() == 4 * params and on_disk > 1.9 * 4 * params
    assert load(model).weight_bytes() == 4 * params
    src.release()
    assert src._saved_model is None and src._signature_fn is None


def test_a_mode_the_child_took_and_never_answered_is_converted_by_the_parent(digits_model, tmp_path, monkeypatch):
    """The child claims the parent's spare mode and is killed before it answers: the parent converts
    that mode itself (same bytes as --jobs 1) instead of recording it as failed."""
    from mobilepack.pipeline.convert_command import convert
    from mobilepack.runtime.child import kill_group

    common = dict(quantize="fp32,dynamic,int8", calibration=str(DIGITS / "calibration"), calibration_samples=24)
    convert(str(digits_model), tmp_path / "one", jobs="1", **common)
    killed = []

    def kill(child):
        kill_group(child.proc)
        killed.append(not (child.root / "dynamic.json").exists())

    _hold_parent_until_claimed(monkeypatch, "dynamic", then=kill)
    result = convert(str(digits_model), tmp_path / "two", jobs="2", **common)
    if not killed[0]:
        pytest.skip("the child answered for dynamic before it could be killed")
    assert [v.mode for v in result.variants] == ["fp32", "dynamic", "int8"] and not result.failed
    assert _hashes(tmp_path / "two") == _hashes(tmp_path / "one")


def test_sized_packing_writes_the_converters_own_bytes(digits_model, tmp_path, monkeypatch):
    """Each conversion packs TFLiteConverter's result with a Builder sized up front
    (``conversion.converter.sized_packing``): the bytes TFLiteConverter writes without it, in a float,
    a weight-only and a calibrated mode."""
    import contextlib

    import numpy as np

    from mobilepack.conversion import converter
    from mobilepack.conversion.quantization import ConverterOptions
    from mobilepack.model.loading import load

    saved = load(str(digits_model)).export_saved_model(tmp_path / "saved")
    shape = (1, 32, 32, 3)
    samples = [np.random.default_rng(i).random(shape, dtype=np.float32) for i in range(8)]

    def convert(mode):
        return converter.convert_saved_model(saved, mode, options=ConverterOptions(), representative=lambda: ([s] for s in samples))

    sized = {m: convert(m) for m in ("fp32", "dynamic", "int8")}
    with monkeypatch.context() as m:
        m.setattr(converter, "sized_packing", contextlib.nullcontext)
        plain = {mode: convert(mode) for mode in sized}
    assert {m: hashlib.sha256(d).hexdigest() for m, d in sized.items()} == \
        {m: hashlib.sha256(d).hexdigest() for m, d in plain.items()}
    # the packing is TensorFlow's serialization: a different one would show here
    from tensorflow.lite.tools import flatbuffer_utils

    with converter.sized_packing():
        assert flatbuffer_utils.convert_object_to_bytearray.__module__ == converter.__name__
    assert flatbuffer_utils.convert_object_to_bytearray.__module__ != converter.__name__
