"""Reading written metadata back with mobilepack's reader (a bounds-checked parser written apart
from the writer) and comparing it with what was meant to be written."""

from __future__ import annotations

from mobilepack.errors import MobilepackError
from mobilepack.metadata.labels import labels_file_bytes
from mobilepack.metadata.reader import read_metadata
from mobilepack.model.flatbuffer import FlatbufferError, parse_model

LABELS_FILE = "labels.txt"


class MetadataMismatch(MobilepackError):
    """The metadata read back differs from what was written (exit 1)."""


def verify(out: bytes, *, name: str, info, labels: tuple[str, ...], written, score_threshold,
           sample_rate, expected_files: list[str], contents: dict[str, bytes] | None = None) -> list[str]:
    """Read the metadata back and compare it with the intent; the packed file names."""
    try:
        shown = read_metadata(out, parse_model(out))
    except FlatbufferError as exc:
        raise MetadataMismatch(f"the written metadata cannot be read back: {exc.message}",
                               "report this as a bug") from None
    if shown is None:
        raise MetadataMismatch("the written model has no metadata", "report this as a bug")
    packed = list(shown.packed_files)
    problems = []

    def expect(what, got, want):
        if got != want:
            problems.append(f"{what}: wrote {want!r}, read back {got!r}")

    expect("name", shown.name, name)
    for key, value in (("version", info.version), ("author", info.author), ("license", info.license)):
        if value is not None:
            expect(key, getattr(shown, key), value)
    expect("associated files", sorted(packed), sorted(expected_files))
    if labels:
        expect("labels", shown.packed_files.get(LABELS_FILE), labels_file_bytes(labels))
        expect("label list", shown.labels(), labels)
    for file_name, data in (contents or {}).items():
        expect(file_name, shown.packed_files.get(file_name), data)
    if written is not None:
        expect("normalization", _rounded(shown.normalization), _rounded((tuple(written[0]), tuple(written[1]))))
    if score_threshold is not None:
        got = [t.score_threshold for t in shown.outputs if t.score_threshold is not None]
        expect("score threshold", round(got[0], 6) if got else None, round(float(score_threshold), 6))
    if sample_rate is not None:
        rates = [t.sample_rate for t in shown.inputs if t.sample_rate]
        expect("sample rate", rates[0] if rates else None, sample_rate)
    if problems:
        raise MetadataMismatch("metadata read back differs from what was written: " + "; ".join(problems),
                               "report this as a bug with the model attached")
    return packed


def _rounded(pair):
    if pair is None:
        return None
    return tuple(tuple(round(float(v), 5) for v in vals) for vals in pair)
