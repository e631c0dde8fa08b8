"""The callback list, built from the config: the guards, then `cfg.callbacks` and `cfg.logger`
instantiated from `_target_`, each `monitor` checked against what the run logs."""

from __future__ import annotations

import contextlib
import copy
import warnings
from typing import Any, Iterator

import keras
from omegaconf import DictConfig, open_dict

from tftrain.callbacks.backup import Backup
from tftrain.callbacks.fine_tuning import FineTuning
from tftrain.callbacks.guards import DivergenceGuard, EpochSeeds, InterruptGuard, Stop
from tftrain.callbacks.record import EpochRecorder
from tftrain.config.instantiate import instantiate
from tftrain.config.objective import OBJECTIVE, Objective, logged_as
from tftrain.console import echo
from tftrain.errors import TftrainError, keyed


def build_callbacks(configured: dict[str, Any], loggers: Any, signals: Stop,
                    model: keras.Model | None = None) -> list[keras.callbacks.Callback]:
    """The guards, then the configured callbacks in their order (`configured`: the
    `callbacks` group's nodes by name, `monitored`; `loggers`: the `logger` group's), an
    EpochRecorder if none, the backup, and the interrupt guard last.

    The backup comes after every callback it keeps the state of (early stopping's counter and
    best weights, the best checkpoint's best value, the metrics row of the epoch), whatever
    order the config lists them in: at an epoch's end it saves what they just decided, and
    when a run resumes it restores their state after their own `on_train_begin` reset it.
    A callback that says it does not fit `model` (`misfit(model)`: a GAN's sample grid on
    another model) is refused before training, naming its key.
    """
    nodes = {**{f"callbacks.{k}": v for k, v in configured.items()},
             **{f"logger.{k}": v for k, v in (loggers or {}).items()}}
    built = [made(node, where, model) for where, node in nodes.items() if node is not None]
    backups = [c for c in built if isinstance(c, keras.callbacks.BackupAndRestore)]
    callbacks = [DivergenceGuard(), EpochSeeds(), FineTuning(),
                 *[c for c in built if c not in backups]]
    if not any(isinstance(c, EpochRecorder) for c in callbacks):
        callbacks.append(EpochRecorder())
    for backup in backups:
        if isinstance(backup, Backup):
            backup.keep_state_of(callbacks)
    return [*callbacks, *backups, InterruptGuard(signals)]  # a stop comes after every callback


def made(node: DictConfig, where: str, model: keras.Model | None) -> keras.callbacks.Callback:
    """A callback from its node; what tftrain's own callbacks refuse names their parameters
    as its keys (callbacks.samples.count)."""
    with keyed(where):
        callback = instantiate(node, where, _convert_="all")
    problem = callback.misfit(model) if model is not None and hasattr(callback, "misfit") else None
    if problem:
        raise TftrainError(f"{where}: {problem}; leave it out with '~{where}'.")
    return callback


def monitored(cfg: DictConfig, objective: Objective, logged: list[str],
              validation: str) -> dict[str, Any]:
    """The callback configs with each `monitor` decided: `objective` (the shipped default)
    becomes the run's objective, with its mode, so that early stopping restores, and the
    best checkpoint keeps, the epoch the summary calls best; a monitor set by hand is kept,
    checked against what the run logs, and said when it is not the objective.

    Keras finds a misspelt monitor only after the first epoch (a traceback), or never (a
    warning per epoch, and EarlyStopping never stops); here it is an error before training.
    Without a validation split, a val_ monitor falls back to its training twin, said once;
    with one that no epoch of this run reaches (`validation`, as objective.decide takes it),
    it is refused.
    """
    checked, moved, own = {}, [], []
    for key, node in cfg.items():
        monitor = None if node is None else node.get("monitor")
        if monitor == OBJECTIVE:
            mode = node.get("mode", "auto")
            node = with_keys(node, monitor=objective.metric,
                             **({"mode": objective.mode} if mode == "auto" else {}))
        elif monitor is not None:
            used = logged_as(monitor, f"callbacks.{key}.monitor", logged, validation,
                             also=(OBJECTIVE,))
            if used != monitor:
                node = with_keys(node, monitor=used)
                moved.append(f"{key} ({monitor} -> {used})")
        if node is not None and node.get("monitor") not in (None, objective.metric):
            own.append(f"{key} monitors {node.monitor}")
        checked[key] = node
    if moved:
        echo(f"note: no validation split, so these callbacks monitor the training metric: "
             f"{', '.join(moved)}.")
    if own:
        echo(f"note: {'; '.join(own)}, as set, while the objective is {objective.metric} "
             f"({objective.mode}): what they keep or restore is ranked by their own metric.")
    return checked


def with_keys(node: DictConfig, **values: Any) -> DictConfig:
    """A copy of a callback's node with these keys set (a key its option did not list, such
    as `mode`, included); interpolations still resolve against the run's config."""
    node = copy.deepcopy(node)
    with open_dict(node):
        for key, value in values.items():
            node[key] = value
    return node


# What Keras' monitoring callbacks warn, at every epoch end, when their metric is absent.
ABSENT_MONITOR_WARNINGS = ("Early stopping conditioned on metric `val_",
                           "Learning rate reduction is conditioned on metric `val_",
                           "Can save best model only with val_")


@contextlib.contextmanager
def between_validations(validation_freq: int) -> Iterator[None]:
    """With validation every N > 1 epochs, the epochs between lack val_ metrics by design, and
    Keras' monitoring callbacks warn at each (they act on validated epochs only). `monitored`
    has checked every monitor, so those warnings say nothing here and are silenced."""
    with warnings.catch_warnings():
        if validation_freq > 1:
            for message in ABSENT_MONITOR_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=UserWarning)
        yield
