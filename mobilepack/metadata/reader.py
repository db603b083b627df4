"""Reading TFLite metadata in pure Python (no TensorFlow, no native code).

The metadata is a second flatbuffer (identifier ``M001``) in the model buffer named
``TFLITE_METADATA``; associated files (labels, vocabularies) are a zip archive appended
to the model.  Both are read with bounds checks, so ``inspect`` can read metadata of
any file without trusting it."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from typing import Any

from mobilepack.model.flatbuffer import CheckedBuffer, CheckedTable, FbModel, FlatbufferError

METADATA_NAME = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
MAX_ASSOCIATED_FILE_BYTES = 64 * 1024 * 1024

FILE_TYPES = {0: "unknown", 1: "descriptions", 2: "tensor_axis_labels", 3: "tensor_value_labels",
              4: "tensor_axis_score_calibration", 5: "vocabulary", 6: "scann_index_file"}
PROCESS_UNITS = {1: "normalization", 2: "score_calibration", 3: "score_thresholding", 4: "bert_tokenizer",
                 5: "sentencepiece_tokenizer", 6: "regex_tokenizer"}
CONTENT = {0: None, 1: "feature", 2: "image", 3: "bounding_box", 4: "audio"}


@dataclass(frozen=True)
class AssociatedFile:
    name: str
    type: str
    owner: str            # "model", "subgraph", "input:NAME" or "output:NAME"
    description: str = ""
    locale: str = ""


@dataclass(frozen=True)
class TensorMetadata:
    name: str
    description: str
    content: str | None
    process_units: tuple[str, ...]
    normalization: tuple[tuple[float, ...], tuple[float, ...]] | None
    value_range: tuple[tuple[float, ...], tuple[float, ...]] | None   # (min, max) from stats
    files: tuple[AssociatedFile, ...]
    sample_rate: int | None = None
    channels: int | None = None
    score_threshold: float | None = None


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    description: str
    version: str
    author: str
    license: str
    min_parser_version: str
    inputs: tuple[TensorMetadata, ...]
    outputs: tuple[TensorMetadata, ...]
    output_groups: tuple[tuple[str, tuple[str, ...]], ...]
    files: tuple[AssociatedFile, ...]          # every associated file named anywhere
    input_units: tuple[str, ...] = ()          # subgraph-level input process units (e.g. a BERT tokenizer)
    packed_files: dict[str, bytes] = field(default_factory=dict)   # the files actually in the zip

    @property
    def normalization(self):
        for t in self.inputs:
            if t.normalization:
                return t.normalization
        return None

    def label_file(self) -> AssociatedFile | None:
        for f in self.files:
            if f.type in ("tensor_axis_labels", "tensor_value_labels") and f.owner.startswith("output:"):
                return f
        return None

    def labels(self) -> tuple[str, ...] | None:
        f = self.label_file()
        if f is None or f.name not in self.packed_files:
            return None
        from mobilepack.metadata.labels import split_labels

        return split_labels(self.packed_files[f.name].decode("utf-8", "replace"))

    def task(self) -> str:
        """The task the metadata describes (TFLite metadata stores none by name): the first
        registered task, by priority, whose ``from_metadata`` accepts it, else generic."""
        from mobilepack.tasks import from_metadata

        return from_metadata(self)


def _file(t: CheckedTable, owner: str) -> AssociatedFile:
    return AssociatedFile(t.string(0, "name") or "", FILE_TYPES.get(t.scalar(2, "b", 0), "unknown"), owner,
                          t.string(1, "description") or "", t.string(3, "locale") or "")


def _tensor(t: CheckedTable, kind: str) -> TensorMetadata:
    name = t.string(0, "name") or ""
    owner = f"{kind}:{name}"
    content = None
    sample_rate = channels = None
    c = t.table(3, "content")
    if c is not None:
        ctype = c.scalar(0, "B", 0)
        content = CONTENT.get(ctype, f"content_{ctype}")
        props = c.table(1, "content_properties") if ctype else None
        if props is not None and content == "audio":
            sample_rate, channels = props.scalar(0, "I", 0), props.scalar(1, "I", 0)
        c.table(2, "range")
    units, norm, threshold = [], None, None
    for pu in t.tables(4, "process_units"):
        ptype = pu.scalar(0, "B", 0)
        units.append(PROCESS_UNITS.get(ptype, f"unit_{ptype}"))
        opts = pu.table(1, "options") if ptype else None
        if opts is None:
            continue
        if ptype == 1:
            norm = (tuple(float(v) for v in opts.scalars(0, "f", "mean")),
                    tuple(float(v) for v in opts.scalars(1, "f", "std")))
        elif ptype == 3:
            threshold = float(opts.scalar(0, "f", 0.0))
        elif ptype == 6:
            opts.tables(1, "vocab_file")
        elif ptype in (4, 5):
            opts.tables(0, "vocab_file")
    stats = t.table(5, "stats")
    value_range = None
    if stats is not None:
        mx, mn = stats.scalars(0, "f", "max"), stats.scalars(1, "f", "min")
        if mx or mn:
            value_range = (tuple(float(v) for v in mn), tuple(float(v) for v in mx))
    files = tuple(_file(f, owner) for f in t.tables(6, "associated_files"))
    return TensorMetadata(name, t.string(1, "description") or "", content, tuple(units), norm, value_range, files,
                          sample_rate, channels, threshold)


def _unit_files(t: CheckedTable, owner: str) -> list[AssociatedFile]:
    out = []
    for pu in t.tables(4, "process_units"):
        ptype = pu.scalar(0, "B", 0)
        opts = pu.table(1, "options") if ptype in (4, 5, 6) else None
        if opts is not None:
            out += [_file(f, owner) for f in opts.tables(1 if ptype == 6 else 0, "vocab_file")]
    return out


def parse_metadata(buffer: bytes) -> ModelMetadata:
    """Parse the ``TFLITE_METADATA`` flatbuffer (bounds-checked)."""
    buf = CheckedBuffer(buffer, "metadata")
    if len(buffer) >= 8 and bytes(buffer[4:8]) != METADATA_IDENTIFIER:
        buf.fail("no M001 identifier")
    root = buf.root()
    files = [_file(f, "model") for f in root.tables(6, "associated_files")]
    inputs: list[TensorMetadata] = []
    outputs: list[TensorMetadata] = []
    groups = []
    input_units: list[str] = []
    for sg in root.tables(3, "subgraph_metadata")[:1]:
        files += [_file(f, "subgraph") for f in sg.tables(4, "associated_files")]
        for kind, index, target in (("input", 2, inputs), ("output", 3, outputs)):
            for t in sg.tables(index, f"{kind}_tensor_metadata"):
                md = _tensor(t, kind)
                target.append(md)
                files += list(md.files) + _unit_files(t, f"{kind}:{md.name}")
        for g in sg.tables(8, "output_tensor_groups"):
            groups.append((g.string(0, "name") or "", tuple(g.strings(1, "tensor_names"))))
        for pu in sg.tables(5, "input_process_units"):
            ptype = pu.scalar(0, "B", 0)
            input_units.append(PROCESS_UNITS.get(ptype, f"unit_{ptype}"))
            opts = pu.table(1, "options") if ptype in (4, 5, 6) else None
            if opts is not None:
                files += [_file(f, "subgraph") for f in opts.tables(1 if ptype == 6 else 0, "vocab_file")]
        sg.tables(6, "output_process_units")
    return ModelMetadata(root.string(0, "name") or "", root.string(1, "description") or "",
                         root.string(2, "version") or "", root.string(4, "author") or "",
                         root.string(5, "license") or "", root.string(7, "min_parser_version") or "",
                         tuple(inputs), tuple(outputs), tuple(groups), tuple(files), tuple(input_units))


def packed_files(data: bytes) -> dict[str, bytes]:
    """Associated files in the zip appended to the model ({} when there is none)."""
    if b"PK\x05\x06" not in data[-(65536 + 22):]:
        return {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            out = {}
            for info in zf.infolist():
                if not info.filename or info.is_dir() or info.file_size > MAX_ASSOCIATED_FILE_BYTES:
                    continue
                out[info.filename] = zf.read(info)
            return out
    except Exception as exc:  # noqa: BLE001 - zipfile/zlib raise many kinds on hostile archives
        # (BadZipFile, zlib.error, IndexError on empty names, struct.error, UnicodeDecodeError, ...)
        raise FlatbufferError(f"the model's associated-file archive is corrupted: {exc}",
                              "re-attach the metadata with `mobilepack metadata`") from None


def read_metadata(data: bytes, model: FbModel) -> ModelMetadata | None:
    """The model's metadata with its packed files, or ``None`` when it has none."""
    raw = model.metadata_bytes(data, METADATA_NAME)
    if raw is None:
        return None
    md = parse_metadata(raw)
    return ModelMetadata(**{**md.__dict__, "packed_files": packed_files(data)})


def metadata_dict(md: ModelMetadata | None, *, first_labels: int = 5) -> dict[str, Any] | None:
    """The ``metadata`` entry of the inspect JSON."""
    if md is None:
        return None
    labels = md.labels()
    norm = md.normalization
    return {
        "task": md.task(),
        "name": md.name, "description": md.description, "version": md.version, "author": md.author,
        "license": md.license, "min_parser_version": md.min_parser_version,
        "labels": None if labels is None else {"count": len(labels), "first": list(labels[:first_labels]),
                                                "file": md.label_file().name},
        "normalization": None if norm is None else {"mean": list(norm[0]), "std": list(norm[1])},
        "associated_files": [{"name": f.name, "type": f.type, "owner": f.owner,
                              "bytes": len(md.packed_files[f.name]) if f.name in md.packed_files else None}
                             for f in md.files],
        "inputs": [_tensor_dict(t) for t in md.inputs],
        "outputs": [_tensor_dict(t) for t in md.outputs],
    }


def _tensor_dict(t: TensorMetadata) -> dict[str, Any]:
    d: dict[str, Any] = {"name": t.name, "description": t.description, "content": t.content,
                         "process_units": list(t.process_units)}
    if t.value_range:
        d["value_range"] = {"min": list(t.value_range[0]), "max": list(t.value_range[1])}
    if t.sample_rate is not None:
        d["sample_rate"], d["channels"] = t.sample_rate, t.channels
    if t.score_threshold is not None:
        d["score_threshold"] = t.score_threshold
    return d
