"""Delegates carry behaviour (issue #15): a delegate registered from ONE module with ONE ``register()``
call (``tests/plugins/fenced_delegate.py``) brings its own child environment and its own failure
classification, through ``mobilepack.build`` and the bench engine end to end.

``fenced`` opens a model only where its child environment holds a key that only its behaviour sets,
and refuses a float16 model with a message that only its behaviour reads as ``delegate_refused``
(with its own note).  The negative tests run the same plugin with the default behaviour in its place:
the very assertions of the positive tests then fail, so they can fail."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

import mobilepack
from mobilepack.bench.engine import plan_bench, run_bench
from mobilepack.errors import UsageError
from mobilepack.runtime import delegates
from mobilepack.runtime.behaviour import Behaviour
from tests import task_sources

PLUGIN = Path(__file__).resolve().parent / "plugins" / "fenced_delegate.py"


def _load_plugin(mp: pytest.MonkeyPatch) -> dict:
    """The plugin run inside copies of the delegate registries, so other tests never see it."""
    mp.setattr(delegates, "_REGISTRY", dict(delegates._REGISTRY))
    mp.setattr(delegates, "_OPENERS", dict(delegates._OPENERS))
    mp.setattr(delegates, "_BEHAVIOURS", dict(delegates._BEHAVIOURS))
    return runpy.run_path(str(PLUGIN))


@pytest.fixture(scope="module")
def fenced_build(tmp_path_factory):
    """fp32 and fp16 variants, labelled data (so every delegate is evaluated), cpu and fenced."""
    tmp = tmp_path_factory.mktemp("registry-delegates")
    task_sources.labelled_images(tmp / "eval.npz")
    with pytest.MonkeyPatch.context() as mp:
        plugin = _load_plugin(mp)
        src = task_sources.image_classifier(tmp / "classifier.keras")
        result = mobilepack.build(src, out=str(tmp / "out"), cache_dir=str(tmp / "cache"),
                                  quantize=["fp32", "fp16"], labels=str(task_sources.labels(tmp / "l.txt", 3)),
                                  eval_data=str(tmp / "eval.npz"), delegates=["cpu", "fenced"], runs=3,
                                  warmup=0, threads=[1], target_ci=0)
    return tmp / "out" / "models", result, plugin


def _bench(models: Path, behaviour: Behaviour | None = None) -> dict[str, dict]:
    """The fenced records of a bench of ``models`` (by variant), with ``behaviour`` in place of the plugin's."""
    with pytest.MonkeyPatch.context() as mp:
        _load_plugin(mp)
        if behaviour is not None:
            mp.setitem(delegates._BEHAVIOURS, "fenced", behaviour)
        plan = plan_bench([models], delegates="fenced", runs=3, warmup=0, target_ci=0)
        records = run_bench(plan).records
    return {r["model"]["variant"]: r for r in records}


def _fenced_record_ok(record: dict) -> None:
    assert record["status"] == "ok" and record["runs"] == 3, record


def _fenced_record_refused(record: dict, plugin: dict) -> None:
    assert record["status"] == "failed" and record["failure"] == "delegate_refused", record
    assert record["error"] == plugin["REFUSAL"] and record["note"] == plugin["NOTE"], record


def test_build_gives_the_delegate_its_child_environment(fenced_build):
    _, result, _ = fenced_build
    records = {r["model"]["variant"]: r for r in result.report["bench"]["results"] if r["delegate"] == "fenced"}
    _fenced_record_ok(records["fp32"])
    cells = {(c["mode"], c["delegate"]): c for c in result.report["accuracy"]["cells"]}
    assert cells[("fp32", "fenced")]["status"] == "ok"
    assert cells[("fp32", "fenced")]["accuracy"] == cells[("fp32", "cpu")]["accuracy"]   # the same kernels


def test_build_classifies_the_delegates_refusal_its_own_way(fenced_build):
    _, result, plugin = fenced_build
    records = {r["model"]["variant"]: r for r in result.report["bench"]["results"] if r["delegate"] == "fenced"}
    _fenced_record_refused(records["fp16"], plugin)
    cell = next(c for c in result.report["accuracy"]["cells"] if (c["mode"], c["delegate"]) == ("fp16", "fenced"))
    assert cell["status"] == "failed"
    assert cell["error"] == f"delegate_refused: {plugin['REFUSAL']} ({plugin['NOTE']})", cell
    # the other delegate is untouched by the plugin's behaviour
    cpu = next(r for r in result.report["bench"]["results"] if (r["model"]["variant"], r["delegate"]) == ("fp16", "cpu"))
    assert cpu["status"] == "ok" and cpu["note"] is None


def test_bench_engine_asks_the_delegate(fenced_build):
    models, _, plugin = fenced_build
    records = _bench(models)
    _fenced_record_ok(records["fp32"])
    _fenced_record_refused(records["fp16"], plugin)


def test_without_its_behaviour_the_same_assertions_fail(fenced_build):
    """Negative: the plugin's opener with the default behaviour — no child environment, no reading of
    its refusals — fails every assertion above."""
    models, _, plugin = fenced_build
    records = _bench(models, Behaviour())
    with pytest.raises(AssertionError):
        _fenced_record_ok(records["fp32"])
    assert records["fp32"]["failure"] == "error" and plugin["KEY"] in records["fp32"]["error"]
    with pytest.raises(AssertionError):
        _fenced_record_refused(records["fp16"], plugin)
    assert records["fp16"]["failure"] == "error" and records["fp16"]["note"] is None


def test_environment_alone_does_not_classify_and_classification_alone_does_not_open(fenced_build):
    """Negative, one half at a time: each half of the behaviour is what its assertion sees."""
    models, _, plugin = fenced_build
    env_only = type("EnvOnly", (Behaviour,), {"child_setup": plugin["FencedBehaviour"].child_setup})()
    records = _bench(models, env_only)
    _fenced_record_ok(records["fp32"])
    assert records["fp16"]["failure"] == "error"
    reading_only = type("ReadingOnly", (Behaviour,), {"refusal": plugin["FencedBehaviour"].refusal})()
    assert _bench(models, reading_only)["fp32"]["failure"] == "error"


def test_delegate_refuses_input_shape_in_its_own_words(fenced_build):
    models, _, _ = fenced_build
    with pytest.MonkeyPatch.context() as mp:
        _load_plugin(mp)
        with pytest.raises(UsageError, match="the fence compiles the model's own input shapes"):
            plan_bench([models], delegates="cpu,fenced", input_shapes={"image": (2, 16, 16, 3)})
        plan_bench([models], delegates="cpu", input_shapes={"image": (2, 16, 16, 3)})   # cpu takes it


def test_unregistered_plugin_delegate_is_refused(fenced_build):
    models, _, _ = fenced_build
    assert "fenced" not in delegates.names() and "fenced" not in delegates._BEHAVIOURS
    with pytest.raises(UsageError, match="unknown delegate 'fenced'"):
        plan_bench([models], delegates="fenced")


def test_a_delegate_that_cannot_run_here_is_skipped_in_its_own_words(fenced_build):
    """Its precondition (``ChildSetup.unavailable``, as the GPU's without Vulkan): no child runs, the record
    is a skipped one with the delegate's note, and the build counts the pairs as skipped, not failed."""
    from mobilepack.pipeline.state import Bench
    from mobilepack.runtime.behaviour import ChildSetup

    models, _, plugin = fenced_build
    absent = type("Absent", (plugin["FencedBehaviour"],), {
        "child_setup": lambda self: ChildSetup(unavailable="no fence on this machine",
                                               skipped_note="skipped: no fence")})()
    records = _bench(models, absent)
    for r in records.values():
        assert (r["failure"], r["error"], r["note"], r["runs"]) == ("unavailable", "no fence on this machine",
                                                                    "skipped: no fence", 0), r
    skipped = Bench({"results": list(records.values())}).skipped()
    assert skipped == {("fp32", "fenced"), ("fp16", "fenced")}
    assert Bench({"results": list(_bench(models).values())}).skipped() == frozenset()
