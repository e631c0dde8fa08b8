"""The output layer every builder ends with, sized and activated from the data's Spec."""

import keras

from tftrain.data import Spec


def head(spec: Spec) -> keras.layers.Layer:
    # float32 even under mixed precision: softmax and losses need the range.
    return keras.layers.Dense(spec.num_outputs, activation=spec.output_activation,
                              dtype="float32", name="head")
