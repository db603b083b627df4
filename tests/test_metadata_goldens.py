"""mobilepack's metadata writer against golden files made by tflite-support 0.4.4's own writers.

``tests/goldens/metadata/make_goldens.py`` made each golden in a separate Python 3.11 environment
from a committed input model; here the same ``attach(...)`` call runs through mobilepack and the
model bytes must be the same.

The one difference on purpose: tflite-support stamps each zip entry of the associated files with
the time of writing; mobilepack stamps 1980-01-01 00:00, so the same inputs always give the same
bytes (caches and reproducible builds depend on that).  ``at_fixed_zip_date`` gives the golden
mobilepack's date before comparing; every other byte is compared as it is."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
from pathlib import Path

import pytest

from mobilepack.metadata import GeneralInfo, ScoreCalibration, attach
from mobilepack.metadata.packing import ZIP_DATE
from mobilepack.metadata.reader import METADATA_NAME
from mobilepack.metadata.schema import pack, unpack
from mobilepack.model.flatbuffer import parse_model
from mobilepack.model.spec import Normalization

GOLDENS = Path(__file__).parent / "goldens" / "metadata"
MANIFEST = json.loads((GOLDENS / "manifest.json").read_text(encoding="utf-8"))
CASES = [c for c in MANIFEST["cases"] if c["compare"]]
DOS_TIME = 0                                                                # 00:00:00
DOS_DATE = ((ZIP_DATE[0] - 1980) << 9) | (ZIP_DATE[1] << 5) | ZIP_DATE[2]   # 1980-01-01


def at_fixed_zip_date(data: bytes) -> bytes:
    """``data`` with every zip entry's modification time and date set to mobilepack's fixed date
    (local headers and central directory); nothing else changes."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
    for info in infos:                                   # local file headers: time at +10, date at +12
        assert out[info.header_offset:info.header_offset + 4] == b"PK\x03\x04"
        struct.pack_into("<HH", out, info.header_offset + 10, DOS_TIME, DOS_DATE)
    assert out[-22:-18] == b"PK\x05\x06", "the archive has a comment"
    count, size = struct.unpack_from("<HI", out, len(out) - 22 + 10)
    pos = len(out) - 22 - size
    for _ in range(count):                               # central directory: time at +12, date at +14
        assert out[pos:pos + 4] == b"PK\x01\x02"
        struct.pack_into("<HH", out, pos + 12, DOS_TIME, DOS_DATE)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", out, pos + 28)
        pos += 46 + name_len + extra_len + comment_len
    return bytes(out)


def _file(tmp_path: Path, name: str, lines: list[str]) -> Path:
    p = tmp_path / name
    p.write_bytes("".join(f"{x}\n" for x in lines).encode("utf-8"))
    return p


def attach_case(case: dict, tmp_path: Path) -> bytes:
    """The case's attach(...) call through mobilepack."""
    if case.get("over"):
        model = (GOLDENS / f"{case['over']}.tflite").read_bytes()
    else:
        model = (GOLDENS / "inputs" / f"{case['input']}.tflite").read_bytes()
        assert hashlib.sha256(model).hexdigest() == case["input_sha256"], "the input model changed"
    norm = Normalization(tuple(case["mean"]), tuple(case["std"]), "flags") if "mean" in case else None
    cal = None
    if case.get("score_calibration"):
        sc = case["score_calibration"]
        cal = ScoreCalibration(str(_file(tmp_path, "my-calibration.csv", sc["lines"])), sc["transformation"],
                               sc["default_score"])
    result = attach(model, task=case["task"], labels=case.get("labels"), normalization=norm,
                    info=GeneralInfo(**case["info"]), score_threshold=case.get("score_threshold"),
                    vocab=_file(tmp_path, "vocab.txt", case["vocab"]) if case.get("vocab") else None,
                    tokenizer=case.get("tokenizer"), sample_rate=case.get("sample_rate"),
                    channels=case.get("channels", 1), padding=case.get("padding"), score_calibration=cal,
                    value_ranges={k: tuple(v) for k, v in case.get("value_ranges", {}).items()} or None)
    return result.model


def first_difference(a: bytes, b: bytes) -> str:
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"{len(a)} vs {len(b)} bytes, first difference at byte {at}: {a[at:at + 16].hex()} vs {b[at:at + 16].hex()}"


@pytest.mark.smoke
@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_same_bytes_as_tflite_support(case, tmp_path):
    golden = (GOLDENS / f"{case['case']}.tflite").read_bytes()
    assert hashlib.sha256(golden).hexdigest() == case["golden_sha256"]
    ours = attach_case(case, tmp_path)
    expected = at_fixed_zip_date(golden)
    assert ours == expected, first_difference(ours, expected)


def test_the_comparison_sees_one_changed_field(tmp_path):
    """A metadata field changed by one character (a description) is a failure of the comparison."""
    case = next(c for c in CASES if c["case"] == "image_classification")
    golden = at_fixed_zip_date((GOLDENS / f"{case['case']}.tflite").read_bytes())
    changed = dict(case, info={**case["info"], "description": case["info"]["description"] + "!"})
    ours = attach_case(changed, tmp_path)
    assert ours != golden
    ours = attach_case(dict(case, labels=["a", "b", "c", "e"]), tmp_path)   # same length, one byte
    assert len(ours) == len(golden) and sum(x != y for x, y in zip(ours, golden)) >= 1


def test_zip_dates_are_the_only_normalization():
    """The golden's zip entries carry tflite-support's time of writing; at_fixed_zip_date changes those
    four bytes per header and nothing else."""
    golden = (GOLDENS / "image_classification.tflite").read_bytes()
    fixed = at_fixed_zip_date(golden)
    changed = [i for i, (x, y) in enumerate(zip(golden, fixed)) if x != y]
    with zipfile.ZipFile(io.BytesIO(golden)) as zf:
        (info,) = zf.infolist()
    allowed = set(range(info.header_offset + 10, info.header_offset + 14))
    central = len(golden) - 22 - struct.unpack_from("<I", golden, len(golden) - 22 + 12)[0]
    allowed |= set(range(central + 12, central + 16))
    assert len(golden) == len(fixed) and set(changed) <= allowed


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_metadata_round_trips(case):
    """unpack reads every field the golden's metadata holds; packing that again gives its bytes."""
    golden = (GOLDENS / f"{case['case']}.tflite").read_bytes()
    raw = parse_model(golden).metadata_bytes(golden, METADATA_NAME)
    assert pack(unpack(raw)) == bytes(raw)
