"""The error each quantized op adds against float, per layer, ranked.

Two sources, one record (:class:`LayerError`):

* ``numeric-verify`` — TensorFlow's ``tf.lite.experimental.QuantizationDebugger``: the
  debug model runs every quantized op beside its float twin *on the same (dequantized)
  inputs*, so the error is the one that op adds by itself.  :func:`from_debugger_csv`
  reads the debugger's own ``layer_statistics_dump``.
* ``tensor-compare`` — for a ``.tflite`` source there is no TensorFlow graph: the float and
  the quantized ``.tflite`` both run in the real LiteRT runtime with every intermediate
  tensor preserved, and each quantized op output is compared with the float tensor of the
  same name (:func:`compare_tensors`).  That error is cumulative (it includes what the
  ops before it added), so ``added`` subtracts the largest error among the op's inputs.

The metric is the debugger's: RMSE between the dequantized and the float tensor divided
by the tensor's quantization scale.  Pure rounding gives 1/sqrt(12) ≈ 0.289; a layer
several times above that is where int8 breaks.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from pathlib import Path
from dataclasses import dataclass, replace
from typing import Any

ROUNDING_RMSE_OVER_SCALE = 1 / math.sqrt(12)   # the error of rounding alone, in units of scale


@dataclass(frozen=True)
class LayerError:
    op: str                  # builtin op name, e.g. FULLY_CONNECTED
    tensor: str              # the op's output tensor: the node name a denylist takes
    tensor_index: int
    elements: int
    rmse: float
    scale: float
    rmse_over_scale: float   # the ranking key
    max_abs_error: float
    method: str              # "numeric-verify" | "tensor-compare"
    added: float | None = None   # tensor-compare: rmse/scale above the worst input's (None: numeric-verify)
    rank: int = 0            # 1 = the worst layer

    @property
    def key(self) -> float:
        return self.added if self.added is not None else self.rmse_over_scale

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "op": self.op, "tensor": self.tensor, "tensor_index": self.tensor_index,
                "elements": self.elements, "rmse": _finite(self.rmse), "scale": _finite(self.scale),
                "rmse_over_scale": _finite(self.rmse_over_scale), "max_abs_error": _finite(self.max_abs_error),
                "added": _finite(self.added) if self.added is not None else None, "method": self.method}


def _finite(x: float) -> float:
    return round(float(x), 6) if math.isfinite(x) else float("inf") if x > 0 else 0.0


def ranked(layers: Iterable[LayerError]) -> list[LayerError]:
    """Worst first (by the error the op adds); ties keep graph order."""
    items = sorted(enumerate(layers), key=lambda p: (-p[1].key, p[0]))
    return [replace(layer, rank=i + 1) for i, (_, layer) in enumerate(items)]


def from_debugger_csv(text: str) -> list[LayerError]:
    """Rows of ``QuantizationDebugger.layer_statistics_dump`` -> ranked layer errors."""
    out = []
    for row in csv.DictReader(io.StringIO(text)):
        scale = float(row["scale"])
        mse = float(row["mean_squared_error"])
        rmse = math.sqrt(max(mse, 0.0)) if math.isfinite(mse) else float("inf")
        out.append(LayerError(op=row["op_name"], tensor=row["tensor_name"], tensor_index=int(row["tensor_idx"]),
                              elements=int(float(row["num_elements"])), rmse=rmse, scale=scale,
                              rmse_over_scale=rmse / scale if scale > 0 else float("inf"),
                              max_abs_error=float(row["max_abs_error"]), method="numeric-verify"))
    return ranked(out)


def _interpreter(model: bytes):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from mobilepack.errors import RuntimeFailure

    try:
        it = Interpreter(model_content=model, experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        it.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise RuntimeFailure(f"LiteRT cannot load the model: {str(exc).strip().splitlines()[0]}",
                             "run `mobilepack inspect` on it to see unsupported ops") from exc
    return it


def _feed(it, batch: dict[str, Any]) -> None:
    import numpy as np

    details = it.get_input_details()
    values = list(batch.values())
    for i, d in enumerate(details):
        x = np.asarray(batch.get(d["name"], values[i] if i < len(values) else None))
        dtype = np.dtype(d["dtype"])
        scale, zp = d["quantization"]
        if np.issubdtype(dtype, np.integer) and scale:
            info = np.iinfo(dtype)
            x = np.clip(np.rint(x.astype(np.float64) / scale + zp), info.min, info.max)
        it.set_tensor(d["index"], x.astype(dtype))


def compare_tensors(float_model: bytes, quant_model: bytes, batches: Iterable[dict[str, Any]]) -> list[LayerError]:
    """Run both models in LiteRT (reference kernels, all tensors kept) on ``batches`` and compare
    every quantized op output with the float tensor of the same name and shape."""
    import numpy as np

    from mobilepack.model.tfimport import silenced

    with silenced():
        f_it, q_it = _interpreter(float_model), _interpreter(quant_model)
    f_by_name = {d["name"]: d for d in f_it.get_tensor_details()}
    q_details = {d["index"]: d for d in q_it.get_tensor_details()}
    pairs = []   # (op name, quant tensor detail, float tensor index, quant input indices)
    for op in q_it._get_ops_details():  # noqa: SLF001 - the interpreter's op table, as the TF debugger reads it
        if op["op_name"] in ("QUANTIZE", "DEQUANTIZE"):
            continue
        for out_idx in op["outputs"]:
            q = q_details.get(int(out_idx))
            if q is None or not np.issubdtype(np.dtype(q["dtype"]), np.integer):
                continue
            scales = q["quantization_parameters"]["scales"]
            f = f_by_name.get(q["name"])
            if (not len(scales) or f is None or tuple(f["shape"]) != tuple(q["shape"])
                    or not np.issubdtype(np.dtype(f["dtype"]), np.floating)):
                continue
            pairs.append((op["op_name"], q, f["index"], [int(i) for i in op["inputs"] if i >= 0]))
    sums = {q["index"]: [0.0, 0.0, 0] for _, q, _, _ in pairs}   # squared error, max abs, count
    for batch in batches:
        _feed(f_it, batch)
        _feed(q_it, batch)
        f_it.invoke()
        q_it.invoke()
        for _, q, f_index, _ in pairs:
            scale = float(q["quantization_parameters"]["scales"][0])
            zp = int(q["quantization_parameters"]["zero_points"][0])
            deq = (q_it.get_tensor(q["index"]).astype(np.float64) - zp) * scale
            diff = deq - f_it.get_tensor(f_index).astype(np.float64)
            acc = sums[q["index"]]
            acc[0] += float((diff ** 2).sum())
            acc[1] = max(acc[1], float(np.abs(diff).max()) if diff.size else 0.0)
            acc[2] += diff.size
    by_index: dict[int, float] = {}
    layers = []
    for op_name, q, _, inputs in pairs:
        sq, mx, n = sums[q["index"]]
        scale = float(q["quantization_parameters"]["scales"][0])
        rmse = math.sqrt(sq / n) if n else 0.0
        ros = rmse / scale if scale > 0 else float("inf")
        by_index[q["index"]] = ros
        before = max((by_index.get(i, 0.0) for i in inputs), default=0.0)
        layers.append(LayerError(op=op_name, tensor=q["name"], tensor_index=int(q["index"]),
                                 elements=int(np.prod(q["shape"])) if len(q["shape"]) else 1, rmse=rmse,
                                 scale=scale, rmse_over_scale=ros, max_abs_error=mx, method="tensor-compare",
                                 added=max(ros - before, 0.0)))
    return ranked(layers)


def diagnose_files(quantized: str | Path, float_model: str | Path, data: str | None = None,
                   samples: int = 32) -> dict[str, Any]:
    """``mobilepack inspect QUANT.tflite --against FLOAT.tflite [--data D]``: the tensor comparison
    of two files, without TensorFlow.  ``data`` is read for the float model's inputs (default:
    seeded random inputs, which only say something about the ranking)."""
    from mobilepack.data.readers import RANDOM, read_samples
    from mobilepack.errors import InputError, UsageError
    from mobilepack.model.loading import load

    for p in (quantized, float_model):
        if not Path(p).is_file():
            raise InputError(f"model not found: {p}", "pass the path of a .tflite file")
    src = load(str(float_model))
    qsrc = load(str(quantized))
    f_in = {t.name: t.shape for t in src.spec.inputs}
    q_in = {t.name: t.shape for t in qsrc.spec.inputs}
    if f_in != q_in:
        raise UsageError(f"--against {float_model}: its inputs {f_in} differ from {quantized}'s {q_in}",
                         "pass the float .tflite this variant was quantized from")
    if data is not None and data != RANDOM and not Path(data).exists():
        raise InputError(f"--data not found: {data}", "pass a folder of images, a .npy or a .npz file")
    batches = read_samples(data or RANDOM, src.spec, limit=samples, what="inspect").batches
    layers = compare_tensors(src.tflite_bytes, qsrc.tflite_bytes, batches)
    if not layers:
        raise UsageError(f"no quantized op output of {quantized} matches a tensor of {float_model} by name and shape",
                         "pass the float .tflite this variant was quantized from (mobilepack convert writes both)")
    return {"against": str(float_model), "method": "tensor-compare", "data": data or RANDOM,
            "samples": sum(int(next(iter(b.values())).shape[0]) for b in batches),
            "layers": [layer.to_dict() for layer in layers]}
