"""What a run folder holds, written so that no reader ever sees a half-written file.

Every file goes to a temporary name in the same folder and is renamed into place
(`os.replace` is atomic on one filesystem), so an interrupted run leaves the previous
complete version or nothing.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

from omegaconf import DictConfig, OmegaConf

import tftrain
from tftrain.errors import WriteFailed

# The files of a run folder, named once: what runs write, and what resume, eval, predict and
# report read back (tftrain.run.folder) without importing TensorFlow.
SUMMARY = "summary.json"
MODEL = "model.keras"
LAYER_TABLE = "model.txt"  # the model's layers, output shapes and parameters, as Keras lists them
METRICS = "metrics.csv"
OVERRIDES = Path(".hydra") / "overrides.yaml"
CONFIG = Path(".hydra") / "config.yaml"
BEST = Path("checkpoints") / "best.keras"
INTERRUPTED = Path("checkpoints") / "interrupted.keras"
BACKUP = Path("checkpoints") / "backup"
WEIGHTS, METADATA = "latest.weights.h5", "training_metadata.json"  # Keras' BackupAndRestore
STATE = "epoch_state.npz"  # tftrain.callbacks.backup.Backup: an epoch's metrics and random streams
DECIDING = "callbacks.npz"  # ... and early stopping's, the best checkpoint's state (callbacks.state)


def umask() -> int:
    mask = os.umask(0o022)  # reading it means setting it: set it straight back
    os.umask(mask)
    return mask


# Files are readable as the user's umask says, as `open` would make them (mkstemp's are 0600:
# others sharing outputs/ could read train.log but not summary.json).
FILE_MODE = 0o666 & ~umask()


@contextlib.contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """The writing door: an OSError while writing `path` (a full disk, a file-size limit, a
    read-only or immutable folder) becomes WriteFailed, one paragraph naming the path and the
    system's reason, exit status 74. Every write into a run folder or an output file goes
    through here (directly, or through the functions below)."""
    try:
        yield
    except OSError as error:
        raise WriteFailed(path, error) from error


# What the system says when a file cannot be written, as opposed to read or found.
WRITE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                errno.EIO, errno.EISDIR, errno.ENOTDIR}


def write_failure(error: OSError, folder: Path) -> WriteFailed | None:
    """An OSError a library (Keras' CSVLogger, say) raised writing into `folder`, as the
    writing door says it; None for any other OSError."""
    name = error.filename
    if not name or error.errno not in WRITE_ERRNOS:
        return None
    path = Path(os.fsdecode(name))
    inside = path.resolve().is_relative_to(folder.resolve())
    return WriteFailed(path, error) if inside else None


def in_place(path: Path, write: Callable[[Path], None], suffix: str = "") -> None:
    """Write a whole file under a temporary name in its folder (`write(tmp)`), then rename it
    into place: a reader (or a resumed run) sees the old file or the new one, never half of
    one. `suffix`: what the temporary name must end in for the writer (".keras")."""
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = staged(path, suffix)
        try:
            write(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def staged(path: Path, suffix: str = "") -> Path:
    """The temporary name `path` is written under before it is renamed into place."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")


def write_text_atomic(path: Path, text: str) -> None:
    def write(tmp: Path) -> None:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "w") as handle:
            handle.write(text)

    in_place(path, write)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def save_model_atomic(model: Any, path: Path) -> None:
    """model.save (or save_weights, for a `.weights.h5` path) under a temporary name, then
    rename: a reader sees old or new, whole."""
    if path.name.endswith(".weights.h5"):
        in_place(path, lambda tmp: model.save_weights(tmp), suffix=".weights.h5")
    else:
        in_place(path, lambda tmp: model.save(tmp), suffix=".keras")


def folder_in_place(folder: Path, write: Callable[[Path], None]) -> None:
    """A folder (a SavedModel) written under a temporary name (`write(tmp)`), then put in
    place of `folder`: a reader sees the old folder or the new one, whole."""
    with writing(folder):
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = staged(folder)
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            write(tmp)
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def remove_leftovers(run_dir: Path) -> None:
    """What a completed run no longer needs: the weights kept when it was interrupted (its
    model.keras supersedes them) and temporary files an interrupted write left behind."""
    leftovers = [run_dir / INTERRUPTED, run_dir / BACKUP / f".{WEIGHTS}"]  # a backup cut short
    for folder in (run_dir, run_dir / ".hydra", run_dir / BEST.parent, run_dir / BACKUP):
        leftovers += folder.glob(".*.tmp*") if folder.is_dir() else []
    for leftover in leftovers:
        with contextlib.suppress(OSError):  # tidying: nothing of the run's depends on it
            leftover.unlink(missing_ok=True)


def write_resolved_config(cfg: DictConfig, run_dir: Path) -> None:
    """Replace Hydra's .hydra/config.yaml with the resolved config: readable without Hydra."""
    write_text_atomic(run_dir / ".hydra" / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))


def versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {"tftrain": tftrain.__version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "python": platform.python_version()}


def git_commit(folder: Path) -> str | None:
    """The commit of the repository the run was started from, when there is one."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def weights_fingerprint(model: Any) -> str:
    """A short hash of every weight: equal fingerprints mean bit-identical models."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(weight.numpy().tobytes())
    return digest.hexdigest()[:16]


def brief_summary(status: str, error: str, objective: Any, overrides: list[str]) -> dict[str, Any]:
    """The summary of a run that stopped before it had trained anything to summarise."""
    from datetime import datetime, timezone

    return {"status": status, "error": error, "objective": None,
            "objective_metric": objective.metric, "objective_mode": objective.mode,
            "epochs_completed": 0, "overrides": overrides,
            "stopped_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def read_summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / SUMMARY).read_text())
