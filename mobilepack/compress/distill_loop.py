"""The distillation training loop: one ``tf.function`` step run on every replica of a
``tf.distribute`` strategy, written out instead of ``Model.fit``.

Keras 3's ``fit`` fails under ``MultiWorkerMirroredStrategy`` with more than one worker
(keras-team/keras#20585); this loop does not use ``fit``.  Each step takes one global batch
of a shuffle that every worker computes alike (same seed), gives each replica its slice, and
scales each replica's summed loss by the global batch size.  The Keras optimizer, applied in
the replica context, sums the replicas' gradients (an all-reduce), so every replica applies
the gradient of the mean loss over the whole batch: the update one replica would make."""

from __future__ import annotations


class Loop:
    """Training of ``model`` on packed targets by ``loss`` (per-sample values) under ``strategy``."""

    def __init__(self, tf, strategy, model, optimizer, loss, classes: int):
        self._tf, self._strategy = tf, strategy
        self._replicas = int(strategy.num_replicas_in_sync)

        def replica_step(x, targets, batch):
            with tf.GradientTape() as tape:
                y = model(x, training=True)
                per_sample = loss(targets, y)
                scaled = tf.reduce_sum(per_sample) / batch
                if model.losses:  # regularizers: once per step, shared out among the replicas
                    scaled += tf.add_n(model.losses) / self._replicas
            variables = model.trainable_variables
            optimizer.apply(tape.gradient(scaled, variables), variables)
            right = tf.equal(tf.argmax(targets[:, :classes], axis=-1), tf.argmax(y, axis=-1))
            return tf.reduce_sum(per_sample), tf.reduce_sum(tf.cast(right, tf.float32))

        @tf.function(reduce_retracing=True)
        def step(x, targets, batch):
            total, right = strategy.run(replica_step, args=(x, targets, batch))
            total_sum = tf.distribute.ReduceOp.SUM
            return strategy.reduce(total_sum, total, axis=None), strategy.reduce(total_sum, right, axis=None)

        self._step = step

    def _per_replica(self, array, rows):
        """This worker's replicas' slices of ``array[rows]``: the global batch split in order."""
        import numpy as np

        parts = np.array_split(rows, self._replicas)
        return self._strategy.experimental_distribute_values_from_function(
            lambda ctx: self._tf.constant(array[parts[ctx.replica_id_in_sync_group]]))

    def epoch(self, x, targets, order, batch_size: int) -> tuple[float, float]:
        """One pass over ``x`` in ``order`` in global batches; (mean loss, hard-label accuracy)."""
        total = right = 0.0
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            loss, hits = self._step(self._per_replica(x, rows), self._per_replica(targets, rows),
                                    self._tf.constant(float(len(rows))))
            total, right = total + float(loss), right + float(hits)
        return total / len(order), right / len(order)
