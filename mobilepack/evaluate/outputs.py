"""How a session's outputs become the task's predictions: the evaluation child's reading of a
session (its inputs and outputs, named and in order: :func:`signature_view`) and its reduction of
every sample's outputs (:func:`reduce_runs`).  Shared by the child (``evaluate.accuracy``) and by
the cells made from outputs computed earlier (``evaluate.reuse``), so both read outputs alike."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def signature_view(session, model_path: str):
    """Per session input and output, in the session's order: its signature name, (scale, zero
    point) and shape after allocation, whatever the session kind."""
    from ai_edge_litert.interpreter import Interpreter

    from mobilepack.runtime.tensor_io import Runner

    it = getattr(session, "it", None)
    if it is None:
        it = Interpreter(model_path=model_path)
        it.allocate_tensors()
    runner = Runner(it)   # signature names, or the naming rule's for a model without a signature
    in_details, out_details = runner.inputs, runner.outputs

    def quant(d) -> tuple[float, int]:
        q = d.get("quantization") or (0.0, 0)
        return float(q[0]), int(q[1])

    in_by_index = {d["index"]: (name, d) for name, d in in_details.items()}
    inputs = []
    for i, info in enumerate(session.inputs):
        if "index" in info and info["index"] in in_by_index:       # interpreter sessions: tensor index
            name, d = in_by_index[info["index"]]
        elif info.get("name") in in_details:                       # GPU sessions: signature names
            name, d = info["name"], in_details[info["name"]]
        else:
            name, d = info.get("name", f"input{i}"), info
        inputs.append((name, quant(d)))
    outputs = []
    if getattr(session, "it", None) is not None:                   # interpreter sessions: tensor order
        out_by_index = {d["index"]: (name, d) for name, d in out_details.items()}
        for d in it.get_output_details():
            name, sd = out_by_index.get(d["index"], (d["name"], d))
            outputs.append((name, quant(sd), [int(x) for x in it.get_tensor(d["index"]).shape]))
    else:                                                          # GPU sessions: signature order
        for d_name in out_details:
            d = out_details[d_name]
            outputs.append((d_name, quant(d), [int(x) for x in it.get_tensor(d["index"]).shape]))
    return inputs, outputs


def reduce_runs(evaluator, hints: dict, outs, runs: Iterable[list]) -> dict[str, Any]:
    """The task's predictions over every sample: ``outs`` are ``(name, (scale, zero point), shape)``
    per output in the session's order (``accuracy._signature_view``), ``runs`` each sample's outputs
    in that order.  Raises the evaluator's ``LayoutError``."""
    import numpy as np

    collected: dict[str, list] = {}
    for values in runs:
        named = []
        for (name, (scale, zp), shape), y in zip(outs, values):
            y = np.asarray(y)
            if y.size == int(np.prod(shape)):
                y = y.reshape(shape)                               # GPU buffers come back flat
            y = y.astype(np.float64)
            if scale:
                y = (y - zp) * scale
            named.append((name, y))
        for k, v in evaluator.reduce(named, hints).items():
            collected.setdefault(k, []).append(np.asarray(v))
    return {k: np.concatenate(v) for k, v in collected.items()}
