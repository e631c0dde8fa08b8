"""`model=transfer`: a keras.applications base (no top), frozen, pooled, with the data's head,
and optionally the guides' fine-tuning: unfreeze the base's top N layers after M epochs, at a
lower learning rate.

The base is always called with `training=False`, so its BatchNormalization layers stay in
inference mode (their moving statistics never change), frozen or not, as the Keras and
TensorFlow transfer-learning guides do; by default their scale and offset stay frozen too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import keras

from tftrain.data import Spec
from tftrain.errors import TftrainError, param
from tftrain.models.head import head
from tftrain.models.inputs import model_inputs

FINE_TUNE_KEYS = ("after_epoch", "layers", "learning_rate_factor")


def transfer(spec: Spec, base: str = "MobileNetV2", weights: str | None = None,
             trainable_layers: int = 0, fine_tune: dict[str, Any] | None = None,
             train_batch_norm: bool = False, dropout: float = 0.2,
             name: str = "transfer") -> keras.Model:
    """The base is built for the data's image shape; only its top `trainable_layers` train,
    and, with `fine_tune.after_epoch` set, its top `fine_tune.layers` from that epoch on;
    its BatchNormalization layers' scale and offset only with `train_batch_norm`.

    `weights` is None (random initialisation) or a local weights file: tftrain never
    downloads (pass a file you fetched with keras.applications once, online).
    """
    if spec.single is None or len(spec.single.shape) != 3:
        raise TftrainError(f"model=transfer needs one image input (height, width, channels); "
                           f"the data gives {spec.describe()}.")
    application = getattr(keras.applications, base, None)
    if application is None:
        raise TftrainError(f"{param('base')}={base!r} is not in keras.applications "
                           "(e.g. MobileNetV2, ResNet50, EfficientNetB0).")
    backbone = application(include_top=False, weights=weights, input_shape=spec.single.shape)
    count = len(backbone.layers)
    trainable_layers = layer_count("trainable_layers", trainable_layers, base, count, 0)
    schedule = FineTune.from_config(fine_tune or {}, backbone, base, trainable_layers,
                                    train_batch_norm)

    # Every layer that will ever train is trainable while the trainers build the optimizer
    # (Keras 3 optimizers refuse variables they were not built with); the FineTuning callback
    # (tftrain.callbacks) freezes the scheduled ones at the start of training until their epoch.
    ever = max(trainable_layers, schedule.count if schedule else 0)
    backbone.trainable = ever > 0
    for index, layer in enumerate(backbone.layers):
        layer.trainable = index >= count - ever and (
            train_batch_norm or not isinstance(layer, keras.layers.BatchNormalization))

    inputs, tensors = model_inputs(spec)
    hidden = keras.layers.GlobalAveragePooling2D()(backbone(tensors["input"], training=False))
    hidden = keras.layers.Dropout(dropout)(hidden)
    for layer in head(spec):
        hidden = layer(hidden)
    model = keras.Model(inputs, hidden, name=name)
    if schedule is not None:
        model.fine_tuning = schedule  # read by tftrain.callbacks.fine_tuning.FineTuning; not saved
    return model


def layer_count(name: str, value: Any, base: str, count: int, lowest: int, why: str = "") -> int:
    """A number of the base's top layers (the parameter `name`), checked against how many
    layers it has."""
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= count:
        guide = (" (the TensorFlow transfer-learning guide fine-tunes MobileNetV2's top 54, from "
                 "layer 100 on)" if base == "MobileNetV2" else "")
        raise TftrainError(
            f"{param(name)}={value!r} is out of range: {base}, the base, has {count} layers, so give a "
            f"whole number from {lowest} to {count}{why}: how many of its top layers "
            f"train{guide}.")
    return value


@dataclass
class FineTune:
    """Which of the base's weights unfreeze, when, and how the learning rate changes then.

    `weights` are those that train from `after_epoch` on but not before: the weights of the
    base's top `count` layers less those `trainable_layers` trains from the start (and less
    its BatchNormalization layers' unless `train_batch_norm`). They are frozen and unfrozen
    one variable at a time (`Variable.trainable`), which leaves each layer's `trainable`
    flag as the builder set it: a checkpoint saved before the unfreeze then loads with the
    same trainable layers, and so the same optimizer variables, as one saved after it.
    """

    after_epoch: int
    count: int
    learning_rate_factor: float
    train_batch_norm: bool
    base: str
    base_layers: int
    weights: list = field(repr=False)
    _schedule: Any = field(default=None, repr=False)

    @classmethod
    def from_config(cls, config: dict[str, Any], backbone: keras.Model, base: str,
                    trainable_layers: int, train_batch_norm: bool) -> FineTune | None:
        unknown = sorted(set(config) - set(FINE_TUNE_KEYS))
        if unknown:
            raise TftrainError(f"{param('fine_tune')} has no key {', '.join(map(repr, unknown))}; "
                               f"its keys are {', '.join(FINE_TUNE_KEYS)}.")
        after_epoch = config.get("after_epoch")
        if after_epoch is None:
            return None
        if isinstance(after_epoch, bool) or not isinstance(after_epoch, int) or after_epoch < 0:
            raise TftrainError(
                f"{param('fine_tune.after_epoch')}={after_epoch!r} is not valid: give how many epochs "
                f"train the head alone before the base's top layers unfreeze, a whole number "
                f"from 0 (fine-tune from the start), or null to never unfreeze them.")
        count = len(backbone.layers)
        layers = layer_count("fine_tune.layers", config.get("layers", 54), base, count,
                             trainable_layers + 1, f" (more than {param('trainable_layers')}="
                             f"{trainable_layers}, which train from the start)"
                             if trainable_layers else "")
        factor = config.get("learning_rate_factor", 0.1)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
            raise TftrainError(
                f"{param('fine_tune.learning_rate_factor')}={factor!r} is not valid: give a number "
                f"above 0 that multiplies the learning rate when the base unfreezes (0.1: ten "
                f"times lower, as the TensorFlow guide does; 1: unchanged).")
        scheduled = [layer for layer in backbone.layers[count - layers:count - trainable_layers]
                     if train_batch_norm or not isinstance(layer, keras.layers.BatchNormalization)]
        weights = [w for layer in scheduled for w in layer.weights if w.trainable]
        return cls(after_epoch, layers, float(factor), train_batch_norm, base, count, weights)

    def freeze(self) -> None:
        for weight in self.weights:
            weight.trainable = False

    def unfreeze(self) -> None:
        for weight in self.weights:
            weight.trainable = True

    @property
    def parameters(self) -> int:
        return sum(int(math.prod(w.shape)) for w in self.weights)

    def describe(self) -> str:
        kept = "" if self.train_batch_norm else ", BatchNormalization kept frozen"
        return f"the top {self.count} of {self.base}'s {self.base_layers} layers train{kept}"

    def start(self, optimizer: keras.optimizers.Optimizer) -> None:
        """At the start of training: freeze the scheduled layers; keep the optimizer's own
        learning-rate schedule (None for a constant rate), which fine-tuning scales."""
        self.freeze()
        inner = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer wraps one
        rate = getattr(inner, "_learning_rate", None)
        self._schedule = rate if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule) \
            else None

    def lower_learning_rate(self, optimizer: keras.optimizers.Optimizer, restored: bool) -> None:
        """Multiply the rate by the factor. A schedule is wrapped in ScaledSchedule (saved with
        the optimizer's config). A constant rate is a variable, checkpointed with the optimizer:
        `restored` (a run resumed after the unfreeze epoch) finds it lowered already."""
        if self.learning_rate_factor == 1:
            return
        if self._schedule is not None:
            optimizer.learning_rate = ScaledSchedule(self._schedule, self.learning_rate_factor)
        elif not restored:
            rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))  # mirrored too
            optimizer.learning_rate = rate * self.learning_rate_factor


@keras.saving.register_keras_serializable(package="tftrain")
class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`factor` times another schedule: a schedule's rate lowered for fine-tuning."""

    def __init__(self, schedule: Any, factor: float) -> None:
        self.schedule = schedule
        self.factor = factor

    def __call__(self, step):
        return self.schedule(step) * self.factor

    def get_config(self) -> dict[str, Any]:
        return {"schedule": keras.saving.serialize_keras_object(self.schedule),
                "factor": self.factor}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ScaledSchedule:
        return cls(keras.saving.deserialize_keras_object(config["schedule"]), config["factor"])
