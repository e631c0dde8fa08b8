"""Steps 1-5 of a run (ARCHITECTURE.md's flow): runtime, trainer, data, the compiled model and
the callbacks, each checked before training, and where a resumed run starts. Nothing here
writes to the run folder: a run refused here leaves none. Benchmarks train what `prepare`
returns.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any, Callable

from tftrain.run import runtime  # first: sets TensorFlow's environment before it is imported

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from tftrain.config import objective  # noqa: E402
from tftrain.config.objective import Objective  # noqa: E402
from tftrain.config.callbacks import build_callbacks, monitored  # noqa: E402
from tftrain.console import detach_log_file, echo  # noqa: E402
from tftrain.config.dataset import build_data  # noqa: E402
from tftrain.config.model import build_model, check_step, compile_model  # noqa: E402
from tftrain.config.resume import check_epoch_length, resume_point  # noqa: E402
from tftrain.config.trainer import build_trainer  # noqa: E402
from tftrain.data import Data, Spec  # noqa: E402
from tftrain.errors import REFUSED, door, keyed  # noqa: E402
from tftrain.config.instantiate import check, instantiate  # noqa: E402
from tftrain.run.folder import RunFolder  # noqa: E402
from tftrain.run.signals import Signals  # noqa: E402
from tftrain.trainers import Trainer  # noqa: E402

# An Optuna trial's pruning callback, made for the objective the run decides.
Pruning = Callable[[str], keras.callbacks.Callback]


@dataclass
class Prepared:
    """What a run has built when training starts (steps 1-5 of ARCHITECTURE.md's flow)."""

    strategy: Any  # tf.distribute.Strategy
    trainer: Trainer
    first_epoch: int
    first_step: int  # steps the first epoch had done when its run was stopped (a resume)
    data: Data
    model: keras.Model
    callbacks: list[keras.callbacks.Callback]
    objective: Objective  # what ranks epochs and runs, checked against the logs


@dataclass
class Stage:
    """How far a run got: what an interrupted run's summary and message report."""

    phase: str = "starting"
    model: keras.Model | None = None
    prepared: Prepared | None = None


def prepare(cfg: DictConfig, signals: Signals | None = None, stage: Stage | None = None,
            pruning: Pruning | None = None) -> Prepared:
    """Runtime, trainer, data, the compiled model and the callbacks, as every run builds
    them, each checked before training; nothing is written to the run folder yet. `pruning`:
    this run is a trial of an Optuna search that prunes: the callback that reports the
    objective to it (tftrain.sweeps.pruning).
    Benchmarks train what this returns."""
    stage = stage or Stage()
    check(cfg)  # every _target_ exists, before anything is built
    runtime.setup(cfg.seed, cfg.deterministic, cfg.precision.policy)
    strategy = instantiate(cfg.distribute, "distribute")
    if not runtime.is_chief(strategy):
        # a worker writes its copies (collectives need every worker) where nobody looks,
        # and leaves the chief's train.log (the folder they share under a scheduler) alone
        cfg.run_dir = tempfile.mkdtemp(prefix="tftrain-worker-")
        detach_log_file()
    trainer: Trainer = build_trainer(cfg.trainer)
    with keyed("trainer"):
        trainer.check_replicas(strategy.num_replicas_in_sync)
    folder = RunFolder(cfg.resume, "resume") if cfg.resume else None
    first_epoch, first_step = resume_point(cfg, trainer.initial_epoch, trainer.epochs, folder)
    stage.phase = "loading the data"
    data = build_data(cfg.dataset, trainer.batch_size, cfg.seed, cfg.trainer)
    if first_step:
        check_epoch_length(cfg, folder, first_step, data.steps_per_epoch)
    cfg.data_facts = facts(data)
    stage.phase = "building the model"
    with strategy.scope():
        model = stage.model = build_model(cfg.model, data.spec)
        check_step(model, cfg.trainer)
        compile_model(model, cfg, data.spec, trainer.steps_per_execution, trainer.jit_compile)
    with keyed("trainer"):  # the custom loop builds its step here
        logged = logged_names(trainer, model, data)
    validates = objective.validation(data.val is not None, trainer.initial_epoch, trainer.epochs,
                                     trainer.validation_freq)
    chosen, note = objective.decide(cfg.objective.metric, cfg.objective.mode, data.spec.task,
                                    data.spec.multi_output, logged, validates)
    if note:
        echo(note)
    configured = monitored(cfg.callbacks, chosen, logged, validates)
    callbacks = build_callbacks(configured, cfg.logger, signals or Signals(), model)
    if pruning is not None:  # last: every other callback has seen the epoch when it stops
        callbacks.append(pruning(chosen.metric))
    return Prepared(strategy, trainer, first_epoch, first_step, data, model, callbacks, chosen)


def logged_names(trainer: Trainer, model: keras.Model, data: Data) -> list[str]:
    """What the run logs, found by one forward pass with the loss and metrics on a batch of
    zeros: where a model whose output does not fit the labels fails, before training."""
    shape = getattr(model, "output_shape", None)
    outputs = f"outputs of shape {shape}" if shape else "outputs"
    with door(f"model '{model.name}' gives {outputs} which its loss and metrics could not "
              "compare with the labels",
              f"outputs that fit the data's {data.spec.describe()}",
              # Keras' losses refuse labels of another shape with ValueError; TensorFlow's
              # ops labels past the last class with InvalidArgumentError
              refused=(*REFUSED, tf.errors.InvalidArgumentError)):
        return trainer.logged_metrics(model, data)


def facts(data: Data) -> dict[str, Any]:
    """What the config's resolvers need of the data: ${epochs_to_steps:N}, ${vocabulary_size:}."""
    return {"steps_per_epoch": data.steps_per_epoch, "vocabulary_sizes": vocabulary_sizes(data.spec)}


def vocabulary_sizes(spec: Spec) -> dict[str, int]:
    """Token-id inputs' vocabulary sizes (+ padding and out-of-vocabulary): `${vocabulary_size:}`."""
    return {f.name: len(f.stats["vocabulary"]) + 2
            for f in spec.inputs if f.kind == "text" and f.stats["output_mode"] == "int"}
