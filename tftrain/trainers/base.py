"""The knobs both trainers share, so one trainer config means the same with either."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tftrain.data import Data


class Trainer:
    """Values arrive checked by `tftrain.schema` (types and ranges) at composition."""

    def __init__(self, epochs: int, batch_size: int, steps_per_execution: int = 1,
                 validation_freq: int = 1, jit_compile: Any = "auto", initial_epoch: int = 0) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.steps_per_execution = steps_per_execution
        self.validation_freq = validation_freq
        self.jit_compile = jit_compile
        self.initial_epoch = initial_epoch

    def train(self, model: keras.Model, data: Data, callbacks: list[keras.callbacks.Callback],
              initial_epoch: int = 0) -> None:
        raise NotImplementedError

    def evaluate(self, model: keras.Model, dataset: tf.data.Dataset) -> dict[str, float]:
        raise NotImplementedError
