"""The build's metadata stage attaches each variant's metadata in a child process where the variants
are large (``pipeline/metadata_jobs.py``): the files it writes, convert.json and the variants' specs
are the same as the loop in the build's process makes, and a child's error is the same error."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from mobilepack.errors import InputError, MobilepackError
from mobilepack.pipeline import metadata_jobs
from mobilepack.pipeline.convert_record import ConvertResult
from mobilepack.pipeline.models import metadata_stage, models_from_record
from mobilepack.pipeline.options import MetadataOptions, resolve_build_options
from mobilepack.pipeline.state import BuildState, Ledger
from tests.conftest import DIGITS, snapshot
from tests.test_metadata_models import digits  # noqa: F401 - fixture

stage = metadata_stage.__wrapped__   # the stage itself, not the cache in front of it


@pytest.fixture(scope="module")
def options(tmp_path_factory):
    return resolve_build_options(str(DIGITS / "digits.keras"), out=str(tmp_path_factory.mktemp("out")),
                                 labels=str(DIGITS / "labels.txt"))


def _run(digits_dir: Path, folder: Path, options, *, children: bool, monkeypatch):  # noqa: F811
    """The metadata stage on the converted digits variants; (files written, Models, progress messages)."""
    monkeypatch.setattr(metadata_jobs, "PARALLEL_BYTES", 0 if children else 1 << 62)
    monkeypatch.setenv("MOBILEPACK_CHILD_WORKERS", "2")
    shutil.copytree(digits_dir, folder / "work" / "convert")
    (folder / "root").mkdir()
    events: list[str] = []
    state = BuildState(root=folder / "root", work=folder / "work", cache=None, tools={}, ledger=Ledger(),
                       progress=lambda e: events.append(e.message), source=str(DIGITS / "digits.keras"),
                       converted=ConvertResult.from_dict(json.loads((digits_dir / "convert.json").read_text())))
    models = stage(state, options)
    return snapshot(folder / "root" / "models"), models, events


def test_children_write_the_same_files_and_record_as_the_parent(digits, options, tmp_path, monkeypatch):  # noqa: F811
    here, in_parent, said_here = _run(digits, tmp_path / "a", options, children=False, monkeypatch=monkeypatch)
    # the parent's own attach refuses: the variants below are attached in the children (forked from the
    # zygote, which imported the module itself) or the stage fails
    real = metadata_jobs.attach_variant
    monkeypatch.setattr(metadata_jobs, "attach_variant", lambda request: pytest.fail("attached in the parent"))
    there, in_children, said_there = _run(digits, tmp_path / "b", options, children=True, monkeypatch=monkeypatch)
    monkeypatch.setattr(metadata_jobs, "attach_variant", real)
    assert len([name for name in here if name.endswith(".tflite")]) == 4
    assert here == there   # every byte of every variant, convert.json and the files beside them
    record = json.loads(here["convert.json"])
    assert record["model"]["labels"] == list(in_parent.spec.labels) and len(in_parent.spec.labels) == 10
    assert all(v["metadata"]["labels"] for v in record["variants"])
    assert in_children.record == in_parent.record and in_children.spec == in_parent.spec
    assert [(v.mode, v.bytes, v.spec) for v in in_children.variants] == [(v.mode, v.bytes, v.spec)
                                                                          for v in in_parent.variants]
    # the specs handed back by the children are the ones read again from the written files
    reread = models_from_record(in_parent.record, tmp_path / "a" / "root" / "models", options.metadata.labels, "k")
    assert [v.spec for v in reread.variants] == [v.spec for v in in_parent.variants]
    modes = [v["mode"] for v in record["variants"]]
    assert said_here == [f"metadata for {m}" for m in modes]
    assert sorted(said_there) == sorted(said_here)   # each variant announced, in the order they finished


def test_a_childs_metadata_error_is_the_parents(digits, options, tmp_path, monkeypatch):  # noqa: F811
    wrong = replace(options, metadata=MetadataOptions(options.metadata.section, ("zero", "one", "two")))
    errors = []
    for children in (False, True):
        with pytest.raises(MobilepackError) as caught:
            _run(digits, tmp_path / str(children), wrong, children=children, monkeypatch=monkeypatch)
        errors.append(caught.value)
    here, there = errors
    assert type(there) is type(here) is InputError and there.exit_code == here.exit_code == 2
    assert (there.message, there.hint) == (here.message, here.hint)
    assert "3 labels but output" in here.message and "10 classes" in here.message
