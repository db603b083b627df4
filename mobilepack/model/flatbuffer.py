"""Reading a .tflite flatbuffer in pure Python (no native code, no TensorFlow)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@lru_cache(maxsize=1)
def _names() -> tuple[dict[int, str], dict[int, str]]:
    from ai_edge_litert import schema_py_generated as s

    ops = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}
    types = {v: k for k, v in vars(s.TensorType).items() if not k.startswith("_") and isinstance(v, int)}
    return ops, types


@dataclass(frozen=True)
class OpInfo:
    subgraph: int
    index: int
    name: str              # builtin name (e.g. "CONV_2D") or the custom code
    custom: bool
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]


def op_code_name(model, opcode_index: int) -> tuple[str, bool]:
    ops, _ = _names()
    code = model.OperatorCodes(opcode_index)
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    name = ops.get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM":
        custom = code.CustomCode()
        return (custom.decode("utf-8", "replace") if custom else "CUSTOM"), True
    return name, False


def read_model(data: bytes):
    from ai_edge_litert import schema_py_generated as s

    return s.Model.GetRootAs(data, 0)


def operators(data: bytes) -> list[OpInfo]:
    _, types = _names()
    model = read_model(data)
    result = []
    for g in range(model.SubgraphsLength()):
        sg = model.Subgraphs(g)
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            name, custom = op_code_name(model, op.OpcodeIndex())
            ins = tuple(types.get(sg.Tensors(t).Type(), "?") for t in op.InputsAsNumpy() if t >= 0) \
                if op.InputsLength() else ()
            outs = tuple(types.get(sg.Tensors(t).Type(), "?") for t in op.OutputsAsNumpy() if t >= 0) \
                if op.OutputsLength() else ()
            result.append(OpInfo(g, i, name, custom, ins, outs))
    return result


FLOAT_TYPES = ("FLOAT32", "FLOAT16", "FLOAT64")


def float_compute_ops(data: bytes) -> list[str]:
    """Ops that compute in float inside an integer model (excluding the
    QUANTIZE/DEQUANTIZE pairs at float I/O boundaries).  Sorted, unique."""
    found = set()
    for op in operators(data):
        if op.name in ("DEQUANTIZE", "QUANTIZE"):
            continue
        if any(t in FLOAT_TYPES for t in op.output_types):
            found.add(op.name)
    return sorted(found)
