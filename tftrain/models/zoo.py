"""Subclassed models shipped with tftrain: registered, so `.keras` files load in safe mode."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="tftrain")
class ResidualMLP(keras.Model):
    """Flatten, project to `width`, then `blocks` pre-norm residual Dense blocks, then a head."""

    def __init__(self, num_outputs: int, output_activation: str | None = None, width: int = 128,
                 blocks: int = 2, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.num_outputs, self.output_activation = num_outputs, output_activation
        self.width, self.blocks, self.dropout = width, blocks, dropout
        self.flatten = keras.layers.Flatten()
        self.project = keras.layers.Dense(width, activation="relu")
        self.residuals = [
            [keras.layers.LayerNormalization(), keras.layers.Dense(width, activation="relu"),
             keras.layers.Dropout(dropout), keras.layers.Dense(width)]
            for _ in range(blocks)
        ]
        self.head = keras.layers.Dense(num_outputs, activation=output_activation, dtype="float32")

    def call(self, inputs, training=False):
        h = self.project(self.flatten(inputs))
        for norm, dense, drop, out in self.residuals:
            h = h + out(drop(dense(norm(h)), training=training))
        return self.head(h)

    def get_config(self):
        return {**super().get_config(), "num_outputs": self.num_outputs,
                "output_activation": self.output_activation, "width": self.width,
                "blocks": self.blocks, "dropout": self.dropout}
