"""Rewriting a ``.tflite`` source before it is quantized or shipped (LiteRT's generated schema classes).

* ``for_quantizer``: what AI Edge Quantizer needs of a source: a ``serving_default`` SignatureDef
  for a model without one, named by ``runtime.tensor_io``'s rule (it calibrates through a signature
  runner), and float16 weights behind ``DEQUANTIZE`` ops (MediaPipe's format) folded into float32
  constants (it quantizes float32 weights only);
* ``with_input_shapes``: dynamic (-1) input dimensions fixed to the shapes ``--input-shape`` gives,
  LiteRT resizing the inputs before allocation and every tensor's shape written as it then is.

Each returns a new flatbuffer; files appended to the original (metadata's associated files) follow it."""

from __future__ import annotations

from mobilepack.errors import InputError, UsageError


def io_names(data: bytes) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(name, tensor index) of subgraph 0's inputs and outputs by the rule for a signature-less model."""
    from ai_edge_litert import schema_py_generated as tfl

    from mobilepack.runtime.tensor_io import positional_names

    sg = tfl.Model.GetRootAs(data, 0).Subgraphs(0)

    def named(indices: list[int], prefix: str) -> list[tuple[str, int]]:
        raw = [(sg.Tensors(i).Name() or b"").decode("utf-8", "replace") for i in indices]
        return list(zip(positional_names(raw, prefix), indices))

    return (named([sg.Inputs(i) for i in range(sg.InputsLength())], "input"),
            named([sg.Outputs(i) for i in range(sg.OutputsLength())], "output"))


def model_t(data: bytes):
    """``data`` in LiteRT's object API, every buffer inline: a buffer stored after the flatbuffer (an
    ``offset``/``size`` pair, as AI Edge Quantizer writes models over 256 KiB) is read into its ``data``,
    so that packing the model again keeps it."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as tfl

    m = tfl.ModelT.InitFromObj(tfl.Model.GetRootAs(data, 0))
    for b in m.buffers or []:
        if b.offset > 1:
            b.data = np.frombuffer(data[b.offset:b.offset + b.size], np.uint8)
            b.offset = b.size = 0
    return m


def for_quantizer(data: bytes) -> bytes:
    """The source as AI Edge Quantizer can take it: a signature (``with_signature``), float16 weights
    folded (``fold_float16_weights``) and no deprecated ``metadata_buffer`` list (AEQ renumbers the
    buffers without it, and its output would then name buffers it no longer has)."""
    m = model_t(data)
    with_signature(m, data)
    fold_float16_weights(m)
    m.metadataBuffer = None
    return repack(m, data)


def with_signature(m, data: bytes) -> None:
    """Give the object-API model ``m`` (read from ``data``) a ``serving_default`` SignatureDef over
    subgraph 0 named by the rule, unless it has a signature already."""
    from ai_edge_litert import schema_py_generated as tfl

    from mobilepack.runtime.tensor_io import SERVING

    if m.signatureDefs:
        return
    ins, outs = io_names(data)
    sig = tfl.SignatureDefT()
    sig.signatureKey, sig.subgraphIndex = SERVING, 0
    sig.inputs = [_tensor_map(tfl, n, i) for n, i in ins]
    sig.outputs = [_tensor_map(tfl, n, i) for n, i in outs]
    m.signatureDefs = [sig]


def _tensor_map(tfl, name: str, index: int):
    t = tfl.TensorMapT()
    t.name, t.tensorIndex = name, index
    return t


def fold_float16_weights(m) -> int:
    """Replace every ``DEQUANTIZE`` of a constant float16 tensor in the object-API model ``m`` by the
    float32 constant it computes (the same values); the float16 tensor goes once nothing reads it.
    Returns how many were folded."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as tfl

    deq = {i for i, c in enumerate(m.operatorCodes or [])
           if max(c.builtinCode, c.deprecatedBuiltinCode) == tfl.BuiltinOperator.DEQUANTIZE}
    folded = 0
    for g, sg in enumerate(m.subgraphs or []):
        kept, emptied = [], set()
        for op in sg.operators or []:
            src = sg.tensors[op.inputs[0]] if op.opcodeIndex in deq and len(op.inputs) else None
            buf = m.buffers[src.buffer] if src is not None else None
            if (src is None or src.type != tfl.TensorType.FLOAT16 or buf.data is None or not len(buf.data)
                    or src.isVariable):
                kept.append(op)
                continue
            values = np.frombuffer(np.asarray(buf.data, np.uint8).tobytes(), "<f2").astype("<f4")
            new = tfl.BufferT()
            new.data = np.frombuffer(values.tobytes(), np.uint8)
            m.buffers.append(new)
            sg.tensors[op.outputs[0]].buffer = len(m.buffers) - 1
            emptied.add(int(op.inputs[0]))
            folded += 1
        sg.operators = kept
        read = {int(i) for op in kept for i in op.inputs} | {int(i) for i in _ints(sg.outputs)}
        _drop_tensors(m, g, sg, emptied - read)
    return folded


def _ints(values) -> list[int]:
    return [] if values is None else [int(v) for v in values]


def _drop_tensors(m, g: int, sg, drop: set[int]) -> None:
    """Remove tensors ``drop`` of subgraph ``g`` (every index renumbered) and empty their buffers."""
    from ai_edge_litert import schema_py_generated as tfl

    if not drop:
        return
    new = {}
    for old in range(len(sg.tensors)):
        if old not in drop:
            new[old] = len(new)
    gone = {sg.tensors[i].buffer for i in drop} - {t.buffer for i, t in enumerate(sg.tensors) if i not in drop}
    sg.tensors = [t for i, t in enumerate(sg.tensors) if i not in drop]
    for op in sg.operators:
        op.inputs = [new[i] if i >= 0 else -1 for i in _ints(op.inputs)]
        op.outputs = [new[i] if i >= 0 else -1 for i in _ints(op.outputs)]
        if op.intermediates is not None:
            op.intermediates = [new[i] if i >= 0 else -1 for i in _ints(op.intermediates)]
    sg.inputs, sg.outputs = [new[i] for i in _ints(sg.inputs)], [new[i] for i in _ints(sg.outputs)]
    for sig in m.signatureDefs or []:
        for t in (sig.inputs or []) + (sig.outputs or []) if sig.subgraphIndex == g else []:
            t.tensorIndex = new[t.tensorIndex]
    others = {t.buffer for other in m.subgraphs if other is not sg for t in other.tensors or []}
    for b in gone - others - {0}:
        m.buffers[b] = tfl.BufferT()


def with_input_shapes(data: bytes, shapes: dict[str, tuple[int, ...]], file_name: str) -> bytes:
    """The model with its inputs fixed to ``shapes`` (name: signature name, tensor name, or the rule's
    name), which may only set dynamic (-1) dimensions."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as tfl
    from ai_edge_litert.interpreter import Interpreter

    from mobilepack.model.shapes import fmt_shape

    it = Interpreter(model_content=data)
    by_index = {d["index"]: d for d in it.get_input_details()}
    model = tfl.Model.GetRootAs(data, 0)
    named = [(t.Name().decode("utf-8", "replace"), t.TensorIndex()) for k in range(model.SignatureDefsLength())
             if model.SignatureDefs(k).SubgraphIndex() == 0
             for t in map(model.SignatureDefs(k).Inputs, range(model.SignatureDefs(k).InputsLength()))]
    rule = io_names(data)[0]
    by_name = {d["name"]: d for d in by_index.values()}
    by_name.update({n: by_index[i] for n, i in [*rule, *named] if i in by_index})
    for name, shape in shapes.items():
        d = by_name.get(name)
        if d is None:
            raise UsageError(f"--input-shape: {file_name} has no input {name!r}",
                             f"its inputs: {', '.join(n for n, _ in (named or rule))}")
        sig = [int(x) for x in d["shape_signature"]]
        if len(sig) != len(shape) or any(s >= 0 and s != g for s, g in zip(sig, shape)):
            raise UsageError(f"--input-shape {name}={','.join(map(str, shape))} does not fit input {name}"
                             f"{fmt_shape(sig)} of {file_name}", "a .tflite's fixed dimensions stay as they are; "
                             "give the same rank and change only its -1 dimensions")
        it.resize_tensor_input(d["index"], list(shape), strict=True)
    try:
        it.allocate_tensors()
        for d in it.get_input_details():   # one run, so that shapes known only at run time are set too
            it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
        it.invoke()
        now = {d["index"]: [int(x) for x in d["shape"]] for d in it.get_tensor_details()}
    except (ValueError, RuntimeError) as exc:
        raise InputError(f"{file_name} does not run at the given --input-shape: "
                         f"{str(exc).strip().splitlines()[0]}", "check the shape the model was made for") from exc
    m = model_t(data)
    for index, t in enumerate(m.subgraphs[0].tensors):
        sig = list(t.shapeSignature) if t.shapeSignature is not None else None
        if index in now and (list(t.shape if t.shape is not None else []) != now[index] or (sig and min(sig) < 0)):
            t.shape = now[index]
            t.shapeSignature = list(now[index]) if sig is not None else None
    return repack(m, data)


def model_builder(size: int = 0):
    """A flatbuffers Builder of ``size`` bytes up front whose byte vectors (a model's weight buffers)
    are copied in once: the runtime's ``CreateNumpyVector`` byte-swaps a copy of every array whose
    dtype has no byte order ("|u1") and then copies it again with ``tobytes``, 1.6 s of a 440 MB
    model's 3.7 s of metadata writing (#21).  The bytes written are the same."""
    import flatbuffers

    class Builder(flatbuffers.Builder):
        def CreateNumpyVector(self, x):
            if x.ndim != 1 or x.dtype.itemsize != 1 or not x.flags.c_contiguous:
                return super().CreateNumpyVector(x)
            self.StartVector(1, x.size, 1)
            self.head = self.head - x.size
            self.Bytes[self.head:self.head + x.size] = memoryview(x).cast("B")
            self.vectorNumElems = x.size
            return self.EndVector()

    return Builder(size)


def repack(m, original: bytes) -> bytes:
    """The object-API model ``m`` as a flatbuffer, followed by the zip archive ``original`` carried."""
    import io
    import zipfile

    builder = model_builder(len(original))
    builder.Finish(m.Pack(builder), b"TFL3")
    out = bytes(builder.Output())
    try:
        with zipfile.ZipFile(io.BytesIO(original)) as zf:
            files = [(info, zf.read(info)) for info in zf.infolist()]
    except zipfile.BadZipFile:
        return out
    buf = io.BytesIO(out)
    buf.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buf, "a") as zf:
        for info, content in files:
            zf.writestr(info, content)
    return buf.getvalue()
