"""Layers Keras has no object for, registered so saved models load in safe mode."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="tftrain")
class FillMissing(keras.layers.Layer):
    """Replace NaN with a fixed value per feature (fitted on the training split): a saved
    model then takes raw rows with missing numbers."""

    def __init__(self, value: list[float], **kwargs):
        super().__init__(**kwargs)
        self.value = list(value)

    def call(self, inputs):
        inputs = keras.ops.cast(inputs, self.compute_dtype)
        fill = keras.ops.convert_to_tensor(self.value, dtype=self.compute_dtype)
        return keras.ops.where(keras.ops.isnan(inputs), fill, inputs)

    def get_config(self):
        return {**super().get_config(), "value": self.value}
