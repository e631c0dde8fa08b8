"""The output layers every model ends with, sized and activated from the data's Spec."""

import keras

from tftrain.data import Spec


def head(spec: Spec, logits: bool = False) -> list[keras.layers.Layer]:
    """Dense(num_outputs) — float32 even under mixed precision: softmax and losses need the
    range — and, for a standardised regression target, the rescaling back to its units.
    `logits=True` leaves out the softmax (pair it with a `from_logits=True` loss)."""
    activation = None if logits else spec.output_activation
    layers = [keras.layers.Dense(spec.num_outputs, activation=activation, dtype="float32",
                                 name="head")]
    return layers + unscale(spec)


def unscale(spec: Spec) -> list[keras.layers.Layer]:
    """The network learns the target in standard units; predictions come out in the target's."""
    if spec.target_moments is None:
        return []
    mean, std = spec.target_moments
    return [keras.layers.Rescaling(std, offset=mean, dtype="float32", name="target_units")]
