"""The progress display: a live view on a terminal, one line per epoch otherwise.

`callbacks.progress` (conf/callbacks/progress.yaml) puts it in the callback list; both
trainers drive it like any Keras callback.
"""

from __future__ import annotations

import time

import keras
from rich.progress import (BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.progress import Progress as RichProgress

from tftrain.callbacks.record import floats, format_metrics
from tftrain.console import console, echo, interactive


def clock(seconds: float) -> str:
    """A duration for people: 0:07, 12:30, 1:02:05."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress(keras.callbacks.Callback):
    """A live display on a terminal, else one line per epoch.

    Live: the epoch's bar (step, loss and metrics, samples/s, elapsed and ETA) and the run's
    (epochs, elapsed and ETA). The per-epoch line goes to the console and to train.log in
    both modes, with the run's elapsed time and ETA. Batch logs are read once per
    `steps_per_execution` steps, when the trainer hands them over anyway.
    """

    def __init__(self, batch_size: int, live: bool | None = None) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.live = interactive() if live is None else live
        self._bar: RichProgress | None = None
        self._epoch_task = self._run_task = None
        self._started = self._last_step_at = self._run_started = 0.0
        self._steps_done = 0
        self._first_epoch: int | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._run_started, self._first_epoch = time.perf_counter(), None
        self._durations: list[float] = []
        if self.live:
            self._bar = RichProgress(
                TextColumn("{task.description:>9} {task.fields[label]}"), BarColumn(),
                MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"),
                TimeRemainingColumn(), TextColumn("{task.fields[metrics]}"),
                console=console(), transient=True)
            self._bar.start()
            self._epoch_task = self._bar.add_task("epoch", total=self.params.get("steps"),
                                                  label="", metrics="")
            self._run_task = self._bar.add_task("run", total=None, label="", metrics="")

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = self._last_step_at = time.perf_counter()
        self._steps_done = 0
        if self._first_epoch is None:
            self._first_epoch = epoch
        if self._bar is not None:
            epochs, steps = self.params["epochs"], self.params.get("steps") or 0
            self._bar.reset(self._epoch_task, total=steps or None, label=f"{epoch + 1}/{epochs}",
                            metrics="")
            self._bar.update(self._run_task, total=(epochs - self._first_epoch) * steps or None,
                             label=f"{epoch - self._first_epoch}/{epochs - self._first_epoch} epochs")

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        done_before = self._steps_done
        self._steps_done = batch + 1
        self._last_step_at = time.perf_counter()
        if self._bar is not None:
            shown = format_metrics(floats(logs))
            self._bar.update(self._epoch_task, completed=self._steps_done,
                             metrics=f"{shown}  {self._samples_per_s():,.0f} samples/s")
            self._bar.advance(self._run_task, self._steps_done - done_before)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        epochs = self.params["epochs"]
        self._durations.append(now - self._started)
        typical = self._durations[1:] or self._durations  # the first epoch also traces
        left = (epochs - epoch - 1) * sum(typical) / len(typical)
        elapsed = now - self._run_started
        echo(f"epoch {epoch + 1}/{epochs}  {format_metrics(floats(logs))}  "
             f"{now - self._started:.1f}s  {self._samples_per_s():,.0f} samples/s  "
             f"elapsed {clock(elapsed)}  eta {clock(left)}")

    def on_train_end(self, logs: dict | None = None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the live display (also when training ends by an exception)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _samples_per_s(self) -> float:
        seconds = self._last_step_at - self._started
        return self._steps_done * self.batch_size / seconds if seconds > 0 else 0.0
