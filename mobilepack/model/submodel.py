"""Sub-models cut at one op: the same graph up to op ``k``, whose outputs are op ``k``'s outputs.

The delegate doctor (:mod:`mobilepack.runtime.departure`) reads an intermediate tensor on a delegate
that keeps none readable (XNNPACK, the GPU) by running such a sub-model there.  TFLite stores the ops
of a subgraph in execution order, so ops ``0..k`` compute everything op ``k`` reads; the ops after it
are dropped, the subgraph's outputs and its signature's outputs become op ``k``'s outputs (named
``op{k}_{j}``).  Tensors and buffers are kept as they are (unused ones cost nothing at run time).
The flatbuffer is edited with LiteRT's generated schema classes (``ai_edge_litert.schema_py_generated``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OpInfo:
    """One op of subgraph 0, as the doctor reports it."""

    index: int
    type: str
    inputs: tuple[int, ...]               # tensor indices (-1: an optional input left out)
    outputs: tuple[int, ...]
    input_shapes: tuple[tuple[int, ...], ...]
    output_shapes: tuple[tuple[int, ...], ...]
    output_types: tuple[str, ...]
    output_quantization: tuple[tuple[float, int] | None, ...]   # (scale, zero point) per output

    def to_dict(self) -> dict:
        return {"index": self.index, "type": self.type, "input_shapes": [list(s) for s in self.input_shapes],
                "output_shapes": [list(s) for s in self.output_shapes]}


def op_table(data: bytes) -> list[OpInfo]:
    """The ops of the main subgraph, in execution order, read with the checked flatbuffer reader."""
    from mobilepack.model.flatbuffer import parse_model

    model = parse_model(data)
    sg = model.subgraphs[0]
    out = []
    for i, op in enumerate(sg.operators):
        code = model.opcodes[op.opcode_index]
        ins = [sg.tensors[t] for t in op.inputs if t >= 0]
        outs = [sg.tensors[t] for t in op.outputs if t >= 0]
        quant = tuple((t.quantization.scale[0], t.quantization.zero_point[0] if t.quantization.zero_point else 0)
                      if t.quantization and len(t.quantization.scale) == 1 else None for t in outs)
        out.append(OpInfo(i, code.name, tuple(op.inputs), tuple(t.index for t in outs),
                          tuple(t.shape for t in ins), tuple(t.shape for t in outs), tuple(t.type for t in outs),
                          quant))
    return out


def producers(ops: list[OpInfo]) -> dict[int, int]:
    """tensor index -> the index of the op that writes it."""
    return {t: op.index for op in ops for t in op.outputs}


def cut_at(data: bytes, k: int) -> bytes:
    """The model whose outputs are op ``k``'s outputs (ops after ``k`` dropped, one signature)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as tfl

    m = tfl.ModelT.InitFromObj(tfl.Model.GetRootAs(data, 0))
    sg = m.subgraphs[0]
    if not 0 <= k < len(sg.operators):
        raise ValueError(f"op {k} is not in the model ({len(sg.operators)} ops)")
    outputs = [int(t) for t in sg.operators[k].outputs if t >= 0]
    sg.operators = sg.operators[:k + 1]
    sg.outputs = outputs
    sigs = [s for s in (m.signatureDefs or []) if s.subgraphIndex == 0]
    if sigs:
        sig = sigs[0]
        maps = []
        for j, t in enumerate(outputs):
            tm = tfl.TensorMapT()
            tm.name = f"op{k}_{j}"
            tm.tensorIndex = t
            maps.append(tm)
        sig.outputs = maps
        m.signatureDefs = [sig]
    builder = flatbuffers.Builder(0)
    builder.Finish(m.Pack(builder), b"TFL3")
    return bytes(builder.Output())
