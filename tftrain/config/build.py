"""The callback list, built from the config: the guards, then `cfg.callbacks` and `cfg.logger`
instantiated from `_target_`, each `monitor` checked against what the run logs."""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Iterator

import keras
from omegaconf import DictConfig, OmegaConf

from tftrain.callbacks.fine_tuning import FineTuning
from tftrain.callbacks.guards import DivergenceGuard, EpochSeeds, InterruptGuard, Stop
from tftrain.callbacks.record import EpochRecorder
from tftrain.config.instantiate import instantiate
from tftrain.console import echo
from tftrain.errors import TftrainError, did_you_mean


def build_callbacks(nodes: dict[str, Any], signals: Stop) -> list[keras.callbacks.Callback]:
    """The guards, then the configured callbacks in order (`nodes`: key path -> config),
    then an EpochRecorder if none."""
    callbacks = [DivergenceGuard(), EpochSeeds(), FineTuning()]
    callbacks += [instantiate(node, where, _convert_="all") for where, node in nodes.items()
                  if node is not None]
    callbacks.append(InterruptGuard(signals))  # last: a stop comes after every callback's batch
    if not any(isinstance(c, EpochRecorder) for c in callbacks):
        callbacks.append(EpochRecorder())
    return callbacks


def monitored(cfg: DictConfig, logged: list[str], validated: bool) -> dict[str, Any]:
    """The callback configs with each `monitor` checked against what the run logs.

    Keras finds a misspelt monitor only after the first epoch (a traceback), or never (a
    warning per epoch, and EarlyStopping never stops); here it is an error before training.
    Without a validation split, a val_ monitor falls back to its training twin, said once.
    """
    names = logged + ([f"val_{name}" for name in logged] if validated else [])
    checked, moved = {}, []
    for key, node in cfg.items():
        monitor = None if node is None else node.get("monitor")
        if monitor is not None and monitor not in names:
            twin = monitor.removeprefix("val_")
            if validated or twin not in names:
                raise TftrainError(
                    f"callbacks.{key}.monitor={monitor!r} is not a metric this run logs."
                    f"{did_you_mean(monitor, names)} It logs {', '.join(names)}"
                    + ("" if validated else " (there is no validation split)")
                    + f". Set callbacks.{key}.monitor to one of those.")
            node = OmegaConf.merge(node, {"monitor": twin})
            moved.append(f"{key} ({monitor} -> {twin})")
        checked[key] = node
    if moved:
        echo(f"note: no validation split, so these callbacks monitor the training metric: "
             f"{', '.join(moved)}.")
    return checked


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
