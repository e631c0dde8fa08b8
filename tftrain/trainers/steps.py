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

from typing import Any, Protocol

import keras
import tensorflow as tf

from tftrain.data import Spec
from tftrain.errors import TftrainError, param


def batch_size_of(x) -> tf.Tensor:
    return tf.shape(next(t for t in tf.nest.flatten(x) if t is not None))[0]


def global_loss(loss: tf.Tensor) -> tf.Tensor:
    """Per-replica losses are scaled down by the replica count; report the global mean."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss * tf.cast(replicas, loss.dtype) if replicas > 1 else loss


def build_metrics(model: keras.Model, batch) -> None:
    """Build the compiled loss and metrics with one inference pass over `batch`, then reset
    them: their names (the keys of `model.get_metrics_result()`) are then the logs' keys."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
    y_pred = model(x, training=False)
    model.compute_loss(x, y, y_pred, sample_weight, training=False)
    model.compute_metrics(x, y, y_pred, sample_weight)
    model.reset_metrics()


def zeros_like_batch(dataset: tf.data.Dataset):
    """A batch of one example of zeros, shaped and typed from the dataset's element spec."""
    def zeros(spec: tf.TensorSpec) -> tf.Tensor:
        return tf.zeros([1 if d is None else d for d in spec.shape], spec.dtype)

    return tf.nest.map_structure(zeros, dataset.element_spec)


def probe_batch(dataset: tf.data.Dataset, spec: Spec):
    """One batch of zeros whose labels are each class target's last class: a head with
    fewer units than classes fails on it before training, not in the middle of it, with the
    first batch that holds such a class."""
    x, y, weight = keras.utils.unpack_x_y_sample_weight(zeros_like_batch(dataset))
    last = {t.name: t.num_classes - 1 for t in spec.targets if t.num_classes}
    if isinstance(y, dict):
        y = {name: label + tf.cast(last.get(name, 0), label.dtype) for name, label in y.items()}
    elif y is not None and spec.num_classes:
        y = y + tf.cast(spec.num_classes - 1, y.dtype)
    return keras.utils.pack_x_y_sample_weight(x, y, weight)


class Step(Protocol):
    """What `trainer.train_step` names for the custom loop: what one batch does, in training
    and in evaluation. The loop makes it as `Step(model=model, **the node's arguments)`,
    once per model; `SupervisedStep` is the default and the one to subclass. State that a
    resumed run must continue (a second optimizer, a noise generator) belongs on the model,
    which checkpoints save whole (README, Your own training step)."""

    def build(self, batch: Any) -> None:
        """Create every variable the step needs (optimizer slots, metric state), eagerly.

        Args:
            batch: one batch shaped as the data's, `(x, y)` or `(x, y, sample_weight)`,
                filled with zeros.
        Raises:
            TftrainError: the model cannot be trained by this step (said in one paragraph,
                naming the step's parameter with tftrain.errors.param).
        """

    def train(self, batch: Any) -> None:
        """Train on one batch. Traced into the loop's tf.function, so it returns nothing:
        the loop reads `results()` once per `steps_per_execution` steps.

        Args:
            batch: `(x, y)` or `(x, y, sample_weight)` tensors, this replica's share.
        """

    def test(self, batch: Any) -> None:
        """Evaluate one batch (validation, the test split, tftrain-eval); as `train`."""

    def results(self) -> dict[str, Any]:
        """Returns:
            The metrics so far, by the names the run logs (`loss`, `accuracy`, `d_loss`):
            what callbacks, metrics.csv and the objective see.
        """

    def reset(self) -> None:
        """Clear the metrics: the loop calls it at each epoch's start and before evaluating."""


class SupervisedStep:
    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self.loss_tracker = next(m for m in model.metrics if m.name == "loss")

    def build(self, batch) -> None:
        """One forward pass builds the compiled loss and metrics; the optimizer builds its slots."""
        build_metrics(self.model, batch)
        self.model.optimizer.build(self.model.trainable_variables)

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


class GANStep:
    """Adversarial training for `tftrain.models.zoo.ImageGAN`, labels ignored.

    Each batch: one discriminator update (real images vs generated), then one generator
    update (fool the discriminator). The compiled optimizer trains the generator; a copy of
    its config trains the discriminator. Logs `d_loss`, `g_loss` and `loss` (their sum).

    State that must survive a resume lives on the model, which checkpoints save whole: the
    discriminator's optimizer is set as `model.discriminator_optimizer`, and the noise is
    drawn from the model's own `noise` seed generator.
    """

    def __init__(self, model: keras.Model) -> None:
        missing = [part for part in ("generator", "discriminator", "latent_dim", "noise")
                   if not hasattr(model, part)]
        if missing:
            raise TftrainError(
                f"{param('train_step')}: tftrain.trainers.GANStep trains a GAN, a model with a "
                f"generator, a discriminator, latent_dim and noise (model=gan); model "
                f"'{model.name}' has no {', '.join(missing)}. Use model=gan, or another step.")
        self.model = model
        self.g_optimizer = model.optimizer
        self.d_optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
        model.discriminator_optimizer = self.d_optimizer
        self.cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", "d_loss", "g_loss")}

    def build(self, batch) -> None:
        """The compiled optimizer is built on every weight, as loading model.keras builds
        it, so its saved state loads back; it only ever updates the generator's."""
        model = self.model
        model.generator(keras.ops.zeros((1, model.latent_dim)))
        self.g_optimizer.build(model.trainable_variables)
        self.d_optimizer.build(model.discriminator.trainable_variables)

    def losses(self, real, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        model = self.model
        noise = keras.random.normal((tf.shape(real)[0], model.latent_dim), seed=model.noise)
        fake_logits = model.discriminator(model.generator(noise, training=training), training=training)
        real_logits = model.discriminator(real, training=training)
        d_loss = (self.cross_entropy(tf.ones_like(real_logits), real_logits)
                  + self.cross_entropy(tf.zeros_like(fake_logits), fake_logits))
        g_loss = self.cross_entropy(tf.ones_like(fake_logits), fake_logits)
        return d_loss, g_loss

    def train(self, batch) -> None:
        model = self.model
        real, _, _ = keras.utils.unpack_x_y_sample_weight(batch)
        with tf.GradientTape(persistent=True) as tape:
            d_loss, g_loss = self.losses(real, training=True)
        for loss, optimizer, net in ((d_loss, self.d_optimizer, model.discriminator),
                                     (g_loss, self.g_optimizer, model.generator)):
            weights = net.trainable_weights
            optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        self.track(d_loss, g_loss)

    def test(self, batch) -> None:
        real, _, _ = keras.utils.unpack_x_y_sample_weight(batch)
        self.track(*self.losses(real, training=False))

    def track(self, d_loss: tf.Tensor, g_loss: tf.Tensor) -> None:
        for name, value in (("d_loss", d_loss), ("g_loss", g_loss), ("loss", d_loss + g_loss)):
            self.trackers[name].update_state(global_loss(value))

    def results(self) -> dict[str, tf.Tensor]:
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def reset(self) -> None:
        for tracker in self.trackers.values():
            tracker.reset_state()
