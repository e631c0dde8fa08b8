"""What every run's callback list starts and ends with: a stop on divergence, a stop at the
next batch boundary after a signal, and each epoch's random streams keyed by the epoch."""

from __future__ import annotations

import math
from typing import Protocol

import keras

from tftrain.errors import Diverged


class Stop(Protocol):
    """What stops a run at a batch boundary: tftrain.run.signals.Signals."""

    def check(self) -> None:
        """Raise if a signal arrived since the last check."""


class DivergenceGuard(keras.callbacks.Callback):
    """Stop the moment the training loss is NaN or infinite, before any checkpoint saves it.

    Raising (rather than setting stop_training) skips on_epoch_end, so BackupAndRestore and
    ModelCheckpoint keep the last good state. The loss is read when the trainer hands over
    batch logs, once per steps_per_execution steps.
    """

    def __init__(self) -> None:
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):  # fit names the last batch of its call, past a short epoch's end
            raise Diverged(self._epoch, min(batch + 1, self.params.get("steps") or batch + 1), loss)


class InterruptGuard(keras.callbacks.Callback):
    """Stop at the next batch boundary after Ctrl-C or SIGTERM (`tftrain.run.signals`): between
    batches, never inside a step or while a checkpoint is written, and after every other
    callback has seen the batch (it is last in the list), so the backup saved where the run
    stopped (tftrain.callbacks.backup) resumes it exactly. During an epoch's validation the stop
    (and after its last batch) waits for the epoch's end: an epoch is never resumed between
    its training and its validation."""

    def __init__(self, signals: Stop) -> None:
        super().__init__()
        self.signals = signals

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if batch + 1 < (self.params.get("steps") or batch + 2):  # the last: at the epoch's end
            self.signals.check()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.signals.check()


class EpochSeeds(keras.callbacks.Callback):
    """Re-key every random stream in the model (dropout, noise layers) at each epoch start.

    Each SeedGenerator's state becomes (its initial seed + epoch * 7919, 0), so epoch k draws
    the same random numbers whether the run got there uninterrupted or resumed from a
    checkpoint, and whichever trainer runs it. An epoch resumed in its middle keeps the
    streams its backup restored (tftrain.callbacks.backup).
    """

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not hasattr(self, "_initial"):  # once: a resumed epoch's fit calls this twice
            self._initial = [(v, int(v.numpy()[0])) for v in self.model.non_trainable_variables
                             if v.path.endswith("seed_generator_state")]

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        model = self.model
        if getattr(model, "_initial_step", 0) and epoch == getattr(model, "_initial_epoch", None):
            return  # resumed inside this epoch: the backup restored the streams where they were
        for variable, seed in self._initial:
            variable.assign(keras.ops.convert_to_tensor([seed + epoch * 7919, 0], variable.dtype))
