"""`model=mlp` and any list of layers: a stack on the data's (encoded) input, then the head.

Layers are `_target_` nodes (any Keras or user layer, with its arguments) or short Keras
names: `Flatten`, `{Dense: {units: 64, activation: relu}}`.

On one plain float input this is a keras.Sequential; with named, tabular, text or
normalised inputs the same stack runs on the encoded input inside a functional model,
so the preprocessing travels with the model.
"""

from __future__ import annotations

import keras

from tftrain.data import Spec
from tftrain.errors import TftrainError, did_you_mean
from tftrain.models.head import apply, head, outputs
from tftrain.models.inputs import model_inputs, needs_preprocessing


def as_layer(entry: keras.layers.Layer | str | dict) -> keras.layers.Layer:
    """A layer already built from `_target_`, or a short name: `Flatten` or `{Dense: {units: 64}}`."""
    if isinstance(entry, keras.layers.Layer):
        return entry
    name, arguments = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
    cls = getattr(keras.layers, name, None)
    if cls is None or not (isinstance(entry, str) or len(entry) == 1):
        known = [n for n in dir(keras.layers) if n[:1].isupper()]
        raise TftrainError(f"model layer {entry!r} is neither a _target_ node nor a Keras layer "
                           f"name.{did_you_mean(name, known)} Write {{_target_: "
                           "keras.layers.Dense, units: 64}, {Dense: {units: 64}} or Flatten.")
    return cls(**(arguments or {}))


def sequential(spec: Spec, layers: list[keras.layers.Layer | str | dict], name: str = "sequential",
               logits: bool = False, binary: bool = False) -> keras.Model:
    """A keras.Sequential where it can be one; with encoded inputs or several targets, the
    same stack in a functional model (several targets share it, each with its own head)."""
    stack = list(map(as_layer, layers))
    if not needs_preprocessing(spec) and not spec.multi_output:
        return keras.Sequential([keras.Input(shape=spec.single.shape, name="input"), *stack,
                                 *head(spec, logits, binary)], name=name)
    inputs, tensors = model_inputs(spec)
    hidden = apply(stack, tensors["input"])
    return keras.Model(inputs, outputs(spec, {t.name: hidden for t in spec.targets}, logits, binary),
                       name=name)
