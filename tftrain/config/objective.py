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


def decide(metric: str, mode: str, task: str, multi_output: bool, logged: list[str],
           validation: str) -> tuple[Objective, str | None]:
    """The run's objective, checked against the metrics it logs, and a note to say (or None).

    `validation`: "yes" (some epoch of the run validates), "no split" (a val_ metric falls
    back to its training twin, said), or a sentence saying why no epoch of this run validates
    although there is a split: then a val_ metric is refused, as it would never be logged
    and the run, or a whole sweep, would rank nothing.
    """
    chosen = f"val_{auto_metric(task, multi_output, 'accuracy' in logged)}" if metric == "auto" else metric
    names = logged + ([f"val_{name}" for name in logged] if validation == "yes" else [])
    note = None
    if chosen not in names and chosen.startswith("val_") and chosen[4:] in logged:
        if validation != "no split":
            raise TftrainError(f"the objective {chosen} is a validation metric, but {validation}. "
                               f"Validate within the run, or set objective.metric={chosen[4:]} "
                               "(the training metric).")
        note = (f"note: no validation split, so the objective is the training metric "
                f"{chosen[4:]} (not {chosen}).")
        chosen = chosen[4:]
    if chosen not in names:
        raise TftrainError(f"objective.metric={chosen!r} is not a metric this run logs."
                           f"{did_you_mean(chosen, names)} It logs {', '.join(names)}"
                           + ("" if validation == "yes" else " (no epoch validates)")
                           + ". Set objective.metric to one of those, or auto.")
    return Objective(chosen, mode_of(chosen, mode)), note


def of_summary(summary: dict[str, Any]) -> Objective | None:
    """The objective a run's summary.json records, if it records one."""
    metric, mode = summary.get("objective_metric"), summary.get("objective_mode")
    return Objective(metric, mode) if metric and mode in ("min", "max") else None
