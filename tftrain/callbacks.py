"""The callback list both trainers drive, and tftrain's own callbacks.

Everything in `cfg.callbacks` is a Keras callback instantiated from `_target_`; tftrain adds
only what Keras has no object for: the per-epoch record behind metrics.csv and summary.json
(`EpochRecorder`, `MetricsWriter`; the progress display is tftrain.progress), two guards every
run gets first in the list (`DivergenceGuard`, `InterruptGuard`), `EpochSeeds`, which
makes each epoch's randomness a function of the epoch alone, `FineTuning`, which unfreezes the
layers a model schedules for fine-tuning (model=transfer's `fine_tune`), and `TrialPruning`,
which reports an Optuna trial's objective each epoch and stops it when pruned.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

import keras
from omegaconf import DictConfig, OmegaConf

from tftrain.artifacts import write_text_atomic
from tftrain.console import echo
from tftrain.errors import Diverged, Pruned, TftrainError, did_you_mean
from tftrain.instantiate import instantiate
from tftrain.search import TrialRef, make_pruner
from tftrain.signals import Signals


def build_callbacks(nodes: dict[str, Any], signals: Signals) -> list[keras.callbacks.Callback]:
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


def recorder(callbacks: list[keras.callbacks.Callback]) -> EpochRecorder:
    return next(c for c in callbacks if isinstance(c, EpochRecorder))


def floats(logs: dict[str, Any] | None) -> dict[str, float]:
    return {k: float(v) for k, v in (logs or {}).items()}


def step_decay(epoch: int, lr: float, every: int = 10, factor: float = 0.5) -> float:
    """For keras.callbacks.LearningRateScheduler: multiply the rate by `factor` every `every` epochs."""
    return lr * factor if epoch > 0 and epoch % every == 0 else lr


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
        # A resumed run repeats epochs after its checkpoint: the new row replaces the old.
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        self.train_seconds.append(self._last_step_at - self._started)


class MetricsWriter(EpochRecorder):
    """metrics.csv, rewritten atomically after each epoch: never a half-written row.

    A resumed run finds the rows it wrote before and keeps the ones it does not repeat.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = Path(path)

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.path.exists():
            with open(self.path, newline="") as handle:
                self.rows = [{k: int(v) if k == "epoch" else float(v)
                              for k, v in row.items() if v != ""}
                             for row in csv.DictReader(handle)]

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
    return "  ".join(f"{k} {v:.4f}" if math.isfinite(v) else f"{k} {v}"
                     for k, v in ordered(logs).items())


class DivergenceGuard(keras.callbacks.Callback):
    """Stop the moment the training loss is NaN or infinite, before any checkpoint saves it.

    Raising (rather than setting stop_training) skips on_epoch_end, so BackupAndRestore and
    ModelCheckpoint keep the last good state. The loss is read when the trainer hands over
    batch logs, once per steps_per_execution steps.
    """

    def __init__(self) -> None:
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):  # fit names the last batch of its call, past a short epoch's end
            raise Diverged(self._epoch, min(batch + 1, self.params.get("steps") or batch + 1), loss)


class InterruptGuard(keras.callbacks.Callback):
    """Stop at the next batch boundary after Ctrl-C or SIGTERM (`tftrain.signals`): between
    batches, never inside a step or while a checkpoint is written, and after every other
    callback has seen the batch (it is last in the list), so the backup saved where the run
    stopped (tftrain.checkpoints) resumes it exactly. During an epoch's validation the stop
    (and after its last batch) waits for the epoch's end: an epoch is never resumed between
    its training and its validation."""

    def __init__(self, signals: Signals) -> None:
        super().__init__()
        self.signals = signals

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if batch + 1 < (self.params.get("steps") or batch + 2):  # the last: at the epoch's end
            self.signals.check()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.signals.check()


class EpochSeeds(keras.callbacks.Callback):
    """Re-key every random stream in the model (dropout, noise layers) at each epoch start.

    Each SeedGenerator's state becomes (its initial seed + epoch * 7919, 0), so epoch k draws
    the same random numbers whether the run got there uninterrupted or resumed from a
    checkpoint, and whichever trainer runs it. An epoch resumed in its middle keeps the
    streams its backup restored (tftrain.checkpoints).
    """

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not hasattr(self, "_initial"):  # once: a resumed epoch's fit calls this twice
            self._initial = [(v, int(v.numpy()[0])) for v in self.model.non_trainable_variables
                             if v.path.endswith("seed_generator_state")]

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        model = self.model
        if getattr(model, "_initial_step", 0) and epoch == getattr(model, "_initial_epoch", None):
            return  # resumed inside this epoch: the backup restored the streams where they were
        for variable, seed in self._initial:
            variable.assign(keras.ops.convert_to_tensor([seed + epoch * 7919, 0], variable.dtype))


class FineTuning(keras.callbacks.Callback):
    """Unfreeze the layers a model schedules for fine-tuning, at the epoch it names.

    A model with a `fine_tuning` schedule (tftrain.models.transfer.FineTune: model=transfer
    with `fine_tune.after_epoch: M`) comes with those layers trainable, so the optimizer is
    built with slots for them (by the trainer, or here when `fit` would build it only at its
    first trace): Keras 3 optimizers refuse variables they were not built with, and a
    checkpoint's optimizer state loads only into the same variables. Here the layers are
    frozen at the start of training and unfrozen when epoch M+1 begins (after M epochs), the
    learning rate multiplied by the schedule's factor. Keras traces which weights train into
    the train function, so `fit` gets a new one (`make_train_function(force=True)`, as Keras'
    docs prescribe) and the custom loop traces anew when it sees the trainable weights change.

    A resumed run (BackupAndRestore) that starts after epoch M unfreezes at its first epoch;
    its constant learning rate comes back lowered with the optimizer's checkpointed variables.
    Without a schedule on the model this callback does nothing.
    """

    def __init__(self) -> None:
        super().__init__()
        self.schedule = None
        self.unfrozen = False

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.schedule = getattr(self.model, "fine_tuning", None)
        self.unfrozen = False
        if self.schedule is None:
            return
        optimizer = self.model.optimizer
        if not optimizer.built:  # fit without a tf.distribute strategy builds it when it traces
            with self.model.distribute_strategy.scope():
                optimizer.build(self.model.trainable_variables)  # scheduled layers included
        self.schedule.start(optimizer)
        after, epochs = self.schedule.after_epoch, self.params.get("epochs")
        echo(f"fine-tuning: from epoch {after + 1} (after {after}), {self.schedule.describe()}, "
             f"at {self.schedule.learning_rate_factor:g}x the learning rate"
             + (f"; note: this run has {epochs} epochs, so the base never unfreezes "
                f"(set trainer.epochs above {after})" if epochs is not None and after >= epochs
                else ""))

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        schedule = self.schedule
        if schedule is None or self.unfrozen or epoch < schedule.after_epoch:
            return
        self.unfrozen = True
        optimizer = self.model.optimizer
        before = current_lr(self.model)
        schedule.unfreeze()
        # Past epoch M with a trained optimizer: the state was restored from a checkpoint
        # written after the unfreeze, its learning rate already lowered.
        steps = int(keras.ops.convert_to_numpy(optimizer.iterations))
        restored = epoch > schedule.after_epoch and steps > 0
        schedule.lower_learning_rate(optimizer, restored)
        self.model.make_train_function(force=True)
        rate = (f"learning rate {current_lr(self.model):.3g}, lowered since epoch "
                f"{schedule.after_epoch + 1}" if restored
                else f"learning rate {before:.3g} -> {current_lr(self.model):.3g}")
        echo(f"fine-tuning from epoch {epoch + 1}: {schedule.describe()}; "
             f"{schedule.parameters:,} more trainable parameters; {rate}")


class TrialPruning(keras.callbacks.Callback):
    """Report `metric` to the trial after each epoch that logs it; stop when pruned."""

    def __init__(self, trial: TrialRef, metric: str) -> None:
        super().__init__()
        self.ref, self.metric = trial, metric
        self.trial = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        ref = self.ref
        study = optuna.load_study(study_name=ref.study_name, storage=ref.storage,
                                  pruner=make_pruner(ref.pruner, ref.warmup_epochs, ref.epochs))
        frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == self.ref.number)
        self.trial = optuna.trial.Trial(study, frozen._trial_id)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.metric)
        if value is None or self.trial is None:  # an epoch without validation
            return
        self.trial.report(float(value), step=epoch + 1)
        if self.trial.should_prune():
            raise Pruned(epoch, self.metric, float(value))
