"""``tf.distribute`` strategies for training, registered by name.

``auto`` (the default): ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` describes a
cluster of several workers, ``MirroredStrategy`` when more than one GPU is visible, the
default (single-device) strategy otherwise.  The others force one choice."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from mobilepack.errors import UsageError

_REGISTRY: dict[str, Callable] = {}


def register(name: str):
    def deco(fn):
        _REGISTRY[name] = fn
        return fn
    return deco


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def cluster_size() -> int:
    """How many tasks (chief and workers) ``TF_CONFIG`` lists; 0 without it."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except (ValueError, AttributeError):
        raise UsageError("TF_CONFIG is not valid JSON", 'e.g. {"cluster": {"worker": ["host1:12345", '
                         '"host2:12345"]}, "task": {"type": "worker", "index": 0}}') from None
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


@register("default")
def _default(tf):
    return tf.distribute.get_strategy()


@register("mirrored")
def _mirrored(tf):
    return tf.distribute.MirroredStrategy()


@register("multi-worker")
def _multi_worker(tf):
    if cluster_size() < 1:
        raise UsageError("--strategy multi-worker needs TF_CONFIG describing the cluster",
                         'set TF_CONFIG on every worker, e.g. {"cluster": {"worker": ["h1:12345", "h2:12345"]}, '
                         '"task": {"type": "worker", "index": 0}}')
    return tf.distribute.MultiWorkerMirroredStrategy()


@register("auto")
def _auto(tf):
    if cluster_size() > 1:
        return _multi_worker(tf)
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return _mirrored(tf)
    return _default(tf)


def make(name: str, tf):
    """The strategy called ``name`` (create it before any other TensorFlow work)."""
    if name not in _REGISTRY:
        raise UsageError(f"unknown --strategy {name!r}", f"valid: {', '.join(names())}")
    return _REGISTRY[name](tf)


def describe(strategy) -> dict:
    name = type(strategy).__name__
    name = {"CollectiveAllReduceStrategy": "MultiWorkerMirroredStrategy"}.get(name, name)
    return {"name": "default" if name.startswith("_Default") else name, "replicas": int(strategy.num_replicas_in_sync)}
