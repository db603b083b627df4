"""A .tflite's inputs and outputs by name, with or without a SignatureDef.

Naming rule (docs/cli/index.md, "Input and output names"):

* a model with SignatureDefs is named by its ``serving_default`` signature, else by the first
  signature key in sorted order: the signature's input/output names;
* a model without one (most third-party files: every MediaPipe model) is named by subgraph 0's
  input and output tensors, in the subgraph's order: each tensor's own name, except that an empty
  name, or one that two inputs (or two outputs) share, becomes ``input_<i>`` / ``output_<i>``
  (``i``: its position among the inputs / outputs; ``_`` appended while another tensor has that name).

The rule depends only on the file, so every command gives a file's tensors the same names.
``model.tflite_edit.with_signature`` writes them into the model as a ``serving_default`` SignatureDef
(what AI Edge Quantizer needs to calibrate); a variant quantized from a signature-less source keeps
it, and so answers to the same names as its source."""

from __future__ import annotations

from typing import Any

SERVING = "serving_default"


def signature_key(signatures: dict) -> str | None:
    """The signature a model is run by (None: it has none)."""
    if not signatures:
        return None
    return SERVING if SERVING in signatures else sorted(signatures)[0]


def positional_names(names: list[str], prefix: str) -> list[str]:
    """Tensor names as the rule gives them: empty or shared names become ``<prefix>_<i>``, with ``_``
    appended while another tensor's own name already is that."""
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    kept = {n for n in names if n and counts[n] == 1}
    out = []
    for i, n in enumerate(names):
        if n not in kept:
            n = f"{prefix}_{i}"
            while n in kept:
                n += "_"
            kept.add(n)
        out.append(n)
    return out


class Runner:
    """Run an allocated LiteRT ``Interpreter`` by name, by its signature or by the naming rule.

    ``inputs``/``outputs``: name -> tensor details (in the signature's or the subgraph's order);
    calling it with ``name=array`` feeds, invokes and returns ``{name: array}``."""

    def __init__(self, it) -> None:
        self.it = it
        sigs = it.get_signature_list()
        self.key = signature_key(sigs)
        if self.key is not None:
            self._runner = it.get_signature_runner(self.key)
            ins, outs = self._runner.get_input_details(), self._runner.get_output_details()
            self.inputs = {n: ins[n] for n in sigs[self.key]["inputs"]}
            self.outputs = {n: outs[n] for n in sigs[self.key]["outputs"]}
            return
        self._runner, self._allocated = None, False
        ins, outs = it.get_input_details(), it.get_output_details()
        self.inputs = dict(zip(positional_names([d["name"] for d in ins], "input"), ins))
        self.outputs = dict(zip(positional_names([d["name"] for d in outs], "output"), outs))

    def __call__(self, **feeds: Any) -> dict[str, Any]:
        import numpy as np

        if self._runner is not None:
            return self._runner(**feeds)
        missing = [n for n in self.inputs if n not in feeds]
        if missing:
            raise ValueError(f"missing input(s) {', '.join(missing)}")
        current = {d["index"]: tuple(int(x) for x in d["shape"]) for d in self.it.get_input_details()}
        resized = not self._allocated
        for name, d in self.inputs.items():   # a new shape resizes, as a signature runner does
            shape = tuple(np.shape(feeds[name]))
            if current[d["index"]] != shape:
                self.it.resize_tensor_input(d["index"], list(shape), strict=True)
                resized = True
        if resized:
            self.it.allocate_tensors()
            self._allocated = True
        for name, d in self.inputs.items():
            self.it.set_tensor(d["index"], np.asarray(feeds[name], dtype=d["dtype"]))
        self.it.invoke()
        return {name: self.it.get_tensor(d["index"]) for name, d in self.outputs.items()}
