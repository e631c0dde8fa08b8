"""`trainer=custom_loop`: tftrain's own tf.GradientTape loop, a drop-in for `fit`.

Shaped like TF Model Garden's Orbit: the trainer owns the loop; one `tf.function` call runs
`steps_per_execution` steps, pulling batches from an iterator passed in as an argument
(not a `for x in dataset` loop, which TensorFlow turns into a slower dataset reduction);
the host reads metrics once per call, never per step, and the loop never asks the
iterator for more batches than the epoch has. One iterator serves every epoch of a run.
Every variable is built before the first trace, so each function traces once. Callbacks
receive the same hooks, in the same order, with the same logs as under `fit`; what one
step does is the pluggable `train_step`.
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import tensorflow as tf

from tftrain.callbacks.record import floats
from tftrain.data import Data
from tftrain.trainers.base import Trainer
from tftrain.trainers.steps import SupervisedStep, probe_batch, zeros_like_batch

LoopFunction = Callable[[Any, tf.Tensor], dict]


class CustomLoopTrainer(Trainer):
    def __init__(self, train_step: Callable[..., Any] | None = None, **knobs: Any) -> None:
        super().__init__(**knobs)
        self.step_factory = train_step or SupervisedStep  # the step class, its arguments bound
        self.step: Any = None
        self.train_function: LoopFunction | None = None
        self.test_function: LoopFunction | None = None
        self.trainable: list[int] = []  # ids of the weights train_function was made for

    def train(self, model: keras.Model, data: Data, callbacks: list[keras.callbacks.Callback],
              initial_epoch: int = 0, initial_step: int = 0) -> None:
        hooks = keras.callbacks.CallbackList(callbacks, add_history=True, model=model,
                                             epochs=self.epochs, steps=data.steps_per_epoch,
                                             verbose=0)
        self.resolve_jit_compile(model, data.steps_per_epoch)
        self.prepare(model, data.train)
        model.stop_training = False
        hooks.on_train_begin()
        # One iterator for every epoch left, each epoch in the order `fit` reads it
        # (Data.train_epochs), less the steps a resumed epoch had done: no epoch waits for
        # a new iterator, prefetching runs on.
        batches = iter(model.distribute_strategy.experimental_distribute_dataset(
            data.train_epochs(initial_epoch, self.epochs).skip(initial_step)))
        epoch_logs: dict[str, float] = {}
        for epoch in range(initial_epoch, self.epochs):
            self.step.reset()
            hooks.on_epoch_begin(epoch)
            self.follow_trainable(model)
            start = initial_step if epoch == initial_epoch else 0
            logs = self.run_steps(self.train_function, batches, data.steps_per_epoch, hooks,
                                  "train", start)
            epoch_logs = floats(logs) if logs else floats(self.step.results())
            if data.val is not None and (epoch + 1) % self.validation_freq == 0:
                val_logs = self.evaluate(model, data.val, hooks)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            hooks.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
        hooks.on_train_end(epoch_logs)

    def evaluate(self, model: keras.Model, dataset: tf.data.Dataset,
                 hooks: keras.callbacks.CallbackList | None = None) -> dict[str, float]:
        hooks = hooks or keras.callbacks.CallbackList([], model=model)
        self.prepare(model, dataset)
        self.step.reset()
        hooks.on_test_begin()
        iterator = iter(model.distribute_strategy.experimental_distribute_dataset(dataset))
        steps = int(dataset.cardinality())
        logs = floats(self.run_steps(self.test_function, iterator, steps, hooks, "test"))
        hooks.on_test_end(logs)
        return logs

    def logged_metrics(self, model: keras.Model, data: Data) -> list[str]:
        """What the step's `results()` names (a GAN step logs d_loss and g_loss)."""
        self.build_step(model, probe_batch(data.train, data.spec))
        return list(self.step.results())

    def build_step(self, model: keras.Model, batch: Any) -> None:
        """The step and all its variables, built on `batch`."""
        with model.distribute_strategy.scope():  # the step's own variables are mirrored too
            self.step = self.step_factory(model=model)
            self.step.build(batch)
        self.train_function = self.test_function = None

    def prepare(self, model: keras.Model, dataset: tf.data.Dataset) -> None:
        """The step (once per model), then the two loop functions (traced with the
        jit_compile decided by now)."""
        if self.step is None or self.step.model is not model:
            self.build_step(model, zeros_like_batch(dataset))
        if self.train_function is not None:
            return
        self.train_function = self.loop_function(model, self.step.train)
        self.test_function = self.loop_function(model, self.step.test)
        self.trainable = [id(w) for w in model.trainable_weights]

    def follow_trainable(self, model: keras.Model) -> None:
        """A callback froze or unfroze layers (fine-tuning): the weights a step trains are
        fixed when it is traced, so trace the train function anew, as fit does after
        make_train_function(force=True)."""
        trainable = [id(w) for w in model.trainable_weights]
        if trainable != self.trainable:
            self.trainable = trainable
            self.train_function = self.loop_function(model, self.step.train)

    def run_steps(self, function: LoopFunction, iterator, steps: int,
                  hooks: keras.callbacks.CallbackList, mode: str, start: int = 0) -> dict:
        """Run steps `start` to `steps`, `steps_per_execution` per call; batch hooks fire
        once per call, with the step's index in the epoch."""
        begin, end = getattr(hooks, f"on_{mode}_batch_begin"), getattr(hooks, f"on_{mode}_batch_end")
        done, logs = start, {}
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
            return self.step.results()

        return loop

