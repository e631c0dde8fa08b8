"""tftrain's Hydra sweeper on current Optuna: `hparams_search=optuna` (pip install "tftrain[optuna]").

The surface is hydra-optuna-sweeper's (`choice(...)`, `range(...)`, `interval(...)`,
`tag(log, ...)`, `hydra.sweeper.params`, `n_trials`, `n_jobs`, `direction`, a seeded
`hydra/sweeper/sampler`: tpe, random, cmaes, grid), on Optuna 4 and later, plus what that
plugin never had: pruning (`hydra.sweeper.pruner=median|hyperband|successive_halving|none`:
each trial reports its objective after every validated epoch, tftrain.sweeps.trial), failed and
diverged trials recorded while the study goes on, the study kept in the sweep folder and
continued by re-running the same command, and plots of the search at its end.

It lives in `hydra_plugins` because Hydra instantiates sweepers only from there, and Hydra
imports every module there at each start: so Optuna (seconds to import) is imported only
when a search begins (`tftrain.sweeps.optuna_study`), and this module needs nothing but Hydra.
"""

# No `from __future__ import annotations` here: Hydra imports plugin modules without
# registering them in sys.modules first, and dataclasses then cannot read string annotations.
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from omegaconf import MISSING, DictConfig

PRUNERS = ("median", "hyperband", "successive_halving", "none")


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.tftrain_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    _recursive_: bool = False  # the sampler and pruner stay configs: the search builds them
    defaults: List[Any] = field(default_factory=lambda: [{"sampler": "tpe"}])
    sampler: Any = MISSING
    direction: str = "auto"  # minimize | maximize | auto (from the run's objective)
    storage: Optional[str] = None  # null: sqlite in the sweep folder (optuna.db)
    study_name: str = "tftrain"
    n_trials: int = 20
    n_jobs: int = 1  # trials launched at once (in parallel with a parallel launcher)
    pruner: Any = "median"  # median | hyperband | successive_halving | none | {_target_: ...}
    warmup_epochs: int = 2  # epochs every trial trains before the pruner may stop it
    params: Optional[Dict[str, Any]] = None  # the search space: key -> choice/range/interval/tag


SAMPLERS = {
    "tpe": {"_target_": "optuna.samplers.TPESampler", "seed": None},
    "random": {"_target_": "optuna.samplers.RandomSampler", "seed": None},
    "cmaes": {"_target_": "optuna.samplers.CmaEsSampler", "seed": None},
    "grid": {"_target_": "optuna.samplers.GridSampler", "seed": None},  # search space: the params
}

store = ConfigStore.instance()
store.store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="tftrain")
for name, node in SAMPLERS.items():
    store.store(group="hydra/sweeper/sampler", name=name, node=node, provider="tftrain")


class OptunaSweeper(Sweeper):
    """Asks Optuna for trials, launches them as jobs, tells it how each ended."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.config: Optional[DictConfig] = None
        self.hydra_context: Any = None  # what Sweeper.validate_batch_is_legal composes with
        self.launcher: Any = None

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> Any:
        from tftrain.sweeps import optuna_study

        return optuna_study.Search(self.settings, self.config, self.launcher,
                             self.validate_batch_is_legal).run(arguments)
