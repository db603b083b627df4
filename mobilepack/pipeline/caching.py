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
                    shutil.copytree(entry / "files", codec.files(state), ignore=shutil.ignore_patterns(".complete"))
                return codec.load(json.loads((entry / "result.json").read_text(encoding="utf-8")), state)
            result = stage(state, options)
            with tempfile.TemporaryDirectory(prefix="mobilepack-cache-") as tmp:
                if codec.files is not None:
                    shutil.copytree(codec.files(state), Path(tmp) / "files")
                (Path(tmp) / "result.json").write_text(json.dumps(codec.dump(result), default=str), encoding="utf-8")
                state.cache.put(name, k, Path(tmp))
            return result

        return run

    return wrap


def json_codec(cls) -> Codec:
    """For a result that is one document (``cls(document)``)."""
    return Codec(dump=lambda r: r.document, load=lambda doc, state: cls(doc))
