"""summary.json, the run's record, and the table printed at its end: what `tftrain-report`,
`tftrain-eval` and sweepers read back (the objective among it).
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import keras
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from rich.table import Table

from tftrain import artifacts
from tftrain.callbacks.record import format_metrics, recorder
from tftrain.console import console, echo
from tftrain.data import Spec
from tftrain.errors import Diverged, Interrupted, Pruned
from tftrain.run.prepare import Prepared, vocabulary_sizes


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
                             for t in data.spec.targets},
                 "source_fingerprint": data.source_fingerprint, "reading": data.spec.reading},
        "overrides": job_overrides(),
        "started_at": started.isoformat(timespec="seconds"),
        "versions": artifacts.versions(),
        "git_commit": artifacts.git_commit(Path.cwd()),
    }


def metrics_of(row: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in row.items() if k not in ("epoch", "epoch_time_s")}


def job_overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def class_names(spec: Spec) -> dict[str, Any]:
    """{"class_names": [...]}, or with several targets {"class_names": {target: [...]}}."""
    names = {t.name: list(t.class_names) for t in spec.targets if t.class_names}
    return {"class_names": names if spec.multi_output else list(spec.class_names)}


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

