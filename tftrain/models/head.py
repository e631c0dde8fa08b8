"""The output layers every model ends with, sized and activated from the data's Spec."""

import keras

from tftrain.data import Spec, Target
from tftrain.errors import TftrainError, param

SINGLE_HEAD = "head"  # the Dense of a single-target model; with several, each is named after its target


def head(spec: Spec, logits: bool = False, binary: bool = False) -> list[keras.layers.Layer]:
    """The one output of a single-target model: see `target_head`."""
    return target_head(spec.targets[0], logits, binary, dense_name=SINGLE_HEAD,
                       units_name="target_units")


def unscale(spec: Spec) -> list[keras.layers.Layer]:
    """The single target's rescaling to its units (a subclassed model brings its own Dense)."""
    return rescale(spec.targets[0], "target_units")


def target_head(target: Target, logits: bool = False, binary: bool = False,
                dense_name: str | None = None, units_name: str | None = None) -> list[keras.layers.Layer]:
    """Dense(units) — float32 even under mixed precision: softmax and losses need the
    range — and, for a standardised regression target, the rescaling back to its units.
    `logits=True` leaves out the softmax (pair it with a `from_logits=True` loss);
    `binary=True` gives a two-class target one sigmoid unit, the probability of its second
    class (the loss defaults to binary cross-entropy), as the TensorFlow guides' binary
    classifiers end. Without names, the last layer is named after the target: Keras names
    the output's metrics after it (`price_mae`) and `model.predict` returns a dict keyed by it."""
    rescaled = target.moments is not None
    units, activation = target.units, target.activation
    if binary and target.task == "classification":
        if target.num_classes != 2:
            raise TftrainError(f"{param('binary')}=true gives a two-class target one sigmoid unit, "
                               f"but target '{target.name}' has {target.num_classes} classes; set "
                               f"{param('binary')}=false for a softmax over them.")
        units, activation = 1, "sigmoid"
    activation = None if logits else activation
    dense = keras.layers.Dense(units, activation=activation, dtype="float32",
                               name=dense_name or (f"{target.name}_head" if rescaled else target.name))
    return [dense, *rescale(target, units_name or target.name)]


def rescale(target: Target, name: str) -> list[keras.layers.Layer]:
    """The network learns the target in standard units; predictions come out in the target's."""
    if target.moments is None:
        return []
    mean, std = target.moments
    return [keras.layers.Rescaling(std, offset=mean, dtype="float32", name=name)]


def outputs(spec: Spec, features: dict[str, keras.KerasTensor], logits: bool = False,
            binary: bool = False):
    """Every target's head on its features: a tensor for one target, a dict for several."""
    if not spec.multi_output:
        return apply(head(spec, logits, binary), features[spec.targets[0].name])
    return {t.name: apply(target_head(t, logits, binary), features[t.name]) for t in spec.targets}


def binary_targets(model: keras.Model, spec: Spec) -> set[str]:
    """The classification targets this model predicts with one unit (`binary=True` heads),
    found by the head's name; subclassed models, which bring their own heads, have none."""
    found = set()
    for target in spec.targets:
        name = target.name if spec.multi_output else SINGLE_HEAD
        layer = next((l for l in model.layers if l.name == name), None)
        if target.task == "classification" and getattr(layer, "units", None) == 1:
            found.add(target.name)
    return found


def apply(layers: list[keras.layers.Layer], tensor: keras.KerasTensor) -> keras.KerasTensor:
    for layer in layers:
        tensor = layer(tensor)
    return tensor
