"""The tf-keras training worker: ``python -m mobilepack.compress.worker JOB_DIR``.

Started by :func:`mobilepack.compress.bridge.run_worker` with ``TF_USE_LEGACY_KERAS=1``,
never imported by the Keras 3 parent.  Reads ``job.json``, ``graph.json``,
``weights.npz`` and ``train.npz`` from JOB_DIR, applies one technique from
``tensorflow-model-optimization``, fine-tunes, and writes ``weights_out.npz`` (or,
for QAT, ``saved_model/``), ``result.json``, and ``progress.jsonl`` as it goes.
A failure is written to ``error.json`` (message, hint, exit code)."""

from __future__ import annotations

import json
import math
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from mobilepack.compress.errors import TrainingError, UnsupportedModel
from mobilepack.errors import MobilepackError

_KERNELS = ("kernel", "depthwise_kernel")


def _kernel(layer):
    for attr in _KERNELS:
        if getattr(layer, attr, None) is not None:
            return getattr(layer, attr)
    return None


class _Technique:
    default_lr = 1e-4

    def __init__(self, tfmot, tf, keras, job: dict[str, Any]) -> None:
        self.tfmot, self.tf, self.keras, self.job = tfmot, tf, keras, job
        self.wrapped: list[str] = []
        self.skipped: dict[str, str] = {}

    def wrap_layer(self, layer):
        raise NotImplementedError

    def wrap(self, model, steps: int):
        """Wrap every layer that has a kernel; the wrappers hold the original layers and their weights."""
        self.steps = steps

        def clone(layer):
            if _kernel(layer) is None:
                return layer
            try:
                wrapped = self.wrap_layer(layer)
            except (ValueError, RuntimeError) as exc:
                self.skipped[layer.name] = str(exc).splitlines()[0][:200]
                return layer
            self.wrapped.append(layer.name)
            return wrapped

        return self.keras.models.clone_model(model, clone_function=clone)

    def callbacks(self) -> list:
        return []

    def strip(self, model):
        raise NotImplementedError

    def kernel_stats(self, kernel, wrapped: bool) -> dict[str, Any]:
        raise NotImplementedError

    def finish(self, model, job_dir: Path) -> dict[str, Any]:
        """Strip the wrappers, save the weights for the parent, and describe each kernel."""
        import numpy as np

        stripped = self.strip(model)
        _save_weights(stripped, job_dir)
        layers = {}
        for layer in stripped.layers:
            k = _kernel(layer)
            if k is not None:
                w = np.asarray(k.numpy())
                layers[layer.name] = {"weights": int(w.size), **self.kernel_stats(w, layer.name in self.wrapped)}
        return {"layers": layers}


class Prune(_Technique):
    default_lr = 5e-4

    def wrap_layer(self, layer):
        s = self.tfmot.sparsity.keras
        total = self.steps * self.job["epochs"]
        end = max(1, int(math.ceil(total * 0.5)))  # the second half fine-tunes with the final mask
        schedule = s.PolynomialDecay(initial_sparsity=0.0, final_sparsity=self.job["options"]["target_sparsity"],
                                     begin_step=0, end_step=end, frequency=max(1, min(100, end // 10)))
        return s.prune_low_magnitude(layer, pruning_schedule=schedule)

    def callbacks(self):
        return [self.tfmot.sparsity.keras.UpdatePruningStep()]

    def strip(self, model):
        return self.tfmot.sparsity.keras.strip_pruning(model)

    def kernel_stats(self, kernel, wrapped):
        zeros = int((kernel == 0).sum())
        return {"zeros": zeros, "sparsity": zeros / kernel.size, "pruned": wrapped}


class Cluster(_Technique):
    default_lr = 1e-4

    def wrap_layer(self, layer):
        c = self.tfmot.clustering.keras
        return c.cluster_weights(layer, number_of_clusters=self.job["options"]["clusters"],
                                 cluster_centroids_init=c.CentroidInitialization.KMEANS_PLUS_PLUS)

    def strip(self, model):
        return self.tfmot.clustering.keras.strip_clustering(model)

    def kernel_stats(self, kernel, wrapped):
        import numpy as np

        return {"unique_values": int(np.unique(kernel).size), "clustered": wrapped}


class Qat(_Technique):
    default_lr = 1e-4

    def wrap(self, model, steps):
        q = self.tfmot.quantization.keras
        output_only = _output_only_config(q)

        def annotate(layer):
            config = output_only() if type(layer).__name__ in ("Rescaling", "Normalization") else None
            self.wrapped.append(layer.name)
            return q.quantize_annotate_layer(layer, quantize_config=config)

        annotated = self.keras.models.clone_model(model, clone_function=annotate)
        try:
            with q.quantize_scope({"OutputOnlyQuantizeConfig": output_only}):
                quantized = q.quantize_apply(annotated)
        except (RuntimeError, ValueError) as exc:
            raise UnsupportedModel(f"quantization-aware training does not support this model: "
                                   f"{str(exc).splitlines()[0][:300]}",
                                   "tensorflow-model-optimization's default 8-bit scheme covers Conv, Dense, "
                                   "pooling, BatchNormalization, activations and Add/Concatenate") from exc
        self._init_ranges(model, quantized)
        return quantized

    def _init_ranges(self, model, quantized) -> None:
        """Start each moving-average activation range at the float model's observed range.

        tfmot starts them at [-6, 6] and moves them with an EMA of decay 0.999, so a short
        fine-tuning would ship ranges far from the real ones (e.g. [-6, 6] for [0, 1] inputs)."""
        import numpy as np

        keras = self.keras
        layers = [l for l in model.layers if type(l).__name__ != "InputLayer"]
        probe = keras.Model(model.inputs, [l.output for l in layers] + [l.input for l in layers])
        # called directly, not through predict: under a multi-worker strategy predict would see only
        # this worker's shard, and the workers would start from different ranges
        batches = [probe(self.sample[i:i + 64], training=False) for i in range(0, len(self.sample), 64)]
        found = [np.concatenate([np.asarray(b[j]) for b in batches]) for j in range(2 * len(layers))]
        outputs, inputs = found[:len(layers)], found[len(layers):]
        ranges = {("quantize_layer", "quantize_layer"): np.asarray(self.sample)}  # the model input (single input)
        for layer, out, inp in zip(layers, outputs, inputs):
            ranges[(layer.name, "output")] = ranges[(layer.name, "post_activation")] = out
            if _kernel(layer) is not None and layer.get_config().get("activation") not in (None, "linear"):
                linear = layer.__class__.from_config({**layer.get_config(), "activation": "linear",
                                                      "name": layer.name + "_linear_probe"})
                linear.build(inp.shape)
                linear.set_weights(layer.get_weights())
                ranges[(layer.name, "pre_activation")] = np.asarray(linear(inp))
        for var in quantized.non_trainable_weights:
            scope, _, leaf = var.name.rpartition("/")
            leaf = leaf.split(":")[0]
            kind, _, bound = leaf.rpartition("_")
            values = ranges.get((scope.removeprefix("quant_"), kind))
            if values is not None and bound in ("min", "max"):
                var.assign(min(0.0, float(values.min())) if bound == "min" else max(0.0, float(values.max())))

    def finish(self, model, job_dir):
        tf = self.tf
        spec = self.job["input"]
        out_name = self.job["output_name"]

        @tf.function(input_signature=[tf.TensorSpec([None, *spec["shape"][1:]], tf.as_dtype(spec["dtype"]),
                                                    name=spec["name"])])
        def serve(x):
            return {out_name: model(x, training=False)}

        tf.saved_model.save(model, str(job_dir / "saved_model"), signatures={"serving_default": serve})
        return {"layers": {name: {"quantized": True} for name in self.wrapped}}


def _output_only_config(q):
    """Quantize only the output of a weightless preprocessing layer (e.g. Rescaling)."""

    class OutputOnlyQuantizeConfig(q.QuantizeConfig):
        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [q.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                                        narrow_range=False)]

        def get_config(self):
            return {}

    return OutputOnlyQuantizeConfig


TECHNIQUES = {"prune": Prune, "cluster": Cluster, "qat": Qat}


def _save_weights(model, job_dir: Path) -> None:
    import numpy as np

    from mobilepack.compress.bridge import layer_weights

    np.savez(job_dir / "weights_out.npz", **layer_weights(model))


def _progress(job_dir: Path, message: str, current: int | None = None, total: int | None = None) -> None:
    with open(job_dir / "progress.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"message": message, "current": current, "total": total}) + "\n")


def run(job_dir: Path) -> dict[str, Any]:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import numpy as np
    import tensorflow as tf
    import tf_keras as keras

    from mobilepack.compress import legacy_graph, strategy as strategies, workers

    job = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    workers.apply(job.get("tf_config"))
    strategy = strategies.make(job["strategy"], tf)  # first: multi-worker must precede other TF work
    import tensorflow_model_optimization as tfmot

    keras.utils.set_random_seed(job["seed"])
    graph = json.loads((job_dir / "graph.json").read_text(encoding="utf-8"))
    with np.load(job_dir / "weights.npz", allow_pickle=False) as z:
        weights = {k: z[k] for k in z.files}
    with np.load(job_dir / "train.npz", allow_pickle=False) as z:
        x, y = z["x"], z["y"]
    technique = TECHNIQUES[job["technique"]](tfmot, tf, keras, job)
    technique.sample = x[np.random.default_rng(job["seed"]).permutation(len(x))[:512]]
    epochs, batch = job["epochs"], job["batch_size"]
    steps = int(math.ceil(len(x) / batch))
    lr = job["learning_rate"] or technique.default_lr
    _progress(job_dir, f"rebuilding the model in tf-keras ({strategies.describe(strategy)['name']})")
    with strategy.scope():
        base = legacy_graph.build(graph, keras)
        legacy_graph.set_weights(base, weights)
        model = technique.wrap(base, steps)
        model.compile(optimizer=keras.optimizers.Adam(lr),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=job["from_logits"]),
                      metrics=["accuracy"])

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            _progress(job_dir, f"epoch {epoch + 1}/{epochs}: loss {logs.get('loss', float('nan')):.4f}, "
                      f"accuracy {logs.get('accuracy', float('nan')):.4f}", epoch + 1, epochs)

    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=job["seed"]).batch(batch)
    history = model.fit(data, epochs=epochs, verbose=0, callbacks=technique.callbacks() + [Report()])
    losses = [float(v) for v in history.history.get("loss", [])]
    if not losses or not all(math.isfinite(v) for v in losses):
        raise TrainingError(f"fine-tuning diverged (loss {losses[-1] if losses else 'missing'})",
                            "lower --learning-rate")
    result = technique.finish(model, job_dir)
    result.update(strategy=strategies.describe(strategy), learning_rate=lr, epochs=epochs, steps_per_epoch=steps,
                  final_loss=losses[-1], skipped=technique.skipped,
                  final_train_accuracy=float(history.history.get("accuracy", [float("nan")])[-1]))
    return result


def main(argv: list[str]) -> int:
    job_dir = Path(argv[1])
    try:
        result = run(job_dir)
    except MobilepackError as exc:
        (job_dir / "error.json").write_text(json.dumps({"message": exc.message, "hint": exc.hint,
                                                        "exit_code": exc.exit_code}), encoding="utf-8")
        return 3
    except Exception as exc:  # noqa: BLE001 - reported as one line; traceback kept in the log
        traceback.print_exc()
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        (job_dir / "error.json").write_text(json.dumps({
            "message": f"training failed: {type(exc).__name__}: {first}",
            "hint": "rerun with --verbose to see the worker's log", "exit_code": 1}), encoding="utf-8")
        return 1
    (job_dir / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
