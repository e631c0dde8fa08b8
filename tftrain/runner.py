"""One run, in the order of ARCHITECTURE.md: runtime, data, model, callbacks, trainer,
evaluation, artifacts. Each step takes what the one before produced; none reads another's
config. Returns the objective, so Hydra sweepers can optimise it.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tftrain import runtime  # first: sets TensorFlow's environment before it is imported

import keras  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402
from rich.table import Table  # noqa: E402

from tftrain import artifacts, schema, task  # noqa: E402
from tftrain.callbacks import (TrialPruning, between_validations, build_callbacks,  # noqa: E402
                               format_metrics, monitored, ordered, recorder)
from tftrain.console import console, detach_log_file, echo  # noqa: E402
from tftrain.checkpoints import Backup  # noqa: E402
from tftrain.data import Data, Spec, build_data  # noqa: E402
from tftrain.errors import Diverged, Interrupted, Pruned, TftrainError, door, signal_name  # noqa: E402
from tftrain.instantiate import check, instantiate  # noqa: E402
from tftrain.models import build_model  # noqa: E402
from tftrain.models.head import binary_targets  # noqa: E402
from tftrain.plots import plot_history  # noqa: E402
from tftrain.run_folder import INTERRUPTED, RunFolder  # noqa: E402
from tftrain.search import TrialRef  # noqa: E402
from tftrain.signals import Signals  # noqa: E402
from tftrain.trainers import Trainer  # noqa: E402

BACKUPS = ("tftrain.checkpoints.Backup", "keras.callbacks.BackupAndRestore")


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
    objective: tuple[str, str]  # the metric a sweep optimises, checked against the logs; min|max


@dataclass
class Stage:
    """How far a run got: what an interrupted run's summary and message report."""

    phase: str = "starting"
    model: keras.Model | None = None
    prepared: Prepared | None = None


def prepare(cfg: DictConfig, signals: Signals | None = None, stage: Stage | None = None,
            trial: TrialRef | None = None) -> Prepared:
    """Runtime, trainer, data, the compiled model and the callbacks, as every run builds
    them, each checked before training; nothing is written to the run folder yet. `trial`:
    this run is a trial of an Optuna search that prunes (tftrain.search).
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
    trainer: Trainer = instantiate(cfg.trainer, "trainer", _recursive_=False)
    first_epoch, first_step = resume_point(cfg, trainer)
    stage.phase = "loading the data"
    data = build_data(cfg.dataset, trainer.batch_size, cfg.seed)
    schema.set_data_facts(data.steps_per_epoch, vocabulary_sizes(data.spec))
    stage.phase = "building the model"
    with strategy.scope():
        model = stage.model = build_model(cfg.model, data.spec)
        compile_model(model, cfg, data.spec, trainer)
    logged, validated = logged_names(trainer, model, data), data.val is not None
    objective = task.checked_objective(cfg.objective.metric, cfg.objective.mode, data.spec,
                                       logged, validated)
    configured = monitored(cfg.callbacks, logged, validated)
    callbacks = build_callbacks({**{f"callbacks.{k}": v for k, v in configured.items()},
                                 **{f"logger.{k}": v for k, v in cfg.logger.items()}},
                                signals or Signals())
    if trial is not None:  # last: every other callback has seen the epoch when it stops
        callbacks.append(TrialPruning(trial, objective[0]))
    return Prepared(strategy, trainer, first_epoch, first_step, data, model, callbacks, objective)


def logged_names(trainer: Trainer, model: keras.Model, data: Data) -> list[str]:
    """What the run logs, found by one forward pass with the loss and metrics on a batch of
    zeros: where a model whose output does not fit the labels fails, before training."""
    shape = getattr(model, "output_shape", "?")
    with door(f"model '{model.name}' gives outputs of shape {shape}, which its loss and "
              "metrics could not compare with the labels",
              f"outputs that fit the data's {data.spec.describe()}"):
        return trainer.logged_metrics(model, data)


def run(cfg: DictConfig, signals: Signals | None = None, trial: TrialRef | None = None) -> float:
    """One run, start to end; returns its objective. An interruption in any phase leaves a
    resumable folder (`interrupted`) and reaches the caller with the message to show."""
    started, wall = datetime.now(timezone.utc), time.perf_counter()
    signals, stage = signals or Signals(), Stage()
    try:
        return run_stages(cfg, signals, stage, started, wall, trial)
    except Interrupted as error:
        error.args = (interrupted(cfg, stage, error, started, time.perf_counter() - wall),)
        raise


def run_stages(cfg: DictConfig, signals: Signals, stage: Stage, started: datetime,
               wall: float, trial: TrialRef | None) -> float:
    prepared = stage.prepared = prepare(cfg, signals, stage, trial)
    strategy, trainer, first_epoch = prepared.strategy, prepared.trainer, prepared.first_epoch
    data, model, callbacks = prepared.data, prepared.model, prepared.callbacks
    chief, run_dir = runtime.is_chief(strategy), Path(cfg.run_dir)
    artifacts.write_resolved_config(cfg, run_dir)
    announce(run_dir, (first_epoch, prepared.first_step) if cfg.resume else None, data, model,
             trainer)

    stage.phase = "training"
    stopped = train(trainer, model, data, callbacks, (first_epoch, prepared.first_step), signals)
    plot_history(recorder(callbacks).rows, run_dir / "history.png")
    test = {}
    if stopped is None:
        stage.phase = "evaluating on the test split"
        test = ordered(trainer.evaluate(model, data.test)) if data.test is not None else {}
        stage.phase = "saving the model"
        with signals.protected():
            save_model(cfg, model, data.spec, run_dir)
    stage.phase = "writing the summary"
    summary = summarize(cfg, prepared, test, started, time.perf_counter() - wall, stopped)
    artifacts.write_json_atomic(run_dir / artifacts.SUMMARY, summary)
    if stopped is not None:
        raise stopped
    report(summary, run_dir)
    if not chief:
        shutil.rmtree(run_dir, ignore_errors=True)
    return summary["objective"]


def save_model(cfg: DictConfig, model: keras.Model, spec: Spec, run_dir: Path) -> None:
    """model.keras, what its outputs mean, and the SavedModel export when asked."""
    artifacts.save_model_atomic(model, run_dir / artifacts.MODEL)
    if any(t.class_names for t in spec.targets):  # what the outputs mean, beside the model
        artifacts.write_json_atomic(run_dir / "class_names.json", class_names(spec))
    if cfg.export == "savedmodel":
        model.export(str(run_dir / "export"), format="tf_saved_model", verbose=False)


def interrupted(cfg: DictConfig, stage: Stage, error: Interrupted, started: datetime,
                seconds: float) -> str:
    """Keep what an interrupted run made (the weights, a summary saying where it stopped)
    and say how to continue it."""
    run_dir = Path(cfg.run_dir)
    if stage.model is not None:
        artifacts.save_model_atomic(stage.model, run_dir / INTERRUPTED)
    prepared = stage.prepared
    backups = [c for c in prepared.callbacks if isinstance(c, Backup)] if prepared else []
    if stage.phase == "training":  # the backup resumes exactly where the run stopped
        for backup in backups:
            backup.save_now()
    summary = (summarize(cfg, prepared, {}, started, seconds, error) if prepared is not None else
               artifacts.brief_summary("interrupted", str(error), cfg.objective, job_overrides()))
    epochs, done = cfg.trainer.epochs, summary["epochs_completed"]
    where = f"in epoch {done + 1} of {epochs}" if stage.phase == "training" else \
        f"while {stage.phase}" + (f", after {done} epoch(s)" if done else "")
    steps = backups[0].steps if backups else 0
    kept = [f"checkpointed at step {steps} of epoch {done + 1}" if steps else
            f"epochs 1-{done} are checkpointed" if done else "no epoch had completed"] \
        if stage.phase == "training" else []
    if stage.model is not None:
        kept.append(f"the weights so far are in {run_dir / INTERRUPTED}")
    then = (f"Resume with: tftrain resume={run_dir}" if backup_node(cfg) is not None else
            "This run has no backup callback, so it cannot be resumed; run it again to start over")
    message = (f"interrupted by {signal_name(error.signal_number)} {where}"
               + (f" ({'; '.join(kept)})" if kept else "") + f". {then}")
    artifacts.write_json_atomic(run_dir / artifacts.SUMMARY,
                                {**summary, "error": message, "interrupted_while": stage.phase})
    return message


def class_names(spec: Spec) -> dict[str, Any]:
    """{"class_names": [...]}, or with several targets {"class_names": {target: [...]}}."""
    names = {t.name: list(t.class_names) for t in spec.targets if t.class_names}
    return {"class_names": names if spec.multi_output else list(spec.class_names)}


def vocabulary_sizes(spec: Spec) -> dict[str, int]:
    """Token-id inputs' vocabulary sizes (+ padding and out-of-vocabulary): `${vocabulary_size:}`."""
    return {f.name: len(f.stats["vocabulary"]) + 2
            for f in spec.inputs if f.kind == "text" and f.stats["output_mode"] == "int"}


def announce(run_dir: Path, resumed_at: tuple[int, int] | None, data: Data, model: keras.Model,
             trainer: Trainer) -> None:
    spec, replicas = data.spec, model.distribute_strategy.num_replicas_in_sync
    where = "" if resumed_at is None else \
        f" (resuming after epoch {resumed_at[0]})" if not resumed_at[1] else \
        f" (resuming in epoch {resumed_at[0] + 1} after step {resumed_at[1]})"
    echo(f"run folder: {run_dir}{where}")
    echo(f"data: {data.sizes['train']} train / {data.sizes['val']} val / {data.sizes['test']} "
         f"test; {spec.describe()}")
    echo(f"model: {model.name}, {model.count_params():,} parameters; trainer: "
         f"{type(trainer).__name__}, {trainer.epochs} epochs x {data.steps_per_epoch} steps"
         + (f"; {replicas} replicas" if replicas > 1 else ""))


def compile_model(model: keras.Model, cfg: DictConfig, spec: Spec, trainer: Trainer) -> None:
    """Optimizer (with the LR schedule, if any), loss and metrics, inside the strategy scope."""
    schedule = instantiate(cfg.lr_schedule, "lr_schedule", _convert_="all") if cfg.lr_schedule else None
    learning_rate = {"learning_rate": schedule} if schedule is not None else {}
    optimizer = instantiate(cfg.optimizer, "optimizer", _partial_=True, _convert_="all")(**learning_rate)
    loss, metrics = task.loss_and_metrics(cfg.loss, cfg.metrics, spec, binary_targets(model, spec))
    task.check_targets(cfg.loss_weights, "loss_weights", spec)
    loss_weights = OmegaConf.to_container(cfg.loss_weights) if cfg.loss_weights else None
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=loss_weights,
                  steps_per_execution=trainer.steps_per_execution, jit_compile=trainer.jit_compile)


def backup_node(cfg: DictConfig) -> DictConfig | None:
    """The run's backup callback config (tftrain's, or Keras' own), if it has one."""
    return next((node for node in cfg.callbacks.values()
                 if node is not None and node.get("_target_") in BACKUPS), None)


def resume_point(cfg: DictConfig, trainer: Trainer) -> tuple[int, int]:
    """Where to start: (epoch, step in it). Resuming, after the last state the backup
    saved (read through the run folder's door), inside an epoch if it was saved there. A
    run whose training was complete but which stopped before it was evaluated and saved
    resumes there."""
    if not cfg.resume:
        return trainer.initial_epoch, 0
    backup = backup_node(cfg)
    if backup is None:
        raise TftrainError("resume needs the backup callback (callbacks.backup), which this "
                           "run's callbacks do not include; there is no state to resume.")
    folder = RunFolder(cfg.resume, "resume")
    epoch, step = folder.backup_point(Path(backup.backup_dir))
    if epoch < trainer.epochs:
        return epoch, step
    try:
        completed = folder.summary("resume=").get("status") == "completed"
    except TftrainError:  # no summary, or a damaged one: the run did not end cleanly
        completed = False
    if completed:
        raise TftrainError(f"resume={cfg.resume}: the run already completed all {epoch} epochs; "
                           f"to train longer, add trainer.epochs=N with N > {epoch}.")
    return trainer.epochs, 0


def train(trainer: Trainer, model: keras.Model, data: Data, callbacks: list,
          start: tuple[int, int], signals: Signals) -> Diverged | Pruned | None:
    """Train; a divergence or a pruned trial ends the run but keeps everything written.
    Signals wait for the next batch boundary (the callbacks check), so no step or
    checkpoint is cut short."""
    try:
        with between_validations(trainer.validation_freq), signals.protected():
            trainer.train(model, data, callbacks, *start)
    except (Diverged, Pruned) as error:
        return error
    finally:
        for callback in callbacks:  # a live display stops even when training did not end
            if hasattr(callback, "close"):
                callback.close()
    return None


def metrics_of(row: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in row.items() if k not in ("epoch", "epoch_time_s")}


def job_overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def summarize(cfg: DictConfig, prepared: Prepared, test: dict[str, float], started: datetime,
              seconds: float, stopped: BaseException | None) -> dict[str, Any]:
    data, trainer, model = prepared.data, prepared.trainer, prepared.model
    record = recorder(prepared.callbacks)
    rows = record.rows
    metric, mode = prepared.objective
    scored = [r for r in rows if math.isfinite(r.get(metric, math.nan))]
    if not scored and rows:
        available = sorted({k for r in rows for k in metrics_of(r)})
        echo(f"warning: objective metric '{metric}' was never logged (logged: "
             f"{', '.join(available) or 'nothing'}); the objective falls back to the final loss.")
        metric, mode, scored = "loss", "min", [r for r in rows if "loss" in r]
    pick = max if mode == "max" else min
    best = pick(scored, key=lambda r: r[metric]) if scored else {}
    steady = record.train_seconds[1:] or record.train_seconds  # epoch 1 includes tracing
    samples = len(steady) * data.steps_per_epoch * data.batch_size
    status = {Diverged: "diverged", Interrupted: "interrupted", Pruned: "pruned"}
    return {
        "status": status[type(stopped)] if stopped else "completed",
        "error": str(stopped) if stopped else None,
        "objective": float(best[metric]) if best else None,
        "objective_metric": metric,
        "objective_mode": mode,
        "best_epoch": int(best["epoch"]) if best else None,
        "epochs_completed": int(rows[-1]["epoch"]) if rows else prepared.first_epoch,
        "final": metrics_of(rows[-1]) if rows else {},
        "best": metrics_of(best),
        "test": test,
        "wall_time_s": round(seconds, 3),
        "train_samples_per_s": round(samples / sum(steady), 1) if sum(steady) else None,
        "batch_size": data.batch_size,
        "steps_per_epoch": data.steps_per_epoch,
        "trainer": type(trainer).__name__,
        "weights_fingerprint": artifacts.weights_fingerprint(model),
        "precision": cfg.precision.policy,
        "replicas": prepared.strategy.num_replicas_in_sync,
        "jit_compile": bool(model.jit_compile),
        "loss_scaling": isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer),
        "data": {"sizes": data.sizes, "fingerprint": data.fingerprint,
                 "inputs": {f.name: {"shape": list(f.shape), "dtype": f.dtype, "kind": f.kind}
                            for f in data.spec.inputs},
                 "task": data.spec.task, "vocabulary_sizes": vocabulary_sizes(data.spec),
                 "class_names": list(data.spec.class_names or []),
                 "targets": {t.name: {"task": t.task, "class_names": list(t.class_names or [])}
                             for t in data.spec.targets}},
        "overrides": job_overrides(),
        "started_at": started.isoformat(timespec="seconds"),
        "versions": artifacts.versions(),
        "git_commit": artifacts.git_commit(Path.cwd()),
    }


def report(summary: dict[str, Any], run_dir: Path) -> None:
    """A table of each metric: last epoch's training value, best epoch's validation, test."""
    final, best, test = summary["final"], summary["best"], summary["test"]
    table = Table(title=f"best {summary['objective_metric']} {summary['objective']:.4f} "
                        f"at epoch {summary['best_epoch']}", show_edge=False)
    for column in ("metric", "train (last epoch)", "val (best epoch)", "test"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name in (k for k in final if not k.startswith("val_") and k != "lr"):
        cells = (final.get(name), best.get(f"val_{name}"), test.get(name))
        table.add_row(name, *("" if c is None else f"{c:.4f}" for c in cells))
    console().print(table)
    echo(f"test: {format_metrics(test)}" if test else "test: no test split")
    echo(f"weights fingerprint: {summary['weights_fingerprint']}")
    echo(f"done in {summary['wall_time_s']:.1f}s, {summary['train_samples_per_s'] or 0:,.0f} "
         f"samples/s; outputs in {run_dir}")
