"""k-fold cross-validation's keys (`cv.folds`, `cv.fold`, `cv.group`): the one place that
reads them. A command line that asks for folds without naming one becomes a sweep with a
job per fold (`expand`); each job's data receives a plain `Folds` (`folds_of`); the sweep's
end finds each job's fold in its overrides (`fold_in`).

Why a sweep: each fold is a run like any other (its own folder, failure isolation, resume
after Ctrl-C by re-running the sweep's command, any launcher, tftrain-report), and what
cross-validation adds, the folds' mean and spread and their out-of-fold predictions, is
written at the sweep's end (tftrain.sweeps.cv). Inside an Optuna search the command stays
the search, and a trial runs its folds one after another (`folds_of_trial`,
tftrain.sweeps.trial_folds). Nothing here imports TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tftrain.artifacts import CONFIG
from tftrain.data.folds import Folds
from tftrain.errors import TftrainError

FOLD = "cv.fold"
MODES = ("-m", "--multirun")
SHOWN = ("--cfg", "-c", "--info", "-i", "--shell-completion", "-sc")  # Hydra prints, runs nothing


def folds_of(root: Any) -> Folds | None:
    """The fold a composed config trains (None: no cross-validation), checked; `root`: the
    whole config, or a node in it (the dataset's)."""
    root = root._get_root() if isinstance(root, DictConfig) else root
    cv = root.get("cv") if root is not None else None
    if cv is None or cv.get("folds") is None:
        if cv is not None and cv.get("fold") is not None:
            raise TftrainError(f"{FOLD}={cv.fold} without cv.folds: say how many folds the data "
                               f"is cut into (cv.folds=5 {FOLD}={cv.fold}), or leave {FOLD} unset.")
        return None
    count = checked_count(cv.folds)
    if cv.get("fold") is None:  # composing the sweep's command itself (expand sets a fold)
        return Folds(count, 0)
    if not 0 <= cv.fold < count:
        raise TftrainError(f"{FOLD}={cv.fold} with cv.folds={count}: folds are numbered 0 to "
                           f"{count - 1}; leave {FOLD} unset to train them all.")
    return Folds(count, int(cv.fold))


def checked_count(count: int) -> int:
    if count < 2:
        raise TftrainError(f"cv.folds={count}: cross-validation needs at least 2 folds (each "
                           "run validates on one and trains on the others); 5 or 10 are usual. "
                           "For one run on one validation split leave cv.folds unset "
                           "(dataset.val_split sets its size).")
    return count


def group_of(root: Any) -> str | None:
    """The column whose rows share a fold (cv.group), or None."""
    root = root._get_root() if isinstance(root, DictConfig) else root
    cv = root.get("cv") if root is not None else None
    return None if cv is None else cv.get("group")


def wants_sweep(cfg: DictConfig, argv: list[str]) -> bool:
    """Whether a command line asks for folds and names none: it becomes a sweep of them."""
    return cfg.cv.folds is not None and cfg.cv.fold is None and not any(
        a.lstrip("+~").startswith(f"{FOLD}=") or a in SHOWN for a in argv)


def expand(argv: list[str], count: int) -> list[str]:
    """The command line as a sweep over the folds: `-m` (when not given) and cv.fold=0..K-1
    (Hydra's range), after the user's arguments, so that multirun.yaml and the command that
    continues the sweep say it."""
    mode = [] if any(a in MODES for a in argv) else ["-m"]
    return [*mode, *argv, f"{FOLD}=range(0,{count})"]


def in_search(hydra: DictConfig) -> bool:
    """Whether the command is an Optuna search: then each trial runs its folds itself
    (tftrain.sweeps.trial_folds) rather than the command becoming a sweep of folds."""
    return "optuna" in str(hydra.sweeper.get("_target_", "")).lower()


def folds_of_trial(cfg: DictConfig, hydra: DictConfig) -> int | None:
    """How many folds this job runs one after another: an Optuna trial whose command asks
    for folds and names none (its folds' mean is its objective); None for any other job."""
    cv = cfg.get("cv")
    if cv is None or cv.get("folds") is None or cv.get("fold") is not None or not in_search(hydra):
        return None
    return checked_count(int(cv.folds))


def fold_config(cfg: DictConfig, fold: int, folder: Path, resume: bool) -> DictConfig:
    """A trial's config as the run of one of its folds, in `folder` (resumed there when an
    earlier attempt was interrupted)."""
    import copy

    run = copy.deepcopy(cfg)
    run.cv.fold, run.run_dir = fold, str(folder)
    run.resume = str(folder) if resume else None
    return run


def fold_override(fold: int) -> str:
    return f"{FOLD}={fold}"


def sweep_asked(argv: list[str]) -> DictConfig | None:
    """The first job of a command line (`tftrain cv.folds=5 ...`, with -m or not) that asks
    for folds and names none, composed and its counts checked; None for other command
    lines, which run as given."""
    from tftrain.config.compose import command_overrides, compose

    overrides, _ = command_overrides(argv)
    cfg = compose(first_job(overrides), hydra=True)
    if folds_of(cfg) is None or not wants_sweep(cfg, argv):
        return None
    return cfg


def first_job(overrides: list[str]) -> list[str]:
    """The overrides of a sweep's first job: each swept key at its first value (a search's
    dimensions, which have none, left out)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    chosen = []
    for override in OverridesParser.create().parse_overrides(overrides):
        if override.is_sweep_override() and override.get_key_element() == "cv.folds":
            raise TftrainError(f"{override.input_line}: one cross-validation cuts the data one way; "
                               "give one cv.folds (run the command once per count to compare).")
        if not override.is_sweep_override():
            chosen.append(override.input_line)
        elif override.is_discrete_sweep():
            chosen.append(f"{override.get_key_element()}={next(override.sweep_string_iterator())}")
    return chosen


def fold_in(overrides: dict[str, str]) -> tuple[int, tuple[tuple[str, str], ...]] | None:
    """A sweep job's fold and the rest of its overrides (the setting the fold belongs to:
    jobs of one setting are one cross-validation), from its `key: value` overrides; None
    for a job that is no fold."""
    value = overrides.get(FOLD)
    if value is None or not value.isdigit():
        return None
    return int(value), tuple(sorted((k, v) for k, v in overrides.items() if k != FOLD))


def count_of_run(run_dir: Path) -> int | None:
    """The folds a run's data was cut into (its resolved config), None when unreadable."""
    try:
        return int(OmegaConf.load(run_dir / CONFIG).cv.folds)
    except Exception:  # a damaged or older run's config: the sweep counts its folds itself
        return None


# The data's parameters that are cv keys (the boundaries that read data key them so).
CV_KEYS = {"folds": "cv.folds", "group": "cv.group"}
