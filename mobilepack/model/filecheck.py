"""What is wrong with a Keras model file that will not open, and what to do next: a truncated
file (copy it again), a file in another format under the wrong name (rename it, or re-save it),
or a file of weights only (rebuild the model in code, load the weights, save the whole model).
Read from the bytes and, for HDF5, h5py (which Keras itself uses); no TensorFlow."""

from __future__ import annotations

from pathlib import Path

from mobilepack.errors import ModelLoadError

ZIP_LOCAL = b"PK\x03\x04"
ZIP_END = b"PK\x05\x06"
HDF5 = b"\x89HDF\r\n\x1a\n"
REBUILD = ("rebuild the model in code, call model.load_weights(FILE), then save the whole model with "
           "model.save('model.keras')")


def _kind(head: bytes) -> str | None:
    if head.startswith(HDF5):
        return "an HDF5 file"
    if head.startswith(ZIP_LOCAL):
        return "a zip archive"
    if head[4:8] == b"TFL3":
        return "a TFLite flatbuffer"
    return None


def _hdf5_contents(p: Path) -> str:
    """"model", "weights" (no model_config: ``save_weights`` output), or "truncated"/"damaged"."""
    import h5py

    try:
        with h5py.File(p, "r") as f:
            return "model" if "model_config" in f.attrs else "weights"
    except OSError as exc:
        return "truncated" if "truncated" in str(exc).lower() or "eof" in str(exc).lower() else "damaged"


def check_keras(p: Path) -> None:
    """A ``.keras`` path that is not a zip: say what it is instead."""
    data = p.read_bytes()
    head = data[:16]
    if head.startswith(ZIP_LOCAL) and ZIP_END not in data[-(65536 + 22):]:
        raise ModelLoadError(f"{p} is a truncated Keras archive: it starts as a zip but its end (the zip directory) "
                             f"is missing after {len(data)} bytes",
                             "copy or download the file again (the original is larger), or re-save it with "
                             "model.save('model.keras')")
    if head.startswith(HDF5):
        contents = _hdf5_contents(p)
        if contents == "weights":
            raise ModelLoadError(f"{p} holds weights only (an HDF5 weights file, no model architecture)", REBUILD)
        if contents == "model":
            raise ModelLoadError(f"{p} is a legacy HDF5 Keras model named .keras, not a Keras 3 archive",
                                 f"rename it to {p.stem}.h5 and pass that")
        raise ModelLoadError(f"{p} is a {contents} HDF5 file named .keras",
                             "copy the file again, or re-save the model with model.save('model.keras')")
    kind = _kind(head)
    raise ModelLoadError(f"{p} is not a Keras 3 archive (a .keras file is a zip)"
                         + (f": it is {kind}" if kind else ""),
                         "pass the file under its own extension" if kind else
                         "re-save the model with model.save('model.keras')")


def check_h5(p: Path) -> None:
    """A ``.h5`` path: an HDF5 file holding a whole model, else say what it is."""
    with open(p, "rb") as fh:
        head = fh.read(16)
    if not head.startswith(HDF5):
        kind = _kind(head)
        if kind == "a zip archive":
            raise ModelLoadError(f"{p} is not an HDF5 file: it is a zip (a Keras 3 archive?)",
                                 f"rename it to {p.stem}.keras and pass that")
        raise ModelLoadError(f"{p} is not an HDF5 file" + (f": it is {kind}" if kind else ""),
                             "re-save the model with model.save('model.h5')")
    contents = _hdf5_contents(p)
    if contents == "weights":
        raise ModelLoadError(f"{p} holds weights only (no model_config: written by save_weights)", REBUILD)
    if contents in ("truncated", "damaged"):
        raise ModelLoadError(f"{p} is a {contents} HDF5 file ({p.stat().st_size} bytes)",
                             "copy or download the file again, or re-save it with model.save('model.h5')")
