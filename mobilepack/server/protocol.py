"""TensorFlow Serving's REST predict format, checked: a request body in, typed arrays out, or a
:class:`RequestError` with an HTTP status and one clear message.

``POST /v1/models/NAME:predict`` with ``{"instances": [...]}`` (row format: one entry per sample; a
dict per sample for several inputs) or ``{"inputs": ...}`` (columnar: the whole batch per input).  The
answer is ``{"predictions": [...]}`` or ``{"outputs": ...}`` as TF Serving gives it; an error is
``{"error": "..."}`` as TF Serving gives it.  Pure functions over bytes and numpy, so the replica and
the tests share them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

PREDICT_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?::(?P<verb>[a-z]+))?$")


class RequestError(Exception):
    """A request the server refuses: ``status`` (4xx) and one line saying what is wrong."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class TensorInfo:
    """One signature input or output: its name, its shape per sample (batch dimension left out;
    ``None`` for a dimension of any size) and its numpy dtype name."""

    name: str
    sample_shape: tuple[int | None, ...]
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": [None, *self.sample_shape], "dtype": self.dtype}


@dataclass(frozen=True)
class Predict:
    feeds: dict[str, np.ndarray]       # input name -> batch
    columnar: bool                     # answer with "outputs" (columnar) rather than "predictions"
    count: int                         # samples in the request


def decode(body: bytes, inputs: tuple[TensorInfo, ...], *, max_body_bytes: int, max_instances: int) -> Predict:
    """The request ``body`` checked against the signature ``inputs``."""
    if len(body) > max_body_bytes:
        raise RequestError(413, f"request body is {len(body)} bytes, over the limit of {max_body_bytes} bytes: "
                                "send fewer instances per request")
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, f"malformed JSON: {exc}") from None
    if not isinstance(doc, dict) or ("instances" in doc) == ("inputs" in doc):
        raise RequestError(400, 'the body must be a JSON object with either "instances" (row format) or '
                                '"inputs" (columnar format)')
    if "instances" in doc:
        feeds = _rows(doc["instances"], inputs)
        columnar = False
    else:
        feeds = _columns(doc["inputs"], inputs)
        columnar = True
    counts = {len(v) for v in feeds.values()}
    if len(counts) != 1:
        raise RequestError(400, f"the inputs hold different numbers of samples ({sorted(counts)})")
    count = counts.pop()
    if count == 0:
        raise RequestError(400, "the request holds no samples")
    if count > max_instances:
        raise RequestError(413, f"the request holds {count} samples, over the limit of {max_instances}: "
                                "split it into several requests")
    return Predict(feeds, columnar, count)


def _rows(instances: Any, inputs: tuple[TensorInfo, ...]) -> dict[str, np.ndarray]:
    if not isinstance(instances, list):
        raise RequestError(400, '"instances" must be a list with one entry per sample')
    if not instances:
        raise RequestError(400, "the request holds no samples")
    if len(inputs) == 1 and not (instances and isinstance(instances[0], dict)):
        return {inputs[0].name: _array(instances, inputs[0], "instances")}
    names = [t.name for t in inputs]
    for i, row in enumerate(instances):
        if not isinstance(row, dict) or sorted(row) != sorted(names):
            raise RequestError(400, f"instances[{i}] must be an object with the inputs {names}")
    return {t.name: _array([row[t.name] for row in instances], t, "instances") for t in inputs}


def _columns(columns: Any, inputs: tuple[TensorInfo, ...]) -> dict[str, np.ndarray]:
    if len(inputs) == 1 and not isinstance(columns, dict):
        return {inputs[0].name: _array(columns, inputs[0], "inputs")}
    names = [t.name for t in inputs]
    if not isinstance(columns, dict) or sorted(columns) != sorted(names):
        raise RequestError(400, f'"inputs" must be an object with the inputs {names}')
    return {t.name: _array(columns[t.name], t, f"inputs.{t.name}") for t in inputs}


def _array(value: Any, tensor: TensorInfo, where: str) -> np.ndarray:
    want = np.dtype(tensor.dtype)
    try:
        raw = np.array(value)
    except ValueError:
        raise RequestError(400, f"{where} is ragged: every sample of input {tensor.name!r} must have the shape "
                                f"{_shape_text(tensor.sample_shape)}") from None
    if raw.dtype.kind not in "biuf" or (raw.dtype.kind == "b") != (want.kind == "b"):
        got = {"U": "strings", "S": "strings", "O": "mixed or nested values"}.get(raw.dtype.kind, raw.dtype.name)
        raise RequestError(400, f"wrong dtype: {where} holds {got}, but input {tensor.name!r} takes {want.name}")
    if want.kind in "iu" and raw.dtype.kind == "f" and not np.all(np.mod(raw, 1) == 0):
        raise RequestError(400, f"wrong dtype: {where} holds fractional numbers, but input {tensor.name!r} takes "
                                f"{want.name}")
    if raw.ndim != len(tensor.sample_shape) + 1 or any(
            want_dim is not None and got != want_dim for got, want_dim in zip(raw.shape[1:], tensor.sample_shape)):
        raise RequestError(400, f"wrong shape: {where} has samples of shape {_shape_text(raw.shape[1:])}, but input "
                                f"{tensor.name!r} takes {_shape_text(tensor.sample_shape)} per sample")
    if want.kind in "iu":
        info = np.iinfo(want)
        if raw.size and (raw.min() < info.min or raw.max() > info.max):
            raise RequestError(400, f"wrong dtype: {where} holds values outside {want.name}'s range")
    return raw.astype(want)


def _shape_text(shape) -> str:
    return "[" + ", ".join("any" if d is None else str(d) for d in shape) + "]"


def encode(outputs: dict[str, np.ndarray], order: tuple[str, ...], *, columnar: bool) -> bytes:
    """TF Serving's answer: one output -> its values; several -> an object per sample (row) or per output."""
    if columnar:
        doc: Any = ({"outputs": outputs[order[0]].tolist()} if len(order) == 1
                    else {"outputs": {k: outputs[k].tolist() for k in order}})
    elif len(order) == 1:
        doc = {"predictions": outputs[order[0]].tolist()}
    else:
        n = len(outputs[order[0]])
        doc = {"predictions": [{k: outputs[k][i].tolist() for k in order} for i in range(n)]}
    return json.dumps(doc).encode("utf-8")


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode("utf-8")
