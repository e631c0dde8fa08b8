"""One run, in the order of ARCHITECTURE.md: runtime, data, model, callbacks, trainer,
evaluation, artifacts. Each step takes what the one before produced; none reads another's
config. Returns the objective, so Hydra sweepers can optimise it.
"""

from __future__ import annotations

import json
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
from hydra.utils import instantiate  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402
from rich.table import Table  # noqa: E402

from tftrain import artifacts, schema, task  # noqa: E402
from tftrain.callbacks import (EpochRecorder, InterruptGuard, between_validations,  # noqa: E402
                               build_callbacks, format_metrics, monitored, ordered, recorder)
from tftrain.console import console, echo  # noqa: E402
from tftrain.data import Data, Spec, build_data  # noqa: E402
from tftrain.errors import Diverged, Interrupted, TftrainError  # noqa: E402
from tftrain.models import build_model  # noqa: E402
from tftrain.models.head import binary_targets  # noqa: E402
from tftrain.plots import plot_history  # noqa: E402
from tftrain.trainers import Trainer  # noqa: E402

BACKUP = "keras.callbacks.BackupAndRestore"


@dataclass
class Prepared:
    """What a run has built when training starts (steps 1-5 of ARCHITECTURE.md's flow)."""

    strategy: Any  # tf.distribute.Strategy
    trainer: Trainer
    first_epoch: int
    data: Data
    model: keras.Model
    callbacks: list[keras.callbacks.Callback]


def prepare(cfg: DictConfig) -> Prepared:
    """Runtime, trainer, data, the compiled model and the callbacks, as every run builds
    them; nothing is written to the run folder yet. Benchmarks train what this returns."""
    runtime.setup(cfg.seed, cfg.deterministic, cfg.precision.policy)
    strategy = instantiate(cfg.distribute)
    if not runtime.is_chief(strategy):
        # a worker writes its copies (collectives need every worker) where nobody looks
        cfg.run_dir = tempfile.mkdtemp(prefix="tftrain-worker-")
    trainer: Trainer = instantiate(cfg.trainer, _recursive_=False)
    first_epoch = resume_point(cfg, trainer)
    data = build_data(cfg.dataset, trainer.batch_size, cfg.seed)
    schema.set_data_facts(data.steps_per_epoch, vocabulary_sizes(data.spec))
    with strategy.scope():
        model = build_model(cfg.model, data.spec)
        compile_model(model, cfg, data.spec, trainer)
    configured = monitored(cfg.callbacks, trainer.logged_metrics(model, data), data.val is not None)
    callbacks = build_callbacks({**configured, **cfg.logger})  # loggers are callbacks too
    return Prepared(strategy, trainer, first_epoch, data, model, callbacks)


def run(cfg: DictConfig) -> float:
    started, wall = datetime.now(timezone.utc), time.perf_counter()
    prepared = prepare(cfg)
    strategy, trainer, first_epoch = prepared.strategy, prepared.trainer, prepared.first_epoch
    data, model, callbacks = prepared.data, prepared.model, prepared.callbacks
    chief, run_dir = runtime.is_chief(strategy), Path(cfg.run_dir)
    artifacts.write_resolved_config(cfg, run_dir)
    announce(run_dir, first_epoch if cfg.resume else None, data, model, trainer)

    stopped = train(trainer, model, data, callbacks, first_epoch, run_dir)
    plot_history(recorder(callbacks).rows, run_dir / "history.png")
    test = {}
    if stopped is None:
        test = ordered(trainer.evaluate(model, data.test)) if data.test is not None else {}
        artifacts.save_model_atomic(model, run_dir / artifacts.MODEL)
        if any(t.class_names for t in data.spec.targets):  # what the outputs mean, beside the model
            artifacts.write_json_atomic(run_dir / "class_names.json", class_names(data.spec))
        if cfg.export == "savedmodel":
            model.export(str(run_dir / "export"), format="tf_saved_model", verbose=False)
    setup = {"weights_fingerprint": artifacts.weights_fingerprint(model),
             "precision": cfg.precision.policy, "replicas": strategy.num_replicas_in_sync,
             "jit_compile": bool(model.jit_compile),
             "loss_scaling": isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)}
    summary = summarize(cfg, data, trainer, recorder(callbacks), test, started,
                        time.perf_counter() - wall, stopped, setup)
    artifacts.write_json_atomic(run_dir / artifacts.SUMMARY, summary)
    if stopped is not None:
        raise stopped
    report(summary, run_dir)
    if not chief:
        shutil.rmtree(run_dir, ignore_errors=True)
    return summary["objective"]


def class_names(spec: Spec) -> dict[str, Any]:
    """{"class_names": [...]}, or with several targets {"class_names": {target: [...]}}."""
    names = {t.name: list(t.class_names) for t in spec.targets if t.class_names}
    return {"class_names": names if spec.multi_output else list(spec.class_names)}


def vocabulary_sizes(spec: Spec) -> dict[str, int]:
    """Token-id inputs' vocabulary sizes (+ padding and out-of-vocabulary): `${vocabulary_size:}`."""
    return {f.name: len(f.stats["vocabulary"]) + 2
            for f in spec.inputs if f.kind == "text" and f.stats["output_mode"] == "int"}


def announce(run_dir: Path, resumed_at: int | None, data: Data, model: keras.Model,
             trainer: Trainer) -> None:
    spec, replicas = data.spec, model.distribute_strategy.num_replicas_in_sync
    echo(f"run folder: {run_dir}"
         + (f" (resuming after epoch {resumed_at})" if resumed_at is not None else ""))
    echo(f"data: {data.sizes['train']} train / {data.sizes['val']} val / {data.sizes['test']} "
         f"test; {spec.describe()}")
    echo(f"model: {model.name}, {model.count_params():,} parameters; trainer: "
         f"{type(trainer).__name__}, {trainer.epochs} epochs x {data.steps_per_epoch} steps"
         + (f"; {replicas} replicas" if replicas > 1 else ""))


def compile_model(model: keras.Model, cfg: DictConfig, spec: Spec, trainer: Trainer) -> None:
    """Optimizer (with the LR schedule, if any), loss and metrics, inside the strategy scope."""
    schedule = instantiate(cfg.lr_schedule, _convert_="all") if cfg.lr_schedule else None
    learning_rate = {"learning_rate": schedule} if schedule is not None else {}
    optimizer = instantiate(cfg.optimizer, _partial_=True, _convert_="all")(**learning_rate)
    loss, metrics = task.loss_and_metrics(cfg.loss, cfg.metrics, spec, binary_targets(model, spec))
    task.check_targets(cfg.loss_weights, "loss_weights", spec)
    loss_weights = OmegaConf.to_container(cfg.loss_weights) if cfg.loss_weights else None
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=loss_weights,
                  steps_per_execution=trainer.steps_per_execution, jit_compile=trainer.jit_compile)


def resume_point(cfg: DictConfig, trainer: Trainer) -> int:
    """The epoch to start from: after the last checkpointed epoch when resuming."""
    if not cfg.resume:
        return trainer.initial_epoch
    backup = next((node for node in cfg.callbacks.values()
                   if node is not None and node.get("_target_") == BACKUP), None)
    if backup is None:
        raise TftrainError("resume needs the backup callback (keras.callbacks.BackupAndRestore), "
                           "which this run's callbacks do not include; there is no state to resume.")
    metadata = Path(backup.backup_dir) / "training_metadata.json"
    epoch = json.loads(metadata.read_text())["epoch"] if metadata.exists() else 0
    if epoch >= trainer.epochs:
        raise TftrainError(f"resume={cfg.resume}: the run already completed all {epoch} epochs; "
                           f"to train longer, add trainer.epochs=N with N > {epoch}.")
    return epoch


def train(trainer: Trainer, model: keras.Model, data: Data, callbacks: list,
          first_epoch: int, run_dir: Path) -> Exception | None:
    """Train; a divergence or an interruption ends the run but keeps everything written."""
    try:
        with between_validations(trainer.validation_freq):
            trainer.train(model, data, callbacks, first_epoch)
    except Diverged as error:
        return error
    except Interrupted as error:
        artifacts.save_model_atomic(model, run_dir / "checkpoints" / "interrupted.keras")
        return error
    finally:
        for callback in callbacks:
            if isinstance(callback, InterruptGuard):
                callback.restore()
    return None


def metrics_of(row: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in row.items() if k not in ("epoch", "epoch_time_s")}


def summarize(cfg: DictConfig, data: Data, trainer: Trainer, record: EpochRecorder,
              test: dict[str, float], started: datetime, seconds: float,
              stopped: Exception | None, setup: dict[str, Any]) -> dict[str, Any]:
    rows = record.rows
    metric, mode = task.objective(cfg.objective.metric, cfg.objective.mode, data.spec,
                                  data.val is not None)
    scored = [r for r in rows if math.isfinite(r.get(metric, math.nan))]
    if not scored:
        available = sorted({k for r in rows for k in metrics_of(r)})
        echo(f"warning: objective metric '{metric}' was never logged (logged: "
             f"{', '.join(available) or 'nothing'}); the objective falls back to the final loss.")
        metric, mode, scored = "loss", "min", [r for r in rows if "loss" in r]
    pick = max if mode == "max" else min
    best = pick(scored, key=lambda r: r[metric]) if scored else {}
    steady = record.train_seconds[1:] or record.train_seconds  # epoch 1 includes tracing
    samples = len(steady) * data.steps_per_epoch * data.batch_size
    status = {None: "completed", Diverged: "diverged", Interrupted: "interrupted"}
    return {
        "status": status[type(stopped) if stopped else None],
        "error": str(stopped) if stopped else None,
        "objective": float(best[metric]) if best else None,
        "objective_metric": metric,
        "objective_mode": mode,
        "best_epoch": int(best["epoch"]) if best else None,
        "epochs_completed": int(rows[-1]["epoch"]) if rows else 0,
        "final": metrics_of(rows[-1]) if rows else {},
        "best": metrics_of(best),
        "test": test,
        "wall_time_s": round(seconds, 3),
        "train_samples_per_s": round(samples / sum(steady), 1) if sum(steady) else None,
        "batch_size": data.batch_size,
        "steps_per_epoch": data.steps_per_epoch,
        "trainer": type(trainer).__name__,
        **setup,
        "data": {"sizes": data.sizes, "fingerprint": data.fingerprint,
                 "inputs": {f.name: {"shape": list(f.shape), "dtype": f.dtype, "kind": f.kind}
                            for f in data.spec.inputs},
                 "task": data.spec.task, "vocabulary_sizes": vocabulary_sizes(data.spec),
                 "class_names": list(data.spec.class_names or []),
                 "targets": {t.name: {"task": t.task, "class_names": list(t.class_names or [])}
                             for t in data.spec.targets}},
        "overrides": list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else [],
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
