"""HEIC photos with every orientation, written by the real encoder (pillow-heif: libheif + x265,
lossless RGB so the pixels survive exactly), for the Python reader's tests and the Android app's
orientation rule in the JVM harness (no tests here).

Kinds, each from the same stored pixels:

* ``irot{o}.heic`` (o = 1..8): what phones write — the orientation as the container's ``irot``
  rotation and ``imir`` mirror of the primary image, and an EXIF block saying the same ``o``
  (pillow-heif turns an EXIF orientation into irot/imir on save, as iPhones and Android cameras store
  them);
* ``irot{o}_exif1.heic``: the same transforms, but the EXIF block's orientation rewritten to 1 (a
  tool that edited the EXIF, not the container): the transforms are normative (ISO/IEC 23008-12), so
  still ``o``;
* ``exif6_only.heic``: no transforms, EXIF orientation 6: displayed as stored (orientation 1).

:func:`write` returns {path: (the orientation a correct reader applies, the EXIF block's orientation)}."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

ORIENTATION_TAG = 0x0112


def upright(stored: np.ndarray, orientation: int) -> np.ndarray:
    """``stored`` turned upright by an EXIF orientation code (Pillow's exif_transpose, the reference)."""
    from PIL import Image, ImageOps

    img = Image.fromarray(stored)
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    img.info["exif"] = exif.tobytes()
    return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))


def _heic(stored: np.ndarray, orientation: int) -> bytes:
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    buf = io.BytesIO()
    Image.fromarray(stored).save(buf, format="HEIF", quality=-1, chroma=444, matrix_coefficients=0,
                                 exif=exif.tobytes())
    return buf.getvalue()


def _set_exif_orientation(data: bytes, orientation: int) -> bytes:
    """``data`` with the Orientation entry of its (big-endian) EXIF block set to ``orientation``."""
    tiff = data.find(b"MM\x00*")
    entry = data.find(b"\x01\x12\x00\x03\x00\x00\x00\x01", tiff)
    assert tiff >= 0 and entry > tiff, "no big-endian EXIF Orientation entry in the HEIC"
    out = bytearray(data)
    out[entry + 8:entry + 10] = orientation.to_bytes(2, "big")
    return bytes(out)


def write(folder: Path, stored: np.ndarray) -> dict[Path, tuple[int, int]]:
    """The HEIC fixtures of the module docstring in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    want: dict[Path, tuple[int, int]] = {}
    for o in range(1, 9):
        data = _heic(stored, o)
        assert (b"irot" in data or b"imir" in data) == (o != 1), f"pillow-heif wrote no transform for {o}"
        (folder / f"irot{o}.heic").write_bytes(data)
        want[folder / f"irot{o}.heic"] = (o, o)
        if o in (3, 5, 6):
            (folder / f"irot{o}_exif1.heic").write_bytes(_set_exif_orientation(data, 1))
            want[folder / f"irot{o}_exif1.heic"] = (o, 1)
    (folder / "exif6_only.heic").write_bytes(_set_exif_orientation(_heic(stored, 1), 6))
    want[folder / "exif6_only.heic"] = (1, 6)
    return want
