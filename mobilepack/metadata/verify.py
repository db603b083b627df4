"""Reading written metadata back (tflite-support's displayer and mobilepack's own reader) and
comparing it with what was meant to be written."""

from __future__ import annotations

import json

from mobilepack.errors import MobilepackError
from mobilepack.metadata.labels import labels_file_bytes
from mobilepack.metadata.reader import read_metadata
from mobilepack.model.flatbuffer import parse_model

LABELS_FILE = "labels.txt"


class MetadataMismatch(MobilepackError):
    """The metadata read back differs from what was written (exit 1)."""


def verify(out: bytes, *, name: str, info, labels: tuple[str, ...], written, score_threshold,
            sample_rate, expected_files: list[str]) -> list[str]:
    """Read the metadata back with tflite-support's displayer and compare with the intent."""
    from mobilepack.metadata.tasks import load_tflite_support

    _metadata = load_tflite_support()

    try:
        displayer = _metadata.MetadataDisplayer.with_model_buffer(out)
        shown = json.loads(displayer.get_metadata_json())
        packed = list(displayer.get_packed_associated_file_list())
    except (ValueError, RuntimeError) as exc:
        raise MetadataMismatch(f"the written metadata cannot be read back: {exc}", "report this as a bug") from None
    problems = []

    def expect(what, got, want):
        if got != want:
            problems.append(f"{what}: wrote {want!r}, read back {got!r}")

    expect("name", shown.get("name"), name)
    for key, value in (("version", info.version), ("author", info.author), ("license", info.license)):
        if value is not None:
            expect(key, shown.get(key), value)
    expect("associated files", sorted(packed), sorted(expected_files))
    if len(packed) != len(set(packed)):
        problems.append(f"duplicate associated files: {packed}")
    if labels:
        expect("labels", displayer.get_associated_file_buffer(LABELS_FILE), labels_file_bytes(labels))
    sg = (shown.get("subgraph_metadata") or [{}])[0]
    if written is not None:
        norms = [pu["options"] for t in sg.get("input_tensor_metadata", []) for pu in t.get("process_units", [])
                 if pu.get("options_type") == "NormalizationOptions"]
        got = (tuple(norms[0].get("mean", [])), tuple(norms[0].get("std", []))) if norms else None
        expect("normalization", _rounded(got), _rounded((tuple(written[0]), tuple(written[1]))))
    if score_threshold is not None:
        units = [pu["options"] for t in sg.get("output_tensor_metadata", []) for pu in t.get("process_units", [])
                 if pu.get("options_type") == "ScoreThresholdingOptions"]
        got = units[0].get("global_score_threshold") if units else None
        expect("score threshold", None if got is None else round(got, 6), round(float(score_threshold), 6))
    if sample_rate is not None:
        props = [t["content"]["content_properties"] for t in sg.get("input_tensor_metadata", [])
                 if t.get("content", {}).get("content_properties_type") == "AudioProperties"]
        expect("sample rate", props[0].get("sample_rate") if props else None, sample_rate)
    ours = read_metadata(out, parse_model(out))  # what `inspect` will see must agree too
    if ours is None or (labels and ours.labels() != labels):
        problems.append("mobilepack's own reader disagrees with tflite-support's")
    if problems:
        raise MetadataMismatch("metadata read back differs from what was written: " + "; ".join(problems),
                               "report this as a bug with the model attached")
    return packed


def _rounded(pair):
    if pair is None:
        return None
    return tuple(tuple(round(float(v), 5) for v in vals) for vals in pair)
