"""A second converter process beside the convert loop.

TFLiteConverter works on one core, and a build converts three to five modes of the same model one
after another.  Where memory allows, the calibrated modes (int8, int16x8 — the longest: they run
the model on every calibration sample) are converted in a child process while the parent converts
the others and validates them, so the two cores work at once.  The child is a new interpreter
(``python -m mobilepack.conversion.parallel REQUEST``): TensorFlow cannot be forked once its
threads run.  It writes each mode's bytes, or the ``ConversionError`` that stopped it (with the
float-fallback model build's doctor reads), and the parent reads them when its loop reaches that
mode.  The bytes are TFLiteConverter's own, from the same SavedModel and calibration samples: the
same as a conversion in the parent (``tests/test_convert_parallel.py``).

``jobs``: 1 converts everything in the parent; 2 always uses the child; ``auto`` uses it when the
model's weights are between :data:`MIN_WEIGHTS` and :data:`MAX_WEIGHTS` bytes, the machine has the
memory for a second converter, and its start is paid: the child was started ahead
(:func:`warm_child`, before the parent loads the model, so the two TensorFlow imports run side by
side), or calibration is long: the source model took at least :data:`MIN_REFERENCE_SECONDS` on the
validation samples (:func:`plan_jobs`).  With the child started ahead (#21, this 2-core machine): a
25 M-parameter CNN's build 42 → 35-38 s, a 22.6 M-parameter encoder's convert stage 31 → 26 s.
Before it was started ahead, the encoder's convert stage went 37 → 27 s with the child, and the
CNN, whose int8 conversion is short, gained nothing (the child's import cost what it saved)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mobilepack.conversion.quantization import get
from mobilepack.errors import ConversionError

AUTO = "auto"
MIN_WEIGHTS = 8 << 20      # below: a child's start (importing TensorFlow, ~4 s) costs what it saves
MAX_WEIGHTS = 512 << 20    # above: two converters side by side would pass ~8 GB (a 416 MiB encoder: 7.25 GB, #21)
MIN_REFERENCE_SECONDS = 1.0   # the source model's time on the validation samples below which calibration is short
PEAK_PER_WEIGHT_BYTE = 8   # a converter's peak resident memory per byte of weights, plus ~1 GB (measured, #21)


def parse_jobs(jobs: str | int) -> str:
    """``"auto"``, ``"1"`` or ``"2"``; anything else is a usage error."""
    from mobilepack.errors import UsageError

    text = str(jobs).strip().lower()
    if text not in (AUTO, "1", "2"):
        raise UsageError(f"--jobs must be 1, 2 or auto (got {jobs!r})",
                         "auto runs a second converter process where the model's size and memory allow it")
    return text


def _weights(saved_model_dir: Path) -> int:
    return sum(p.stat().st_size for p in (saved_model_dir / "variables").glob("*") if p.is_file())


def _available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _converted(modes) -> list[str]:
    """The modes a converter makes (int8-mixed is the doctor's, from int8's result)."""
    return [m for m in modes if m != "int8-mixed"]


def plan_jobs(jobs: str | int, saved_model_dir: str | Path | None, modes: tuple[str, ...],
              reference_seconds: float = 0.0, warm: bool = False, weights: int | None = None) -> tuple[str, ...]:
    """The modes the child converts (empty: every mode in the parent).  ``reference_seconds``: how
    long the source model took on the validation samples — calibration runs the model on every
    calibration sample, and only where that is long does a second process pay for its start;
    ``warm``: a child started early (:func:`warm_child`) has imported TensorFlow already, beside the
    parent's own import, so its start costs nothing more; ``weights``: the model's weight bytes, each
    variable once (``SourceModel.weight_bytes``), else the SavedModel's ``variables/`` folder (which
    holds a Keras-exported model's variables twice)."""
    if saved_model_dir is None or str(jobs) == "1":
        return ()
    converted = _converted(modes)
    child = tuple(m for m in converted if get(m).needs_calibration)
    if not child or len(child) == len(converted):   # nothing to run beside them
        half = len(converted) // 2
        child = tuple(converted[half:]) if half else ()
    if not child or str(jobs) == "2":
        return child
    weights = _weights(Path(saved_model_dir)) if weights is None else weights
    available = _available()
    fits = available is None or 2 * (PEAK_PER_WEIGHT_BYTE * weights + (1 << 30)) < available
    slow = warm or reference_seconds >= MIN_REFERENCE_SECONDS
    return child if slow and MIN_WEIGHTS <= weights <= MAX_WEIGHTS and fits else ()


def _source_weights(source) -> int:
    """Bytes of a source model's weights, known before it is loaded: a SavedModel's variables, a
    Keras file's size; 0 for anything else."""
    path = Path(source) if isinstance(source, (str, Path)) else None
    if path is None or not path.exists():
        return 0
    return _weights(path) if path.is_dir() else path.stat().st_size if path.suffix in (".keras", ".h5") else 0


def warm_child(source, jobs: str | int, modes: tuple[str, ...]) -> subprocess.Popen | None:
    """Start the child now (``--wait``: it imports TensorFlow and the converter, then waits for its
    request), so its import runs beside the parent's own and the model's loading, where ``jobs``
    and the source allow a second converter: not ``1``, at least two modes to convert, and (for
    ``auto``) weights of at least :data:`MIN_WEIGHTS` — a small test model never starts one.  The
    caller closes it when the plan does not use it (:func:`plan_jobs`)."""
    converted = _converted(modes)
    if str(jobs) == "1" or len(converted) < 2 or (str(jobs) != "2" and _source_weights(source) < MIN_WEIGHTS):
        return None
    return subprocess.Popen([sys.executable, "-m", "mobilepack.conversion.parallel", "--wait"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


class ChildConverter:
    """The child converting ``modes``; :meth:`take` waits for one mode's bytes (or raises its error).
    ``warm``: the process :func:`warm_child` started, given its request on stdin; else a new one."""

    def __init__(self, saved_model_dir: str, modes: tuple[str, ...], options, cal_batches, warm=None,
                 spare: tuple[str, ...] = ()) -> None:
        import numpy as np

        self.modes, self.spare = modes, spare
        self.kept: set[str] = set()   # spare modes the parent claimed (converts itself)
        self.seconds: dict[str, float] = {}   # each mode's conversion time in the child
        self._tmp = tempfile.TemporaryDirectory(prefix="mobilepack-convert-")
        root = Path(self._tmp.name)
        calibration = None
        if cal_batches:
            calibration = str(root / "calibration.npz")
            names = list(cal_batches[0])
            np.savez(calibration, **{f"{i}::{n}": b[n] for i, b in enumerate(cal_batches) for n in names})
        request = {"saved_model": saved_model_dir, "modes": list(modes), "out": str(root),
                   "io_dtype": options.io_dtype.value, "allow_float_fallback": options.allow_float_fallback,
                   "calibration": calibration, "count": len(cal_batches or ()), "spare": list(spare)}
        (root / "request.json").write_text(json.dumps(request))
        self._log = open(root / "log.txt", "wb")
        self.root = root
        if warm is not None and warm.poll() is None:
            try:
                warm.stdin.write(f"{root / 'request.json'}\n".encode())
                warm.stdin.close()
                self.proc = warm
                return
            except OSError:
                close_warm(warm)
        self.proc = subprocess.Popen([sys.executable, "-m", "mobilepack.conversion.parallel", str(root / "request.json")],
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def owns(self, mode: str) -> bool:
        """Whether the child converts ``mode``: one of its own, or a spare one it claimed first.  For a
        spare mode the parent claims it here, before converting it itself."""
        if mode in self.modes:
            return True
        if mode not in self.spare or mode in self.kept:
            return False
        if claim(self.root, mode):
            self.kept.add(mode)
            return False
        return True

    def take(self, mode: str) -> bytes:
        answer = self.root / f"{mode}.json"
        while not answer.exists():
            try:
                self.proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                continue
            if not answer.exists():   # it exited without answering for this mode
                self._log.flush()
                tail = (self.root / "log.txt").read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
                error = ConversionError(f"{mode}: the converter process exited with code {self.proc.returncode}: "
                                        f"{tail[0][:300]}", "rerun with --jobs 1 to convert in one process")
                error.child_exited = True   # a spare mode is then converted by the parent after all
                raise error
        doc = json.loads(answer.read_text())
        self.seconds[mode] = doc["seconds"]
        data = (self.root / f"{mode}.tflite").read_bytes() if doc.get("bytes") else None
        if doc["ok"]:
            return data
        error = ConversionError(doc["message"], doc["hint"])
        if data is not None:
            error.float_fallback = data
        raise error

    def close(self) -> None:
        close_warm(self.proc)
        self._log.close()
        self._tmp.cleanup()


def claim(root: Path, mode: str) -> bool:
    """Take ``mode`` for this process: True for the first of parent and child to ask."""
    try:
        os.close(os.open(root / f"{mode}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def close_warm(proc: subprocess.Popen | None) -> None:
    """Kill a child (warm or converting) that is still running, and reap it."""
    if proc is not None and proc.poll() is None:
        from mobilepack.runtime.child import kill_group

        kill_group(proc)


def _child(request_path: str) -> int:
    """In the child: convert each mode, writing ``MODE.json`` (and ``MODE.tflite``) as it finishes."""
    import numpy as np

    from mobilepack.conversion.converter import convert_saved_model
    from mobilepack.conversion.quantization import ConverterOptions, IODtype

    request = json.loads(Path(request_path).read_text())
    out = Path(request["out"])
    representative = None
    if request["calibration"]:
        with np.load(request["calibration"]) as z:
            batches = [{} for _ in range(request["count"])]
            for key in z.files:
                i, name = key.split("::", 1)
                batches[int(i)][name] = z[key]
        representative = lambda: (dict(b) for b in batches)  # noqa: E731
    options = ConverterOptions(io_dtype=IODtype(request["io_dtype"]),
                               allow_float_fallback=request["allow_float_fallback"])
    spare = request.get("spare", [])   # the parent's modes, last first: taken once the child's own are done
    for mode in [*request["modes"], *spare]:
        if mode in spare and not claim(out, mode):   # the parent converts it, or has
            continue
        data, doc, start = None, {"ok": True}, time.perf_counter()
        try:
            data = convert_saved_model(request["saved_model"], mode, options=options, representative=representative)
        except ConversionError as exc:
            data = getattr(exc, "float_fallback", None)
            doc = {"ok": False, "message": exc.message, "hint": exc.hint}
        if data is not None:
            (out / f"{mode}.tflite").write_bytes(data)
        doc.update(bytes=data is not None, seconds=time.perf_counter() - start)
        tmp = out / f"{mode}.json.tmp"
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, out / f"{mode}.json")
    return 0


def _wait() -> int:
    """``--wait``: with TensorFlow imported, take the request's path from stdin (none: exit)."""
    line = sys.stdin.readline().strip()
    if not line:
        return 0
    log = Path(line).parent / "log.txt"
    with open(log, "ab") as f:   # from here on, everything printed goes where a new child's output goes
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
    return _child(line)


if __name__ == "__main__":
    from mobilepack.model.tfimport import lean_import, tensorflow

    lean_import()
    # the import (~4 s; with --wait, beside the parent's own, before the request comes): a SavedModel
    # is converted, so Keras and matplotlib are left out
    tensorflow(need_keras=False)
    sys.exit(_wait() if sys.argv[1] == "--wait" else _child(sys.argv[1]))
