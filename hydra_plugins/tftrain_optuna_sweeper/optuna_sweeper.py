"""Hydra's Optuna sweeper, made to resume and to survive failed trials.

`hparams_search=optuna` (pip install "tftrain[optuna]") picks it. The study lives in the sweep
folder (`optuna.db`). Re-running the same command with the same `hydra.sweep.dir` loads it: the
trials already finished count toward `n_trials`, and new trials get new job folders (numbered
after the study's trials), so an interrupted search continues where it stopped instead of
starting over or overwriting folders.

It lives in `hydra_plugins` because Hydra instantiates sweepers only from there, and Hydra
imports every module there at each start: so this one imports Optuna (seconds) only when a
sweep begins, and defines nothing when the optuna extra is not installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List

from omegaconf import DictConfig

from tftrain.schema import objective_direction

try:
    from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper as HydraOptunaSweeper
except ImportError:  # no optuna extra: hparams_search=optuna reports the missing sweeper
    HydraOptunaSweeper = None

if HydraOptunaSweeper is not None:

    class OptunaSweeper(HydraOptunaSweeper):
        """The plugin's sweeper, plus `direction: auto`, failed trials and resuming."""

        def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
            super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
            impl = self.sweeper
            if impl.direction == "auto":
                mode = objective_direction(config.objective.metric, config.objective.mode,
                                           config.dataset.get("task", "classification"))
                impl.direction = "maximize" if mode == "max" else "minimize"
            Path(config.hydra.sweep.dir).mkdir(parents=True, exist_ok=True)  # the study's home

        def sweep(self, arguments: List[str]) -> None:
            from hydra_plugins.tftrain_optuna_sweeper import _study

            return _study.sweep(self.sweeper, arguments)
