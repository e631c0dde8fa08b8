"""The objective: which logged metric ranks epochs and runs, and which way is better.

Decided once, here, and used by everything that ranks: early stopping's monitor and the
weights it restores, the best checkpoint, the summary's best epoch, a sweep's study (its
direction and pruner), and reports. A run decides it before training from what it really
logs (`decide`); a search decides the same thing before its study exists, from the config
and the data's task (`direction`), and each trial's record must then agree (the sweeper
checks). Nothing here imports TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tftrain.errors import TftrainError, did_you_mean

# Metrics whose names contain one of these are better when higher.
MAXIMIZED = ("accuracy", "auc", "precision", "recall", "f1", "r2", "iou")
# What a callback's `monitor` says to follow the run's objective (the shipped default).
OBJECTIVE = "objective"


@dataclass(frozen=True)
class Objective:
    metric: str
    mode: str  # "min" | "max"

    def improves(self, value: float, best: float | None) -> bool:
        """Whether `value` is strictly better than `best` (an epoch that only ties is not)."""
        if best is None or not math.isfinite(best):
            return math.isfinite(value)
        return value > best if self.mode == "max" else value < best

    def best_row(self, rows: list[dict[str, float]]) -> dict[str, float] | None:
        """The first epoch reaching the best value: what EarlyStopping restores and
        ModelCheckpoint keeps (they too count only strict improvements)."""
        best: dict[str, float] | None = None
        for row in rows:
            value = row.get(self.metric)
            if value is not None and self.improves(value, None if best is None else best[self.metric]):
                best = row
        return best

    @property
    def direction(self) -> str:
        """Optuna's word for the mode."""
        return "maximize" if self.mode == "max" else "minimize"


def mode_of(metric: str, mode: str = "auto") -> str:
    """`max` for accuracy-like names, else `min`, unless the config says which."""
    if mode != "auto":
        return mode
    return "max" if any(word in metric for word in MAXIMIZED) else "min"


def auto_metric(task: str, multi_output: bool, logs_accuracy: bool) -> str:
    """What `objective.metric: auto` means before the val_ prefix: a single-target
    classifier's accuracy when it logs one (a GAN's step logs losses only), else the loss."""
    return "accuracy" if task == "classification" and not multi_output and logs_accuracy else "loss"


def direction(metric: str, mode: str, task: str, multi_output: bool, logs_accuracy: bool) -> str:
    """The mode of the objective a config asks for, from the config and the data's task
    alone (no logs yet): what a search's study is created with."""
    chosen = auto_metric(task, multi_output, logs_accuracy) if metric == "auto" else metric
    return mode_of(chosen, mode)


def validation(has_split: bool, first_epoch: int, epochs: int, every: int) -> str:
    """Whether a run's epochs validate, as `decide` and the callback monitors take it: "yes",
    "no split", or why none does (Keras validates epoch e, counted from 0, when (e+1) is a
    multiple of validation_freq)."""
    if not has_split:
        return "no split"
    if any((epoch + 1) % every == 0 for epoch in range(first_epoch, epochs)):
        return "yes"
    return (f"validation runs every {every} epochs (trainer.validation_freq={every}) and this run "
            f"trains epochs {first_epoch + 1} to {epochs}, so no epoch validates")


def logged_as(name: str, key: str, logged: list[str], validation: str,
              also: tuple[str, ...] = ()) -> str:
    """The metric a run logs under `name` (what `key` asked for): `name` itself, or, with no
    validation split, its training twin (val_loss -> loss). One rule for the objective and
    every callback's monitor. Refused: a name the run does not log (with the closest ones and
    `also`, other valid words), and a val_ metric no epoch of the run validates for.

    `validation`: "yes" (some epoch of the run validates), "no split", or a sentence saying
    why no epoch of this run validates although there is a split (objective.validation).
    """
    names = logged + ([f"val_{n}" for n in logged] if validation == "yes" else [])
    if name in names:
        return name
    twin = name.removeprefix("val_")
    if twin != name and twin in logged and validation == "no split":
        return twin
    why = "" if validation == "yes" else " (there is no validation split)" \
        if validation == "no split" else f" ({validation})"
    raise TftrainError(f"{key}={name!r} is not a metric this run logs.{did_you_mean(name, [*also, *names])} "
                       f"It logs {', '.join(names)}{why}. Set {key} to "
                       + (f"one of those, or {' or '.join(also)}." if also else "one of those."))


def decide(metric: str, mode: str, task: str, multi_output: bool, logged: list[str],
           validation: str) -> tuple[Objective, str | None]:
    """The run's objective, checked against the metrics it logs (`logged_as`), and a note to
    say when it fell back to a training metric (or None)."""
    asked = f"val_{auto_metric(task, multi_output, 'accuracy' in logged)}" if metric == "auto" else metric
    chosen = logged_as(asked, "objective.metric", logged, validation, also=("auto",))
    note = None if chosen == asked else \
        f"note: no validation split, so the objective is the training metric {chosen} (not {asked})."
    return Objective(chosen, mode_of(chosen, mode)), note


def of_summary(summary: dict[str, Any]) -> Objective | None:
    """The objective a run's summary.json records, if it records one."""
    metric, mode = summary.get("objective_metric"), summary.get("objective_mode")
    return Objective(metric, mode) if metric and mode in ("min", "max") else None
