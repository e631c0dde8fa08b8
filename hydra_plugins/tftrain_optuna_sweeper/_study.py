"""The Optuna side of tftrain's sweeper, imported when a search starts (Optuna is slow to import)."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any, List

import optuna
from hydra_plugins.hydra_optuna_sweeper import _impl

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

    @property
    def best_trial(self) -> Any:
        """When every trial failed, the results file says so (best_value: null) and the sweep
        ends normally, naming the failed jobs, instead of a traceback from Optuna."""
        try:
            return super().best_trial
        except ValueError:
            return SimpleNamespace(params={}, value=None)


class _OptunaWithTolerantStudies:
    """The optuna module as the plugin sees it during a sweep: its studies tolerate failures."""

    @staticmethod
    def create_study(**kwargs: Any) -> optuna.study.Study:
        study = optuna.create_study(**kwargs)
        study.__class__ = FailureTolerantStudy
        return study

    def __getattr__(self, name: str) -> Any:
        return getattr(optuna, name)


def sweep(impl: Any, arguments: List[str]) -> None:
    """Continue the stored study, if any, then run the plugin's sweep with tolerant studies."""
    if impl.storage:
        try:
            trials = optuna.load_study(study_name=impl.study_name, storage=impl.storage).trials
        except KeyError:  # no such study yet: a new search
            trials = []
        impl.job_idx = len(trials)
        impl.n_trials = max(impl.n_trials - sum(t.state in FINISHED for t in trials), 0)
        if trials and hasattr(impl.sampler, "reseed_rng"):
            impl.sampler.reseed_rng()  # the seeded sampler would repeat the first trials
    real, _impl.optuna = _impl.optuna, _OptunaWithTolerantStudies()
    try:
        return impl.sweep(arguments)
    finally:
        _impl.optuna = real
