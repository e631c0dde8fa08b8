"""`trainer=custom_loop`: tftrain's own tf.GradientTape loop, a drop-in for `fit`.

Shaped like TF Model Garden's Orbit: the trainer owns the loop; one `tf.function` call runs
`steps_per_execution` steps, pulling batches from an iterator passed in as an argument
(not a `for x in dataset` loop, which TensorFlow turns into a slower dataset reduction);
the host reads metrics once per call, never per step, and the loop never asks the
iterator for more batches than the epoch has. Model, optimizer and metric variables
are all built before the first trace, so each function traces once. Callbacks receive the
same hooks, in the same order, with the same logs as under `fit`.
"""

from __future__ import annotations

from typing import Callable

import keras
import tensorflow as tf

from tftrain.callbacks import floats
from tftrain.data import Data
from tftrain.trainers.base import Trainer
from tftrain.trainers.steps import SupervisedStep

LoopFunction = Callable[[object, tf.Tensor], dict]


class CustomLoopTrainer(Trainer):
    def train(self, model: keras.Model, data: Data, callbacks: list[keras.callbacks.Callback],
              initial_epoch: int = 0) -> None:
        hooks = keras.callbacks.CallbackList(callbacks, add_history=True, model=model,
                                             epochs=self.epochs, steps=data.steps_per_epoch,
                                             verbose=0)
        build_state(model, data)
        step = SupervisedStep(model)
        self.train_function = self.loop_function(model, step.train)
        self.test_function = self.loop_function(model, step.test)
        model.stop_training = False
        hooks.on_train_begin()
        # BackupAndRestore sets model._initial_epoch when it restores, as fit honours.
        first_epoch = getattr(model, "_initial_epoch", None) or initial_epoch
        train = model.distribute_strategy.experimental_distribute_dataset(data.train)
        epoch_logs: dict[str, float] = {}
        for epoch in range(first_epoch, self.epochs):
            model.reset_metrics()
            hooks.on_epoch_begin(epoch)
            data.set_epoch(epoch)
            iterator = iter(train)
            logs = self.run_steps(self.train_function, iterator, data.steps_per_epoch, hooks, "train")
            epoch_logs = floats(logs)
            if data.val is not None and (epoch + 1) % self.validation_freq == 0:
                val_logs = self.evaluate(model, data.val, hooks)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            hooks.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
        hooks.on_train_end(epoch_logs)

    def evaluate(self, model: keras.Model, dataset: tf.data.Dataset,
                 hooks: keras.callbacks.CallbackList) -> dict[str, float]:
        model.reset_metrics()
        hooks.on_test_begin()
        iterator = iter(model.distribute_strategy.experimental_distribute_dataset(dataset))
        steps = int(dataset.cardinality())
        logs = floats(self.run_steps(self.test_function, iterator, steps, hooks, "test"))
        hooks.on_test_end(logs)
        return logs

    def run_steps(self, function: LoopFunction, iterator, steps: int,
                  hooks: keras.callbacks.CallbackList, mode: str) -> dict:
        """Run `steps` steps, `steps_per_execution` per call; batch hooks fire once per call."""
        begin, end = getattr(hooks, f"on_{mode}_batch_begin"), getattr(hooks, f"on_{mode}_batch_end")
        done, logs = 0, {}
        while done < steps:
            count = min(self.steps_per_execution, steps - done)
            begin(done)
            logs = function(iterator, tf.constant(count))
            done += count
            end(done - 1, logs)
            if mode == "train" and hooks.model.stop_training:
                break
        return logs

    def loop_function(self, model: keras.Model, step: Callable) -> LoopFunction:
        """A tf.function running `count` steps from `iterator` under the model's strategy."""
        strategy = model.distribute_strategy
        one_step = tf.function(step, jit_compile=True) if model.jit_compile else step

        @tf.function
        def loop(iterator, count):
            for _ in tf.range(count):
                strategy.run(one_step, args=(next(iterator),))
            return model.get_metrics_result()

        return loop


def build_state(model: keras.Model, data: Data) -> None:
    """Create every optimizer, loss and metric variable eagerly, before any tracing.

    One eager forward pass on a batch of zeros (shaped from the dataset's element spec)
    builds the compiled loss and metrics; their state is reset afterwards.
    """
    def zeros(spec: tf.TensorSpec) -> tf.Tensor:
        return tf.zeros([1 if d is None else d for d in spec.shape], spec.dtype)

    x, y = tf.nest.map_structure(zeros, data.train.element_spec)
    with model.distribute_strategy.scope():
        y_pred = model(x, training=False)
        model.compute_loss(x, y, y_pred, training=False)
        model.compute_metrics(x, y, y_pred)
        model.optimizer.build(model.trainable_variables)
    model.reset_metrics()
