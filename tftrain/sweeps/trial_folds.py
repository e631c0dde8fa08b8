"""An Optuna trial that cross-validates (`tftrain -m hparams_search=optuna cv.folds=K`): its
K folds run one after another in its folder, each a run of its own in `fold_<k>/`, and the
trial's summary.json records their mean as its objective, so the study, its resume, the
sweep's report and tftrain-report see the trial as one run.

Why inside the trial rather than K jobs per trial: a trial is one job (job number = trial
number, tftrain.sweeps.trial), and what Optuna is told is one value. Each fold is still a
whole run: an interrupted one is resumed in its folder by re-running the search's command,
a completed one is not trained again. The trial's cv.md, cv.json and oof.csv are
tftrain.sweeps.cv's, written into the trial folder. The pruner is not asked: successive
folds would report their epochs on the same steps of one trial.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import yaml
from omegaconf import DictConfig

from tftrain import artifacts
from tftrain.config.cv import FOLD, fold_config, fold_override
from tftrain.console import echo
from tftrain.errors import Interrupted
from tftrain.sweeps import cv
from tftrain.sweeps.multirun import job_overrides
from tftrain.tools.report import RunRecord, read_run

FOLDER = "fold_{}"


def run_folds(cfg: DictConfig, count: int, run_one: Callable[[DictConfig], float]) -> float:
    """The trial's folds, each run by `run_one` (a completed one skipped, an interrupted one
    resumed); returns their mean objective. An interruption leaves the trial interrupted
    (the search resumes it); any other error reaches the caller, which records the trial failed."""
    trial_dir = Path(cfg.run_dir)
    done = summary_of(trial_dir)
    if done.get("status") == "completed" and done.get("overrides") == job_overrides():
        echo(f"{trial_dir}: already completed (mean {done.get('objective_metric')} of "
             f"{count} folds {done.get('objective')}); skipped")
        return math.nan if done.get("objective") is None else float(done["objective"])
    echo(f"trial in {trial_dir}: {count} folds one after another, their mean the objective "
         "(the pruner is not asked: each fold's epochs would count as the trial's)")
    records = []
    for fold in range(count):
        folder = trial_dir / FOLDER.format(fold)
        before = summary_of(folder).get("status")
        if before == "completed":
            echo(f"fold {fold}: already completed in {folder}; skipped")
        else:
            mark_as_run(folder, fold)
            try:
                run_one(fold_config(cfg, fold, folder, resume=before == "interrupted"))
            except Interrupted as error:
                interrupted(cfg, trial_dir, error)
                raise
        records.append(fold_record(folder, trial_dir, fold))
    return completed(cfg, trial_dir, records)


def summary_of(folder: Path) -> dict[str, Any]:
    try:
        return artifacts.read_summary(folder)
    except (OSError, ValueError):
        return {}


def mark_as_run(folder: Path, fold: int) -> None:
    """A fold's folder is a run folder (its overrides: the trial's and its fold), so resume=,
    tftrain-eval and tftrain-report read it as any run's."""
    overrides = [*job_overrides(), fold_override(fold)]
    artifacts.write_text_atomic(folder / artifacts.OVERRIDES, yaml.safe_dump(overrides))


def fold_record(folder: Path, trial_dir: Path, fold: int) -> RunRecord:
    """A fold's run as the folds' summary reads it: its overrides name its fold."""
    record = read_run(folder, trial_dir)
    record.overrides[FOLD] = str(fold)
    return record


def interrupted(cfg: DictConfig, trial_dir: Path, error: Interrupted) -> None:
    """The trial's verdict while a fold is interrupted: the search resumes such a trial."""
    summary = artifacts.brief_summary("interrupted", str(error), cfg.objective, job_overrides())
    artifacts.write_json_atomic(trial_dir / artifacts.SUMMARY, summary)


def completed(cfg: DictConfig, trial_dir: Path, records: list[RunRecord]) -> float:
    """cv.md, cv.json and oof.csv in the trial folder, and its summary.json: the folds' mean
    as its objective, their values and std, each metric's mean."""
    cv.summarize(trial_dir, records)
    first = records[0].summary
    metrics = cv.metrics(dict(enumerate(records)))
    stats, means = metrics["objective"], {name: s["mean"] for name, s in metrics.items()}
    summary = {"status": "completed", "objective": stats["mean"],
               "objective_metric": first.get("objective_metric"),
               "objective_mode": first.get("objective_mode"),
               "epochs_completed": max(r.summary.get("epochs_completed", 0) for r in records),
               "wall_time_s": round(sum(r.summary.get("wall_time_s") or 0 for r in records), 3),
               "overrides": job_overrides(),
               "folds": {"count": len(records), "objectives": stats["values"], "std": stats["std"],
                         "folders": [r.path.name for r in records], "report": cv.JSON}}
    for part in cv.PARTS:  # the folds' means, where report columns look for a run's metrics
        found = {n.split(".", 1)[1]: m for n, m in means.items() if n.startswith(f"{part}.")}
        if found:
            summary[part] = found
    artifacts.write_json_atomic(trial_dir / artifacts.SUMMARY, summary)
    spread = f" ± {stats['std']:.4f}" if stats["std"] is not None else ""
    echo(f"trial in {trial_dir}: {summary['objective_metric']} {stats['mean']:.4f}{spread} "
         f"over {len(records)} folds")
    return float(stats["mean"])
