"""The callback list both trainers drive, and tftrain's own callbacks.

Everything in `cfg.callbacks` is a Keras callback instantiated from `_target_`; tftrain adds
only what Keras has no object for: the per-epoch record behind metrics.csv and summary.json
(`EpochRecorder`, `MetricsWriter`) and the progress display (`Progress`).
"""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path
from typing import Any

import keras
from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
from rich.progress import Progress as RichProgress

from tftrain.artifacts import write_text_atomic
from tftrain.console import console, echo, interactive


def build_callbacks(cfg: DictConfig) -> list[keras.callbacks.Callback]:
    """Instantiate the configured callbacks in order; always end with an EpochRecorder."""
    callbacks = [instantiate(node) for node in cfg.values() if node is not None]
    if not any(isinstance(c, EpochRecorder) for c in callbacks):
        callbacks.append(EpochRecorder())
    return callbacks


def recorder(callbacks: list[keras.callbacks.Callback]) -> EpochRecorder:
    return next(c for c in callbacks if isinstance(c, EpochRecorder))


def floats(logs: dict[str, Any] | None) -> dict[str, float]:
    return {k: float(v) for k, v in (logs or {}).items()}


def current_lr(model: keras.Model) -> float:
    """The learning rate the optimizer applies now (a schedule is evaluated at its step)."""
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


class EpochRecorder(keras.callbacks.Callback):
    """One row per epoch: `epoch` (1-based), Keras' metric names, `lr`, `epoch_time_s`.

    Unlike keras.callbacks.History, rows stay aligned when validation runs only some epochs.
    `train_seconds` keeps each epoch's training time without validation, for samples/s.
    """

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, float]] = []
        self.train_seconds: list[float] = []
        self._started = self._last_step_at = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = self._last_step_at = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._last_step_at = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        row = {"epoch": epoch + 1, **floats(logs)}
        row["lr"] = current_lr(self.model)
        row["epoch_time_s"] = round(time.perf_counter() - self._started, 4)
        self.rows.append(row)
        self.train_seconds.append(self._last_step_at - self._started)


class MetricsWriter(EpochRecorder):
    """metrics.csv, rewritten atomically after each epoch: never a half-written row."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        columns = list(dict.fromkeys(k for row in self.rows for k in row))
        train = [c for c in columns if c not in ("epoch", "lr", "epoch_time_s") and not c.startswith("val_")]
        val = [c for c in columns if c.startswith("val_")]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, ["epoch", *train, *val, "lr", "epoch_time_s"], restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.path, buffer.getvalue())


def format_metrics(logs: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.4f}" if math.isfinite(v) else f"{k} {v}" for k, v in logs.items())


class Progress(keras.callbacks.Callback):
    """A live bar (epoch, step, loss and metrics, samples/s) on a terminal; else one line per epoch.

    The per-epoch line goes to the console and to train.log in both modes. Batch logs are
    read once per `steps_per_execution` steps, when the trainer hands them over anyway.
    """

    def __init__(self, batch_size: int, live: bool | None = None) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.live = interactive() if live is None else live
        self._bar: RichProgress | None = None
        self._task = None
        self._started = self._last_step_at = 0.0
        self._steps_done = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.live:
            self._bar = RichProgress(
                TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[metrics]}"), console=console(), transient=True)
            self._bar.start()
            self._task = self._bar.add_task("train", total=self.params.get("steps"),
                                            epoch="", metrics="")

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = self._last_step_at = time.perf_counter()
        self._steps_done = 0
        if self._bar is not None:
            self._bar.reset(self._task, total=self.params.get("steps"),
                            epoch=f"{epoch + 1}/{self.params['epochs']}", metrics="")

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._steps_done = batch + 1
        self._last_step_at = time.perf_counter()
        if self._bar is not None:
            shown = format_metrics(floats(logs))
            speed = self._samples_per_s()
            self._bar.update(self._task, completed=self._steps_done,
                             metrics=f"{shown}  {speed:,.0f} samples/s")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        elapsed = time.perf_counter() - self._started
        echo(f"epoch {epoch + 1}/{self.params['epochs']}  {format_metrics(floats(logs))}  "
             f"{elapsed:.1f}s  {self._samples_per_s():,.0f} samples/s")

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _samples_per_s(self) -> float:
        seconds = self._last_step_at - self._started
        return self._steps_done * self.batch_size / seconds if seconds > 0 else 0.0
