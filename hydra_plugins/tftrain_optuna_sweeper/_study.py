"""The Optuna side of tftrain's sweeper, imported when a search starts (Optuna is slow to import).

`Search.run` asks the study for trials, launches each as a job (job number = trial number,
so a job finds its trial, tftrain.search), and tells the study how each ended, read from
the job folder's summary.json: completed (its objective), pruned, or failed (a job that
failed or diverged is recorded and the search goes on). The study lives in the sweep
folder; re-running the same command continues it.
"""

from __future__ import annotations

import functools
import math
import warnings
from pathlib import Path
from typing import Any, Callable

import optuna
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override, RangeSweep, Transformer
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tftrain import artifacts
from tftrain.console import echo
from tftrain.errors import TftrainError
from tftrain.schema import objective_direction
from tftrain.search import make_pruner

State = optuna.trial.TrialState
COUNTED = (State.COMPLETE, State.PRUNED, State.FAIL)
STALE = "interrupted"  # a trial left RUNNING by a search that was stopped: not counted


class Search:
    def __init__(self, settings: dict[str, Any], config: DictConfig, launcher: Any,
                 validate: Callable[[list[tuple[str, ...]]], None]) -> None:
        self.settings, self.config, self.launcher, self.validate = settings, config, launcher, validate
        self.folder = Path(config.hydra.sweep.dir)

    def run(self, arguments: list[str]) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # tftrain says what happens
        space, fixed = search_space({**(self.settings.get("params") or {})}, arguments)
        study = self.study(space)
        job = len(study.trials)
        remaining = self.settings["n_trials"] - sum(counted(t) for t in study.trials)
        if job:
            echo(f"search: continuing study '{study.study_name}' ({job} trials so far, "
                 f"{max(remaining, 0)} to run)")
        while remaining > 0:
            trials = [study.ask(space) for _ in range(min(self.settings["n_jobs"], remaining))]
            if [t.number for t in trials] != list(range(job, job + len(trials))):
                raise TftrainError(f"the study in {self.storage} gained trials from elsewhere while "
                                   "this search ran; one search per study at a time.")
            overrides = [tuple(fixed + [f"{k}={encode(v)}" for k, v in t.params.items()])
                         for t in trials]
            self.validate(overrides)
            for trial, ret in zip(trials, self.launcher.launch(overrides, initial_job_idx=job)):
                self.tell(study, trial, Path(ret.hydra_cfg.hydra.runtime.output_dir))
            job, remaining = job + len(trials), remaining - len(trials)
        self.finish(study)

    @property
    def storage(self) -> str:
        return self.settings.get("storage") or f"sqlite:///{self.folder / 'optuna.db'}"

    def study(self, space: dict[str, Any]) -> optuna.Study:
        """The stored study (continued) or a new one, its sampler seeded past the trials it has."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = self.settings["study_name"]
        try:
            existing = optuna.load_study(study_name=name, storage=self.storage).trials
        except KeyError:
            existing = []
        study = optuna.create_study(study_name=name, storage=self.storage, load_if_exists=True,
                                    direction=self.direction(), sampler=self.sampler(space, len(existing)),
                                    pruner=self.pruner())
        for trial in study.trials:  # left running by a search that was stopped
            if trial.state in (State.RUNNING, State.WAITING):
                study._storage.set_trial_system_attr(trial._trial_id, STALE, True)
                study.tell(trial.number, state=State.FAIL)
        return study

    def direction(self) -> str:
        chosen = self.settings.get("direction", "auto")
        if chosen != "auto":
            return chosen
        cfg = self.config
        mode = objective_direction(cfg.objective.metric, cfg.objective.mode,
                                   cfg.dataset.get("task", "classification"))
        return "maximize" if mode == "max" else "minimize"

    def sampler(self, space: dict[str, Any], existing: int) -> optuna.samplers.BaseSampler:
        node = OmegaConf.to_container(self.settings["sampler"], resolve=True) \
            if isinstance(self.settings["sampler"], DictConfig) else dict(self.settings["sampler"])
        if node.get("seed") is not None:
            node["seed"] = int(node["seed"]) + existing  # a continued study draws new trials
        if node["_target_"].endswith("GridSampler"):
            node["search_space"] = grid(space)
        return instantiate(node)

    def pruner(self) -> optuna.pruners.BasePruner:
        """The same pruner each trial's job applies (tftrain.search)."""
        chosen = self.settings.get("pruner", "median")
        if isinstance(chosen, DictConfig):
            chosen = OmegaConf.to_container(chosen, resolve=True)
        return make_pruner(chosen, self.settings.get("warmup_epochs", 2),
                           int(self.config.trainer.epochs))

    def tell(self, study: optuna.Study, trial: optuna.Trial, folder: Path) -> None:
        """Tell the study how a trial's job ended, from its summary.json; say it."""
        try:
            summary = artifacts.read_summary(folder)
        except (OSError, ValueError):
            summary = {"status": "failed"}
        status, value = summary.get("status"), summary.get("objective")
        params = " ".join(f"{k}={encode(v)}" for k, v in trial.params.items())
        if status == "completed" and value is not None and math.isfinite(value):
            study.tell(trial, value)
            best = study.best_trial
            echo(f"search: trial {trial.number} ({params}): {summary.get('objective_metric')} "
                 f"{value:.4f}; best {best.value:.4f} (trial {best.number})")
        elif status == "pruned":
            study.tell(trial, state=State.PRUNED)
            echo(f"search: trial {trial.number} ({params}) pruned after epoch "
                 f"{summary.get('epochs_completed')}")
        else:
            study.tell(trial, state=State.FAIL)
            echo(f"search: trial {trial.number} ({params}) {status or 'failed'}; the study goes on")

    def finish(self, study: optuna.Study) -> None:
        """optimization_results.yaml, and the search's plots beside the sweep's report."""
        complete = [t for t in study.trials if t.state == State.COMPLETE]
        best = study.best_trial if complete else None
        results = {"name": "optuna", "study": study.study_name, "direction": study.direction.name.lower(),
                   "best_trial": best.number if best else None,
                   "best_value": best.value if best else None,
                   "best_params": best.params if best else {},
                   "trials": {state.name.lower(): sum(t.state == state for t in study.trials)
                              for state in COUNTED}}
        artifacts.write_text_atomic(self.folder / "optimization_results.yaml",
                                    yaml.safe_dump(results, sort_keys=False))
        plot_search(study, self.folder)


def counted(trial: optuna.trial.FrozenTrial) -> bool:
    return trial.state in COUNTED and not trial.system_attrs.get(STALE)


def search_space(params: dict[str, Any], arguments: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The distributions to search (from `hydra.sweeper.params` and the command line, which
    wins) and the overrides every trial gets as they are."""
    lines = {**{k: f"{k}={v}" for k, v in params.items()},
             **{a.split("=", 1)[0].lstrip("+~"): a for a in arguments}}
    space, fixed = {}, []
    for override in OverridesParser.create().parse_overrides(list(lines.values())):
        if override.is_sweep_override():
            space[override.get_key_element()] = distribution(override)
        else:
            fixed.append(override.input_line)
    return space, fixed


def distribution(override: Override) -> optuna.distributions.BaseDistribution:
    """choice(...) -> categorical; range(a, b, step) -> ints (or floats) on a grid;
    interval(a, b) -> a float (or int) range; tag(log, ...) searches on a log scale."""
    value = override.value()
    log = "log" in getattr(value, "tags", set())
    if override.is_choice_sweep():
        return optuna.distributions.CategoricalDistribution(
            list(override.sweep_iterator(transformer=Transformer.encode)))
    if isinstance(value, RangeSweep):
        numbers = [value.start, value.stop, value.step]
        if all(isinstance(n, int) for n in numbers):
            last = value.start + value.step * ((value.stop - value.start - 1) // value.step)
            return optuna.distributions.IntDistribution(value.start, last, log=log,
                                                        step=1 if log else value.step)
        return optuna.distributions.FloatDistribution(value.start, value.stop - value.step,
                                                      step=None if log else value.step, log=log)
    if isinstance(value, IntervalSweep):
        if isinstance(value.start, int) and isinstance(value.end, int):
            return optuna.distributions.IntDistribution(value.start, value.end, log=log)
        return optuna.distributions.FloatDistribution(value.start, value.end, log=log)
    raise TftrainError(f"{override.input_line}: a search takes choice(...), range(...) or "
                       "interval(...), optionally tag(log, ...).")


def grid(space: dict[str, Any]) -> dict[str, list[Any]]:
    """The grid sampler's search space: every parameter must be a list of choices."""
    values = {}
    for name, dist in space.items():
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            values[name] = list(dist.choices)
        elif isinstance(dist, optuna.distributions.IntDistribution):
            values[name] = list(range(dist.low, dist.high + 1, dist.step))
        else:
            raise TftrainError(f"hydra/sweeper/sampler=grid searches a grid: '{name}' is a "
                               "continuous interval; give it as choice(...) or range(...).")
    return values


def encode(value: Any) -> str:
    """A parameter as an override's value."""
    return repr(value) if isinstance(value, float) else str(value)


def plot_search(study: optuna.Study, folder: Path) -> None:
    """optuna_history.png and optuna_importances.png (with matplotlib, the plots extra)."""
    from tftrain.plots import pyplot

    plt = pyplot()
    complete = [t for t in study.trials if t.state == State.COMPLETE]
    if plt is None or not complete:
        return
    from optuna.visualization import matplotlib as plots

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        drawings = {"optuna_history.png": plots.plot_optimization_history}
        if len(complete) >= 2 and study.trials[-1].params:
            # PED-ANOVA (Optuna 5's default) on Optuna 4 too, whose f-ANOVA needs scikit-learn
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
            drawings["optuna_importances.png"] = functools.partial(plots.plot_param_importances,
                                                                   evaluator=evaluator)
        for name, draw in drawings.items():
            try:
                axes = draw(study)
            except (ValueError, RuntimeError, ImportError) as error:  # e.g. one value everywhere
                echo(f"note: {name} skipped: {error}")
                continue
            figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
            figure.savefig(folder / name, dpi=100, bbox_inches="tight")
            plt.close(figure)
