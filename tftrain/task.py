"""Loss, metrics and objective: chosen by the config, or defaulted from the data's task."""

from __future__ import annotations

import inspect
from typing import Any

import keras
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, ListConfig

from tftrain.data import Spec, Target
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


def loss_and_metrics(loss: Any, metrics: Any, spec: Spec,
                     binary: set[str] = frozenset()) -> tuple[Any, Any]:
    """The configured loss and metrics, or each target's task's: cross-entropy + accuracy,
    mse + mae. With several targets, a dict keyed by target name gives each its own;
    anything else applies to every target. `binary`: the targets whose head is one sigmoid
    unit (binary cross-entropy)."""
    if metrics is not None and not (isinstance(metrics, (list, ListConfig)) or per_target(metrics)):
        raise TftrainError(f"metrics must be a list (of Keras names or _target_ nodes), or a dict "
                           f"of such lists by target name; got {metrics!r}.")
    for setting, key in ((loss, "loss"), (metrics, "metrics")):
        check_targets(setting, key, spec)
    chosen = {t.name: (resolve(pick(loss, t.name, default_loss(t, t.name in binary)), FunctionLoss),
                       [resolve(m, keras.metrics.MeanMetricWrapper)
                        for m in pick(metrics, t.name, default_metrics(t))])
              for t in spec.targets}
    if not spec.multi_output:
        return chosen[spec.targets[0].name]
    return {n: pair[0] for n, pair in chosen.items()}, {n: pair[1] for n, pair in chosen.items()}


def per_target(setting: Any) -> bool:
    """A dict keyed by target name, as opposed to one `_target_` node for all targets."""
    return isinstance(setting, (dict, DictConfig)) and "_target_" not in setting


def pick(setting: Any, target: str, default: Any) -> Any:
    """A setting given per target ({name: value}), or one value for all targets."""
    value = setting.get(target) if per_target(setting) else setting
    return default if value is None else value


def check_targets(setting: Any, key: str, spec: Spec) -> None:
    """A per-target dict (loss, metrics, loss_weights) may name only the data's targets."""
    names = [t.name for t in spec.targets]
    unknown = sorted(set(setting) - set(names)) if per_target(setting) else []
    if unknown:
        raise TftrainError(f"{key} names targets {unknown} the data does not have; its targets "
                           f"are: {', '.join(names)}.")


def default_loss(target: Target, binary: bool = False) -> str:
    # The head ends in softmax (or, binary, a sigmoid), so the loss takes probabilities
    # (Keras still uses the logits internally for numerical stability).
    if target.task != "classification":
        return "mse"
    return "binary_crossentropy" if binary else "sparse_categorical_crossentropy"


def default_metrics(target: Target) -> list[str]:
    return ["accuracy"] if target.task == "classification" else ["mae"]


def objective(metric: str, mode: str, spec: Spec, has_val: bool) -> tuple[str, str]:
    """Which logged metric a sweep optimises, and whether higher is better."""
    if metric == "auto":
        base = "accuracy" if spec.task == "classification" and not spec.multi_output else "loss"
        metric = f"val_{base}" if has_val else base
    if mode == "auto":
        mode = "max" if any(word in metric for word in MAXIMIZED) else "min"
    return metric, mode
