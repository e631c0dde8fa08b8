"""The per-epoch record: one row per epoch, behind metrics.csv, summary.json and the console."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from tftrain.artifacts import write_text_atomic
from tftrain.console import number
from tftrain.errors import TftrainError, said


def recorder(callbacks: list[keras.callbacks.Callback]) -> EpochRecorder:
    return next(c for c in callbacks if isinstance(c, EpochRecorder))


def floats(logs: dict[str, Any] | None) -> dict[str, float]:
    return {k: float(v) for k, v in (logs or {}).items()}


def current_lr(model: keras.Model) -> float:
    """The learning rate the optimizer applies now (a schedule is evaluated at its step)."""
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


@dataclass(frozen=True)
class Trained:
    """What this process trained in one epoch: what the run's speed figures count."""

    steps: int  # steps run here (fewer than the epoch's for one resumed in its middle)
    train_seconds: float  # from the epoch's start to its last step: no validation, no saving
    epoch_seconds: float  # the epoch's `epoch_time_s`: training, validation, its callbacks


class EpochRecorder(keras.callbacks.Callback):
    """One row per epoch: `epoch` (1-based), Keras' metric names, `lr`, `epoch_time_s`.

    Unlike keras.callbacks.History, rows stay aligned when validation runs only some epochs.
    `trained` keeps, per epoch this process ran, its steps and times, for samples/s.
    """

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, float]] = []
        self.trained: list[Trained] = []
        self._started = self._last_step_at = 0.0
        self._first_step: int | None = None
        self._last_step = -1

    @property
    def train_seconds(self) -> list[float]:
        """Each epoch's training time (benchmarks time the loop with these)."""
        return [epoch.train_seconds for epoch in self.trained]

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = self._last_step_at = time.perf_counter()
        self._first_step, self._last_step = None, -1

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self._first_step is None:  # an epoch resumed at step k begins at batch k
            self._first_step = batch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._last_step_at, self._last_step = time.perf_counter(), batch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        row = {"epoch": epoch + 1, **floats(logs)}
        row["lr"] = current_lr(self.model)
        row["epoch_time_s"] = round(time.perf_counter() - self._started, 4)
        # A resumed run repeats epochs after its checkpoint: the new row replaces the old.
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        steps = self._last_step + 1 - (self._first_step or 0)
        self.trained.append(Trained(steps, self._last_step_at - self._started, row["epoch_time_s"]))


class MetricsWriter(EpochRecorder):
    """metrics.csv, rewritten atomically after each epoch: never a half-written row.

    A resumed run finds the rows it wrote before and keeps the ones it does not repeat.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = Path(path)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """A resumed run drops rows past the epoch it resumes from: epochs its backup does
        not hold (a backup that could not be written after its metrics row) are trained
        again, and their rows written again."""
        super().on_epoch_begin(epoch, logs)
        self.rows = [r for r in self.rows if r["epoch"] <= epoch]

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.path.exists():
            self.rows = read_rows(self.path)

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


def ordered(logs: dict[str, float]) -> dict[str, float]:
    """loss, the other training metrics, then val_loss and the other validation metrics."""
    rank = lambda k: (k.startswith("val_"), k.removeprefix("val_") != "loss")
    return dict(sorted(logs.items(), key=lambda item: rank(item[0])))


def format_metrics(logs: dict[str, float]) -> str:
    return "  ".join(f"{k} {number(v)}" for k, v in ordered(logs).items())


def read_rows(path: Path) -> list[dict[str, float]]:
    """The rows of a run's metrics.csv, which a resumed run continues. A file damaged by hand
    or by a crash of the disk is refused naming it, with what to do: it is the run's record,
    not something the run needs to go on."""
    try:
        with open(path, newline="") as handle:
            return [{k: int(v) if k == "epoch" else float(v) for k, v in row.items() if v != ""}
                    for row in csv.DictReader(handle)]
    except (ValueError, TypeError, csv.Error, UnicodeDecodeError) as error:
        raise TftrainError(f"{path} is damaged ({said(error)}), and a resumed run continues the "
                           "rows it holds. Move it aside (the resumed run then records the epochs "
                           "it trains from now on) or repair it, and resume again.") from None
