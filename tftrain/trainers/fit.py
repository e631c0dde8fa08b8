"""`trainer=fit`: Keras' own model.fit and model.evaluate."""

from __future__ import annotations

import keras
import tensorflow as tf

from tftrain.console import echo
from tftrain.data import Data
from tftrain.errors import TftrainError
from tftrain.trainers.base import Trainer


class FitTrainer(Trainer):
    def check_replicas(self, replicas: int) -> None:
        """Keras fit fails in its gradient sum on per-replica batches of unequal sizes."""
        if replicas > 1 and self.batch_size % replicas:
            even = self.batch_size - self.batch_size % replicas
            raise TftrainError(
                f"trainer.batch_size={self.batch_size} does not split evenly over the "
                f"{replicas} replicas, and Keras fit needs equal per-replica batches: give a "
                f"multiple of {replicas} (e.g. trainer.batch_size={even or replicas}), or use "
                "trainer=custom_loop, which takes unequal ones.")

    def train(self, model: keras.Model, data: Data, callbacks: list[keras.callbacks.Callback],
              initial_epoch: int = 0, initial_step: int = 0) -> None:
        if model.distribute_strategy.num_replicas_in_sync > 1 and model.steps_per_execution > 1:
            echo("note: Keras fit fails with steps_per_execution > 1 on several replicas "
                 "(keras-team/keras#19246), so fit runs 1 step per call here; "
                 "trainer=custom_loop has no such limit.")
            model.steps_per_execution = 1
        self.resolve_jit_compile(model, data.steps_per_epoch)
        if initial_step and initial_epoch < self.epochs:
            self.finish_epoch(model, data, callbacks, initial_epoch, initial_step)
            if model.stop_training:
                return
            initial_epoch += 1
        # The data's epoch is set at on_epoch_begin. With steps_per_epoch (the dataset's own
        # length) fit makes one iterator per epoch, at the previous epoch's end, instead of
        # also a spare that it throws away: each costs 5-15 ms (TensorFlow optimises the
        # dataset's functions anew), a third of an epoch of the digits. The dataset reads the
        # epoch's order at its first batch, after on_epoch_begin, so the batches are the same.
        epoch_setter = keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs: data.set_epoch(epoch))
        model.fit(data.train, epochs=self.epochs, initial_epoch=initial_epoch,
                  steps_per_epoch=data.steps_per_epoch,
                  validation_data=data.val, validation_freq=self.validation_freq,
                  callbacks=[epoch_setter, *callbacks], verbose=0,
                  shuffle=False)  # the data shuffles itself, per epoch

    def finish_epoch(self, model: keras.Model, data: Data, callbacks: list, epoch: int,
                     step: int) -> None:
        """The rest of an epoch a run was stopped in (fit cannot start an epoch at a step):
        its batches from `step` on, the callbacks seeing each batch by its index in the
        whole epoch; the backup restores the epoch's running metrics."""
        model.fit(data.train_epochs(epoch, epoch + 1).skip(step), epochs=epoch + 1,
                  initial_epoch=epoch, steps_per_epoch=data.steps_per_epoch - step,
                  validation_data=data.val, validation_freq=self.validation_freq,
                  callbacks=[Shifted(c, step, self.epochs) for c in callbacks], verbose=0,
                  shuffle=False)

    def evaluate(self, model: keras.Model, dataset: tf.data.Dataset) -> dict[str, float]:
        return {k: float(v) for k, v in model.evaluate(dataset, verbose=0, return_dict=True).items()}


class Shifted(keras.callbacks.Callback):
    """A callback seeing the batches of an epoch resumed at `offset` by their index in the
    whole epoch, the epoch's full length, and the run's `epochs` (not the one-epoch call's)."""

    def __init__(self, inner: keras.callbacks.Callback, offset: int, epochs: int) -> None:
        super().__init__()
        self.inner, self.offset, self.epochs = inner, offset, epochs

    def set_model(self, model: keras.Model) -> None:
        super().set_model(model)
        self.inner.set_model(model)

    def set_params(self, params: dict) -> None:
        super().set_params(params)
        self.inner.set_params({**params, "steps": (params.get("steps") or 0) + self.offset,
                               "epochs": self.epochs})

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.inner.on_train_batch_begin(batch + self.offset, logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.inner.on_train_batch_end(batch + self.offset, logs)


for _hook in ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
              "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end"):
    setattr(Shifted, _hook, lambda self, *args, _name=_hook, **kwargs:
            getattr(self.inner, _name)(*args, **kwargs))
