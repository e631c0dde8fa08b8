"""What a run folder holds, written so that no reader ever sees a half-written file.

Every file goes to a temporary name in the same folder and is renamed into place
(`os.replace` is atomic on one filesystem), so an interrupted run leaves the previous
complete version or nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

import tftrain

# The files of a run folder, named once: what runs write, and what resume, eval, predict and
# report read back (tftrain.run.folder) without importing TensorFlow.
SUMMARY = "summary.json"
MODEL = "model.keras"
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


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def save_model_atomic(model: Any, path: Path) -> None:
    """model.save to a temporary `.keras` name, then rename: a reader sees old or new, whole."""
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_leftovers(run_dir: Path) -> None:
    """What a completed run no longer needs: the weights kept when it was interrupted (its
    model.keras supersedes them) and temporary files an interrupted write left behind."""
    (run_dir / INTERRUPTED).unlink(missing_ok=True)
    for folder in (run_dir, run_dir / ".hydra", run_dir / BEST.parent, run_dir / BACKUP):
        for leftover in folder.glob(".*.tmp*") if folder.is_dir() else ():
            leftover.unlink(missing_ok=True)
    (run_dir / BACKUP / f".{WEIGHTS}").unlink(missing_ok=True)  # a backup cut while writing


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
