"""A content-addressed cache for stage results (conversion, benchmarks).

Keys are sha256 over the stage's inputs: source model bytes, data bytes, the
stage options and the tool versions.  Entries are directories written
atomically (copied beside, then renamed), so a crash never leaves a partial
entry.  Default location ``~/.cache/mobilepack``; ``MOBILEPACK_CACHE_DIR`` or
``--cache-dir`` override it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def default_root() -> Path:
    env = os.environ.get("MOBILEPACK_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "mobilepack"


_DIGESTS: dict[tuple, str] = {}   # (path, device, inode, size, mtime_ns, ctime_ns) -> sha256, this process
MEMO_BYTES = 16 << 20   # smaller files are hashed every time: cheap, and an edit within one clock tick stays seen


def sha256_file(path: str | Path) -> str:
    """The file's sha256.  A build hashes its source and data several times (each stage's key, the
    record, the manifest): a 436 MB SavedModel five times, 1.7 s on a 2-core VM (0.34 s remembered).
    So each digest is remembered for the process where it is large (:data:`MEMO_BYTES`), keyed by the
    file's identity and its size, mtime and ctime: a file rewritten or replaced since is hashed again
    (a same-size rewrite within one timestamp tick would not be seen: a large file is not rewritten in
    place that fast during a build)."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    memo = st.st_size >= MEMO_BYTES
    if memo and key in _DIGESTS:
        return _DIGESTS[key]
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    if memo:
        _DIGESTS[key] = digest
    return digest


def hash_path(path: str | Path) -> str:
    """sha256 of a file, or of a directory tree (relative names and file digests, sorted);
    anything else (e.g. the word "random") hashes its text."""
    p = Path(path)
    if p.is_file():
        return sha256_file(p)
    h = hashlib.sha256()
    if p.is_dir():
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            h.update(f.relative_to(p).as_posix().encode() + b"\0")
            h.update(bytes.fromhex(sha256_file(f)))
    else:
        h.update(str(path).encode())
    return h.hexdigest()


def make_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class Cache:
    def __init__(self, root: str | Path | None = None, *, enabled: bool = True) -> None:
        self.root = Path(root).expanduser() if root else default_root()
        self.enabled = enabled

    def _entry(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:2] / key

    def get(self, stage: str, key: str) -> Path | None:
        """The cached directory for (stage, key), or None."""
        if not self.enabled:
            return None
        entry = self._entry(stage, key)
        return entry if (entry / ".complete").is_file() else None

    def put(self, stage: str, key: str, source_dir: Path) -> Path | None:
        """Copy ``source_dir`` into the cache.  Failure to cache is never fatal."""
        if not self.enabled:
            return None
        entry = self._entry(stage, key)
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=entry.parent))
            shutil.copytree(source_dir, tmp, dirs_exist_ok=True)
            (tmp / ".complete").write_text("ok")
            if entry.exists():
                shutil.rmtree(entry, ignore_errors=True)
            os.rename(tmp, entry)
            return entry
        except OSError:
            return None
