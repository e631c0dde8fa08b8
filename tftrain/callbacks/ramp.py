"""The learning-rate finder's ramp (Leslie Smith's range test, as fastai's `lr_find` and
Lightning's tuner run it): the optimizer's rate is set before each step from a list of
rates, each step's own training loss is recorded with its bias-corrected moving average,
and training stops once that average diverges.

A callback, so both trainers drive it unchanged; it needs one step per batch hook
(`steps_per_execution=1`), or its rate would hold for a whole call of steps. The step's
loss is its own, not the epoch's running mean, because the metrics are cleared before each
step (`reset`: the model's, or the custom loop step's own).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import keras

BETA = 0.98  # the moving average's weight of the past (fastai's and Lightning's)
DIVERGED = 4.0  # the smoothed loss above this many times its best: diverged (both use 4)


class Smoothed:
    """An exponential moving average of the loss, bias-corrected: the first values are not
    pulled towards the zero it starts from (Adam's correction)."""

    def __init__(self, beta: float = BETA) -> None:
        self.beta, self.mean, self.count = beta, 0.0, 0

    def add(self, value: float) -> float:
        """Take one value; the corrected average so far."""
        self.count += 1
        self.mean = self.beta * self.mean + (1 - self.beta) * value
        return self.mean / (1 - self.beta ** self.count)


class LearningRateRamp(keras.callbacks.Callback):
    """Step i trains at `rates[i]`; `rows` holds (rate, loss, smoothed loss) per step done.
    Stops after the last rate, or at the first step whose smoothed loss is not finite or
    is above `diverged` times the best so far (`diverged_at`: that step's index)."""

    def __init__(self, rates: Sequence[float], reset: Callable[[], None],
                 diverged: float = DIVERGED) -> None:
        super().__init__()
        self.rates, self.reset, self.diverged = list(rates), reset, diverged
        self.rows: list[tuple[float, float, float]] = []
        self.smoothed = Smoothed()
        self.best = math.inf
        self.diverged_at: int | None = None

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.reset()
        self.model.optimizer.learning_rate = self.rates[len(self.rows)]

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = float((logs or {})["loss"])
        smooth = self.smoothed.add(loss) if math.isfinite(loss) else math.nan
        self.rows.append((self.rates[len(self.rows)], loss, smooth))
        if not math.isfinite(smooth) or smooth > self.diverged * self.best:
            self.diverged_at = len(self.rows) - 1
        self.best = min(self.best, smooth) if math.isfinite(smooth) else self.best
        if self.diverged_at is not None or len(self.rows) == len(self.rates):
            self.model.stop_training = True
