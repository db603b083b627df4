"""Training on several machines: ``--workers host:port,…`` and the worker's index become ``TF_CONFIG``.

The process the user starts is worker 0, the chief.  Every other machine runs the same
command with ``--worker-index N`` (or ``MOBILEPACK_WORKER_INDEX=N``).  From the list and
the index this module writes ``TF_CONFIG`` into the environment before any strategy is
made, so :mod:`mobilepack.compress.strategy` picks ``MultiWorkerMirroredStrategy`` and
the tf-keras worker process inherits it.  A cluster scheduler that sets ``TF_CONFIG``
itself (Kubernetes' training operator, a Slurm script) needs neither option."""

from __future__ import annotations

import json
import os
import re

from mobilepack.errors import UsageError

INDEX_ENV = "MOBILEPACK_WORKER_INDEX"
_EXAMPLE = "e.g. --workers host1:12345,host2:12345"
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)$")


def parse(text: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """``"a:1,b:2"`` (or a list of entries, as in ``[compress] workers``) as ``("a:1", "b:2")``;
    a malformed entry is a :class:`UsageError` naming it."""
    if text is None:
        return ()
    entries = text.split(",") if isinstance(text, str) else list(text)
    workers = tuple(str(e).strip() for e in entries)
    if not workers or workers == ("",):
        raise UsageError("--workers is empty", f"list every worker as host:port, the chief first ({_EXAMPLE})")
    for entry in workers:
        host, sep, port = entry.rpartition(":")
        if not sep or not _HOST.match(host) or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise UsageError(f"--workers entry {entry!r} is not host:port (port 1-65535)", _EXAMPLE)
    if len(set(workers)) != len(workers):
        raise UsageError("--workers lists the same host:port twice", f"give each worker its own port ({_EXAMPLE})")
    return workers


def check(workers: tuple[str, ...], index: int, strategy: str) -> None:
    if not workers:
        if index != 0:
            raise UsageError(f"--worker-index {index} needs --workers", f"{_EXAMPLE} --worker-index 1")
        return
    if not 0 <= index < len(workers):
        raise UsageError(f"--worker-index must be between 0 and {len(workers) - 1} for {len(workers)} workers "
                         f"(got {index})", "0 is the chief; each other machine takes its position in --workers")
    if strategy not in ("auto", "multi-worker"):
        raise UsageError(f"--workers needs --strategy auto or multi-worker (got {strategy!r})",
                         "drop --strategy, or drop --workers to train on this machine only")
    if os.environ.get("TF_CONFIG") not in (None, "", tf_config(workers, index)):
        raise UsageError("both --workers and the TF_CONFIG environment variable describe the cluster",
                         "unset TF_CONFIG, or drop --workers and let TF_CONFIG alone describe it")


def tf_config(workers: tuple[str, ...], index: int) -> str:
    return json.dumps({"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": index}})


def for_job(train) -> str | None:
    """The ``TF_CONFIG`` that training under ``train`` (a ``TrainOptions``) needs; None: leave it as it is."""
    return tf_config(train.workers, train.worker_index) if train.workers else None


def apply(config: str | None) -> None:
    """Set ``TF_CONFIG`` in this process (before any strategy is made) when ``config`` is given."""
    if config:
        os.environ["TF_CONFIG"] = config


def index_from_env() -> int:
    raw = os.environ.get(INDEX_ENV, "0").strip() or "0"
    if not raw.isdigit():
        raise UsageError(f"{INDEX_ENV} must be a worker index (0, 1, …), got {raw!r}", f"e.g. {INDEX_ENV}=1")
    return int(raw)
