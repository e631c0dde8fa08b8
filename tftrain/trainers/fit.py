"""`trainer=fit`: Keras' own model.fit and model.evaluate."""

from __future__ import annotations

import keras
import tensorflow as tf

from tftrain.console import echo
from tftrain.data import Data
from tftrain.errors import TftrainError, param
from tftrain.trainers.base import Trainer


class FitTrainer(Trainer):
    def check_replicas(self, replicas: int) -> None:
        """Keras fit fails in its gradient sum on per-replica batches of unequal sizes."""
        if replicas > 1 and self.batch_size % replicas:
            even = self.batch_size - self.batch_size % replicas
            raise TftrainError(
                f"{param('batch_size')}={self.batch_size} does not split evenly over the "
                f"{replicas} replicas, and Keras fit needs equal per-replica batches: give a "
                f"multiple of {replicas} (e.g. {param('batch_size')}={even or replicas}), or use "
                "trainer=custom_loop, which takes unequal ones.")

    def train(self, model: keras.Model, data: Data, callbacks: list[keras.callbacks.Callback],
              initial_epoch: int = 0, initial_step: int = 0) -> None:
        """`fit`, the callbacks seeing one run: one on_train_begin and one on_train_end, and
        each batch by its index in its epoch, never past the epoch's last (see Seen)."""
        if model.distribute_strategy.num_replicas_in_sync > 1 and model.steps_per_execution > 1:
            echo("note: Keras fit fails with steps_per_execution > 1 on several replicas "
                 "(keras-team/keras#19246), so fit runs 1 step per call here; "
                 "trainer=custom_loop has no such limit.")
            model.steps_per_execution = 1
        self.resolve_jit_compile(model, data.steps_per_epoch)
        resumed = bool(initial_step) and initial_epoch < self.epochs
        if resumed:
            self.finish_epoch(model, data, callbacks, initial_epoch, initial_step)
            if model.stop_training:  # stopped in the finished epoch: the run's end
                keras.callbacks.CallbackList(callbacks, model=model).on_train_end()
                return
            initial_epoch += 1
            # the backup's resume point is used up: fit would start from it again
            model._initial_epoch, model._initial_step = None, 0
        # The data's epoch is set at on_epoch_begin. With steps_per_epoch (the dataset's own
        # length) fit makes one iterator per epoch, at the previous epoch's end, instead of
        # also a spare that it throws away: each costs 5-15 ms (TensorFlow optimises the
        # dataset's functions anew), a third of an epoch of the digits. The dataset reads the
        # epoch's order at its first batch, after on_epoch_begin, so the batches are the same.
        epoch_setter = keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs: data.set_epoch(epoch))
        seen = [Seen(c, 0, self.epochs, begins=not resumed) for c in callbacks]
        model.fit(data.train, epochs=self.epochs, initial_epoch=initial_epoch,
                  steps_per_epoch=data.steps_per_epoch,
                  validation_data=data.val, validation_freq=self.validation_freq,
                  callbacks=[epoch_setter, *seen], verbose=0,
                  shuffle=False)  # the data shuffles itself, per epoch

    def finish_epoch(self, model: keras.Model, data: Data, callbacks: list, epoch: int,
                     step: int) -> None:
        """The rest of an epoch a run was stopped in (fit cannot start an epoch at a step):
        its batches from `step` on, the callbacks seeing each batch by its index in the
        whole epoch; the backup restores the epoch's running metrics. The run goes on in a
        second `fit`, so the callbacks' on_train_end waits for that one."""
        model.fit(data.train_epochs(epoch, epoch + 1).skip(step), epochs=epoch + 1,
                  initial_epoch=epoch, steps_per_epoch=data.steps_per_epoch - step,
                  validation_data=data.val, validation_freq=self.validation_freq,
                  callbacks=[Seen(c, step, self.epochs, ends=False) for c in callbacks],
                  verbose=0, shuffle=False)

    def evaluate(self, model: keras.Model, dataset: tf.data.Dataset) -> dict[str, float]:
        return {k: float(v) for k, v in model.evaluate(dataset, verbose=0, return_dict=True).items()}


class Seen(keras.callbacks.Callback):
    """A callback as one run shows it, across the `fit` calls a run may take.

    Keras' fit names a call's last batch `step + steps_per_execution - 1` even where the
    epoch ends sooner (a bar at 480/451, samples/s inflated 8x on a smoke run): batch
    indices here stop at the epoch's last. An epoch resumed at `offset` is seen by its
    index in the whole epoch, with the epoch's full length and the run's `epochs` (not the
    one-epoch call's). A run that takes two calls (finishing a resumed epoch, then the rest)
    begins once and ends once: `begins`/`ends` say whether this call does, so early stopping
    and the best checkpoint keep their state, and restore weights only at the run's end.
    """

    def __init__(self, inner: keras.callbacks.Callback, offset: int, epochs: int,
                 begins: bool = True, ends: bool = True) -> None:
        super().__init__()
        self.inner, self.offset, self.epochs = inner, offset, epochs
        self.begins, self.ends = begins, ends
        self.last = 0

    def set_model(self, model: keras.Model) -> None:
        super().set_model(model)
        self.inner.set_model(model)

    def set_params(self, params: dict) -> None:
        super().set_params(params)
        steps = (params.get("steps") or 0) + self.offset
        self.last = steps - 1
        self.inner.set_params({**params, "steps": steps, "epochs": self.epochs})

    def index(self, batch: int) -> int:
        return min(batch + self.offset, self.last) if self.last >= 0 else batch + self.offset

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.inner.on_train_batch_begin(self.index(batch), logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.inner.on_train_batch_end(self.index(batch), logs)

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.begins:
            self.inner.on_train_begin(logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.ends:
            self.inner.on_train_end(logs)


for _hook in ("on_epoch_begin", "on_epoch_end", "on_test_begin", "on_test_end",
              "on_test_batch_begin", "on_test_batch_end"):
    setattr(Seen, _hook, lambda self, *args, _name=_hook, **kwargs:
            getattr(self.inner, _name)(*args, **kwargs))
