"""A search's objective before any of its trials runs: the direction its study is created
with, decided as each trial's run will decide it (tftrain.config.objective), the data's task
read the way training reads it. Reading the data may import TensorFlow (a Keras dataset, a
TFRecord): this is no composition, which stays without it."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from tftrain.config.dataset import options_of, read_source
from tftrain.config.objective import direction
from tftrain.data.forms import Stream
from tftrain.errors import UNREADABLE, TftrainError, door, keyed


def direction_of(cfg: Any) -> str:
    """The mode of a composed config's objective, decided before any run as each run will
    decide it: `objective.metric: auto` depends on the data's task, read here the way
    training reads it (a search's study is created with it)."""
    metric, mode = cfg.objective.metric, cfg.objective.mode
    task, multi_output = data_task(cfg) if metric == "auto" and mode == "auto" else ("", False)
    return direction(metric, mode, task, multi_output, logs_accuracy(cfg.metrics))


def data_task(cfg: DictConfig) -> tuple[str, bool]:
    """The task of the data the trials train on, and whether it has several targets, read by
    the data source itself (one place decides a task: the source, from the labels)."""
    options, _, name = options_of(cfg.dataset)
    with keyed("dataset"), door(name, refused=UNREADABLE):
        source = read_source(options, int(cfg.seed))
    if isinstance(source, Stream):
        if source.class_names is not None or source.task != "auto":
            return source.task if source.class_names is None else "classification", False
        raise TftrainError(f"{name}: whether this streamed data is a classification or a "
                           "regression is known only once a trial has read it, and the search's "
                           "direction depends on it: set dataset.task=classification|regression, "
                           "or objective.metric, or hydra.sweeper.direction.")
    tasks = [task for _, task, _ in source.targets()]
    return tasks[0], len(tasks) > 1


def logs_accuracy(metrics: Any) -> bool:
    """Whether a run with this `metrics` config logs `accuracy` (the task's default does)."""
    if metrics is None:
        return True
    if isinstance(metrics, DictConfig):  # per target: a single-target objective never uses it
        return False
    return any(m == "accuracy" for m in metrics)


def disagreement(number: int, ranked: Any, direction: str, first: str | None) -> str:
    """What is said when a trial's run ranked by another metric or direction than its study
    (tftrain.config.objective.Objective, or None): the study would pick a wrong best trial."""
    said = f"{ranked.metric} ({ranked.mode})" if ranked else "no objective"
    return (f"trial {number} of the search ranks by {said}, but the study {direction}s"
            + (f" {first}" if first else "") + ": its trials would be ranked wrongly. Say what "
            "to optimise: objective.metric=NAME (and objective.mode=min|max), or "
            "hydra.sweeper.direction=minimize|maximize.")
