"""The metadata stage's work on each variant, in the build's process or in child processes.

Attaching metadata rebuilds a variant's whole flatbuffer in pure Python (``metadata.attach``) on
one core: a 109 M-parameter encoder's four variants (0.87 GB) took 10-15 s with the second core
idle (6-8 s in two children).  Where the variants together hold at least :data:`PARALLEL_BYTES`, each variant is attached
in a child process (``runtime.child.run_in_child``, forked from the zygote), up to
``runtime.pool.child_workers`` at a time, largest first; below that a child's start costs more than
it saves, and they are attached one after another here.  Both ways run :func:`attach_variant` on the
same JSON request — read the converted file, attach, write the output file — and get the same
answer (bytes, sha256, the metadata record, the variant's tensors), so the files and convert.json
are the same (``tests/test_metadata_jobs.py``).

A child's :class:`~mobilepack.errors.MobilepackError` comes back as a document and is raised again
here, the first in the variants' order (the one the loop here would have met first); a child that
gives no answer (a crash, its memory cap, an unexpected exception) has its variant attached here,
where the same failure surfaces as it would without children."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mobilepack.errors import MobilepackError

PARALLEL_BYTES = 64 << 20   # the variants' total below which they are attached here (see the module docstring)
CHILD_TIMEOUT = 1800.0      # seconds for one variant in a child (a 434 MB variant takes ~6 s)
TARGET = "mobilepack.pipeline.metadata_jobs:attach_in_child"
_ATTACH_KEYS = ("task", "score_threshold", "vocab", "iou_threshold", "keypoints_layout", "tokenizer", "sample_rate",
                "channels")


def metadata_info(spec, md, norm_source: str | None):
    """(the normalization written, the general info) for the source model's ``spec``."""
    from mobilepack.metadata import GeneralInfo
    from mobilepack.model.normalization import from_flags

    norm = from_flags(md["mean"], md["std"], source=norm_source) or spec.normalization
    info = GeneralInfo(name=md["name"] or spec.name, version=md["version"], author=md["author"],
                       license=md["license"], description=f"{spec.name}, converted by mobilepack")
    return norm, info


def requests(record: dict[str, Any], metadata, labels: tuple[str, ...], norm_source: str | None,
             source_dir: Path, out_dir: Path) -> list[dict[str, Any]]:
    """One JSON request per variant of the convert ``record``: its converted file in ``source_dir``,
    written with metadata into ``out_dir``."""
    md = {k: metadata[k] for k in ("mean", "std", "name", "version", "author", "license", *_ATTACH_KEYS)}
    md["vocab"] = str(md["vocab"]) if md["vocab"] else None
    return [{"mode": v["mode"], "path": v["path"], "source": str(source_dir / v["path"]),
             "output": str(out_dir / v["path"]), "model": record["model"], "metadata": md, "labels": list(labels),
             "normalization_source": norm_source} for v in record["variants"]]


def attach_variant(request: dict[str, Any]) -> dict[str, Any]:
    """Attach one variant's metadata (:func:`requests`); its record pieces and tensors."""
    from mobilepack.metadata import attach
    from mobilepack.model.spec import spec_from_dict
    from mobilepack.model.variant import tensors_to_json, variant_spec

    md = request["metadata"]
    spec = spec_from_dict(request["model"])
    norm, info = metadata_info(spec, md, request["normalization_source"])
    data = Path(request["source"]).read_bytes()
    described = variant_spec(spec, data)
    result = attach(data, spec=described, labels=request["labels"] or None, normalization=norm, info=info,
                    **{k: md[k] for k in _ATTACH_KEYS})
    del data
    Path(request["output"]).write_bytes(result.model)
    return {"bytes": len(result.model), "sha256": hashlib.sha256(result.model).hexdigest(),
            "metadata": result.to_dict(output=request["path"]), "tensors": tensors_to_json(described)}


def attach_in_child(request: dict[str, Any]) -> dict[str, Any]:
    """In the child: :func:`attach_variant`, or the MobilepackError that stopped it as a document."""
    try:
        return attach_variant(request)
    except MobilepackError as exc:
        return {"error": {"module": type(exc).__module__, "class": type(exc).__qualname__, "message": exc.message,
                          "hint": exc.hint, "exit_code": exc.exit_code}}


def _raise(doc: dict[str, Any]) -> None:
    """Raise a child's error again: its class where it can be rebuilt, its message, hint and exit code."""
    cls = getattr(importlib.import_module(doc["module"]), doc["class"], None)
    error = None
    if isinstance(cls, type) and issubclass(cls, MobilepackError):
        try:
            error = cls(doc["message"], doc["hint"], exit_code=doc["exit_code"])
        except TypeError:   # a subclass with its own constructor
            error = None
    raise error or MobilepackError(doc["message"], doc["hint"], exit_code=doc["exit_code"])


def in_children(jobs: list[dict[str, Any]], workers: int) -> bool:
    """Whether the variants are attached in child processes (see the module docstring)."""
    total = sum(Path(j["source"]).stat().st_size for j in jobs)
    return workers > 1 and len(jobs) > 1 and total >= PARALLEL_BYTES


def attach_all(jobs: list[dict[str, Any]], workers: int, announce: Callable[[int, str], None]) -> list[dict[str, Any]]:
    """Each request's answer, in the requests' order.  ``announce(done, mode)``: a variant is being
    attached (here) or was attached (in a child)."""
    if not in_children(jobs, workers):
        answers = []
        for i, job in enumerate(jobs):
            announce(i, job["mode"])
            answers.append(attach_variant(job))
        return answers
    from mobilepack.runtime.child import run_in_child
    from mobilepack.runtime.pool import run_concurrently

    order = sorted(range(len(jobs)), key=lambda i: -Path(jobs[i]["source"]).stat().st_size)
    finished: list[int] = []

    def done(k: int, _answer) -> None:
        announce(len(finished), jobs[order[k]]["mode"])
        finished.append(k)

    found = run_concurrently(lambda i: run_in_child(TARGET, jobs[i], timeout=CHILD_TIMEOUT).answer, order, workers,
                             on_done=done)
    by_job = dict(zip(order, found))
    answers = []
    for i, job in enumerate(jobs):
        answer = by_job[i]
        if answer is None:   # no answer from the child: here, where its failure (if any) is raised as without children
            answer = attach_variant(job)
        elif "error" in answer:
            _raise(answer["error"])
        answers.append(answer)
    return answers
