"""`model=transfer`: a keras.applications base (no top), frozen, pooled, with the data's head."""

from __future__ import annotations

import keras

from tftrain.data import Spec
from tftrain.errors import TftrainError
from tftrain.models.head import head
from tftrain.models.inputs import model_inputs


def transfer(spec: Spec, base: str = "MobileNetV2", weights: str | None = None,
             trainable_layers: int = 0, dropout: float = 0.2, name: str = "transfer") -> keras.Model:
    """The base is built for the data's image shape; only its top `trainable_layers` train.

    `weights` is None (random initialisation) or a local weights file: tftrain never
    downloads (pass a file you fetched with keras.applications once, online).
    """
    if spec.single is None or len(spec.single.shape) != 3:
        raise TftrainError(f"model=transfer needs one image input (height, width, channels); "
                           f"the data gives {spec.describe()}.")
    application = getattr(keras.applications, base, None)
    if application is None:
        raise TftrainError(f"model.base={base!r} is not in keras.applications "
                           "(e.g. MobileNetV2, ResNet50, EfficientNetB0).")
    backbone = application(include_top=False, weights=weights, input_shape=spec.single.shape)
    backbone.trainable = trainable_layers > 0
    for layer in backbone.layers[:len(backbone.layers) - trainable_layers]:
        layer.trainable = False
    inputs, tensors = model_inputs(spec)
    hidden = keras.layers.GlobalAveragePooling2D()(backbone(tensors["input"], training=False))
    hidden = keras.layers.Dropout(dropout)(hidden)
    for layer in head(spec):
        hidden = layer(hidden)
    return keras.Model(inputs, hidden, name=name)
