"""Atomic output directories.

Outputs are written into a staging directory beside OUT and moved into place
only when every stage succeeded.  A failure or Ctrl-C before that leaves OUT
exactly as it was; the move itself runs with SIGINT/SIGTERM blocked.  Files in
OUT that mobilepack did not create (not listed in the previous run's record)
are never overwritten or deleted.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

from mobilepack.errors import OutputError


_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG}


def _as_output_error(exc: BaseException | None, out: Path) -> None:
    """An OS-level write failure inside a staged block becomes one clear OutputError."""
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError) and exc.errno in _WRITE_ERRNOS:
        where = f" ({exc.filename})" if exc.filename else ""
        raise OutputError(f"cannot write the outputs for {out}: {exc.strerror or exc}{where}",
                          "free some space or choose another -o; nothing was changed") from exc


def _staging_dir(out: Path) -> Path:
    """A fresh staging directory on OUT's file system (beside OUT), so the final move is a rename."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path {out} exists and is not a directory", "choose a directory path for -o")
    anchor = _nearest_existing(out.parent)
    if not anchor.is_dir():
        raise OutputError(f"cannot create {out}: {anchor} is a file", "choose another -o")
    try:
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.mobilepack-", dir=anchor))
    except OSError as exc:
        raise OutputError(f"cannot write to {out}: {exc.strerror or exc}", "choose a writable -o directory") from exc


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


class _Staged:
    """What both kinds share: a staging directory beside OUT, a final move with SIGINT/SIGTERM
    blocked (OS errors become OutputError), and removal of the staging directory otherwise."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out).absolute()
        self.path: Path | None = None
        self._committed = False

    def _move(self, move) -> None:
        assert self.path is not None
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            move()
            self._committed = True
        except OSError as exc:
            raise OutputError(f"cannot move outputs into {self.out}: {exc.strerror or exc}",
                              "check free space and permissions") from exc
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._committed and self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
        _as_output_error(exc, self.out)


class StagedOutput(_Staged):
    """``with StagedOutput(out, record="convert.json") as stage: ... stage.commit()``"""

    def __init__(self, out: str | Path, *, record: str) -> None:
        super().__init__(out)
        self.record = record
        self.previous: set[str] = set()

    # -- checks before any work ---------------------------------------------------------
    def _read_record(self) -> None:
        if self.out.is_dir():
            rec = self.out / self.record
            if rec.is_file():
                try:
                    data = json.loads(rec.read_text(encoding="utf-8"))
                    self.previous = {str(f) for f in data.get("files", [])} | {self.record}
                except (OSError, ValueError):
                    self.previous = set()

    def check_names(self, names: list[str]) -> None:
        """Refuse up front to overwrite a file in OUT that mobilepack did not create."""
        if not self.out.is_dir():
            return
        foreign = [n for n in names if (self.out / n).exists() and n not in self.previous]
        if foreign:
            raise OutputError(f"{self.out} already holds {', '.join(foreign)}, not written by mobilepack",
                              "move them away or choose another -o")

    def __enter__(self) -> StagedOutput:
        self.path = _staging_dir(self.out)
        self._read_record()
        return self

    def commit(self) -> None:
        assert self.path is not None
        names = sorted(p.name for p in self.path.iterdir())
        self.check_names(names)
        if self.out.exists():
            self._move(lambda: self._swap_into_existing(names))
        else:
            self._move(lambda: os.rename(self.path, self.out))

    def _swap_into_existing(self, names: list[str]) -> None:
        """Move the old entries aside, the new ones in, the stale ones aside; on any failure,
        undo every move so OUT is exactly as before."""
        assert self.path is not None
        trash = Path(tempfile.mkdtemp(prefix=".mobilepack-old-", dir=self.out.parent))
        set_aside: list[str] = []
        placed: list[str] = []
        try:
            for name in names:
                target = self.out / name
                if target.exists() or target.is_symlink():
                    os.rename(target, trash / name)
                    set_aside.append(name)
                os.rename(self.path / name, target)
                placed.append(name)
            for stale in sorted(self.previous - set(names)):
                target = self.out / stale
                if target.parent == self.out and (target.exists() or target.is_symlink()):
                    os.rename(target, trash / stale)
                    set_aside.append(stale)
        except OSError:
            for name in reversed(placed):
                os.rename(self.out / name, self.path / name)
            for name in reversed(set_aside):
                os.rename(trash / name, self.out / name)
            shutil.rmtree(trash, ignore_errors=True)
            raise
        self.path.rmdir()
        shutil.rmtree(trash, ignore_errors=True)


class StagedTree(_Staged):
    """Build a whole output tree beside ``out`` and swap it in at the end.

    ``with StagedTree(out) as stage: ...write under stage.path...; stage.commit()``.
    The swap renames OUT away, renames the staging tree to OUT, then deletes the
    old tree, with SIGINT/SIGTERM blocked; a failure before it leaves OUT as it was."""

    def __enter__(self) -> StagedTree:
        self.path = _staging_dir(self.out)
        return self

    def commit(self) -> None:
        self._move(self._swap_tree)

    def _swap_tree(self) -> None:
        assert self.path is not None
        if not self.out.exists():
            os.rename(self.path, self.out)
            return
        trash = Path(tempfile.mkdtemp(prefix=".mobilepack-old-", dir=self.out.parent))
        os.rename(self.out, trash / "tree")
        try:
            os.rename(self.path, self.out)
        except OSError:
            os.rename(trash / "tree", self.out)  # put the old tree back
            raise
        shutil.rmtree(trash, ignore_errors=True)
