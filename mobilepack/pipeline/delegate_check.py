"""The delegate doctor in ``build``: the accuracy matrix's disagreements explained.

When two delegates score one variant differently in the accuracy matrix (``evaluate.accuracy``:
``disagreements``, on the samples both ran) by more than the task's tolerance — the largest drop
of the task's labelled metric selection accepts, ``max_accuracy_drop`` — the delegate doctor
(:mod:`mobilepack.runtime.departure`) compares the delegates op by op on the evaluation sample
where their predictions differ most, and names the first op and the delegate that departs.

The stage is bounded (:data:`DOCTOR_SECONDS` for every variant together; a search cut short
says so) and cached like the others: its key is the evaluation's, the tolerance and the budget."""

from __future__ import annotations

import time

from mobilepack.cache import make_key
from mobilepack.pipeline.caching import LAYOUT, cached, json_codec
from mobilepack.pipeline.state import Departures
from mobilepack.progress import ProgressEvent

DOCTOR_VERSION = 1
DOCTOR_SECONDS = 120.0   # the whole stage: every variant's search together


def triggers(accuracy: dict, tolerance: float) -> dict[str, dict]:
    """mode -> the widest disagreement of two delegates on it beyond ``tolerance``, with its gap."""
    found: dict[str, dict] = {}
    for d in accuracy.get("disagreements", []):
        a, b = d["delegates"]
        gap = abs(d["scores"][a] - d["scores"][b])
        if gap > tolerance + 1e-9 and gap > found.get(d["mode"], {}).get("gap", -1.0):
            found[d["mode"]] = {**d, "gap": gap, "tolerance": tolerance, "metric": accuracy.get("metric")}
    return found


def explanation(trigger: dict, diagnosis: dict) -> str:
    """One line: the matrix's gap and who departs where."""
    a, b = trigger["delegates"]
    metric = trigger.get("metric") or "accuracy"
    return (f"{a} {trigger['scores'][a]:.4f} vs {b} {trigger['scores'][b]:.4f} {metric} on {trigger['samples']} "
            f"samples (more than {trigger['tolerance']:g} apart); delegate doctor on sample {trigger['sample']}: "
            f"{diagnosis['message']}")


def delegate_check_stage(state, options) -> Departures:
    """Nothing to do (and no cache entry) unless the matrix shows a disagreement beyond the tolerance."""
    if not triggers(state.accuracy.document, options.max_accuracy_drop):
        return Departures({})
    return _diagnose(state, options)


def _key(state, options) -> str:
    from mobilepack.pipeline.measure import evaluate_key

    return make_key("delegates", LAYOUT, DOCTOR_VERSION, evaluate_key(state, options), options.max_accuracy_drop,
                    DOCTOR_SECONDS)


def doctor_delegates(names) -> list:
    """The matrix's host delegates, plus the CPU kernels, XNNPACK and the GPU as voters (a majority
    says who departs; one that cannot run here is skipped by the doctor)."""
    from mobilepack.bench.departures import doctor_delegates as with_voters
    from mobilepack.runtime import delegates as registry

    return with_voters([registry.get(n) for n in dict.fromkeys([*names, "gpu"]) if n in registry.names()])


@cached("delegates", _key, json_codec(Departures))
def _diagnose(state, options) -> Departures:
    from mobilepack.pipeline.measure import evaluation_samples
    from mobilepack.runtime.departure import diagnose, feeds_from_batch

    found = triggers(state.accuracy.document, options.max_accuracy_drop)
    samples = evaluation_samples(state, options)[1]
    chosen = doctor_delegates(options.bench.delegates)
    deadline = time.monotonic() + DOCTOR_SECONDS
    out = {}
    for i, (mode, trigger) in enumerate(found.items()):
        state.emit(ProgressEvent("delegates", f"delegate doctor on {mode}", i, len(found)))
        left = deadline - time.monotonic()
        path = state.models.variant(mode).path
        feeds = feeds_from_batch(path.read_bytes(), _sample(samples, trigger["sample"]))
        diagnosis = diagnose(path, chosen, feeds=feeds, budget=max(left, 0.0), timeout=max(min(left, 120.0), 1.0),
                             progress=lambda text: state.emit(ProgressEvent("delegates", f"{mode}: {text}")))
        doc = diagnosis.to_dict()
        doc["model"] = path.name
        out[mode] = {**doc, "trigger": trigger, "explanation": explanation(trigger, doc)}
    return Departures(out)


def _sample(samples, index: int) -> dict:
    """Sample ``index`` of ``samples`` (batches of equal size, in order) as a batch of one."""
    per = max(1, samples.count // max(1, len(samples.batches)))
    batch = samples.batches[index // per]
    return {name: values[index % per:index % per + 1] for name, values in batch.items()}
