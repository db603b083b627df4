"""The TFLite metadata schema (``metadata_schema.fbs``, schema version 1.5.0, identifier ``M001``),
described as data, and the one function that builds its flatbuffer.

Metadata is handled as plain dicts keyed by the schema's field names (``{"name": ..., "subgraph_metadata":
[...]}``); a union field holds ``(member table name, dict)``.  :func:`pack` writes tables the way
flatbuffers' generated object API does for Python: every table's strings, vectors and sub-tables
first, in field order, then the table itself with its fields added in field order (scalars equal to
their default are left out by the builder).  That order is what makes the bytes reproducible and
equal to those of other writers that follow the same object API.

Field order and types are facts of the published schema; the code here is mobilepack's own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IDENTIFIER = b"M001"
SCHEMA_VERSION = "1.5.0"


@dataclass(frozen=True)
class Scalar:
    kind: str          # flatbuffers Builder suffix: Int8, Uint8, Int32, Uint32, Float32
    size: int


@dataclass(frozen=True)
class Vector:
    of: Any            # Scalar, "string" or a table name


@dataclass(frozen=True)
class Union:
    members: tuple[str, ...]   # member tables; the union's type value is the position + 1


INT8, UINT8 = Scalar("Int8", 1), Scalar("Uint8", 1)
INT32, UINT32, FLOAT32 = Scalar("Int32", 4), Scalar("Uint32", 4), Scalar("Float32", 4)
STRING = "string"

# enum values (byte enums are int8 in the schema)
FILE_TYPE = {"UNKNOWN": 0, "DESCRIPTIONS": 1, "TENSOR_AXIS_LABELS": 2, "TENSOR_VALUE_LABELS": 3,
             "TENSOR_AXIS_SCORE_CALIBRATION": 4, "VOCABULARY": 5, "SCANN_INDEX_FILE": 6}
COLOR_SPACE = {"UNKNOWN": 0, "RGB": 1, "GRAYSCALE": 2}
BOUNDING_BOX_TYPE = {"UNKNOWN": 0, "BOUNDARIES": 1, "UPPER_LEFT": 2, "CENTER": 3}
COORDINATE_TYPE = {"RATIO": 0, "PIXEL": 1}
SCORE_TRANSFORMATION = {"IDENTITY": 0, "LOG": 1, "INVERSE_LOGISTIC": 2}

CONTENT_PROPERTIES = Union(("FeatureProperties", "ImageProperties", "BoundingBoxProperties", "AudioProperties"))
PROCESS_UNIT_OPTIONS = Union(("NormalizationOptions", "ScoreCalibrationOptions", "ScoreThresholdingOptions",
                              "BertTokenizerOptions", "SentencePieceTokenizerOptions", "RegexTokenizerOptions"))

FILES = Vector("AssociatedFile")

TABLES: dict[str, tuple[tuple[str, Any], ...]] = {
    "AssociatedFile": (("name", STRING), ("description", STRING), ("type", INT8), ("locale", STRING),
                       ("version", STRING)),
    "FeatureProperties": (),
    "ImageSize": (("width", UINT32), ("height", UINT32)),
    "ImageProperties": (("color_space", INT8), ("default_size", "ImageSize")),
    "AudioProperties": (("sample_rate", UINT32), ("channels", UINT32)),
    "BoundingBoxProperties": (("index", Vector(UINT32)), ("type", INT8), ("coordinate_type", INT8)),
    "ValueRange": (("min", INT32), ("max", INT32)),
    "Content": (("content_properties", CONTENT_PROPERTIES), ("range", "ValueRange")),
    "NormalizationOptions": (("mean", Vector(FLOAT32)), ("std", Vector(FLOAT32))),
    "ScoreCalibrationOptions": (("score_transformation", INT8), ("default_score", FLOAT32)),
    "ScoreThresholdingOptions": (("global_score_threshold", FLOAT32),),
    "BertTokenizerOptions": (("vocab_file", FILES),),
    "SentencePieceTokenizerOptions": (("sentencePiece_model", FILES), ("vocab_file", FILES)),
    "RegexTokenizerOptions": (("delim_regex_pattern", STRING), ("vocab_file", FILES)),
    "ProcessUnit": (("options", PROCESS_UNIT_OPTIONS),),
    "Stats": (("max", Vector(FLOAT32)), ("min", Vector(FLOAT32))),
    "TensorGroup": (("name", STRING), ("tensor_names", Vector(STRING))),
    "TensorMetadata": (("name", STRING), ("description", STRING), ("dimension_names", Vector(STRING)),
                       ("content", "Content"), ("process_units", Vector("ProcessUnit")), ("stats", "Stats"),
                       ("associated_files", FILES)),
    "CustomMetadata": (("name", STRING), ("data", Vector(UINT8))),
    "SubGraphMetadata": (("name", STRING), ("description", STRING),
                         ("input_tensor_metadata", Vector("TensorMetadata")),
                         ("output_tensor_metadata", Vector("TensorMetadata")), ("associated_files", FILES),
                         ("input_process_units", Vector("ProcessUnit")),
                         ("output_process_units", Vector("ProcessUnit")),
                         ("input_tensor_groups", Vector("TensorGroup")),
                         ("output_tensor_groups", Vector("TensorGroup")),
                         ("custom_metadata", Vector("CustomMetadata"))),
    "ModelMetadata": (("name", STRING), ("description", STRING), ("version", STRING),
                      ("subgraph_metadata", Vector("SubGraphMetadata")), ("author", STRING), ("license", STRING),
                      ("associated_files", FILES), ("min_parser_version", STRING)),
}


class SchemaError(ValueError):
    """A metadata dict names a field or union member the schema does not have."""


def _check_fields(table: str, value: dict) -> None:
    known = {name for name, _ in TABLES[table]}
    unknown = sorted(set(value) - known)
    if unknown:
        raise SchemaError(f"{table} has no field {unknown[0]!r} (fields: {', '.join(sorted(known))})")


def _pack_vector(builder, kind: Vector, items) -> int:
    if isinstance(kind.of, Scalar):
        builder.StartVector(kind.of.size, len(items), kind.of.size)
        prepend = getattr(builder, f"Prepend{kind.of.kind}")
        for item in reversed(items):
            prepend(item)
        return builder.EndVector()
    offsets = [builder.CreateString(i) if kind.of == STRING else _pack_table(builder, kind.of, i) for i in items]
    builder.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        builder.PrependUOffsetTRelative(off)
    return builder.EndVector()


def _pack_table(builder, table: str, value: dict) -> int:
    _check_fields(table, value)
    fields = TABLES[table]
    offsets: dict[str, int] = {}
    for name, kind in fields:                       # strings, vectors and sub-tables first
        v = value.get(name)
        if v is None or isinstance(kind, Scalar):
            continue
        if kind == STRING:
            offsets[name] = builder.CreateString(v)
        elif isinstance(kind, Vector):
            offsets[name] = _pack_vector(builder, kind, v)
        elif isinstance(kind, Union):
            member, body = v
            if member not in kind.members:
                raise SchemaError(f"{table}.{name}: {member!r} is not one of {', '.join(kind.members)}")
            offsets[name] = _pack_table(builder, member, body)
        else:
            offsets[name] = _pack_table(builder, kind, v)
    slots = sum(2 if isinstance(kind, Union) else 1 for _, kind in fields)
    builder.StartObject(slots)
    slot = 0
    for name, kind in fields:                       # then the table, fields in order
        v = value.get(name)
        if isinstance(kind, Scalar):
            getattr(builder, f"Prepend{kind.kind}Slot")(slot, v or 0, 0)
        elif isinstance(kind, Union):
            member = v[0] if v is not None else None
            builder.PrependUint8Slot(slot, kind.members.index(member) + 1 if member else 0, 0)
            slot += 1
            if v is not None:
                builder.PrependUOffsetTRelativeSlot(slot, offsets[name], 0)
        elif v is not None:
            builder.PrependUOffsetTRelativeSlot(slot, offsets[name], 0)
        slot += 1
    return builder.EndObject()


def pack(metadata: dict) -> bytes:
    """The ``ModelMetadata`` flatbuffer (with its ``M001`` identifier) for a metadata dict."""
    import flatbuffers

    builder = flatbuffers.Builder(0)
    builder.Finish(_pack_table(builder, "ModelMetadata", metadata), IDENTIFIER)
    return bytes(builder.Output())


# -- the minimum parser version: the newest schema feature the metadata uses ------------------------

_UNIT_VERSIONS = {"BertTokenizerOptions": (1, 1, 0), "SentencePieceTokenizerOptions": (1, 1, 0),
                  "RegexTokenizerOptions": (1, 2, 1)}
_SUBGRAPH_VERSIONS = {"input_process_units": (1, 1, 0), "output_process_units": (1, 1, 0),
                      "input_tensor_groups": (1, 2, 0), "output_tensor_groups": (1, 2, 0),
                      "custom_metadata": (1, 5, 0)}


def recorded_files(metadata: dict) -> list[dict]:
    """Every AssociatedFile dict the metadata names (model, subgraph, tensors and process units)."""
    def of_units(units):
        found = []
        for unit in units or ():
            _, options = unit.get("options") or (None, {})
            for key in ("sentencePiece_model", "vocab_file"):
                found += options.get(key) or []
        return found

    found = list(metadata.get("associated_files") or [])
    for sg in metadata.get("subgraph_metadata") or ():
        found += sg.get("associated_files") or []
        for key in ("input_tensor_metadata", "output_tensor_metadata"):
            for tensor in sg.get(key) or ():
                found += (tensor.get("associated_files") or []) + of_units(tensor.get("process_units"))
        found += of_units(sg.get("input_process_units")) + of_units(sg.get("output_process_units"))
    return found


def _file_versions(files) -> list[tuple[int, int, int]]:
    found = []
    for f in files:
        if f.get("type") == FILE_TYPE["VOCABULARY"]:
            found.append((1, 0, 1))
        if f.get("type") == FILE_TYPE["SCANN_INDEX_FILE"]:
            found.append((1, 4, 0))
        if f.get("version") is not None:
            found.append((1, 4, 1))
    return found


def _unit_versions(units) -> list[tuple[int, int, int]]:
    return [_UNIT_VERSIONS[u["options"][0]] for u in units or () if (u.get("options") or (None,))[0] in _UNIT_VERSIONS]


def min_parser_version(metadata: dict) -> str:
    """The oldest metadata parser that understands every field ``metadata`` uses (the schema's
    "Added in" history: a field or enum value added in version X needs a parser of at least X)."""
    found = [(1, 0, 0)] + _file_versions(recorded_files(metadata))
    for sg in metadata.get("subgraph_metadata") or ():
        found += [version for key, version in _SUBGRAPH_VERSIONS.items() if sg.get(key) is not None]
        found += _unit_versions(sg.get("input_process_units")) + _unit_versions(sg.get("output_process_units"))
        for key in ("input_tensor_metadata", "output_tensor_metadata"):
            for tensor in sg.get(key) or ():
                found += _unit_versions(tensor.get("process_units"))
                if ((tensor.get("content") or {}).get("content_properties") or (None,))[0] == "AudioProperties":
                    found.append((1, 3, 0))
    return ".".join(map(str, max(found)))


# -- reading a metadata flatbuffer back into the dict form (for round trips and tests) -------------

def _unpack_table(tab, table: str) -> dict:
    from flatbuffers import number_types as N
    from flatbuffers.table import Table

    out: dict = {}
    slot = 0
    for name, kind in TABLES[table]:
        if isinstance(kind, Union):
            member_type = tab.Offset(4 + 2 * slot)
            member = tab.Get(N.Uint8Flags, member_type + tab.Pos) if member_type else 0
            slot += 1
            o = tab.Offset(4 + 2 * slot)
            if member and o:
                sub = Table(tab.Bytes, tab.Indirect(o + tab.Pos))
                out[name] = (kind.members[member - 1], _unpack_table(sub, kind.members[member - 1]))
            slot += 1
            continue
        o = tab.Offset(4 + 2 * slot)
        slot += 1
        if not o:
            continue
        if isinstance(kind, Scalar):
            out[name] = tab.Get(getattr(N, f"{kind.kind}Flags"), o + tab.Pos)
        elif kind == STRING:
            out[name] = tab.String(o + tab.Pos).decode("utf-8")
        elif isinstance(kind, Vector):
            start, n = tab.Vector(o), tab.VectorLen(o)
            if isinstance(kind.of, Scalar):
                flags = getattr(N, f"{kind.of.kind}Flags")
                out[name] = [tab.Get(flags, start + i * kind.of.size) for i in range(n)]
            elif kind.of == STRING:
                out[name] = [tab.String(start + 4 * i).decode("utf-8") for i in range(n)]
            else:
                out[name] = [_unpack_table(Table(tab.Bytes, tab.Indirect(start + 4 * i)), kind.of) for i in range(n)]
        else:
            out[name] = _unpack_table(Table(tab.Bytes, tab.Indirect(o + tab.Pos)), kind)
    return out


def unpack(buffer: bytes) -> dict:
    """The metadata dict of a ``ModelMetadata`` flatbuffer (every field present in it, unions as
    ``(member, dict)``); ``pack(unpack(b)) == b`` for a buffer :func:`pack` wrote."""
    from flatbuffers import encode, packer
    from flatbuffers.table import Table

    buf = bytearray(buffer)
    return _unpack_table(Table(buf, encode.Get(packer.uoffset, buf, 0)), "ModelMetadata")
