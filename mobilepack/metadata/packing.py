"""Putting metadata into a model: the ``TFLITE_METADATA`` buffer and the associated files.

:func:`populate` takes the model bytes, a metadata dict (see :mod:`mobilepack.metadata.schema`) and
the associated files, and returns the new model:

1. the metadata gets its minimum parser version, and every associated file it names is named by
   its base name (apps look files up by that name in the archive);
2. the model is rebuilt with the metadata flatbuffer as a buffer and a ``TFLITE_METADATA`` entry in
   ``Model.metadata`` (an existing entry has its buffer replaced in place), using LiteRT's generated
   flatbuffer classes for the TFLite schema;
3. the associated files are appended as an uncompressed zip archive, in the order given (an empty
   archive when there are none).

Zip entries carry a fixed date (1980-01-01 00:00, the earliest a zip can hold), so the same inputs
always give the same bytes; writers that stamp the current time differ from these in those fields
only."""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field

from mobilepack.metadata import schema
from mobilepack.metadata.schema import recorded_files

METADATA_NAME = "TFLITE_METADATA"
MODEL_IDENTIFIER = b"TFL3"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = 0o600 << 16           # rw------- for the owner, as an archive member


@dataclass
class Draft:
    """What a task's writer returns: the metadata dict and the files it names, by path, in the
    order they are packed."""

    metadata: dict
    files: list[str] = field(default_factory=list)
    contents: dict[str, bytes] = field(default_factory=dict)   # files given by content, packed after ``files``


def finalize(metadata: dict) -> bytes:
    """The metadata flatbuffer as it goes into the model: base names, minimum parser version."""
    for f in recorded_files(metadata):
        f["name"] = os.path.basename(f["name"])
    metadata["min_parser_version"] = schema.min_parser_version(metadata)
    return schema.pack(metadata)


def with_metadata_buffer(model: bytes, metadata: bytes) -> bytes:
    """The model flatbuffer rebuilt with ``metadata`` as its ``TFLITE_METADATA`` buffer."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as tfl

    from mobilepack.model.tflite_edit import model_builder, model_t

    m = model_t(model)   # buffers stored after the flatbuffer (AI Edge Quantizer's output) inline again
    buffer = tfl.BufferT()
    buffer.data = np.frombuffer(metadata, dtype=np.uint8)
    existing = [e for e in (m.metadata or []) if (e.name or b"").decode("utf-8", "replace") == METADATA_NAME]
    for entry in existing:
        m.buffers[entry.buffer] = buffer
    if not existing:
        m.buffers = [*(m.buffers or []), buffer]
        entry = tfl.MetadataT()
        entry.name = METADATA_NAME
        entry.buffer = len(m.buffers) - 1
        m.metadata = [*(m.metadata or []), entry]
    # sized for the whole model up front: growing by doubling copies a large model's weights again and again
    builder = model_builder(len(model) + len(metadata) + (1 << 20))
    builder.Finish(m.Pack(builder), MODEL_IDENTIFIER)
    return bytes(builder.Output())


def append_files(model: bytes, files: dict[str, bytes]) -> bytes:
    """``model`` followed by a zip archive of ``files`` (stored, fixed date).  With no files the
    archive is empty (its 22-byte end record), as TFLite's metadata populator writes it too."""
    out = io.BytesIO(model)
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a") as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = ZIP_FILE_MODE
            zf.writestr(info, data)
    return out.getvalue()


def populate(model: bytes, draft: Draft) -> bytes:
    """The model with ``draft``'s metadata and files (see the module docstring)."""
    named = {os.path.basename(f["name"]) for f in recorded_files(draft.metadata)}
    files: dict[str, bytes] = {}
    for path in draft.files:
        with open(path, "rb") as fh:
            files[os.path.basename(path)] = fh.read()
    files.update(draft.contents)
    missing = sorted(named - set(files))
    if missing:
        raise ValueError(f"the metadata names {missing[0]!r}, but no such file is packed")
    return append_files(with_metadata_buffer(model, finalize(draft.metadata)), files)
