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


FLOAT_TYPES = ("FLOAT32", "FLOAT16", "FLOAT64")


def float_compute_ops(data: bytes) -> list[str]:
    """Ops that compute in float inside an integer model (excluding the
    QUANTIZE/DEQUANTIZE pairs at float I/O boundaries).  Sorted, unique."""
    model = parse_model(data)
    found = set()
    for sg in model.subgraphs:
        for op in sg.operators:
            name = model.opcodes[op.opcode_index].name
            if name not in ("DEQUANTIZE", "QUANTIZE") and any(
                    t >= 0 and sg.tensors[t].type in FLOAT_TYPES for t in op.outputs):
                found.add(name)
    return sorted(found)


# -- bounds-checked reading ---------------------------------------------------------------
#
# The generated ``schema_py_generated`` accessors trust every offset: a corrupted file
# makes them raise deep inside struct, loop over garbage vector lengths, or hand garbage
# to native code.  ``CheckedBuffer`` reads a flatbuffer with every offset, length and
# vtable checked against the buffer, and ``parse_model`` walks the whole TFLite schema
# (the parts LiteRT reads structurally) with it, cross-checking indices.  Nothing here
# runs native code, so a malformed file costs one ``FlatbufferError``, never a crash.

import struct as _struct

from mobilepack.errors import InputError

# builtin_options union types that are absent (0) or tables we only bounds-check
TFLITE_IDENTIFIER = b"TFL3"
MAX_MODEL_BYTES = 2**31 - 1  # a single flatbuffer cannot address more


class FlatbufferError(InputError):
    """The bytes are not a well-formed flatbuffer of the expected schema (exit 2)."""


class CheckedBuffer:
    """Little-endian flatbuffer reading where every access is bounds-checked."""

    def __init__(self, data: bytes, what: str = "model") -> None:
        self.data = memoryview(data)
        self.size = len(data)
        self.what = what

    def fail(self, detail: str):
        raise FlatbufferError(f"the {self.what} is malformed: {detail}",
                              "the file is truncated or corrupted; re-export it from the source model")

    def _read(self, fmt: str, pos: int):
        n = _struct.calcsize(fmt)
        if pos < 0 or pos + n > self.size:
            self.fail(f"offset {pos} is outside the {self.size}-byte buffer")
        return _struct.unpack_from("<" + fmt, self.data, pos)[0]

    def root(self) -> CheckedTable:
        if self.size < 8:
            self.fail(f"only {self.size} bytes")
        return self.table_at(self._read("I", 0), "root")

    def table_at(self, pos: int, name: str) -> CheckedTable:
        vt = pos - self._read("i", pos)
        vt_size = self._read("H", vt)
        tbl_size = self._read("H", vt + 2)
        if vt_size < 4 or vt_size % 2 or vt + vt_size > self.size:
            self.fail(f"{name} has a bad vtable (size {vt_size})")
        if tbl_size < 4 or pos + tbl_size > self.size:
            self.fail(f"{name} extends past the end of the buffer")
        return CheckedTable(self, pos, vt, vt_size, tbl_size, name)

    def vector(self, pos: int, elem_size: int, name: str) -> tuple[int, int]:
        """(start, length) of the vector whose length word is at ``pos``."""
        length = self._read("I", pos)
        start = pos + 4
        if start + length * elem_size > self.size:
            self.fail(f"{name} ({length} elements) extends past the end of the buffer")
        return start, length


class CheckedTable:
    def __init__(self, buf: CheckedBuffer, pos: int, vt: int, vt_size: int, tbl_size: int, name: str) -> None:
        self.buf, self.pos, self.vt, self.vt_size, self.tbl_size, self.name = buf, pos, vt, vt_size, tbl_size, name

    def _field(self, index: int, size: int) -> int | None:
        slot = 4 + 2 * index
        if slot + 2 > self.vt_size:
            return None
        off = self.buf._read("H", self.vt + slot)
        if off == 0:
            return None
        if off + size > self.tbl_size:
            self.buf.fail(f"field {index} of {self.name} lies outside the table")
        return self.pos + off

    def scalar(self, index: int, fmt: str, default=0):
        at = self._field(index, _struct.calcsize(fmt))
        return default if at is None else self.buf._read(fmt, at)

    def _deref(self, index: int) -> int | None:
        at = self._field(index, 4)
        if at is None:
            return None
        return at + self.buf._read("I", at)

    def table(self, index: int, name: str) -> CheckedTable | None:
        target = self._deref(index)
        return None if target is None else self.buf.table_at(target, name)

    def string(self, index: int, name: str = "string") -> str | None:
        raw = self.bytes(index, name)
        return None if raw is None else raw.decode("utf-8", "replace")

    def bytes(self, index: int, name: str = "bytes") -> bytes | None:
        target = self._deref(index)
        if target is None:
            return None
        start, n = self.buf.vector(target, 1, f"{self.name}.{name}")
        return bytes(self.buf.data[start:start + n])

    def span(self, index: int, name: str) -> tuple[int, int] | None:
        """(offset, length) of a byte vector without copying it."""
        target = self._deref(index)
        return None if target is None else self.buf.vector(target, 1, f"{self.name}.{name}")

    def scalars(self, index: int, fmt: str, name: str) -> tuple:
        target = self._deref(index)
        if target is None:
            return ()
        size = _struct.calcsize(fmt)
        start, n = self.buf.vector(target, size, f"{self.name}.{name}")
        return _struct.unpack_from(f"<{n}{fmt}", self.buf.data, start)

    def _elements(self, index: int, name: str) -> list[int]:
        """Absolute positions of the objects a vector of offsets points to."""
        target = self._deref(index)
        if target is None:
            return []
        start, n = self.buf.vector(target, 4, f"{self.name}.{name}")
        return [start + 4 * i + self.buf._read("I", start + 4 * i) for i in range(n)]

    def tables(self, index: int, name: str) -> list[CheckedTable]:
        return [self.buf.table_at(at, f"{name}[{i}]") for i, at in enumerate(self._elements(index, name))]

    def strings(self, index: int, name: str) -> list[str]:
        out = []
        for i, at in enumerate(self._elements(index, name)):
            s_start, s_len = self.buf.vector(at, 1, f"{name}[{i}]")
            out.append(bytes(self.buf.data[s_start:s_start + s_len]).decode("utf-8", "replace"))
        return out


@dataclass(frozen=True)
class FbQuantization:
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    quantized_dimension: int


@dataclass(frozen=True)
class FbTensor:
    index: int
    name: str
    type: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...] | None
    buffer: int
    quantization: FbQuantization | None
    is_variable: bool


@dataclass(frozen=True)
class FbOperator:
    opcode_index: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class FbSubgraph:
    index: int
    name: str
    tensors: tuple[FbTensor, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    operators: tuple[FbOperator, ...]


@dataclass(frozen=True)
class FbOpCode:
    name: str
    custom: bool
    version: int


@dataclass(frozen=True)
class FbSignature:
    key: str
    subgraph: int
    inputs: tuple[tuple[str, int], ...]   # (signature name, tensor index)
    outputs: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class FbModel:
    """A TFLite model read and verified in pure Python."""

    version: int
    description: str
    opcodes: tuple[FbOpCode, ...]
    subgraphs: tuple[FbSubgraph, ...]
    buffer_spans: tuple[tuple[int, int], ...]   # (offset, length) in the file; (0, 0) for empty
    metadata: tuple[tuple[str, int], ...]       # (name, buffer index)
    signatures: tuple[FbSignature, ...]

    def metadata_bytes(self, data: bytes, name: str) -> bytes | None:
        for n, buf in self.metadata:
            if n == name:
                off, length = self.buffer_spans[buf]
                return bytes(data[off:off + length])
        return None


def _type_name(code: int) -> str:
    _, types = _names()
    return types.get(code, f"TYPE_{code}")


def _opcodes(root) -> list[FbOpCode]:
    ops_names, _ = _names()
    opcodes = []
    for t in root.tables(1, "operator_codes"):
        deprecated = t.scalar(0, "b", 0)
        builtin = max(t.scalar(3, "i", 0), deprecated)
        name = ops_names.get(builtin, f"BUILTIN_{builtin}")
        custom = name == "CUSTOM"
        if custom:
            name = t.string(1, "custom_code") or "CUSTOM"
        opcodes.append(FbOpCode(name, custom, t.scalar(2, "i", 1)))
    return opcodes


def _buffers(root, buf: CheckedBuffer, size_of_file: int) -> list[tuple[int, int]]:
    buffers = []
    for i, b in enumerate(root.tables(4, "buffers")):
        span = b.span(0, "data")
        offset, size = b.scalar(1, "Q", 0), b.scalar(2, "Q", 0)
        if offset > 1:
            if offset + size > size_of_file:
                buf.fail(f"buffer {i} points past the end of the file ({offset}+{size} > {size_of_file})")
            span = (offset, size)
        buffers.append(span or (0, 0))
    return buffers


def _tensor(t, ti: int, g: int, buffers, buf: CheckedBuffer) -> FbTensor:
    q = t.table(4, "quantization")
    quant = None
    if q is not None:
        scale = q.scalars(2, "f", "scale")
        zp = q.scalars(3, "q", "zero_point")
        if scale:
            quant = FbQuantization(tuple(float(s) for s in scale), tuple(int(z) for z in zp), q.scalar(6, "i", 0))
    sig = t.scalars(7, "i", "shape_signature")
    bidx = t.scalar(2, "I", 0)
    if buffers and bidx >= len(buffers):
        buf.fail(f"tensor {ti} of subgraph {g} names buffer {bidx} of {len(buffers)}")
    return FbTensor(ti, t.string(3, "name") or f"tensor_{ti}", _type_name(t.scalar(1, "b", 0)),
                    tuple(t.scalars(0, "i", "shape")), tuple(sig) if sig else None, bidx, quant,
                    bool(t.scalar(5, "B", 0)))


def _indices(buf: CheckedBuffer, values, n: int, what: str, allow_optional: bool = False) -> tuple[int, ...]:
    for v in values:
        if v >= n or v < (-1 if allow_optional else 0):
            buf.fail(f"{what} names tensor {v} of {n}")
    return tuple(values)


def _subgraph(sg, g: int, opcodes, buffers, buf: CheckedBuffer) -> FbSubgraph:
    tensors = tuple(_tensor(t, ti, g, buffers, buf) for ti, t in enumerate(sg.tables(0, "tensors")))
    n = len(tensors)
    operators = []
    for oi, op in enumerate(sg.tables(3, "operators")):
        code = op.scalar(0, "I", 0)
        if code >= len(opcodes):
            buf.fail(f"operator {oi} of subgraph {g} names opcode {code} of {len(opcodes)}")
        if op.scalar(3, "B", 0):
            op.table(4, "builtin_options")
        if op.scalar(11, "B", 0):
            op.table(12, "builtin_options_2")
        op.span(5, "custom_options")
        operators.append(FbOperator(
            code, _indices(buf, op.scalars(1, "i", "inputs"), n, f"operator {oi} inputs of subgraph {g}", True),
            _indices(buf, op.scalars(2, "i", "outputs"), n, f"operator {oi} outputs of subgraph {g}", True)))
    return FbSubgraph(g, sg.string(4, "name") or "", tensors,
                      _indices(buf, sg.scalars(1, "i", "inputs"), n, f"inputs of subgraph {g}"),
                      _indices(buf, sg.scalars(2, "i", "outputs"), n, f"outputs of subgraph {g}"), tuple(operators))


def _metadata(root, buffers, buf: CheckedBuffer) -> list[tuple[str, int]]:
    metadata = []
    for m in root.tables(6, "metadata"):
        bidx = m.scalar(1, "I", 0)
        if bidx >= len(buffers):
            buf.fail(f"metadata names buffer {bidx} of {len(buffers)}")
        metadata.append((m.string(0, "name") or "", bidx))
    for bidx in root.scalars(5, "i", "metadata_buffer"):
        if not 0 <= bidx < len(buffers):
            buf.fail(f"metadata_buffer names buffer {bidx} of {len(buffers)}")
    return metadata


def _signature(s, subgraphs, buf: CheckedBuffer) -> FbSignature:
    sg_index = s.scalar(4, "I", 0)
    if sg_index >= len(subgraphs):
        buf.fail(f"signature names subgraph {sg_index} of {len(subgraphs)}")
    count = len(subgraphs[sg_index].tensors)

    def tmap(index, what):
        out = []
        for m in s.tables(index, what):
            ti = m.scalar(1, "I", 0)
            if ti >= count:
                buf.fail(f"signature {what} names tensor {ti} of {count}")
            out.append((m.string(0, "name") or "", ti))
        return tuple(out)

    return FbSignature(s.string(2, "signature_key") or "", sg_index, tmap(0, "inputs"), tmap(1, "outputs"))


def parse_model(data: bytes) -> FbModel:
    """Read and verify the whole TFLite flatbuffer; raises ``FlatbufferError``."""
    buf = CheckedBuffer(data, "model")
    if len(data) < 8:
        buf.fail(f"only {len(data)} bytes, too short for a TFLite model")
    if bytes(data[4:8]) != TFLITE_IDENTIFIER:
        buf.fail("no TFL3 identifier (not a TFLite flatbuffer)")
    if len(data) > MAX_MODEL_BYTES:
        buf.fail("larger than 2 GiB")
    root = buf.root()
    opcodes = _opcodes(root)
    buffers = _buffers(root, buf, len(data))
    subgraphs = [_subgraph(sg, g, opcodes, buffers, buf) for g, sg in enumerate(root.tables(2, "subgraphs"))]
    if not subgraphs:
        buf.fail("it has no subgraphs")
    metadata = _metadata(root, buffers, buf)
    signatures = [_signature(s, subgraphs, buf) for s in root.tables(7, "signature_defs")]
    return FbModel(root.scalar(0, "I", 0), root.string(3, "description") or "", tuple(opcodes), tuple(subgraphs),
                   tuple(buffers), tuple(metadata), tuple(signatures))
