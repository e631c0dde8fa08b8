"""Loss and metrics: chosen by the config, or defaulted from the data's task."""

from __future__ import annotations

import inspect
from typing import Any

import keras
from omegaconf import DictConfig, ListConfig

from tftrain.data import Spec, Target
from tftrain.errors import TftrainError, did_you_mean
from tftrain.config.instantiate import instantiate, keras_names, locate, parameters, unknown_argument
from tftrain.models.losses import FunctionLoss
from tftrain.models.metrics import CLASS_METRICS

# Names Keras' compile understands beyond its metrics' own (it picks the variant the loss needs).
METRIC_ALIASES = ("accuracy", "acc", "crossentropy", "ce")


def resolve(node: Any, wrapper: type, where: str) -> Any:
    """A Keras name ("mse"), a class node (instantiated) or a function `fn(y_true, y_pred)`.

    A name is checked against what Keras knows (with the closest names when it is not); a
    function with extra arguments is wrapped in a serializable Loss or Metric
    (tftrain.models.losses.FunctionLoss, keras.metrics.MeanMetricWrapper) that keeps them.
    """
    if isinstance(node, str):
        return known_name(node, wrapper, where)
    if not isinstance(node, DictConfig):
        return node
    target = locate(node._target_, f"{where}._target_")
    if inspect.isclass(target):
        return instantiate(node, where, _convert_="all")
    extra = {k: v for k, v in node.items() if k != "_target_"}
    problem = unknown_argument(node._target_, list(extra), parameters(target), where)
    if problem:
        raise TftrainError(problem)
    return wrapper(target, name=target.__name__, **extra) if extra else target


def known_name(name: str, wrapper: type, where: str) -> str:
    """A loss or metric given by name, checked against the names Keras resolves."""
    kind, module = ("loss", keras.losses) if wrapper is FunctionLoss else ("metric", keras.metrics)
    if kind == "metric" and name in METRIC_ALIASES:
        return name
    try:
        module.get(name)
    except (ValueError, TypeError):
        known = sorted({*keras_names(module),
                        *((*METRIC_ALIASES, *CLASS_METRICS) if kind == "metric" else ())})
        raise TftrainError(f"{where}={name!r} is not a Keras {kind}.{did_you_mean(name, known)} "
                           f"Give a Keras name (such as {', '.join(known[:4])}, ...) or a node "
                           f"{{_target_: keras.{module.__name__.rsplit('.', 1)[-1]}.SomeClass, "
                           "...} or your own function.") from None
    return name


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
    def where(key: str, target: str, setting: Any) -> str:
        return f"{key}.{target}" if per_target(setting) else key

    chosen = {t.name: (resolve(pick(loss, t.name, default_loss(t, t.name in binary)), FunctionLoss,
                               where("loss", t.name, loss)),
                       [metric(m, t, f"{where('metrics', t.name, metrics)}.{index}")
                        for index, m in enumerate(pick(metrics, t.name, default_metrics(t)))])
              for t in spec.targets}
    if not spec.multi_output:
        return chosen[spec.targets[0].name]
    return {n: pair[0] for n, pair in chosen.items()}, {n: pair[1] for n, pair in chosen.items()}


def metric(node: Any, target: Target, where: str) -> Any:
    """One metric of a target: tftrain's own class metrics by name (balanced_accuracy,
    macro_f1: a confusion matrix sized by the target's classes), else as `resolve` takes it."""
    if not (isinstance(node, str) and node in CLASS_METRICS):
        return resolve(node, keras.metrics.MeanMetricWrapper, where)
    if target.task != "classification" or not target.num_classes:
        which = "the label" if target.name == "output" else f"the target '{target.name}'"
        raise TftrainError(f"{where}={node!r} scores the classes of a classifier, and {which} is a "
                           f"{target.task} target; for it use {', '.join(default_metrics(target))} "
                           "or another regression metric.")
    return CLASS_METRICS[node](num_classes=target.num_classes, name=node)


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
