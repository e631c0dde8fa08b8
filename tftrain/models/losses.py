"""A user's loss function with extra arguments, as a serializable Keras Loss.

Keras wraps bare loss functions itself, but keeps no public wrapper for one that takes
arguments (`fn(y_true, y_pred, scale=3.0)`); this is that wrapper, registered so that
`.keras` files holding it load back.
"""

from __future__ import annotations

from typing import Any, Callable

import keras


@keras.saving.register_keras_serializable(package="tftrain")
class FunctionLoss(keras.losses.Loss):
    def __init__(self, fn: Callable, name: str | None = None,
                 reduction: str = "sum_over_batch_size", **arguments: Any) -> None:
        super().__init__(name=name or fn.__name__, reduction=reduction)
        self.fn, self.arguments = fn, arguments

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self.arguments)

    def get_config(self) -> dict[str, Any]:
        return {"fn": keras.saving.serialize_keras_object(self.fn), "name": self.name,
                "reduction": self.reduction, **self.arguments}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "FunctionLoss":
        return cls(keras.saving.deserialize_keras_object(config.pop("fn")), **config)
