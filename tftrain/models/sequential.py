"""`model=mlp` and any list of layers: a keras.Sequential with the data's input and head."""

from __future__ import annotations

import keras

from tftrain.data import Spec
from tftrain.models.head import head


def sequential(spec: Spec, layers: list[keras.layers.Layer], name: str = "sequential") -> keras.Model:
    return keras.Sequential(
        [keras.Input(shape=spec.input_shape, name="input"), *layers, head(spec)], name=name)
