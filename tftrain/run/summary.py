"""summary.json, the run's record, and the table printed at its end: what `tftrain-report`,
`tftrain-eval` and sweepers read back (the objective among it).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import keras
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from rich.table import Table

from tftrain import artifacts
from tftrain.callbacks.record import Trained, format_metrics, recorder
from tftrain.console import echo, number, show
from tftrain.data import Data, Spec
from tftrain.errors import Diverged, Interrupted, Pruned, param
from tftrain.run.prepare import Prepared, vocabulary_sizes


def summarize(cfg: DictConfig, prepared: Prepared, test: dict[str, float], started: datetime,
              seconds: float, stopped: BaseException | None) -> dict[str, Any]:
    data, trainer, model, objective = prepared.data, prepared.trainer, prepared.model, prepared.objective
    record = recorder(prepared.callbacks)
    rows = record.rows
    best = objective.best_row(rows) or {}
    status = {Diverged: "diverged", Interrupted: "interrupted", Pruned: "pruned"}
    return {
        "status": status[type(stopped)] if stopped else "completed",
        "error": str(stopped) if stopped else None,
        "objective": float(best[objective.metric]) if best else None,
        "objective_metric": objective.metric,
        "objective_mode": objective.mode,
        "best_epoch": int(best["epoch"]) if best else None,
        "model_weights": kept_weights(prepared.callbacks, rows),
        "early_stopping": early_stop(prepared.callbacks, trainer.epochs),
        "epochs_completed": int(rows[-1]["epoch"]) if rows else prepared.first_epoch,
        "final": metrics_of(rows[-1]) if rows else {},
        "best": metrics_of(best),
        "test": test,
        "test_samples": scored(data, "test") if test else 0,
        "wall_time_s": round(seconds, 3),
        **speeds(record.trained, samples_per_step(data)),
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
                             for t in data.spec.targets},
                 "source_fingerprint": data.source_fingerprint, "reading": data.spec.reading},
        "overrides": job_overrides(),
        "started_at": started.isoformat(timespec="seconds"),
        "versions": artifacts.versions(),
        "git_commit": artifacts.git_commit(Path.cwd()),
    }


def scored(data: Data, split: str) -> int:
    """How many samples of a split the run scores: all of them, or the first batches a
    debug run's `limit_batches` keeps."""
    batches = int(getattr(data, split).cardinality())
    return min(batches * data.batch_size, data.sizes[split]) if batches >= 0 else data.sizes[split]


def samples_per_step(data: Data) -> float:
    """Samples a training step sees on average: a batch, less the last one's shortfall."""
    return min(data.steps_per_epoch * data.batch_size, data.sizes["train"]) / data.steps_per_epoch


def speeds(trained: list[Trained], per_step: float) -> dict[str, float | None]:
    """The run's two speed figures, over the epochs this process trained (README defines them):
    `samples_per_s`, samples over the epochs' `epoch_time_s` (training, validation and the
    epochs' callbacks: what metrics.csv gives), and `train_samples_per_s`, the training loop
    alone (no validation, no saving) after the first epoch, which also traces and compiles
    (the first epoch counts when it is the only one)."""
    steady = trained[1:] or trained
    def rate(epochs: list[Trained], seconds: Callable[[Trained], float]) -> float | None:
        total = sum(seconds(e) for e in epochs)
        return round(sum(e.steps for e in epochs) * per_step / total, 1) if total > 0 else None

    return {"samples_per_s": rate(trained, lambda e: e.epoch_seconds),
            "train_samples_per_s": rate(steady, lambda e: e.train_seconds)}


def early_stopping_of(callbacks: list[keras.callbacks.Callback]) -> Any:
    return next((c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)), None)


def kept_weights(callbacks: list[keras.callbacks.Callback], rows: list[dict[str, float]]) -> dict[str, Any]:
    """Which epoch's weights the model holds at the end of training: the best epoch by early
    stopping's monitor when it restores them (Keras does at the end of training, stopped
    early or not), else the last epoch trained."""
    stopper = early_stopping_of(callbacks)
    if stopper is not None and stopper.restore_best_weights and stopper.best_weights is not None:
        return {"epoch": int(stopper.best_epoch) + 1, "chosen_by": "early_stopping",
                "metric": stopper.monitor, "value": stopper.best}
    return {"epoch": int(rows[-1]["epoch"]) if rows else None, "chosen_by": "last_epoch"}


def early_stop(callbacks: list[keras.callbacks.Callback], epochs: int) -> dict[str, Any] | None:
    """How early stopping ended the run, if it did: what it watched, for how long it saw no
    improvement, and the epoch it stopped after (1-based)."""
    stopper = early_stopping_of(callbacks)
    if stopper is None or not stopper.stopped_epoch:
        return None
    return {"monitor": stopper.monitor, "patience": stopper.patience,
            "epochs_without_improvement": int(stopper.wait),
            "stopped_after_epoch": int(stopper.stopped_epoch) + 1, "of_epochs": epochs,
            "best_epoch": int(stopper.best_epoch) + 1}


def metrics_of(row: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in row.items() if k not in ("epoch", "epoch_time_s")}


def job_overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def class_names(spec: Spec) -> dict[str, Any]:
    """{"class_names": [...]}, or with several targets {"class_names": {target: [...]}}."""
    names = {t.name: list(t.class_names) for t in spec.targets if t.class_names}
    return {"class_names": names if spec.multi_output else list(spec.class_names)}


def closing_lines(summary: dict[str, Any], run_dir: Path) -> None:
    """What the run ended with, on the console and in train.log: a table of each metric (last
    epoch's training value, best epoch's validation value, test), why training ended, which
    weights model.keras holds, and the run's speed."""
    final, best, test = summary["final"], summary["best"], summary["test"]
    title = (f"best {summary['objective_metric']} {number(summary['objective'])} at epoch "
             f"{summary['best_epoch']}" if summary["objective"] is not None else
             f"{summary['objective_metric']}: never logged")
    table = Table(title=title, show_edge=False)
    for column in ("metric", "train (last epoch)", "val (best epoch)", "test"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name in (k for k in final if not k.startswith("val_") and k != "lr"):
        cells = (final.get(name), best.get(f"val_{name}"), test.get(name))
        table.add_row(name, *("" if c is None else number(c) for c in cells))
    show(table)
    if test:
        cut = summary["test_samples"] < summary["data"]["sizes"]["test"]
        echo(f"test: {format_metrics(test)}" + (f"  (on {summary['test_samples']} of the "
             f"{summary['data']['sizes']['test']} test samples: {param('limit_batches')}; "
             "tftrain-eval scores them all)" if cut else ""))
    else:
        echo("test: no test split")
    stop = summary["early_stopping"]
    if stop:
        echo(f"early stopping: {stop['monitor']} did not improve for "
             f"{stop['epochs_without_improvement']} epochs (patience {stop['patience']}); "
             f"stopped after epoch {stop['stopped_after_epoch']} of {stop['of_epochs']}")
    echo(f"model.keras: {weights_said(summary['model_weights'])}; its layers, output shapes "
         f"and parameters: {run_dir / artifacts.LAYER_TABLE}")
    echo(f"weights fingerprint: {summary['weights_fingerprint']}")
    rate = summary["samples_per_s"]
    echo(f"done in {summary['wall_time_s']:.1f}s"
         + (f"; training {rate:,.0f} samples/s" if rate else "") + f"; outputs in {run_dir}")


def weights_said(weights: dict[str, Any]) -> str:
    if weights["chosen_by"] == "early_stopping":
        return (f"the weights of epoch {weights['epoch']}, the best {weights['metric']} "
                f"({number(weights['value'])}), restored by early stopping")
    return f"the weights of the last epoch trained (epoch {weights['epoch']})"
