"""Calibration/validation/evaluation readers: formats, shape and dtype checks, labels; property test."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image

from mobilepack.data.readers import read_samples
from mobilepack.errors import DataError, MobilepackError
from mobilepack.model.spec import ModelSpec, Normalization, SourceFormat, TensorSpec

IMG = ModelSpec("m", "m", SourceFormat.KERAS, (TensorSpec("image", (1, 4, 4, 3), "float32"),),
                (TensorSpec("out", (1, 2), "float32"),))
TWO = ModelSpec("m", "m", SourceFormat.KERAS, (TensorSpec("a", (2, 3), "float32"), TensorSpec("b", (2, 1), "int32")),
                (TensorSpec("out", (2, 2), "float32"),))


def _folder(tmp_path, classes=("cat", "dog"), per=3):
    for c in classes:
        (tmp_path / c).mkdir()
        for i in range(per):
            Image.new("RGB", (8, 8), (i * 40, 10, 200)).save(tmp_path / c / f"{i}.png")
    return tmp_path


def test_image_folder_resizes_normalizes_and_labels(tmp_path):
    folder = _folder(tmp_path)
    norm = Normalization((127.5,), (127.5,), "flags")
    s = read_samples(folder, IMG, normalization=norm)
    assert s.kind == "images" and s.count == 6
    x = s.batches[0]["image"]
    assert x.shape == (1, 4, 4, 3) and x.dtype == np.float32
    assert np.isclose(x[0, 0, 0, 2], (200 - 127.5) / 127.5)
    assert s.class_names == ("cat", "dog") and s.labels == (0, 0, 0, 1, 1, 1)


def test_image_folder_without_normalization_is_an_error(tmp_path):
    with pytest.raises(DataError) as err:
        read_samples(_folder(tmp_path), IMG)
    assert "--mean/--std" in err.value.hint


def test_in_model_normalization_feeds_raw_pixels(tmp_path):
    s = read_samples(_folder(tmp_path), IMG, normalization=Normalization((0.0,), (255.0,), "model_layer", True))
    assert s.batches[0]["image"].max() == 200.0


def test_corrupt_image_is_named(tmp_path):
    folder = _folder(tmp_path)
    (folder / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataError, match="broken.png"):
        read_samples(folder, IMG, normalization=Normalization((0.0,), (1.0,), "flags"))


def test_npz_per_input_batches_and_dtypes(tmp_path):
    np.savez(tmp_path / "d.npz", a=np.ones((5, 3), np.float64), b=np.arange(5, dtype=np.int16)[:, None])
    s = read_samples(tmp_path / "d.npz", TWO)
    assert len(s.batches) == 2 and s.count == 4  # batch 2: the odd sample is not used
    assert s.batches[0]["a"].dtype == np.float32 and s.batches[0]["b"].dtype == np.int32


@pytest.mark.parametrize("arrays,fragment", [
    ({"a": np.ones((4, 3), np.float32)}, "no key for input(s) ['b']"),
    ({"a": np.ones((4, 5), np.float32), "b": np.ones((4, 1), np.int32)}, "expected [N, 3]"),
    ({"a": np.ones((4, 3), np.float32), "b": np.ones((4, 1), np.float32)}, "dtype float32, expected int32"),
    ({"a": np.ones((4, 3), np.float32), "b": np.ones((3, 1), np.int32)}, "different sample counts"),
])
def test_npz_mismatches_name_expected_and_got(tmp_path, arrays, fragment):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError) as err:
        read_samples(tmp_path / "d.npz", TWO)
    assert fragment in err.value.message


def test_npy_for_multi_input_model_is_refused(tmp_path):
    np.save(tmp_path / "d.npy", np.ones((4, 3), np.float32))
    with pytest.raises(DataError, match="use .npz"):
        read_samples(tmp_path / "d.npy", TWO)


def test_labelled_npz(tmp_path):
    np.savez(tmp_path / "e.npz", x=np.zeros((3, 4, 4, 3), np.float32), y=np.array([1, 0, 1]))
    s = read_samples(tmp_path / "e.npz", IMG)
    assert s.labels == (1, 0, 1)


def test_random_is_seeded_and_within_integer_range():
    q = ModelSpec("m", "m", SourceFormat.KERAS, (TensorSpec("q", (1, 6), "int8"),), (TensorSpec("o", (1, 1), "int8"),))
    a, b = read_samples("random", q, limit=5), read_samples("random", q, limit=5)
    assert all(np.array_equal(x["q"], y["q"]) for x, y in zip(a.batches, b.batches))
    assert all(-128 <= v.min() and v.max() <= 127 for bt in a.batches for v in bt.values())


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_as_npz_or_npy_never_crash(tmp_path_factory, blob):
    """Property: whatever bytes a data file holds, the reader returns samples or raises a MobilepackError."""
    d = tmp_path_factory.mktemp("blob")
    for name in ("x.npz", "x.npy"):
        (d / name).write_bytes(blob)
        try:
            read_samples(d / name, IMG)
        except MobilepackError as exc:
            assert exc.exit_code == 2


@pytest.mark.parametrize("suffix, options", [(".webp", {"lossless": True}), (".avif", {"quality": 100})])
def test_webp_and_avif_are_read_upright_like_the_apps(tmp_path, suffix, options):
    """The phone's picker returns WebP and AVIF too: the reader lists them and applies their EXIF
    orientation (what the Android app reads with the platform ExifInterface); a rotated WebP/AVIF
    gives the pixels of the same image stored upright as PNG."""
    from mobilepack.data.readers import list_images, load_image

    y, x = np.mgrid[0:20, 0:32]
    stored = np.stack([x * 8, y * 12, (x + y) * 4], -1).astype(np.uint8)     # smooth: survives lossy AVIF
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / f"rotated{suffix}", exif=exif, **options)
    Image.fromarray(np.rot90(stored, -1).copy()).save(tmp_path / "upright.png")
    assert [p.name for p in list_images(tmp_path)] == [f"rotated{suffix}", "upright.png"]
    got = load_image(tmp_path / f"rotated{suffix}", 8, 5, 3)
    want = load_image(tmp_path / "upright.png", 8, 5, 3)
    assert got.shape == want.shape == (8, 5, 3)
    if suffix == ".webp":    # lossless: the same pixels exactly
        assert np.array_equal(got, want)
    else:                    # AVIF is lossy even at quality 100: the orientation shows in the layout
        assert np.abs(got - want).mean() < 8 < np.abs(got - want[::-1, ::-1]).mean()


def test_heic_is_read_upright_by_its_container_transforms(tmp_path):
    """HEIC (pillow-heif): every orientation stored as irot/imir (with the EXIF block saying the same,
    as phones write it), irot with the EXIF orientation rewritten to 1, and an EXIF orientation 6
    without transforms: the reader's tensor equals the upright reference computed from the stored
    pixels by the transforms alone (the rule the Android app applies, test_android_jvm).  The check
    discriminates: the two wrong rules — the EXIF orientation applied on top of libheif's transforms
    (a double rotation), or the EXIF tag followed instead of the transforms — give another image for
    every file where they differ from the right one."""
    from mobilepack.data.readers import list_images, load_image
    from tests.heif_fixtures import upright, write

    y, x = np.mgrid[0:12, 0:20]
    stored = np.stack([x * 12, y * 20, (x + 2 * y) % 256], -1).astype(np.uint8)
    stored[:4, :5] = (250, 30, 10)
    fixtures = write(tmp_path, stored)
    assert sorted(list_images(tmp_path)) == sorted(fixtures)
    wrong_rules = 0
    for path, (orientation, tag) in fixtures.items():
        reference = upright(stored, orientation)
        h, w = reference.shape[:2]
        assert np.array_equal(load_image(path, h, w, 3), reference.astype(np.float32)), path.name
        double, exif_rule = upright(reference, tag), upright(stored, tag)
        for wrong, applies in ((double, tag != 1), (exif_rule, tag != orientation)):
            if applies:
                assert wrong.shape != reference.shape or not np.array_equal(wrong, reference), path.name
                wrong_rules += 1
    assert wrong_rules == 8 + 4   # double: irot2..8 and exif6_only; EXIF instead: the 3 exif1 files and exif6_only
