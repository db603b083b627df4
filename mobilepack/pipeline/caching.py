"""``cached(name, key, codec)``: a build stage whose result the cache can answer.

The one place (with the report writers) where stage results become documents: a
cache entry holds ``result.json`` (``codec.dump`` of the stage's typed result) and,
for a stage that writes files, a copy of its folder under ``files/``.  A hit copies
the folder back and rebuilds the typed result with ``codec.load``; a miss runs the
stage and stores both.  Which stages the cache answered is kept in the ledger."""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobilepack.progress import ProgressEvent

LAYOUT = 2   # part of every key: the entry layout (result.json + files/)


def copy_files(source: Path, dest: Path, skip: set[str] = frozenset()) -> None:
    """Copy a folder file by file, so a full disk raises the OSError itself (``shutil.copytree``
    would wrap it into ``shutil.Error``), which staging turns into one clear error.  ``skip``: paths
    relative to ``source`` (posix) left out."""
    for path in sorted(source.rglob("*")):
        if path.name == ".complete" or path.relative_to(source).as_posix() in skip:
            continue
        target = dest / path.relative_to(source)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


@dataclass(frozen=True)
class Codec:
    dump: Callable[[Any], Any]                       # typed result -> JSON-able document
    load: Callable[[Any, Any], Any]                  # (document, BuildState) -> typed result
    files: Callable[[Any], Path] | None = None       # BuildState -> the folder the stage writes


def cached(name: str, key: Callable[[Any, Any], str], codec: Codec):
    """Decorate ``stage(state, options)``; ``key(state, options)`` names its inputs."""

    def wrap(stage):
        @functools.wraps(stage)
        def run(state, options):
            k = key(state, options)
            entry = state.cache.get(name, k)
            state.ledger.hits[name] = entry is not None
            if entry is not None:
                state.emit(ProgressEvent(name, f"{name}: cached"))
                if codec.files is not None:
                    copy_files(entry / "files", codec.files(state))
                return codec.load(json.loads((entry / "result.json").read_text(encoding="utf-8")), state)
            result = stage(state, options)
            _store(state.cache, name, k, codec.dump(result), codec.files(state) if codec.files else None)
            return result

        return run

    return wrap


def _store(cache, name: str, key: str, document, files: Path | None) -> None:
    """Put an entry in the cache (the stage's files under ``files/``, copied once, and its
    ``result.json``); failing to cache (a full disk) is never fatal."""
    if not cache.enabled:
        return
    try:
        with tempfile.TemporaryDirectory(prefix="mobilepack-cache-") as tmp:
            if files is not None:   # files/ beside result.json, copied once: a link the cache copies through
                (Path(tmp) / "files").symlink_to(Path(files).resolve(), target_is_directory=True)
            (Path(tmp) / "result.json").write_text(json.dumps(document, default=str), encoding="utf-8")
            cache.put(name, key, Path(tmp))
    except OSError:
        pass


def json_codec(cls) -> Codec:
    """For a result that is one document (``cls(document)``)."""
    return Codec(dump=lambda r: r.document, load=lambda doc, state: cls(doc))
