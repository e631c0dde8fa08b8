"""Hydra's Optuna sweeper, made to resume and to survive failed trials.

`hparams_search=optuna` (pip install "tftrain[optuna]") picks it. The study lives in the sweep
folder (`optuna.db`). Re-running the same command with the same `hydra.sweep.dir` loads it: the
trials already finished count toward `n_trials`, and new trials get new job folders (numbered
after the study's trials), so an interrupted search continues where it stopped instead of
starting over or overwriting folders.

It lives in `hydra_plugins` because Hydra instantiates sweepers only from there.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, List

import optuna
from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper as HydraOptunaSweeper
from omegaconf import DictConfig

from tftrain.schema import objective_direction

TrialState = optuna.trial.TrialState
FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)


class FailureTolerantStudy(optuna.study.Study):
    """A trial whose job failed or diverged (tftrain returns NaN) is told as FAILED.

    hydra-optuna-sweeper 1.2.0 (the last release) tells NaN as a completed value, which Optuna
    refuses, and then stops the whole search; a failed trial must only be recorded.
    """

    def tell(self, trial: Any, values: Any = None, state: TrialState = TrialState.COMPLETE) -> None:
        numbers = values if isinstance(values, (list, tuple)) else [values]
        if state == TrialState.COMPLETE and any(v is None or not math.isfinite(v) for v in numbers):
            return super().tell(trial, state=TrialState.FAIL)
        return super().tell(trial, values=values, state=state)


def create_study(**kwargs: Any) -> optuna.study.Study:
    study = optuna.create_study(**kwargs)
    study.__class__ = FailureTolerantStudy
    return study


class OptunaSweeper(HydraOptunaSweeper):
    """The plugin's sweeper, plus `direction: auto`, failed trials and resuming a stored study."""

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        impl = self.sweeper
        if impl.direction == "auto":
            mode = objective_direction(config.objective.metric, config.objective.mode,
                                       config.dataset.get("task", "classification"))
            impl.direction = "maximize" if mode == "max" else "minimize"
        Path(config.hydra.sweep.dir).mkdir(parents=True, exist_ok=True)  # the study's home

    def sweep(self, arguments: List[str]) -> None:
        from hydra_plugins.hydra_optuna_sweeper import _impl

        impl = self.sweeper
        if impl.storage:
            try:
                trials = optuna.load_study(study_name=impl.study_name, storage=impl.storage).trials
            except KeyError:  # no such study yet: a new search
                trials = []
            impl.job_idx = len(trials)
            impl.n_trials = max(impl.n_trials - sum(t.state in FINISHED for t in trials), 0)
            if trials and hasattr(impl.sampler, "reseed_rng"):
                impl.sampler.reseed_rng()  # the seeded sampler would repeat the first trials
        # The plugin calls `optuna.create_study` through its module; give it ours for this sweep.
        real = _impl.optuna
        _impl.optuna = _OptunaWithTolerantStudies()
        try:
            return impl.sweep(arguments)
        finally:
            _impl.optuna = real


class _OptunaWithTolerantStudies:
    """The optuna module as the plugin sees it during a sweep: studies tolerate failed trials."""

    create_study = staticmethod(create_study)

    def __getattr__(self, name: str) -> Any:
        return getattr(optuna, name)
