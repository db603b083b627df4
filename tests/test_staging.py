"""Atomic output directories: a failure in the middle of the final move is undone."""

from __future__ import annotations

import json
import os

import pytest

from mobilepack.errors import OutputError
from mobilepack.staging import StagedOutput
from tests.conftest import snapshot


def _previous(out):
    out.mkdir()
    (out / "a.txt").write_text("old a")
    (out / "sub").mkdir()
    (out / "sub" / "x").write_text("old x")
    (out / "stale.txt").write_text("old stale")
    (out / "mine.txt").write_text("user file")
    (out / "rec.json").write_text(json.dumps({"files": ["a.txt", "sub", "stale.txt"]}))


def test_commit_replaces_own_files_keeps_user_files(tmp_path):
    out = tmp_path / "out"
    _previous(out)
    with StagedOutput(out, record="rec.json") as stage:
        (stage.path / "a.txt").write_text("new a")
        (stage.path / "sub").mkdir()
        (stage.path / "sub" / "y").write_text("new y")
        (stage.path / "rec.json").write_text(json.dumps({"files": ["a.txt", "sub"]}))
        stage.commit()
    assert (out / "a.txt").read_text() == "new a"
    assert sorted(p.name for p in (out / "sub").iterdir()) == ["y"]
    assert not (out / "stale.txt").exists()
    assert (out / "mine.txt").read_text() == "user file"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_failure_midway_through_the_move_is_rolled_back(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _previous(out)
    before = snapshot(out)
    real_rename = os.rename
    calls = {"n": 0}

    def flaky_rename(src, dst):  # the 4th rename fails, as a full or vanished disk would
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError(28, "No space left on device")
        return real_rename(src, dst)

    with pytest.raises(OutputError, match="No space left"):
        with StagedOutput(out, record="rec.json") as stage:
            (stage.path / "a.txt").write_text("new a")
            (stage.path / "sub").mkdir()
            (stage.path / "sub" / "y").write_text("new y")
            (stage.path / "rec.json").write_text(json.dumps({"files": ["a.txt", "sub"]}))
            monkeypatch.setattr(os, "rename", flaky_rename)
            stage.commit()
    monkeypatch.setattr(os, "rename", real_rename)
    assert snapshot(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
