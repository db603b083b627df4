"""Reading a .tflite into the ``inspect`` result (structure, metadata, runtime checks, lint)."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobilepack.errors import InputError
from mobilepack.inspect.findings import Finding
from mobilepack.model.flatbuffer import FbModel, FbTensor, FlatbufferError, parse_model
from mobilepack.report.schema import INSPECT_SCHEMA_VERSION

MAX_INSPECT_BYTES = 2**31 - 1
RESOURCE_VARIABLE_OPS = ("VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE")
CONTROL_FLOW_OPS = ("WHILE", "IF", "CALL_ONCE", "CALL")
_DTYPES = {"FLOAT32": "float32", "FLOAT16": "float16", "FLOAT64": "float64", "INT8": "int8", "UINT8": "uint8",
           "INT16": "int16", "UINT16": "uint16", "INT32": "int32", "UINT32": "uint32", "INT64": "int64",
           "UINT64": "uint64", "BOOL": "bool", "STRING": "string", "COMPLEX64": "complex64",
           "COMPLEX128": "complex128", "RESOURCE": "resource", "VARIANT": "variant", "INT4": "int4"}
_MAGIC = ((b"PK\x03\x04", "a zip archive (a .keras model or an archive of files)"),
          (b"\x89HDF", "an HDF5 file (a legacy Keras .h5 model)"),
          (b"PK\x05\x06", "an empty zip archive"))


@dataclass(frozen=True)
class InspectResult:
    path: str
    bytes: int
    sha256: str
    model: dict[str, Any]
    metadata: dict[str, Any] | None
    runtime: dict[str, Any] | None
    gpu: dict[str, Any] | None
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def to_dict(self) -> dict[str, Any]:
        counts = Counter(f.severity for f in self.findings)
        return {
            "schema_version": INSPECT_SCHEMA_VERSION,
            "path": self.path,
            "bytes": self.bytes,
            "sha256": self.sha256,
            **self.model,
            "metadata": self.metadata,
            "runtime": self.runtime,
            "gpu": self.gpu,
            "findings": [f.to_dict() for f in self.findings],
            "summary": {"errors": counts.get("error", 0), "warnings": counts.get("warning", 0),
                        "infos": counts.get("info", 0)},
        }


def dtype_name(fb_type: str) -> str:
    return _DTYPES.get(fb_type, fb_type.lower())


def tensor_dict(t: FbTensor) -> dict[str, Any]:
    sig = list(t.shape_signature) if t.shape_signature is not None else list(t.shape)
    q = t.quantization
    return {"name": t.name, "index": t.index, "shape": list(t.shape), "shape_signature": sig,
            "dynamic": any(d < 0 for d in sig), "dtype": dtype_name(t.type),
            "quantization": None if q is None else {"scale": list(q.scale), "zero_point": list(q.zero_point),
                                                    "quantized_dimension": q.quantized_dimension}}


def describe(fb: FbModel) -> dict[str, Any]:
    """Inputs/outputs (first subgraph), signatures, subgraphs and op histograms."""
    main = fb.subgraphs[0]
    subgraphs, total = [], Counter()
    for sg in fb.subgraphs:
        hist = Counter(fb.opcodes[op.opcode_index].name for op in sg.operators)
        total.update(hist)
        subgraphs.append({"index": sg.index, "name": sg.name, "tensors": len(sg.tensors),
                          "operators": len(sg.operators), "ops": dict(sorted(hist.items()))})
    used = {fb.opcodes[op.opcode_index].name: fb.opcodes[op.opcode_index] for sg in fb.subgraphs
            for op in sg.operators}
    custom = sorted(n for n, c in used.items() if c.custom)
    flex = [n for n in custom if n.startswith("Flex")]
    return {
        "schema_version_tflite": fb.version,
        "description": fb.description,
        "inputs": [tensor_dict(main.tensors[i]) for i in main.inputs],
        "outputs": [tensor_dict(main.tensors[i]) for i in main.outputs],
        "signatures": [{"key": s.key, "subgraph": s.subgraph,
                        "inputs": [{"name": n, "tensor": fb.subgraphs[s.subgraph].tensors[i].name} for n, i in s.inputs],
                        "outputs": [{"name": n, "tensor": fb.subgraphs[s.subgraph].tensors[i].name}
                                    for n, i in s.outputs]} for s in fb.signatures],
        "subgraph_count": len(fb.subgraphs),
        "subgraphs": subgraphs,
        "ops": {"histogram": dict(sorted(total.items())), "custom": [n for n in custom if n not in flex],
                "flex": flex, "resource_variables": sorted(n for n in used if n in RESOURCE_VARIABLE_OPS),
                "control_flow": sorted(n for n in used if n in CONTROL_FLOW_OPS)},
    }


def read_model_file(path: str | Path) -> bytes:
    p = Path(path)
    if not p.exists():
        raise InputError(f"model file not found: {p}", "pass the path of a .tflite file")
    if p.is_dir():
        raise InputError(f"{p} is a directory, not a .tflite file",
                         "inspect a .tflite file; convert a SavedModel first with `mobilepack convert`")
    try:
        size = p.stat().st_size
        if size > MAX_INSPECT_BYTES:
            raise InputError(f"{p} is {size} bytes, larger than a TFLite flatbuffer can be (2 GiB)",
                             "pass a .tflite file")
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror or exc}", "check the path and its permissions") from None
    if not data:
        raise InputError(f"{p} is empty (0 bytes)", "pass a .tflite file produced by a TFLite converter")
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise InputError(f"{p} is {what}, not a TFLite model",
                             "convert it first with `mobilepack convert`, then inspect the .tflite")
    return data


def verify(data: bytes, path: str | Path) -> FbModel:
    try:
        return parse_model(data)
    except FlatbufferError as exc:
        raise InputError(f"{Path(path).name}: {exc.message}", exc.hint) from None


def inspect_model(path: str | Path, *, runtime: bool = True, gpu: bool = True, gpu_timeout: float = 120.0,
                  load_timeout: float = 60.0, input_shapes: dict[str, tuple[int, ...]] | None = None,
                  progress=None, gpu_functional: str | None = None) -> InspectResult:
    """Inspect the .tflite at ``path``.  Malformed files raise ``InputError`` (exit 2)
    before any native code sees them; native checks run in child processes.  ``gpu_functional``:
    the GPU probe's child on a software adapter (``probe_gpu(functional=...)``; build's lint)."""
    from mobilepack.inspect import lint
    from mobilepack.metadata.reader import metadata_dict, read_metadata

    emit = progress or (lambda message: None)
    data = read_model_file(path)
    fb = verify(data, path)
    try:
        md = read_metadata(data, fb)
    except FlatbufferError as exc:
        raise InputError(f"{Path(path).name}: {exc.message}", exc.hint) from None
    model = describe(fb)
    load = None
    if runtime:
        from mobilepack.inspect.loadcheck import check_load

        emit("loading the model in LiteRT (child process)")
        load = check_load(path, timeout=load_timeout, input_shapes=input_shapes)
        if load.malformed or load.status == "crashed":
            raise InputError(f"{Path(path).name} is malformed: {load.message}",
                             "re-export the model; the file is corrupted or was not written by a TFLite converter")
    gpu_info = None
    if gpu and runtime:
        if load is not None and load.status == "needs_input_shape":
            gpu_info = {"status": "skipped", "message": "the model needs an input shape (its dynamic inputs must be "
                        "resized before it runs); the GPU check compiles the placeholder shape, so it was not run"}
        elif load is not None and load.status != "ok":
            gpu_info = {"status": "skipped", "message": "the model does not load in LiteRT on CPU"}
        elif input_shapes:
            gpu_info = {"status": "skipped", "message": "the GPU check compiles the model's own shapes, not the "
                        "--input-shape ones, so it was not run"}
        else:
            emit("compiling with LiteRT's GPU accelerator (child process)")
            gpu_info = probe(path, timeout=gpu_timeout, functional=gpu_functional)
    findings = lint.run(lint.LintContext(fb=fb, data=data, metadata=md, model=model, load=load, gpu=gpu_info))
    return InspectResult(path=str(path), bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), model=model,
                         metadata=metadata_dict(md), runtime=None if load is None else load.to_dict(), gpu=gpu_info,
                         findings=tuple(findings))


def probe(path: str | Path, *, timeout: float, functional: str | None = None) -> dict[str, Any]:
    """The GPU-delegation verdict from the runtime's GPU probe (``mobilepack.runtime.gpu``)."""
    try:
        from mobilepack.runtime.gpu import probe_gpu
    except ImportError:
        return {"status": "unavailable", "fully_accelerated": None, "adapter": None, "software": False,
                "message": "this installation has no GPU probe (mobilepack.runtime.gpu)", "cpu_ops": []}
    try:
        p = probe_gpu(str(path), timeout=timeout, functional=functional)
    except Exception as exc:  # the probe isolates LiteRT in a child; this is a probe bug: report, go on
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        return {"status": "crashed", "fully_accelerated": None, "adapter": None, "software": False,
                "message": f"the GPU probe failed: {type(exc).__name__}: {first}", "cpu_ops": []}
    return {**p.to_dict(), "software": bool(p.software)}
