"""What `resume=` means for a config: the backup callback that holds the run's state, where
the resumed run starts, and what it may not change (the length of an epoch it resumes inside)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from tftrain.errors import TftrainError

BACKUPS = ("tftrain.callbacks.backup.Backup", "keras.callbacks.BackupAndRestore")


def backup_node(cfg: DictConfig) -> DictConfig | None:
    """The run's backup callback config (tftrain's, or Keras' own), if it has one."""
    return next((node for node in cfg.callbacks.values()
                 if node is not None and node.get("_target_") in BACKUPS), None)


def check_epoch_length(cfg: DictConfig, folder: Any, step: int, steps_per_epoch: int) -> None:
    """A run resumed inside an epoch reads the rest of that epoch's batches: with another
    batch size (or other data) they are other batches, and the step it stopped at may lie
    past the new epoch's end (which would then train nothing). `folder`: the run folder
    (tftrain.run.folder.RunFolder)."""
    saved = folder.backup_metadata(Path(backup_node(cfg).backup_dir)).get("steps_per_epoch")
    if saved is not None and saved != steps_per_epoch:
        raise TftrainError(
            f"resume={cfg.resume}: the run stopped at step {step} of an epoch of {saved} steps, "
            f"and epochs now have {steps_per_epoch} (trainer.batch_size or the data changed). A "
            "run resumed inside an epoch finishes that same epoch: resume with the batch size "
            "and data it was made with (change them once that epoch is done, or start a new run).")


def resume_point(cfg: DictConfig, initial_epoch: int, epochs: int,
                 folder: Any | None) -> tuple[int, int]:
    """Where to start: (epoch, step in it). Resuming (`folder`: the run folder, read through
    its door, tftrain.run.folder.RunFolder), after the last state the backup saved, inside an
    epoch if it was saved there. A run whose training had ended (all its epochs, or stopped
    early) but which was stopped before it was evaluated and saved resumes there, training
    nothing more."""
    if folder is None:
        return initial_epoch, 0
    backup = backup_node(cfg)
    if backup is None:
        raise TftrainError("resume needs the backup callback (callbacks.backup), which this "
                           "run's callbacks do not include; there is no state to resume.")
    epoch, step, ended = folder.backup_point(Path(backup.backup_dir))
    if epoch < epochs and ended != "stopped":
        return epoch, step
    try:
        completed = folder.summary("resume=").get("status") == "completed"
    except TftrainError:  # no summary, or a damaged one: the run did not end cleanly
        completed = False
    if completed and ended == "stopped":
        raise TftrainError(f"resume={cfg.resume}: the run already completed: a callback (early "
                           f"stopping) ended its training after epoch {epoch}, and it was "
                           "evaluated and saved; there is nothing to resume. Start a new run to "
                           "train it differently.")
    if completed:
        raise TftrainError(f"resume={cfg.resume}: the run already completed all {epoch} epochs; "
                           f"to train longer, add trainer.epochs=N with N > {epoch}.")
    return epochs, 0


def train_longer(folder: str) -> str:
    """The command that trains a completed run further."""
    return f"tftrain resume={folder} trainer.epochs=N"
