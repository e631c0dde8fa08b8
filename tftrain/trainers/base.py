"""The knobs both trainers share, so one trainer config means the same with either."""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf
from tensorflow.python.framework.config import is_op_determinism_enabled  # as Keras' own auto

from tftrain.data import Data
from tftrain.trainers.steps import build_metrics, probe_batch

# `jit_compile: auto` on a CPU-only machine: XLA where it was measured to pay (README,
# Benchmarks). These layers compile to matmuls and fused elementwise loops; the Adam update
# fuses too, which is most of the gain: 1.3-2.0x per step for an MLP on 784 inputs. Not
# here: convolutions (0.35-0.4x: a small CNN), Dropout and other random layers (0.12-0.3x:
# XLA's CPU random numbers), and anything unmeasured, custom layers included.
XLA_CPU_LAYERS = (
    keras.layers.InputLayer, keras.layers.Dense, keras.layers.Flatten, keras.layers.Reshape,
    keras.layers.Activation, keras.layers.ReLU, keras.layers.Softmax, keras.layers.Identity,
    keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply, keras.layers.Average,
    keras.layers.Maximum, keras.layers.Minimum, keras.layers.Concatenate,
)
# Below ~100k weights XLA gave 0.92-1.10x (the step is mostly fixed costs), and each traced
# function costs 1.2-2 s to compile: a run shorter than ~1000 steps (debug=smoke: 8) cannot
# win that back.
XLA_CPU_MIN_WEIGHTS = 100_000
XLA_CPU_MIN_STEPS = 1000


class Trainer:
    """Values arrive checked by `tftrain.config.schema` (types and ranges) at composition."""

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

    def check_replicas(self, replicas: int) -> None:
        """Refuse, before anything is built, a batch this trainer cannot split over `replicas`."""

    def logged_metrics(self, model: keras.Model, data: Data) -> list[str]:
        """The names of the training logs (validation logs add val_ twins): `fit` logs the
        compiled loss and metrics, built here on a probe batch, as fit builds them."""
        with model.distribute_strategy.scope():
            build_metrics(model, probe_batch(data.train, data.spec))
        return list(model.get_metrics_result())

    def resolve_jit_compile(self, model: keras.Model, steps_per_epoch: int) -> None:
        """`jit_compile: auto`, decided before the first trace: Keras' own choice where a GPU
        (or another accelerator) is present, on CPUs XLA for large Dense-only models trained
        for long enough. `model.jit_compile` holds the answer (summary.json records it)."""
        if self.jit_compile != "auto" or model.jit_compile:
            return
        if any(d.device_type != "CPU" for d in tf.config.list_physical_devices()):
            return  # Keras decided at compile
        model.jit_compile = xla_pays_on_cpu(model, self.epochs * steps_per_epoch)


def xla_pays_on_cpu(model: keras.Model, steps: int) -> bool:
    """Whether XLA is expected to make this run faster on a CPU (see XLA_CPU_LAYERS)."""
    layers = list(model._flatten_layers(include_self=True))  # nested models and their layers
    return (steps >= XLA_CPU_MIN_STEPS
            and sum(math.prod(w.shape) for w in model.trainable_weights) >= XLA_CPU_MIN_WEIGHTS
            and all(type(layer) in XLA_CPU_LAYERS or type(layer) is keras.Sequential
                    or type(layer).__name__ == "Functional"  # keras.Model(inputs, outputs)
                    for layer in layers)
            and getattr(model, "_distribute_strategy", None) is None  # Keras: no XLA under tf.distribute
            and not is_op_determinism_enabled()  # Keras: not every XLA op is deterministic
            and keras.mixed_precision.global_policy().name == "float32")
