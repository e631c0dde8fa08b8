"""The knobs both trainers share, so one trainer config means the same with either."""

from __future__ import annotations

from typing import Any

import keras

from tftrain.data import Data
from tftrain.errors import TftrainError

JIT_CHOICES = ("auto", True, False)


class Trainer:
    def __init__(self, epochs: int, batch_size: int, steps_per_execution: int = 1,
                 validation_freq: int = 1, jit_compile: Any = "auto") -> None:
        for name, value in (("epochs", epochs), ("batch_size", batch_size),
                            ("steps_per_execution", steps_per_execution),
                            ("validation_freq", validation_freq)):
            if value < 1:
                raise TftrainError(f"trainer.{name}={value} must be a positive integer.")
        if jit_compile not in JIT_CHOICES:
            raise TftrainError(f"trainer.jit_compile={jit_compile!r} is not valid; "
                               "use auto, true or false.")
        self.epochs = epochs
        self.batch_size = batch_size
        self.steps_per_execution = steps_per_execution
        self.validation_freq = validation_freq
        self.jit_compile = jit_compile

    def train(self, model: keras.Model, data: Data, callbacks: list[keras.callbacks.Callback],
              initial_epoch: int = 0) -> None:
        raise NotImplementedError
