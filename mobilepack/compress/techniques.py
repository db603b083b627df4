"""Pruning, weight clustering and quantization-aware training: the stages built on
``tensorflow-model-optimization``, which trains in the tf-keras worker.

Each stage: check options -> load the Keras 3 model -> read labelled data -> measure
the source -> fine-tune in the worker -> load the weights back into the Keras 3 model
(or, for QAT, convert the worker's SavedModel to int8) -> measure -> write OUT atomically."""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mobilepack.compress import bridge, measure as m, workers
from mobilepack.compress.options import ClusterOptions, PruneOptions, QatOptions, Technique, TrainOptions
from mobilepack.compress.preparation import Prepared, check_paths, load_keras, prepare
from mobilepack.compress.result import RECORD, SUMMARY, CompressResult, write
from mobilepack.progress import ProgressCallback, ProgressEvent, or_ignore
from mobilepack.report.schema import tool_versions
from mobilepack.staging import StagedOutput


def prune(model_path: str | Path, data: str | Path, out: str | Path, options: PruneOptions = PruneOptions(),
          progress: ProgressCallback | None = None) -> CompressResult:
    """Magnitude pruning (polynomial-decay schedule) fine-tuned on ``data``; writes
    ``<name>_pruned.keras`` and ``<name>_pruned_fp32.tflite`` into ``out``."""
    return _run(Technique.PRUNE, model_path, data, out, options, progress)


def cluster(model_path: str | Path, data: str | Path, out: str | Path, options: ClusterOptions = ClusterOptions(),
            progress: ProgressCallback | None = None) -> CompressResult:
    """Weight clustering (k-means++ centroids) fine-tuned on ``data``; writes
    ``<name>_clustered.keras`` and ``<name>_clustered_fp32.tflite``."""
    return _run(Technique.CLUSTER, model_path, data, out, options, progress)


def qat(model_path: str | Path, data: str | Path, out: str | Path, options: QatOptions = QatOptions(),
        progress: ProgressCallback | None = None) -> CompressResult:
    """Quantization-aware training on ``data``; writes ``<name>_qat_int8.tflite`` and
    compares it with post-training int8 of the source."""
    return _run(Technique.QAT, model_path, data, out, options, progress)


_SUFFIX = {Technique.PRUNE: "pruned", Technique.CLUSTER: "clustered", Technique.QAT: "qat"}


def _options_dict(options) -> dict[str, Any]:
    return {k: v for k, v in asdict(options).items() if k != "train"} | {"train": asdict(options.train)}


def _run(technique: Technique, model_path, data, out, options, progress) -> CompressResult:
    emit = or_ignore(progress)
    options.check()
    train: TrainOptions = options.train
    check_paths(model_path, data, train)
    emit(ProgressEvent("load", f"loading {model_path}"))
    source = load_keras(model_path, unsafe_load=train.unsafe_load)
    graph = bridge.describe_graph(source._keras_model)  # unsupported models fail here, before any training
    prepared = prepare(source, data, train, emit)
    name = prepared.spec.name
    suffix = _SUFFIX[technique]
    keras_name = None if technique == Technique.QAT else f"{name}_{suffix}.keras"
    tflite_name = f"{name}_{suffix}_{'int8' if technique == Technique.QAT else 'fp32'}.tflite"
    planned = [n for n in (keras_name, tflite_name, RECORD, SUMMARY) if n]
    with StagedOutput(out, record=RECORD) as stage, tempfile.TemporaryDirectory(prefix="mobilepack-compress-") as tmp:
        stage.check_names(planned)
        work = Path(tmp)
        calibration = m.write_calibration(prepared.train, prepared.spec.inputs[0].name, work / "calibration.npz")
        job = _write_job(work / "job", technique, graph, prepared, options)
        emit(ProgressEvent(technique.value, f"fine-tuning with {technique.value} (tf-keras worker)"))
        worker = bridge.run_worker(job, emit, what=technique.value)  # first: a model tf-keras refuses fails fast
        rows, files = _baseline(technique, model_path, prepared, work, calibration, emit)
        emit(ProgressEvent("measure", "converting and measuring the compressed model"))
        if technique == Technique.QAT:
            data_out = m.to_tflite(str(job / "saved_model"), "int8", work, samples=calibration, progress=emit)
        else:
            keras = _keras()
            compressed = keras.models.clone_model(prepared.keras_model)
            bridge.load_weights(compressed, job / "weights_out.npz")
            compressed.save(stage.path / keras_name)
            data_out = m.to_tflite(stage.path / keras_name, "fp32", work, samples=calibration, progress=emit)
        (stage.path / tflite_name).write_bytes(data_out)
        rows.append(m.measure("after", data_out, "int8" if technique == Technique.QAT else "fp32", prepared.eval,
                              tflite=tflite_name, params=rows[0].params))
        if train.bench:
            rows = m.with_latency(rows, {**files, "after": stage.path / tflite_name}, emit)
        result = CompressResult(
            technique=technique.value, out_dir=str(stage.out), source=str(model_path), model=keras_name,
            tflite=tflite_name, options=_options_dict(options), data=prepared.train.info(),
            eval_data=prepared.eval.info(), rows=tuple(rows),
            layers=worker.pop("layers"), training=worker, warnings=tuple(prepared.warnings), tools=tool_versions(),
            files=tuple(planned))
        write(result, stage.path)
        stage.commit()
    return result


def _keras():
    from mobilepack.model.tfimport import keras

    return keras()


def _baseline(technique, model_path, prepared: Prepared, work: Path, calibration: Path, emit):
    """The source measured as fp32 (and, for QAT, as post-training int8: the bar QAT must clear)."""
    emit(ProgressEvent("measure", "converting and measuring the source model"))
    params = m.count_params(prepared.keras_model)
    plan = [("before", "fp32")] + ([("ptq_int8", "int8")] if technique == Technique.QAT else [])
    rows, files = [], {}
    for role, mode in plan:
        data = m.to_tflite(model_path, mode, work, samples=calibration, progress=emit)
        files[role] = work / f"{role}.tflite"
        files[role].write_bytes(data)
        rows.append(m.measure(role, data, mode, prepared.eval, params=params))
    return rows, files


def _write_job(job: Path, technique: Technique, graph, prepared: Prepared, options) -> Path:
    import numpy as np

    job.mkdir()
    spec = prepared.spec
    (job / "graph.json").write_text(json.dumps(graph), encoding="utf-8")
    bridge.save_weights(prepared.keras_model, job / "weights.npz")
    np.savez(job / "train.npz", x=prepared.train.x, y=prepared.train.y)
    train = options.train
    payload = {
        "technique": technique.value, "options": _options_dict(options), "epochs": train.epochs,
        "batch_size": train.batch_size, "learning_rate": train.learning_rate, "seed": train.seed,
        "strategy": train.strategy, "tf_config": workers.for_job(train), "from_logits": not _outputs_probabilities(prepared),
        "input": {"name": spec.inputs[0].name, "shape": list(spec.inputs[0].shape), "dtype": spec.inputs[0].dtype},
        "output_name": spec.outputs[0].name,
    }
    (job / "job.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return job


def _outputs_probabilities(prepared: Prepared) -> bool:
    """Whether the model ends in a softmax (rows ≥ 0 that sum to 1) rather than logits."""
    from mobilepack.compress.distillation import outputs_probabilities

    return outputs_probabilities(prepared.keras_model, prepared.train.x[:32])
