"""The Optuna side of tftrain's sweeper, imported when a search starts (Optuna is slow to import).

`Search.run` asks the study for trials, launches each as a job (job number = trial number,
so a job finds its trial, tftrain.sweeps.trial), and tells the study how each ended, read from
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
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tftrain import artifacts
from tftrain.sweeps import multirun
from tftrain.console import echo
from tftrain.errors import TftrainError
from tftrain.config.search import direction_of, disagreement
from tftrain.config.objective import of_summary
from tftrain.sweeps.trial import make_pruner
from tftrain.sweeps.optuna_space import encode, grid, search_space

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
        # as Hydra's own sweeper does: the sweep's arguments, for the command that continues it
        OmegaConf.save(self.config, self.folder / "multirun.yaml")
        resumed = self.left_running(study)
        remaining = self.settings["n_trials"] - sum(counted(t) for t in study.trials) - len(resumed)
        if study.trials:
            echo(f"search: continuing study '{study.study_name}' ({len(study.trials)} trials so "
                 f"far, {len(resumed)} interrupted to resume, {max(remaining, 0)} new to run)")
        for trial, overrides in resumed:
            echo(f"search: resuming trial {trial.number} in {self.folder / str(trial.number)}")
            self.launch(study, [trial], [overrides], trial.number)
        job = len(study.trials)
        while remaining > 0:
            trials = [study.ask(space) for _ in range(min(self.settings["n_jobs"], remaining))]
            if [t.number for t in trials] != list(range(job, job + len(trials))):
                raise TftrainError(f"the study in {self.storage} gained trials from elsewhere while "
                                   "this search ran; one search per study at a time.")
            self.launch(study, trials, [tuple(fixed + [f"{k}={encode(v)}" for k, v in t.params.items()])
                                        for t in trials], job)
            job, remaining = job + len(trials), remaining - len(trials)
        self.finish(study)

    def launch(self, study: optuna.Study, trials: list[Any], overrides: list[tuple[str, ...]],
               first: int) -> None:
        """Run trials as jobs numbered from `first` (job number = trial number) and tell the
        study how each ended."""
        self.validate(overrides)
        for trial, ret in zip(trials, self.launcher.launch(overrides, initial_job_idx=first)):
            self.tell(study, trial, Path(ret.hydra_cfg.hydra.runtime.output_dir))

    def left_running(self, study: optuna.Study) -> list[tuple[Any, tuple[str, ...]]]:
        """The trials a stopped search left running. One whose folder says it was interrupted
        (Ctrl-C, SIGTERM) is resumed in its folder, so nothing it trained is lost; any other
        (killed outright) is marked failed and not counted: a new trial replaces it. Either
        way its folder no longer fails the command's exit status once the search has run."""
        resumed = []
        for trial in study.trials:
            if trial.state not in (State.RUNNING, State.WAITING):
                continue
            summary = previous_summary(self.folder / str(trial.number))
            if summary.get("status") == "interrupted" and summary.get("overrides"):
                resumed.append((trial, tuple(summary["overrides"])))
            else:
                study._storage.set_trial_system_attr(trial._trial_id, STALE, True)
                study.tell(trial.number, state=State.FAIL)
        multirun.outcome().replaced = [str(t.number) for t in study.trials
                                       if t.system_attrs.get(STALE)]
        return resumed

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
        return study

    def direction(self) -> str:
        """The study's direction: given, or the objective's (tftrain.config.objective), decided
        before any trial as each trial's run will decide it; `objective.metric: auto` depends on
        the data's task, which is read here the way training reads it."""
        chosen = self.settings.get("direction", "auto")
        if chosen != "auto":
            return chosen
        mode = direction_of(self.config)
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
        """The same pruner each trial's job applies (tftrain.sweeps.trial)."""
        chosen = self.settings.get("pruner", "median")
        if isinstance(chosen, DictConfig):
            chosen = OmegaConf.to_container(chosen, resolve=True)
        return make_pruner(chosen, self.settings.get("warmup_epochs", 2),
                           int(self.config.trainer.epochs))

    def tell(self, study: optuna.Study, trial: Any, folder: Path) -> None:
        """Tell the study how a trial's job ended, from its summary.json; say it."""
        summary = previous_summary(folder) or {"status": "failed"}
        status, value = summary.get("status"), summary.get("objective")
        if status == "completed":
            agreed(study, trial.number, summary)
        params = " ".join(f"{k}={encode(v)}" for k, v in trial.params.items())
        if status == "completed" and value is not None and math.isfinite(value):
            study.tell(trial.number, value)
            best = study.best_trial
            echo(f"search: trial {trial.number} ({params}): {summary.get('objective_metric')} "
                 f"{value:.4f}; best {best.value:.4f} (trial {best.number})")
        elif status == "pruned":
            study.tell(trial.number, state=State.PRUNED)
            echo(f"search: trial {trial.number} ({params}) pruned after epoch "
                 f"{summary.get('epochs_completed')}")
        else:
            study.tell(trial.number, state=State.FAIL)
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


def agreed(study: optuna.Study, number: int, summary: dict[str, Any]) -> None:
    """A trial's run ranked by the metric and direction the study optimises: a study that
    maximised val_loss, or mixed val_loss with loss, would pick a wrong best trial silently."""
    ranked = of_summary(summary)
    first = study.user_attrs.get("objective_metric")
    mode = "max" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "min"
    if ranked is not None and ranked.mode == mode and first in (None, ranked.metric):
        if first is None:
            study.set_user_attr("objective_metric", ranked.metric)
        return
    raise TftrainError(disagreement(number, ranked, study.direction.name.lower(), first))


def previous_summary(folder: Path) -> dict[str, Any]:
    """A trial folder's summary.json, or {} where there is none (yet) or it is unreadable."""
    try:
        return artifacts.read_summary(folder)
    except (OSError, ValueError):
        return {}


def counted(trial: optuna.trial.FrozenTrial) -> bool:
    return trial.state in COUNTED and not trial.system_attrs.get(STALE)


def plot_search(study: optuna.Study, folder: Path) -> None:
    """optuna_history.png and optuna_importances.png (with matplotlib, the plots extra)."""
    from tftrain.run.plots import pyplot, save_figure

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
            save_figure(figure, folder / name, bbox_inches="tight")
