"""Readers for calibration, validation and evaluation data.

Sources: a folder of images (jpg/png/webp/avif/heic, searched recursively; a folder per class
gives labels), ``.npy`` (N, ...) for single-input models, ``.npz`` with a key per
input name (``x``/``y`` for labelled data), or the literal ``random``.
Every reader checks shapes and dtypes against the model's inputs and yields
per-sample feeds with the model's batch size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobilepack.errors import DataError, UsageError
from mobilepack.model.spec import ModelSpec, Normalization, TensorSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".avif", ".heic", ".heif")   # Pillow (HEIF: pillow-heif) reads each
RANDOM = "random"


@dataclass(frozen=True)
class Samples:
    """``batches``: one dict {input name: array with the model's batch dimension} per batch."""

    batches: tuple[dict[str, Any], ...]
    source: str
    kind: str  # "images" | "npy" | "npz" | "random"
    labels: tuple[int, ...] | None = None
    class_names: tuple[str, ...] | None = None

    @property
    def count(self) -> int:
        if not self.batches:
            return 0
        first = next(iter(self.batches[0].values()))
        return len(self.batches) * int(first.shape[0])


def _image_input(spec: ModelSpec) -> TensorSpec:
    if len(spec.inputs) != 1 or len(spec.inputs[0].shape) != 4 or spec.inputs[0].shape[-1] not in (1, 3, 4):
        shapes = ", ".join(f"{t.name} {list(t.shape)}" for t in spec.inputs)
        raise DataError(f"an image folder needs a model with one NHWC image input (1, 3 or 4 channels); "
                        f"this model has: {shapes}", "pass .npy or .npz data instead")
    return spec.inputs[0]


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_image(path: Path, height: int, width: int, channels: int):
    """An image file as the model's pixels (height x width x channels, 0..255 float32), by the
    same steps as the demo apps (templates/android ImageInput.kt, PhotoDecoder.kt): upright, converted
    to L/RGB/RGBA, then :func:`area_resize`.

    Upright: per the EXIF orientation, except for HEIF (HEIC), whose orientation is the container's
    ``irot``/``imir`` transforms of the primary image (ISO/IEC 23008-12: they are normative, an EXIF
    orientation in the file only describes them).  pillow-heif's libheif applies those transforms
    while decoding, so an EXIF orientation is not applied on top (it would rotate twice, or follow a
    tag that disagrees with ``irot``).  The Android app computes the same transform from the same boxes."""
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    _register_heif()
    try:
        with Image.open(path) as img:
            if img.format != "HEIF":
                img = ImageOps.exif_transpose(img)
            img = img.convert({1: "L", 3: "RGB", 4: "RGBA"}[channels])
            arr = np.asarray(img, dtype=np.uint8).reshape(img.height, img.width, channels)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read image {path}: {exc}",
                        "remove it or replace it with a valid PNG/JPEG/WebP/AVIF/HEIC") from exc
    return area_resize(arr, height, width).astype(np.float32)


def _register_heif() -> None:
    """HEIF/HEIC through pillow-heif (a dependency), registered with Pillow once."""
    global _HEIF_REGISTERED
    if not _HEIF_REGISTERED:
        from pillow_heif import register_heif_opener

        register_heif_opener()
        _HEIF_REGISTERED = True


_HEIF_REGISTERED = False


def _area_sums(a, axis: int, out_size: int):
    """Sums over the source area of each of ``out_size`` output pixels along ``axis``, in units of
    1/out_size source pixel (output o covers [o*n, (o+1)*n), source s covers [s*out, (s+1)*out)):
    F(X) - F(Y) of the prefix integral F(X) = out*sum(a[:X//out]) + (X%out)*a[X//out]; O(n), exact."""
    import numpy as np

    a = np.moveaxis(a, axis, 0)
    n = a.shape[0]
    zero = np.zeros_like(a[:1])
    padded = np.concatenate([a, zero])
    prefix = np.concatenate([zero, np.cumsum(a, axis=0)]) * out_size
    x = np.arange(out_size + 1, dtype=np.int64) * n
    idx, rem = x // out_size, (x % out_size).reshape(-1, *([1] * (a.ndim - 1)))
    return np.moveaxis(np.diff(prefix[idx] + rem * padded[idx], axis=0), 0, axis)


def area_resize(pixels, height: int, width: int):
    """Area-average (box filter) resize of uint8 (H, W, C) pixels to (height, width, C): each output
    pixel is the mean of the source area it covers, each source pixel weighted by its overlap, in
    exact integer arithmetic, rounded half up.  The demo apps implement exactly this, so both agree
    to the bit; unlike bilinear sampling it does not alias on large downscales."""
    import numpy as np

    h, w, _ = pixels.shape
    if (h, w) == (height, width):
        return pixels.astype(np.uint8)
    acc = _area_sums(_area_sums(pixels.astype(np.int64), 1, width), 0, height)
    total = np.int64(w) * h
    return ((2 * acc + total) // (2 * total)).astype(np.uint8)


def _batched(per_sample: dict[str, Any], spec: ModelSpec) -> tuple[dict[str, Any], ...]:
    n = len(next(iter(per_sample.values())))
    batch = spec.inputs[0].shape[0]
    usable = (n // batch) * batch
    if usable == 0:
        raise DataError(f"{n} sample(s) is fewer than one batch of {batch}", "give more samples or a smaller --batch")
    return tuple({k: v[i:i + batch] for k, v in per_sample.items()} for i in range(0, usable, batch))


def _check_array(name: str, arr, t: TensorSpec, source: str):
    import numpy as np

    want = tuple(t.shape[1:])
    if arr.ndim == len(t.shape) - 1 and tuple(arr.shape) == want:
        arr = arr[None]  # a single sample without the batch axis
    if tuple(arr.shape[1:]) != want:
        raise DataError(f"{source}: {name!r} has shape {list(arr.shape)}, expected [N, {', '.join(map(str, want))}] "
                        f"for input {t.name!r}", "re-export the data with the model's input shape")
    if t.dtype == "string":
        return _text(name, arr, t, source)
    target = np.dtype(t.dtype)
    if arr.dtype != target:
        float_to_float = np.issubdtype(arr.dtype, np.floating) and np.issubdtype(target, np.floating)
        if not (float_to_float or np.can_cast(arr.dtype, target, casting="safe")):
            raise DataError(f"{source}: {name!r} has dtype {arr.dtype}, expected {target} for input {t.name!r}",
                            f"save the array as {target}")
        arr = arr.astype(target)
    return arr


def random_text(rng, shape):
    """Random text for a string input: 1-6 lowercase words of 1-8 letters per element, as UTF-8 bytes."""
    import numpy as np

    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = lambda: " ".join("".join(rng.choice(letters, rng.integers(1, 9))) for _ in range(rng.integers(1, 7)))  # noqa: E731
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        out[index] = words().encode()
    return out


def _text(name: str, arr, t: TensorSpec, source: str):
    """A string input's samples as UTF-8 bytes (object array), from str or bytes arrays."""
    import numpy as np

    if arr.dtype.kind not in "USO":
        raise DataError(f"{source}: {name!r} has dtype {arr.dtype}, expected text for the string input {t.name!r}",
                        "save the samples as a string array, e.g. np.array([\"some text\"])")
    return np.vectorize(lambda v: v if isinstance(v, bytes) else str(v).encode(), otypes=[object])(arr)


def read_samples(source: str | Path, spec: ModelSpec, *, limit: int | None = None, seed: int = 0,
                 normalization: Normalization | None = None, what: str = "calibration") -> Samples:
    """Read samples for ``spec`` from ``source``.  ``limit`` caps the number of samples."""
    import numpy as np

    if limit is not None and limit < 1:
        raise UsageError(f"the sample count must be ≥ 1 (got {limit})", "e.g. --calibration-samples 100")
    if str(source) == RANDOM:
        n = limit or 100
        rng = np.random.default_rng(seed)
        norm = normalization or spec.normalization
        feeds = {}
        for t in spec.inputs:
            shape = (n, *t.shape[1:])
            if t.dtype == "string":
                feeds[t.name] = random_text(rng, shape)
            elif np.issubdtype(np.dtype(t.dtype), np.floating):
                if norm is not None and norm.in_model:
                    feeds[t.name] = rng.uniform(0, 255, shape).astype(t.dtype)
                else:
                    feeds[t.name] = rng.standard_normal(shape).astype(t.dtype)
            elif np.dtype(t.dtype) == np.bool_:
                feeds[t.name] = rng.integers(0, 2, shape).astype(bool)
            else:
                info = np.iinfo(np.dtype(t.dtype))
                feeds[t.name] = rng.integers(max(info.min, -128), min(info.max, 127) + 1, shape).astype(t.dtype)
        return Samples(_batched(feeds, spec), RANDOM, "random")

    path = Path(source)
    if not path.exists():
        raise DataError(f"{what} data not found: {path}", "pass a folder of images, a .npy or a .npz file")
    if path.is_dir():
        t = _image_input(spec)
        files = list_images(path)
        if not files:
            raise DataError(f"no .png/.jpg images in {path}", "pass a folder of images, a .npy or a .npz file")
        files = files[:limit] if limit else files
        norm = normalization or spec.normalization
        if norm is None:
            raise DataError(f"{what} images need a normalization and none is known for this model",
                            "pass --mean/--std (e.g. --mean 127.5 --std 127.5), or give the model a "
                            "leading Rescaling layer")
        _, h, w, c = t.shape
        pixels = np.stack([load_image(f, h, w, c) for f in files])
        x = norm.apply(pixels).astype(t.dtype)
        classes = sorted({f.parent.name for f in files}) if all(f.parent != path for f in files) else None
        labels = tuple(classes.index(f.parent.name) for f in files) if classes else None
        batches = _batched({t.name: x}, spec)
        if labels is not None:
            labels = labels[:len(batches) * t.shape[0]]
        return Samples(batches, str(path), "images", labels=labels, class_names=tuple(classes) if classes else None)
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        data = _load_numpy(path)
        if suffix == ".npy":
            if isinstance(data, dict):
                raise DataError(f"{path} holds an .npz archive, not a single array", "rename it to .npz")
            if len(spec.inputs) != 1:
                raise DataError(f"{path} is a single array but the model has {len(spec.inputs)} inputs",
                                f"use .npz with one key per input: {', '.join(t.name for t in spec.inputs)}")
            t = spec.inputs[0]
            arr = _check_array(path.name, data, t, str(path))
            arr = arr[:limit] if limit else arr
            return Samples(_batched({t.name: arr}, spec), str(path), "npy")
        if not isinstance(data, dict):
            raise DataError(f"{path} holds a single array, not an .npz archive", "save it with numpy.savez")
        return _from_npz(data, spec, path, limit)
    raise DataError(f"unsupported {what} data {path.name!r}",
                    "pass a folder of images, a .npy or a .npz file, or 'random'")


def class_indices(class_names: tuple[str, ...], labels) -> tuple[list[int], str, list[str]]:
    """Output index of each class folder (folders come in sorted order): by position in
    ``labels`` when every folder is named there, else by numeric folder names, else in sorted
    order.  Returns (indices, how they were found, folders missing from ``labels``)."""
    labels = list(labels or ())
    missing = [c for c in class_names if c not in labels] if labels else []
    if labels and not missing:
        return [labels.index(c) for c in class_names], "labels", []
    if all(c.isdigit() for c in class_names):
        return [int(c) for c in class_names], "numeric", missing
    return list(range(len(class_names))), "sorted", missing


def _load_numpy(path: Path):
    """An array (.npy) or {key: array} (.npz); anything unreadable is a DataError."""
    import numpy as np

    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded
        with loaded as z:
            return {k: z[k] for k in z.files}
    except Exception as exc:  # numpy raises ValueError, OSError, EOFError, BadZipFile, KeyError...
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise DataError(f"cannot read {path}: {reason}", "save it with numpy.save / numpy.savez") from exc


def _from_npz(data: dict, spec: ModelSpec, path: Path, limit: int | None) -> Samples:
    import numpy as np

    names = [t.name for t in spec.inputs]
    labels = None
    if all(n in data for n in names):
        arrays = {t.name: _check_array(t.name, data[t.name], t, str(path)) for t in spec.inputs}
    elif len(names) == 1 and "x" in data:
        arrays = {names[0]: _check_array("x", data["x"], spec.inputs[0], str(path))}
    else:
        missing = [n for n in names if n not in data]
        raise DataError(f"{path} has keys {sorted(data)} but no key for input(s) {missing}",
                        f"save one array per input name ({', '.join(names)}), or 'x' for a single input")
    counts = {len(v) for v in arrays.values()}
    if len(counts) != 1:
        raise DataError(f"{path}: arrays have different sample counts {sorted(counts)}", "give every input N samples")
    if "y" in data:
        y = np.asarray(data["y"])
        if y.ndim != 1 or len(y) != counts.pop() or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{path}: 'y' must be a 1-D integer array with one label per sample",
                            "save class indices as y")
        labels = tuple(int(v) for v in y)
    if limit:
        arrays = {k: v[:limit] for k, v in arrays.items()}
        labels = labels[:limit] if labels else None
    batches = _batched(arrays, spec)
    if labels is not None:
        labels = labels[:len(batches) * spec.inputs[0].shape[0]]
    return Samples(batches, str(path), "npz", labels=labels)
