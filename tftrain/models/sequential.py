"""`model=mlp` and any list of layers: a stack on the data's (encoded) input, then the head.

On one plain float input this is a keras.Sequential; with named, tabular, text or
normalised inputs the same stack runs on the encoded input inside a functional model,
so the preprocessing travels with the model.
"""

from __future__ import annotations

import keras

from tftrain.data import Spec
from tftrain.models.head import head
from tftrain.models.inputs import model_inputs, needs_preprocessing


def sequential(spec: Spec, layers: list[keras.layers.Layer], name: str = "sequential",
               logits: bool = False) -> keras.Model:
    stack = [*layers, *head(spec, logits)]
    if not needs_preprocessing(spec):
        return keras.Sequential([keras.Input(shape=spec.single.shape, name="input"), *stack],
                                name=name)
    inputs, tensors = model_inputs(spec)
    hidden = tensors["input"]
    for layer in stack:
        hidden = layer(hidden)
    return keras.Model(inputs, hidden, name=name)
