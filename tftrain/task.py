"""Loss, metrics and objective: chosen by the config, or defaulted from the data's task."""

from __future__ import annotations

import inspect
from typing import Any

import keras
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, ListConfig

from tftrain.data import Spec
from tftrain.errors import TftrainError
from tftrain.losses import FunctionLoss
from tftrain.schema import MAXIMIZED


def resolve(node: Any, wrapper: type) -> Any:
    """A Keras name ("mse"), a class node (instantiated) or a function `fn(y_true, y_pred)`.

    A function with extra arguments is wrapped in a serializable Loss or Metric
    (tftrain.losses.FunctionLoss, keras.metrics.MeanMetricWrapper) that keeps them.
    """
    if not isinstance(node, DictConfig):
        return node
    target = get_object(node._target_)
    if inspect.isclass(target):
        return instantiate(node, _convert_="all")
    extra = {k: v for k, v in node.items() if k != "_target_"}
    return wrapper(target, name=target.__name__, **extra) if extra else target


def loss_and_metrics(loss: Any, metrics: Any, spec: Spec) -> tuple[Any, list[Any]]:
    """The configured loss and metrics, or the task's: cross-entropy + accuracy, mse + mae."""
    if loss is None:
        # The head ends in softmax, so the loss takes probabilities (Keras still uses
        # the logits internally for numerical stability).
        loss = ("sparse_categorical_crossentropy" if spec.task == "classification" else "mse")
    if metrics is None:
        metrics = ["accuracy"] if spec.task == "classification" else ["mae"]
    if not isinstance(metrics, (list, ListConfig)):
        raise TftrainError(f"metrics must be a list (of Keras names or _target_ nodes); got {metrics!r}.")
    return (resolve(loss, FunctionLoss),
            [resolve(m, keras.metrics.MeanMetricWrapper) for m in metrics])


def objective(metric: str, mode: str, spec: Spec, has_val: bool) -> tuple[str, str]:
    """Which logged metric a sweep optimises, and whether higher is better."""
    if metric == "auto":
        base = "accuracy" if spec.task == "classification" else "loss"
        metric = f"val_{base}" if has_val else base
    if mode == "auto":
        mode = "max" if any(word in metric for word in MAXIMIZED) else "min"
    return metric, mode
