"""What both finders share: the run's config as `tftrain OVERRIDES` composes it, built by
`prepare` as a run builds it (runtime, precision, strategy, data, compiled model, trainer),
then trained for a while by the run's own trainer under the finder's callbacks.

A finder's training is no run: it keeps no checkpoint, writes no run folder, logs to no
tracker and validates nothing, so the config's callbacks and loggers are left out, and it
stops when its callbacks say so.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from tftrain.config.compose import composed
from tftrain.errors import TftrainError


def tuning_config(overrides: list[str], tool: str) -> DictConfig:
    """The config `tftrain OVERRIDES` would run, checked as the run checks it, less what a
    finder's training does not do (checkpoints, loggers)."""
    cfg = composed(overrides)
    if cfg.resume:
        raise TftrainError(f"resume={cfg.resume}: {tool} tunes a run before it starts, from "
                           "new weights; leave resume= out (give the run's own overrides).")
    with open_dict(cfg):
        cfg.callbacks, cfg.logger = {}, {}
        cfg.run_dir = tempfile.gettempdir()  # what a finder's config resolves, never written
    return cfg


def setting(cfg: DictConfig, path: str, value: Any) -> None:
    """Set a key of the config by its path (`trainer.batch_size`) for the finder's training."""
    with open_dict(cfg):
        OmegaConf.update(cfg, path, value, merge=False)


def train_for(prepared: Any, callbacks: list, steps: int) -> None:
    """Train the prepared model on its training split for up to `steps` steps (its
    callbacks may stop it sooner), with no validation. XLA is decided as the run decides it,
    for the run's length, before the trainer is told the finder's."""
    trainer, data, model = prepared.trainer, prepared.data, prepared.model
    trainer.resolve_jit_compile(model, data.steps_per_epoch)
    trainer.jit_compile = model.jit_compile
    trainer.epochs = math.ceil(steps / data.steps_per_epoch)
    trainer.train(model, dataclasses.replace(data, val=None), callbacks)
