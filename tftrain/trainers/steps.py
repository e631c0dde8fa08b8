"""Step functions for the custom loop: what one batch does, in training and in evaluation.

A step is any class built from the compiled model, `Step(model)`, with:
- `build(batch)`: create every variable the step needs (optimizer slots, metric state)
  eagerly, so the loop's tf.functions trace once and create nothing;
- `train(batch)` / `test(batch)`: one batch, traced into the loop (return nothing: results
  are read once per loop call, not per step);
- `results()`: the metrics dict handed to callbacks; `reset()`: clear them per epoch.
Name yours with `trainer.train_step._target_=mypackage.MyStep` (see README).

`SupervisedStep` performs the same operations in the same order as Keras' TensorFlow
`train_step`/`test_step` (loss, loss tracker, loss scaling, gradients, apply, metrics), so
the custom loop and `fit` produce the same numbers, bit for bit.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def batch_size_of(x) -> tf.Tensor:
    return tf.shape(next(t for t in tf.nest.flatten(x) if t is not None))[0]


def global_loss(loss: tf.Tensor) -> tf.Tensor:
    """Per-replica losses are scaled down by the replica count; report the global mean."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss * tf.cast(replicas, loss.dtype) if replicas > 1 else loss


class SupervisedStep:
    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self.loss_tracker = next(m for m in model.metrics if m.name == "loss")

    def build(self, batch) -> None:
        """One forward pass builds the compiled loss and metrics; the optimizer builds its slots."""
        model = self.model
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
        y_pred = model(x, training=False)
        model.compute_loss(x, y, y_pred, sample_weight, training=False)
        model.compute_metrics(x, y, y_pred, sample_weight)
        model.optimizer.build(model.trainable_variables)
        self.reset()

    def train(self, batch) -> None:
        model = self.model
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.compute_loss(x, y, y_pred, sample_weight, training=True)
            self.loss_tracker.update_state(global_loss(loss), sample_weight=batch_size_of(x))
            scaled = model.optimizer.scale_loss(loss)
        weights = model.trainable_weights
        model.optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        model.compute_metrics(x, y, y_pred, sample_weight)

    def test(self, batch) -> None:
        model = self.model
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
        y_pred = model(x, training=False)
        loss = model.compute_loss(x, y, y_pred, sample_weight, training=False)
        self.loss_tracker.update_state(global_loss(loss), sample_weight=batch_size_of(x))
        model.compute_metrics(x, y, y_pred, sample_weight)

    def results(self) -> dict[str, tf.Tensor]:
        return self.model.get_metrics_result()

    def reset(self) -> None:
        self.model.reset_metrics()
