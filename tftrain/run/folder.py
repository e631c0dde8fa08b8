"""The run-folder door: `tftrain-eval`, `tftrain-predict`, `resume=` and `tftrain-report`
read back what a run wrote, through here.

A folder that is not a run, or a file in it that is missing or damaged (cut short by a
crash, edited by hand, copied half-way), is one TftrainError naming the file, what is
wrong with it, and what in the folder still works (an intact `checkpoints/best.keras`, a
backup `resume=` can use). Nothing here imports TensorFlow until a model is loaded.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import yaml

from tftrain import artifacts
from tftrain.artifacts import BACKUP, BEST, DECIDING, INTERRUPTED, METADATA, OVERRIDES, STATE, WEIGHTS
from tftrain.errors import TftrainError, said

KERAS_WEIGHTS = "model.weights.h5"  # the weights inside a .keras archive
MODELS = {Path(artifacts.MODEL): "the final model", BEST: "the best epoch's model",
          INTERRUPTED: "the weights when the run was interrupted"}


class RunFolder:
    """A tftrain run folder, as the user named it (`given`) and where it is (`path`)."""

    def __init__(self, given: str, key: str = "RUN_FOLDER") -> None:
        self.given, self.path = given, Path(given).expanduser().resolve()
        if not self.path.is_dir():
            raise TftrainError(f"{key}={given}: " + ("no such folder." if not self.path.exists()
                               else "this is a file; give the run folder that holds it."))
        if not (self.path / OVERRIDES).is_file():
            raise TftrainError(f"{key}={given} is not a tftrain run folder (it has no "
                               f"{OVERRIDES}); give a folder a run printed as its 'run folder', "
                               "e.g. outputs/2026-11-21/10-32-05.")

    def damaged(self, file: Path, problem: str, needed_for: str) -> TftrainError:
        """The error for a damaged file: what it is, why, and what still works (never the
        file itself, which Keras may refuse for a reason the checks here do not see)."""
        works = [work for work in self.intact() if not work.startswith(f"{file} ")]
        return TftrainError(f"{self.given}/{file} is damaged ({problem}), and {needed_for} needs "
                            f"it. " + (f"Intact in the folder: {'; '.join(works)}." if works else
                                       "Nothing else in the folder can stand in for it."))

    def intact(self) -> list[str]:
        """What in the folder still reads, each with what it is good for."""
        found = [f"{name} ({what}{self.use(name)})" for name, what in MODELS.items()
                 if (self.path / name).is_file() and keras_file_problem(self.path / name) is None]
        if backup_problem(self.path / BACKUP) is None and (self.path / BACKUP / METADATA).is_file() \
                and status_of(self.path) != "completed" and not self.read_overrides()[1]:
            found.append(f"{BACKUP}/ (resume=: tftrain resume={self.given})")
        return found

    def use(self, name: Path) -> str:
        if name == Path(artifacts.MODEL):
            return ""
        return f"; to use it as the run's model: cp {self.given}/{name} {self.given}/{artifacts.MODEL}"

    def overrides(self) -> list[str]:
        """The run's overrides as typed (unresolved: one may hold `${...}` for Hydra)."""
        saved, problem = self.read_overrides()
        if problem:
            raise self.damaged(OVERRIDES, problem, "rebuilding the run's config")
        return saved

    def read_overrides(self) -> tuple[list[str], str | None]:
        """The overrides, or why they cannot be read."""
        try:
            saved = yaml.safe_load((self.path / OVERRIDES).read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            return [], said(error)
        if not isinstance(saved, list) or not all(isinstance(o, str) for o in saved):
            return [], f"it holds {type(saved).__name__}, not a list of overrides"
        return saved, None

    def summary(self, needed_for: str) -> dict[str, Any]:
        file = Path(artifacts.SUMMARY)
        if not (self.path / file).is_file():
            raise TftrainError(f"{self.given} has no {file}: the run never finished its first "
                               f"steps, and {needed_for} needs it.")
        try:
            summary = artifacts.read_summary(self.path)
        except (OSError, ValueError) as error:
            raise self.damaged(file, said(error), needed_for) from None
        if not isinstance(summary, dict):
            raise self.damaged(file, "it is not a JSON object", needed_for)
        return summary

    def model_file(self, needed_for: str) -> Path:
        """model.keras, checked to be whole, or the reason it cannot be used."""
        file = self.path / artifacts.MODEL
        if not file.is_file():
            works, status = self.intact(), status_of(self.path)
            why = {"completed": "the run completed, so it was deleted or moved since",
                   None: "the run never wrote its summary.json (stopped at once, or still running)"
                   }.get(status, f"the run did not finish (summary.json: {status})")
            raise TftrainError(f"{self.given} has no {artifacts.MODEL} ({why}), and {needed_for} "
                               "needs it. " + (f"Intact in the folder: {'; '.join(works)}." if works
                                              else "Nothing else in the folder can stand in for it."))
        problem = keras_file_problem(file)
        if problem:
            raise self.damaged(Path(artifacts.MODEL), problem, needed_for)
        return file

    def backup_point(self, backup_dir: Path) -> tuple[int, int, str | None]:
        """Where a run's backup stands, (epochs completed, steps done in the next one, how
        training ended if it had: "epochs" or "stopped"): (0, 0, None) when there is none.
        Checked to be readable.

        A damaged latest state falls back to the previous one (`double_checkpoint`), as
        Keras' BackupAndRestore would, and says so; with both damaged, resuming stops here.
        """
        problem = backup_problem(backup_dir)
        if problem and backup_problem(backup_dir, previous=True) is None:
            for name in (WEIGHTS, METADATA, STATE, DECIDING):
                if (backup_dir / f"{name}.bkp").is_file():
                    shutil.copyfile(backup_dir / f"{name}.bkp", backup_dir / name)
            from tftrain.console import echo

            echo(f"note: the latest backup is damaged ({problem}); resuming from the one "
                 "before it.")
        elif problem:
            where = backup_dir.relative_to(self.path) if backup_dir.is_relative_to(self.path) \
                else backup_dir
            raise self.damaged(where, f"{problem}; its previous state too", "resume=")
        saved = self.backup_metadata(backup_dir)
        return saved.get("epoch", 0), saved.get("step", 0), saved.get("done")

    @staticmethod
    def backup_metadata(backup_dir: Path) -> dict[str, Any]:
        """The backup's training_metadata.json (epoch, step, steps_per_epoch): {} for none."""
        metadata = backup_dir / METADATA
        return json.loads(metadata.read_text()) if metadata.is_file() else {}


def keras_file_problem(path: Path) -> str | None:
    """Why a .keras file (a zip archive of config.json and model.weights.h5) cannot be
    loaded, or None when it is whole: the archive itself, then the member that is damaged
    (a weights file cut short before it was zipped leaves the zip whole)."""
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
            members = {name: archive.read(name) for name in ("config.json", KERAS_WEIGHTS)
                       if name in archive.namelist()} if not broken else {}
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        return f"not a whole .keras archive: {said(error)}"
    if broken:
        return f"the archive member {broken} fails its checksum"
    if "config.json" not in members:
        return "the archive holds no config.json: it is not a Keras model file"
    try:
        json.loads(members["config.json"])
    except ValueError as error:
        return f"the archive member config.json is not JSON: {said(error)}"
    try:
        if KERAS_WEIGHTS in members:
            readable_h5(io.BytesIO(members[KERAS_WEIGHTS]))
    except Exception as error:  # h5py raises OSError, KeyError, ValueError, ... for damage
        return f"the archive member {KERAS_WEIGHTS} is cut short or damaged: {said(error)}"
    return None


def backup_problem(folder: Path, previous: bool = False) -> str | None:
    """Why a BackupAndRestore folder's state (or its previous one) cannot be read, or None.
    No state at all is no problem: a run interrupted in its first epoch has none."""
    suffix = ".bkp" if previous else ""
    weights, metadata = folder / f"{WEIGHTS}{suffix}", folder / f"{METADATA}{suffix}"
    if not weights.exists() and not metadata.exists():
        return "no previous state" if previous else None
    try:
        epoch = json.loads(metadata.read_text())["epoch"]
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"'epoch' is {epoch!r}, not a count of epochs")
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"{metadata.name}: {said(error)}"
    try:
        readable_h5(weights)
    except Exception as error:  # h5py raises OSError, KeyError, ValueError, ... for damage
        return f"{weights.name}: {said(error)}"
    return None


def readable_h5(path: Path | io.BytesIO) -> None:
    """Read every array of an HDF5 weights file (a cut-short file fails to open or read)."""
    import h5py

    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, item: item[()] if isinstance(item, h5py.Dataset) else None)


def status_of(path: Path) -> str | None:
    """The status in a run folder's summary.json, if it has a readable one."""
    try:
        return artifacts.read_summary(path).get("status")
    except (OSError, ValueError, AttributeError):
        return None
