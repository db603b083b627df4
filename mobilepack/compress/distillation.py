"""Knowledge distillation in Keras 3 (this process): a student learns from the
teacher's soft targets at a temperature plus the hard labels.

loss = alpha * CE(labels, student) + (1 - alpha) * T² * KL(softmax(t/T) || softmax(s/T))

where t and s are the teacher's and student's logits (log-probabilities when a model
ends in a softmax).  The teacher is run once over the training data; its logits travel
with the labels; :mod:`mobilepack.compress.distill_loop` trains the student under the chosen
``tf.distribute`` strategy, on one worker or several."""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path

from mobilepack.compress import measure as m, strategy as strategies, workers
from mobilepack.compress.errors import TrainingError, UnsupportedModel
from mobilepack.compress.options import DistillOptions
from mobilepack.compress.preparation import check_paths, load_keras, prepare
from mobilepack.compress.result import RECORD, SUMMARY, CompressResult, write
from mobilepack.progress import ProgressCallback, ProgressEvent, or_ignore
from mobilepack.report.schema import tool_versions
from mobilepack.staging import StagedOutput

DEFAULT_LR = 3e-3


def outputs_probabilities(model, x) -> bool:
    """Whether ``model`` ends in a softmax: every output row ≥ 0 and summing to 1."""
    import numpy as np

    y = np.asarray(model(x, training=False))
    return bool(np.all(y >= 0) and np.allclose(y.sum(axis=-1), 1.0, atol=1e-3))


def _logits(ops, y, probabilities: bool):
    return ops.log(ops.clip(y, 1e-7, 1.0)) if probabilities else y


def distillation_loss(keras, classes: int, temperature: float, alpha: float, student_probabilities: bool):
    """A Keras loss over packed targets ``[one-hot labels | teacher logits]``."""
    ops = keras.ops

    def loss(y_true, y_pred):
        hard, teacher = y_true[:, :classes], y_true[:, classes:]
        student = _logits(ops, y_pred, student_probabilities)
        hard_loss = keras.losses.categorical_crossentropy(hard, student, from_logits=True)
        soft_t = ops.softmax(teacher / temperature, axis=-1)
        log_t = ops.log_softmax(teacher / temperature, axis=-1)
        log_s = ops.log_softmax(student / temperature, axis=-1)
        kl = ops.sum(soft_t * (log_t - log_s), axis=-1) * (temperature ** 2)
        return alpha * hard_loss + (1.0 - alpha) * kl

    return loss


def _strategy(train, tf):
    """The strategy to train under; ``--workers`` becomes ``TF_CONFIG`` only while it is made."""
    import os

    config, before = workers.for_job(train), os.environ.get("TF_CONFIG")
    workers.apply(config)
    try:
        return strategies.make(train.strategy, tf)
    except RuntimeError as exc:
        raise TrainingError(f"cannot start the {train.strategy} strategy: {str(exc).splitlines()[0]}",
                            "run distillation in its own process (the CLI does)") from exc
    finally:
        if config and before is None:
            del os.environ["TF_CONFIG"]
        elif config:
            os.environ["TF_CONFIG"] = before


def _teacher_targets(prepared, classes: int, emit):
    """(targets, teacher_probs): one-hot labels beside the teacher's logits, per training sample."""
    import numpy as np

    from mobilepack.model.tfimport import silenced

    x, y = prepared.train.x, prepared.train.y
    teacher_probs = outputs_probabilities(prepared.keras_model, x[:32])
    emit(ProgressEvent("distill", f"running the teacher on {len(x)} training samples"))
    with silenced():
        t_out = np.concatenate([np.asarray(prepared.keras_model(x[i:i + 256], training=False))
                                for i in range(0, len(x), 256)])
    t_logits = np.log(np.clip(t_out, 1e-7, 1.0)) if teacher_probs else t_out
    return np.concatenate([np.eye(classes, dtype=np.float32)[y], t_logits.astype(np.float32)], axis=1), teacher_probs


def _student_and_loop(keras, tf, strategy, options: DistillOptions, spec, classes: int, teacher_probs: bool, x):
    """The student and its training loop, both made under ``strategy``."""
    from mobilepack.compress.distill_loop import Loop
    from mobilepack.model.tfimport import silenced

    train = options.train
    keras.utils.set_random_seed(train.seed)
    with strategy.scope(), silenced():
        student = _student(keras, options, spec, classes, teacher_probs)
        s_probs = outputs_probabilities(student, x[:32])
        lr = train.learning_rate or DEFAULT_LR
        steps = -(-len(x) // train.batch_size) * train.epochs  # the last 30% of the steps at a tenth of the rate
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay([int(steps * 0.7)], [lr, lr / 10])
        optimizer = keras.optimizers.Adam(schedule)
        optimizer.build(student.trainable_variables)
    loss = distillation_loss(keras, classes, options.temperature, options.alpha, s_probs)
    return student, Loop(tf, strategy, student, optimizer, loss, classes)


def _train(loop, x, targets, train, emit) -> list[float]:
    import numpy as np

    from mobilepack.model.tfimport import silenced

    order = np.random.default_rng(train.seed)  # the same on every worker: one shuffle, split by replica
    losses = []
    for epoch in range(train.epochs):
        with silenced():
            loss, accuracy = loop.epoch(x, targets, order.permutation(len(x)), train.batch_size)
        losses.append(loss)
        emit(ProgressEvent("distill", f"epoch {epoch + 1}/{train.epochs}: loss {loss:.4f}, accuracy {accuracy:.4f}",
                           epoch + 1, train.epochs))
    if not np.all(np.isfinite(losses)):
        raise TrainingError("distillation diverged (non-finite loss)", "lower --learning-rate or --temperature")
    return losses


def _write_student(out, teacher_path, student, prepared, options: DistillOptions, training: dict,
                   emit) -> CompressResult:
    """Save the student, convert and measure teacher and student, write the result into ``out``."""
    train, spec = options.train, prepared.spec
    keras_name, tflite_name = f"{student.name}.keras", f"{student.name}_fp32.tflite"
    planned = [keras_name, tflite_name, RECORD, SUMMARY]
    with StagedOutput(out, record=RECORD) as stage, tempfile.TemporaryDirectory(prefix="mobilepack-distill-") as tmp:
        stage.check_names(planned)
        work = Path(tmp)
        calibration = m.write_calibration(prepared.train, spec.inputs[0].name, work / "calibration.npz")
        emit(ProgressEvent("measure", "converting and measuring teacher and student"))
        student.save(stage.path / keras_name)
        t_data = m.to_tflite(teacher_path, "fp32", work, samples=calibration, progress=emit)
        s_data = m.to_tflite(stage.path / keras_name, "fp32", work, samples=calibration, progress=emit)
        (stage.path / tflite_name).write_bytes(s_data)
        (work / "teacher.tflite").write_bytes(t_data)
        rows = [m.measure("teacher", t_data, "fp32", prepared.eval, params=m.count_params(prepared.keras_model)),
                m.measure("student", s_data, "fp32", prepared.eval, tflite=tflite_name,
                          params=m.count_params(student))]
        if train.bench:
            rows = m.with_latency(rows, {"teacher": work / "teacher.tflite", "student": stage.path / tflite_name}, emit)
        opts = {k: v for k, v in asdict(options).items() if k != "train"} | {"train": asdict(train)}
        result = CompressResult(
            technique="distill", out_dir=str(stage.out), source=str(teacher_path), model=keras_name,
            tflite=tflite_name, options=opts, data=prepared.train.info(), eval_data=prepared.eval.info(),
            rows=tuple(rows), layers={}, training=training, warnings=tuple(prepared.warnings), tools=tool_versions(),
            files=tuple(planned))
        write(result, stage.path)
        stage.commit()
    return result


def distill(teacher_path: str | Path, data: str | Path, out: str | Path, options: DistillOptions,
            progress: ProgressCallback | None = None) -> CompressResult:
    """Train a student (a preset or ``options.student``) from the teacher; writes
    ``<student>.keras`` and ``<student>_fp32.tflite`` into ``out`` and reports teacher vs student."""
    from mobilepack.model.tfimport import keras as _keras, tensorflow

    emit = or_ignore(progress)
    options.check()
    train = options.train
    check_paths(teacher_path, data, train)
    if options.student is not None:
        check_paths(options.student, None, train)
    tf = tensorflow()
    keras = _keras()
    strategy = _strategy(train, tf)
    emit(ProgressEvent("load", f"loading teacher {teacher_path}"))
    teacher = load_keras(teacher_path, unsafe_load=train.unsafe_load, role="teacher")
    prepared = prepare(teacher, data, train, emit)
    classes = int(prepared.spec.outputs[0].shape[-1])
    targets, teacher_probs = _teacher_targets(prepared, classes, emit)
    student, loop = _student_and_loop(keras, tf, strategy, options, prepared.spec, classes, teacher_probs,
                                      prepared.train.x)
    losses = _train(loop, prepared.train.x, targets, train, emit)
    training = {"strategy": strategies.describe(strategy), "epochs": train.epochs,
                "learning_rate": train.learning_rate or DEFAULT_LR, "final_loss": losses[-1],
                "teacher_outputs": "probabilities" if teacher_probs else "logits"}
    return _write_student(out, teacher_path, student, prepared, options, training, emit)


def _student(keras, options: DistillOptions, spec, classes: int, softmax: bool):
    from mobilepack.compress import presets

    if options.student_preset is not None:
        return presets.get(options.student_preset).build(keras, spec.inputs[0].shape[1:], classes, spec.normalization,
                                                         softmax)
    student = load_keras(options.student, unsafe_load=options.train.unsafe_load, role="student")
    s_spec = student.spec
    if (len(s_spec.inputs) != 1 or s_spec.inputs[0].shape[1:] != spec.inputs[0].shape[1:]
            or len(s_spec.outputs) != 1 or s_spec.outputs[0].shape[-1] != classes):
        raise UnsupportedModel(f"the student's input/output shapes ({list(s_spec.inputs[0].shape)} -> "
                               f"{[list(t.shape) for t in s_spec.outputs]}) differ from the teacher's "
                               f"({list(spec.inputs[0].shape)} -> {list(spec.outputs[0].shape)})",
                               "give the student the teacher's input shape and number of classes")
    return student._keras_model
