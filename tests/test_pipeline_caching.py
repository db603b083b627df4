"""The build's stage machinery without TensorFlow: the stage order, ``cached`` (miss, hit, the
stage's folder restored, another key misses, a disabled cache never stores) and the runner."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mobilepack.cache import Cache
from mobilepack.pipeline.caching import Codec, cached
from mobilepack.pipeline.runner import STAGES, Stage, run_stages
from mobilepack.pipeline.state import BuildState, Ledger


def _state(tmp_path: Path, cache: Cache) -> BuildState:
    (tmp_path / "root").mkdir(parents=True, exist_ok=True)
    (tmp_path / "work").mkdir(parents=True, exist_ok=True)
    return BuildState(root=tmp_path / "root", work=tmp_path / "work", cache=cache, tools={}, progress=None,
                      ledger=Ledger(), source="model.keras")


@dataclass(frozen=True)
class Counted:
    value: int


def test_stages_run_in_the_documented_order():
    assert [s.name for s in STAGES] == ["compress", "convert", "metadata", "lint", "bench", "evaluate", "delegates",
                                        "select", "render", "report"]
    assert len({s.result for s in STAGES}) == len(STAGES)   # each fills its own BuildState field
    assert all(hasattr(BuildState, s.result) for s in STAGES)


def test_cached_stage_misses_then_hits_and_restores_its_folder(tmp_path):
    calls = []

    def files(state):
        return state.root / "out"

    @cached("demo", lambda state, options: f"key-{options}", Codec(lambda r: {"value": r.value},
                                                                  lambda doc, state: Counted(doc["value"]), files))
    def stage(state, options):
        calls.append(options)
        files(state).mkdir()
        (files(state) / "data.bin").write_bytes(b"\x00\x01")
        return Counted(41 + len(calls))

    cache = Cache(tmp_path / "cache")
    first = _state(tmp_path / "a", cache)
    assert stage(first, 1) == Counted(42) and first.ledger.hits == {"demo": False}
    again = _state(tmp_path / "b", cache)
    assert stage(again, 1) == Counted(42) and again.ledger.hits == {"demo": True}   # not run again
    assert (again.root / "out" / "data.bin").read_bytes() == b"\x00\x01"
    assert calls == [1]
    other = _state(tmp_path / "c", cache)
    assert stage(other, 2) == Counted(43) and other.ledger.hits == {"demo": False}  # another key: a miss
    off = _state(tmp_path / "d", Cache(tmp_path / "cache-off", enabled=False))
    stage(off, 1)
    assert not (tmp_path / "cache-off").exists()


def test_runner_fills_the_state_in_order_and_times_each_stage(tmp_path):
    seen = []

    def first(state, options):
        seen.append(("first", state.lint))
        return "one"

    def second(state, options):
        seen.append(("second", state.lint))
        return "two"

    stages = (Stage("a", first, "lint"), Stage("skipped", second, "bench", when=lambda o: False),
              Stage("b", second, "bench"))
    state = run_stages(_state(tmp_path, Cache(tmp_path / "c")), None, stages)
    assert (state.lint, state.bench) == ("one", "two")
    assert seen == [("first", None), ("second", "one")]
    assert set(state.ledger.timings) == {"a", "b"}


def test_a_cached_convert_record_names_this_builds_source(tmp_path):
    """The convert stage's key hashes the source's bytes, so a build of the same model from another
    folder hits the cache: the restored record must name the source where this build found it (a
    record naming the first build's folder sent `render --target server` to a path that was gone)."""
    from mobilepack.pipeline.convert_record import ConvertResult
    from mobilepack.pipeline.models import _restored_convert

    record = ConvertResult(out_dir="o/models", source={"path": "first/m.keras", "format": "keras", "sha256": "ab"},
                           model={"name": "m", "source_path": "first/m.keras"}, options={}, calibration=None,
                           validation_data={}, variants=(), warnings=(), tools={}).to_dict()
    state = _state(tmp_path, Cache(tmp_path / "cache"))
    restored = _restored_convert(record, state)
    assert restored.source == {"path": "model.keras", "format": "keras", "sha256": "ab"}
    assert restored.model["source_path"] == "model.keras"
    record["source"]["path"] = record["model"]["source_path"] = "model.keras"   # the same folder: unchanged
    assert _restored_convert(record, state).to_dict() == record


def test_a_large_files_digest_is_remembered_until_the_file_changes(tmp_path, monkeypatch):
    """``sha256_file`` hashes a large file once per process (a build hashes its source several
    times) and again once the file is rewritten, replaced or touched, also with the same size."""
    import hashlib
    import os

    from mobilepack import cache

    monkeypatch.setattr(cache, "MEMO_BYTES", 1 << 10)
    monkeypatch.setattr(cache, "_DIGESTS", {})
    reads = []
    real_open = open

    def counting_open(path, *args, **kwargs):
        reads.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", counting_open)
    big, small = tmp_path / "weights.bin", tmp_path / "labels.txt"
    big.write_bytes(b"a" * 4096)
    small.write_bytes(b"b" * 100)
    assert cache.sha256_file(big) == cache.sha256_file(big) == hashlib.sha256(b"a" * 4096).hexdigest()
    assert reads.count(str(big)) == 1
    cache.sha256_file(small), cache.sha256_file(small)
    assert reads.count(str(small)) == 2   # below MEMO_BYTES: hashed every time
    before = big.stat()
    big.write_bytes(b"c" * 4096)   # the same size, rewritten in place
    os.utime(big, ns=(before.st_atime_ns, before.st_mtime_ns))   # even with its old mtime back: ctime moved
    assert cache.sha256_file(big) == hashlib.sha256(b"c" * 4096).hexdigest()
    replaced = tmp_path / "new.bin"
    replaced.write_bytes(b"d" * 4096)
    os.replace(replaced, big)       # another inode under the same name
    assert cache.sha256_file(big) == hashlib.sha256(b"d" * 4096).hexdigest()
    assert cache.hash_path(tmp_path) == cache.hash_path(tmp_path)
