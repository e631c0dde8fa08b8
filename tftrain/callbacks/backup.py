"""Backups a run resumes from exactly, at an epoch's end or in the middle of one.

`Backup` is Keras' BackupAndRestore (weights, optimizer state, and the previous state kept
too with `double_checkpoint`) plus what resuming inside an epoch needs: the step reached in
the epoch, the epoch's running metrics and the state of its random streams (dropout's
seed generators). Keras' backup keeps none of them: it restarts the epoch from its first
batch with the weights of its middle. Data order and layer
randomness are functions of (seed, epoch) and of the model's own variables, so a run
resumed at step k of epoch e reads epoch e's batches from k on and ends as one never
stopped. It saves every `save_freq` steps (an int, as Keras takes it) or at each epoch's
end (`"epoch"`), and on demand (`save_now`): when a signal stops a run, or a scheduler
preempts it, it is saved where it stopped.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import keras
import numpy as np

from tftrain.artifacts import writing
from tftrain.errors import door, said
from tftrain.artifacts import DECIDING, METADATA, STATE, WEIGHTS  # the files a backup holds
from tftrain.callbacks import state

STEP = "step"  # metadata: steps done in the epoch being trained (0 at an epoch's end)
DONE = "done"  # metadata: how training ended: "epochs" (all of them) or STOPPED (by a callback)
STOPPED = "stopped"


class Backup(keras.callbacks.BackupAndRestore):
    def __init__(self, backup_dir: str, save_freq: str | int = "epoch",
                 double_checkpoint: bool = True, delete_checkpoint: bool = False) -> None:
        super().__init__(backup_dir, save_freq=save_freq, double_checkpoint=double_checkpoint,
                         delete_checkpoint=delete_checkpoint)
        self.folder = Path(backup_dir)
        self.steps = 0  # steps done in the current epoch
        self.restored: list[np.ndarray] | None = None
        self.kept: list[keras.callbacks.Callback] = []  # whose deciding state is kept too

    def keep_state_of(self, callbacks: list[keras.callbacks.Callback]) -> None:
        """Keep the state of these callbacks' decisions with each backup (tftrain.callbacks.
        state): they come before this one in the list, so at an epoch's end their decision is
        made when it saves, and on resuming their own reset is over when it restores."""
        self.kept = callbacks

    def on_train_begin(self, logs: dict | None = None) -> None:
        with door("", explain=lambda error: self.not_this_model(error)):
            super().on_train_begin(logs)  # weights and optimizer; model._initial_epoch
        metadata = self.folder / METADATA
        saved = json.loads(metadata.read_text()) if metadata.is_file() else {}
        step = saved.get(STEP, 0)
        self.model._initial_step = step
        if saved.get(DONE) == STOPPED:  # early stopping had ended training: no epoch to run
            self.model._initial_epoch, self.model._initial_step = self.params.get("epochs"), 0
        if step and (self.folder / STATE).is_file():
            with np.load(self.folder / STATE) as saved_state:
                self.restored = [saved_state[f"v{i}"] for i in range(len(saved_state.files))]
        if saved and (self.folder / DECIDING).is_file():
            with np.load(self.folder / DECIDING) as deciding:
                state.restore(self.kept, deciding)

    def on_train_end(self, logs: dict | None = None) -> None:
        """Training ended, after every epoch or stopped by a callback (early stopping): the
        backup says which, so that a run stopped later (while testing or saving) resumes to
        its end, training nothing more (after all epochs, `trainer.epochs=N` still trains on).
        The weights stay the last epoch's: early stopping restores its best again then."""
        metadata = self.folder / METADATA
        if metadata.is_file():
            how = STOPPED if self._current_epoch < (self.params.get("epochs") or 0) else "epochs"
            tmp = self.folder / f".{METADATA}.tmp"
            tmp.write_text(json.dumps({**json.loads(metadata.read_text()), DONE: how}))
            os.replace(tmp, metadata)

    def not_this_model(self, error: Exception) -> str:
        """A backup made by another model (resume= with another model=, or other data
        that changes its inputs) cannot be loaded: the run's config decides the model."""
        return (f"the backup in {self.folder} holds the weights of another model than this "
                f"run builds ({said(error, 240)}). A run resumes with the model and the data "
                "it was made with: leave out overrides that change them (model=..., "
                "dataset=...), or start a new run.")

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """The epoch resumed in its middle carries on with the metrics and random streams
        it had there (tftrain.callbacks.guards.EpochSeeds leaves them for this epoch)."""
        self._current_epoch = epoch  # Keras sets it only at epoch ends: a resumed run's too
        if self.restored is not None:
            for variable, value in zip(epoch_state(self.model), self.restored):
                variable.assign(value)
            self.restored = None

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.steps = batch + 1
        if self.steps < (self.params.get("steps") or self.steps + 1):  # the last: the epoch's end saves
            super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.steps = 0
        super().on_epoch_end(epoch, logs)
        if self.save_freq != "epoch":  # every N steps, and at each epoch's end too
            self._save_model()

    def save_now(self) -> None:
        """Save where the run is: the steps done in the current epoch (a stopped run)."""
        self._save_model()

    def _save_model(self) -> None:
        """Keras' backup (weights, then the metadata saying which epoch and step they are
        of) plus the epoch's state, each file written whole under a temporary name and
        renamed into place, the metadata last: a second Ctrl-C in the middle of a save
        leaves the backup before it, never a half-written one (Keras writes in place). A
        write that fails (a full disk) leaves the previous backup whole: WriteFailed."""
        with writing(self.folder):
            self.write_files()

    def write_files(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        files = [self.folder / name for name in (WEIGHTS, STATE, DECIDING, METADATA)]
        if self.double_checkpoint:
            for file in files:
                if file.is_file():
                    shutil.copyfile(file, tmp := file.with_name(f".{file.name}.bkp.tmp"))
                    os.replace(tmp, f"{file}.bkp")
        staged = [self.folder / f".{WEIGHTS}", self.folder / f".{STATE}.tmp",
                  self.folder / f".{DECIDING}.tmp", self.folder / f".{METADATA}.tmp"]
        self.model.save_weights(staged[0], overwrite=True)  # the name must end in .weights.h5
        with open(staged[1], "wb") as handle:
            np.savez(handle, **{f"v{i}": v.numpy() for i, v in enumerate(epoch_state(self.model))})
        staged[2].write_bytes(state.saved(self.kept))
        staged[3].write_text(json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen,
                                         STEP: self.steps, "steps_per_epoch": self.params.get("steps")}))
        for tmp, file in zip(staged, files):
            os.replace(tmp, file)


def epoch_state(model: keras.Model) -> list:
    """What an epoch changes besides weights and optimizer, in a fixed order: every
    compiled metric's running state (the loss tracker's too) and every random stream."""
    return ([v for metric in model.metrics for v in metric.variables]
            + [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")])
