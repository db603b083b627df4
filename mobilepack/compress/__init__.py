"""Compression beyond post-training quantization: pruning, weight clustering,
quantization-aware training (all three with tensorflow-model-optimization, in a
tf-keras worker process) and knowledge distillation (Keras 3, in this process).

Each technique is a plain stage ``stage(model_path, data, out, options, progress) ->
CompressResult``; :data:`STAGES` maps each :class:`Technique` to its stage, and
:class:`CompressConfig` is the ``[compress]`` section of ``mobilepack.toml``.
TensorFlow is imported only when a stage runs."""

from __future__ import annotations

from mobilepack.compress.options import (ClusterOptions, CompressConfig, DistillOptions, PruneOptions, QatOptions,
                                         Technique, TrainOptions, config_schema)


def prune(model_path, data, out, options=None, progress=None):
    from mobilepack.compress.techniques import prune as _prune

    return _prune(model_path, data, out, options or PruneOptions(), progress)


def cluster(model_path, data, out, options=None, progress=None):
    from mobilepack.compress.techniques import cluster as _cluster

    return _cluster(model_path, data, out, options or ClusterOptions(), progress)


def qat(model_path, data, out, options=None, progress=None):
    from mobilepack.compress.techniques import qat as _qat

    return _qat(model_path, data, out, options or QatOptions(), progress)


def distill(teacher_path, data, out, options, progress=None):
    from mobilepack.compress.distillation import distill as _distill

    return _distill(teacher_path, data, out, options, progress)


STAGES = {Technique.PRUNE: prune, Technique.CLUSTER: cluster, Technique.QAT: qat, Technique.DISTILL: distill}

__all__ = ["STAGES", "ClusterOptions", "CompressConfig", "DistillOptions", "PruneOptions", "QatOptions", "Technique",
           "TrainOptions", "cluster", "config_schema", "distill", "prune", "qat"]
