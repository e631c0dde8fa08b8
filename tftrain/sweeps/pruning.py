"""The callback that reports a trial's objective to its Optuna study after each validated
epoch and stops the run when the study's pruner says so (tftrain.sweeps.trial)."""

from __future__ import annotations

from typing import Callable

import keras

from tftrain.errors import Pruned
from tftrain.sweeps.trial import TrialRef, make_pruner


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


def pruning_of(trial: TrialRef | None) -> Callable[[str], TrialPruning] | None:
    """What a run makes its pruning callback with, once it has decided its objective."""
    return None if trial is None else lambda metric: TrialPruning(trial, metric)
