"""A job of an Optuna search (`hparams_search=optuna`): its trial, and pruning.

tftrain's sweeper (hydra_plugins/tftrain_optuna_sweeper) launches trial N as job N of the
sweep and keeps the study in storage (sqlite in the sweep folder), so a job, in this
process or in another (joblib, submitit), finds its own trial there. After every validated
epoch, `tftrain.sweeps.pruning.TrialPruning` reports the run's objective to it; when the
study's pruner judges the trial hopeless, the run stops at once (`Pruned`): its folder
keeps what it trained, summary.json says `pruned`, and the sweeper tells Optuna so.
Nothing here imports TensorFlow; Optuna only when a pruner is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import OmegaConf


SWEEPER = "hydra_plugins.tftrain_optuna_sweeper.optuna_sweeper.OptunaSweeper"
PRUNERS = ("median", "hyperband", "successive_halving", "none")
DIRECTIONS = ("auto", "minimize", "maximize")


def check_sweeper(hydra: Any, overrides: list[str] | None = None, multirun: bool = True) -> None:
    """`hydra.sweeper`, checked at composition: a misspelt pruner or direction, a count out of
    range, or a search dimension that cannot be searched (`overrides`: the command line's)
    is refused before the first trial and before the sweep folder exists."""
    from tftrain.errors import TftrainError, did_you_mean

    node = hydra.sweeper
    if node.get("_target_") != SWEEPER:
        return
    if not multirun:
        raise TftrainError("hparams_search=optuna (tftrain's Optuna sweeper) is a search over many "
                           "runs: add -m (tftrain -m hparams_search=optuna ...). A plain run would "
                           "ignore the search space and train once with the config's values.")
    pruner = node.get("pruner")
    if isinstance(pruner, str) and pruner not in PRUNERS:
        raise TftrainError(f"hydra.sweeper.pruner={pruner!r} is not a pruner.{did_you_mean(pruner, PRUNERS)} "
                           f"Use {', '.join(PRUNERS)}, or a node {{_target_: optuna.pruners.X, ...}}.")
    if node.get("direction") not in DIRECTIONS:
        raise TftrainError(f"hydra.sweeper.direction={node.get('direction')!r} is not valid; use "
                           f"{', '.join(DIRECTIONS)}.")
    for key, least in (("n_trials", 1), ("n_jobs", 1), ("warmup_epochs", 0)):
        if not isinstance(node.get(key), int) or node.get(key) < least:
            raise TftrainError(f"hydra.sweeper.{key}={node.get(key)!r} must be an integer >= {least}.")
    import importlib.util

    if importlib.util.find_spec("optuna") is None:
        raise TftrainError("hparams_search=optuna needs Optuna, which is not installed: "
                           "pip install \"tftrain[optuna]\".")
    from tftrain.sweeps.optuna_space import check_space

    check_space(node, overrides or [])


@dataclass(frozen=True)
class TrialRef:
    """Where a job's trial is (the study's storage and name, the trial's number), and the
    search's pruner, which the job applies itself (a stored study keeps no pruner)."""

    storage: str
    study_name: str
    number: int
    pruner: Any  # a name (median, hyperband, successive_halving, none) or a _target_ node
    warmup_epochs: int
    epochs: int


def make_pruner(chosen: Any, warmup_epochs: int, epochs: int) -> Any:
    """The Optuna pruner a search names: median (after `warmup_epochs` epochs and 3
    finished trials), hyperband, successive_halving, none, or a `_target_` node."""
    import optuna

    if not isinstance(chosen, str):
        from hydra.utils import instantiate

        return instantiate(chosen)
    warmup = max(1, warmup_epochs)
    return {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=3,
                                                          n_warmup_steps=warmup_epochs),
            "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=warmup,
                                                                max_resource=max(warmup, epochs)),
            "successive_halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=warmup),
            "none": optuna.pruners.NopPruner}[chosen]()


def trial_of_this_job(epochs: int) -> TrialRef | None:
    """This job's trial, when it is a job of a pruning Optuna search (read from Hydra's
    config of the job, without importing Optuna); `epochs`: the run's."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    sweeper = hydra.sweeper
    if sweeper.get("_target_") != SWEEPER or sweeper.get("pruner", "none") == "none":
        return None
    storage = sweeper.get("storage") or f"sqlite:///{hydra.sweep.dir}/optuna.db"
    pruner = sweeper.pruner if isinstance(sweeper.pruner, str) else OmegaConf.to_container(sweeper.pruner)
    return TrialRef(storage, sweeper.study_name, int(hydra.job.num), pruner,
                    int(sweeper.get("warmup_epochs", 2)), epochs)
