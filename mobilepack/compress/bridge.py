"""Moving a Keras 3 model to the tf-keras worker and its weights back.

``tensorflow-model-optimization`` only works with tf-keras (Keras 2), and importing
it switches the process to tf-keras.  So the parent (Keras 3) process describes the
model as a neutral graph (layer configs + how they are called) plus per-layer
weights, a child process with ``TF_USE_LEGACY_KERAS=1`` rebuilds it in tf-keras,
trains, and hands back per-layer weights (and, for QAT, a SavedModel), which the
parent loads into a fresh copy of the original Keras 3 model.

Supported: Sequential and functional models of standard Keras layers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mobilepack.compress.errors import SUPPORTED_MODELS, TrainingError, UnsupportedModel
from mobilepack.errors import MobilepackError
from mobilepack.progress import ProgressEvent

_GRAPH_CLASSES = ("Sequential", "Functional")


def describe_graph(model) -> dict[str, Any]:
    """A JSON-able description of a Sequential/functional Keras 3 model."""
    kind = type(model).__name__
    if kind not in _GRAPH_CLASSES:
        raise UnsupportedModel(f"{kind} is a subclassed Keras model; pruning, clustering and QAT need {SUPPORTED_MODELS}",
                               "rebuild it as a keras.Sequential or functional keras.Model, or use "
                               "`mobilepack compress distill`, which trains any Keras model")
    for layer in model.layers:
        cls = type(layer)
        if hasattr(layer, "layers"):
            raise UnsupportedModel(f"layer {layer.name!r} is a nested model ({cls.__name__})",
                                   f"flatten it into one model; supported: {SUPPORTED_MODELS}")
        if not cls.__module__.startswith("keras.") or cls.__name__ == "Lambda":
            raise UnsupportedModel(f"layer {layer.name!r} is a custom layer ({cls.__module__}.{cls.__name__})",
                                   f"tensorflow-model-optimization runs on tf-keras; supported: {SUPPORTED_MODELS}")
    config = model.get_config()
    if kind == "Sequential":
        layers, previous = [], None
        for entry in config["layers"]:
            name = entry["config"]["name"]
            calls = [] if previous is None else [{"args": [_tensor_ref(previous)], "kwargs": {}}]
            if previous is None and entry["class_name"] != "InputLayer":
                raise UnsupportedModel("this Sequential model has no Input", "start it with keras.Input(shape=...)")
            layers.append({"name": name, "class_name": entry["class_name"], "config": entry["config"],
                           "calls": calls})
            previous = name
        return {"name": config.get("name", "model"), "layers": layers, "outputs": [[previous, 0, 0]]}
    layers = [{"name": e["name"], "class_name": e["class_name"], "config": e["config"],
               "calls": e.get("inbound_nodes", [])} for e in config["layers"]]
    outputs = config["output_layers"]
    if outputs and not isinstance(outputs[0], list):
        outputs = [outputs]
    return {"name": config.get("name", "model"), "layers": layers, "outputs": outputs}


def _tensor_ref(layer_name: str) -> dict:
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [layer_name, 0, 0]}}


def layer_weights(model) -> dict[str, Any]:
    """``{"layer:i": array}`` for every weight of every layer (Keras 3 or tf-keras)."""
    return {f"{layer.name}:{i}": w for layer in model.layers for i, w in enumerate(layer.get_weights())}


def assign_weights(model, stored: dict[str, Any], mismatch: MobilepackError) -> None:
    """Set each layer's weights from ``stored`` (see :func:`layer_weights`), checking shapes;
    raise ``mismatch`` (with the layer named) when they do not fit."""
    for layer in model.layers:
        current = layer.get_weights()
        if not current:
            continue
        new = [stored.get(f"{layer.name}:{i}") for i in range(len(current))]
        if any(w is None or w.shape != c.shape for w, c in zip(new, current)):
            raise type(mismatch)(mismatch.message.format(layer=layer.name), mismatch.hint)
        layer.set_weights(new)


def save_weights(model, path: Path) -> None:
    import numpy as np

    np.savez(path, **layer_weights(model))


def load_weights(model, path: Path) -> None:
    """Set the Keras 3 ``model``'s weights from the worker's output."""
    import numpy as np

    with np.load(path, allow_pickle=False) as z:
        stored = {k: z[k] for k in z.files}
    assign_weights(model, stored, TrainingError("the trained weights of layer {layer!r} do not match the Keras 3 "
                                                "model", "report this with the model"))


def run_worker(job_dir: Path, emit, *, what: str) -> dict[str, Any]:
    """Run the tf-keras worker on ``job_dir``; forward its progress; return its result."""
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"),
               PYTHONUNBUFFERED="1")
    progress_file = job_dir / "progress.jsonl"
    log_path = job_dir / "worker.log"
    from mobilepack.model.tfimport import is_verbose

    with open(log_path, "wb") as log:
        sink = {} if is_verbose() else {"stdout": log, "stderr": subprocess.STDOUT}  # --verbose: the worker's log live
        proc = subprocess.Popen([sys.executable, "-m", "mobilepack.compress.worker", str(job_dir)],
                                stdin=subprocess.DEVNULL, env=env, **sink)
        seen = 0
        try:
            while True:
                done = proc.poll() is not None
                seen = _forward(progress_file, seen, emit, what)
                if done:
                    break
                time.sleep(0.3)
        except BaseException:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
    error_file = job_dir / "error.json"
    if error_file.is_file():
        err = json.loads(error_file.read_text(encoding="utf-8"))
        raise MobilepackError(err["message"], err.get("hint", ""), exit_code=int(err.get("exit_code", 1)))
    if proc.returncode != 0 or not (job_dir / "result.json").is_file():
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or ["see its log"]
        raise TrainingError(f"the {what} worker failed (exit status {proc.returncode}): {tail[0][:300]}",
                            "rerun with --verbose, or report it with the model")
    return json.loads((job_dir / "result.json").read_text(encoding="utf-8"))


def _forward(path: Path, seen: int, emit, what: str) -> int:
    if not path.is_file():
        return seen
    text = path.read_text(encoding="utf-8")
    complete = text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]
    for line in complete[seen:]:
        event = json.loads(line)
        emit(ProgressEvent(what, event["message"], event.get("current"), event.get("total")))
    return len(complete)
