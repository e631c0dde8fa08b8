"""Step functions for the custom loop: one batch forward, backward and metric update.

`SupervisedStep` performs the same operations in the same order as Keras' TensorFlow
`train_step`/`test_step` (loss, loss tracker, loss scaling, gradients, apply, metrics), so
the custom loop and `fit` produce the same numbers. Metric *results* are read once per
loop call, not per step.
"""

from __future__ import annotations

import keras
import tensorflow as tf


class SupervisedStep:
    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self.loss_tracker = next(m for m in model.metrics if m.name == "loss")

    def _track_loss(self, x, loss) -> None:
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:  # the loss was scaled down per replica; report the global mean
            loss = loss * tf.cast(replicas, loss.dtype)
        first = next(t for t in tf.nest.flatten(x) if t is not None)
        self.loss_tracker.update_state(loss, sample_weight=tf.shape(first)[0])

    def train(self, data) -> None:
        model = self.model
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.compute_loss(x, y, y_pred, sample_weight, training=True)
            self._track_loss(x, loss)
            scaled = model.optimizer.scale_loss(loss)
        weights = model.trainable_weights
        model.optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        model.compute_metrics(x, y, y_pred, sample_weight)

    def test(self, data) -> None:
        model = self.model
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = model(x, training=False)
        loss = model.compute_loss(x, y, y_pred, sample_weight, training=False)
        self._track_loss(x, loss)
        model.compute_metrics(x, y, y_pred, sample_weight)
