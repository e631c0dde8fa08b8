"""What a multirun adds to single runs: failure isolation, skipping finished jobs, the end report.

A sweep of dozens of jobs must not be lost to one bad job, and an interrupted sweep must not
redo hours of finished work; both are decided from the job folders' ``summary.json``, so the
same rules hold whichever launcher ran the jobs (one process, joblib, Slurm). Nothing here
imports TensorFlow.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import shlex
import traceback
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from tftrain import artifacts
from tftrain.config.sources import flags_of
from tftrain.console import console, echo, fail, label_lines
from tftrain.run.folder_lock import remove_if_empty
from tftrain.errors import TftrainError

log = logging.getLogger("tftrain")
# What Hydra and the Optuna search write into a sweep folder before any job has run.
SWEEP_BOOKKEEPING = {"multirun.yaml", "optuna.db"}


@dataclass
class Outcome:
    """What one command's sweep came to, for its exit status: its folder (known once a job
    starts: a Ctrl-C between jobs names it), the jobs that did not complete, and the job
    folders of Optuna trials a stopped search left and a new trial replaced."""

    sweep_dir: str | None = None
    failed: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)


# Hydra calls the job, its callbacks and the sweeper, never tftrain's command, so what they
# learn reaches the command through the outcome it made for itself (`tracked`); elsewhere (a
# launcher's worker process) what they note goes to a throwaway one.
OUTCOME: ContextVar[Outcome | None] = ContextVar("sweep_outcome", default=None)


@contextlib.contextmanager
def tracked() -> Iterator[Outcome]:
    """One command's outcome, filled in by its jobs and its sweep's end."""
    token = OUTCOME.set(Outcome())
    try:
        yield OUTCOME.get()
    finally:
        OUTCOME.reset(token)


def outcome() -> Outcome:
    return OUTCOME.get() or Outcome()


def discard_if_unused(folder: str) -> None:
    """A sweep folder in which no job ran (refused, or Ctrl-C before the first job) holds
    only Hydra's multirun.yaml and the study: removed, so that nothing is left half-written."""
    path = Path(folder)
    if path.is_dir() and all(p.is_file() and p.name in SWEEP_BOOKKEEPING for p in path.iterdir()):
        for bookkeeping in path.iterdir():
            bookkeeping.unlink()
        remove_if_empty(folder)


def sweep_command(sweep_dir: Path) -> str:
    """The command that continues a sweep: its own arguments (from multirun.yaml) and its
    folder. Re-running it skips the completed jobs, resumes interrupted ones (an Optuna
    search resumes its interrupted trials) and runs the rest."""
    try:
        overrides = OmegaConf.load(sweep_dir / "multirun.yaml").hydra.overrides
        given = [*overrides.task, *overrides.hydra]
    except Exception:  # no multirun.yaml (a sweep of an older tftrain): say what to add
        given = ["<the sweep's arguments>"]
    kept = [shlex.quote(str(o)) for o in [*flags_of(sweep_dir / "multirun.yaml"), *given]
            if not str(o).startswith(("hydra.sweep.dir=", "hydra.mode="))]
    return f"tftrain -m {' '.join(kept)} hydra.sweep.dir={shlex.quote(str(sweep_dir))}"


def resume_command(run_dir: Path) -> str:
    """How to continue an interrupted run: `resume=` for a run of its own; for a job of a
    sweep, the sweep's command (resuming the job alone would leave the sweep, its report and
    an Optuna study not knowing it)."""
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return sweep_command(Path(HydraConfig.get().sweep.dir))
    return f"tftrain resume={run_dir}"


def refuse_resuming_a_trial(folder: Path) -> None:
    """`resume=` of an Optuna trial's folder is refused, with the command that resumes it:
    a trial belongs to its study (its result is recorded there, its pruner asks the study).
    A grid sweep's job resumes alone as a run of its own (to train it longer, say). A fold
    of a trial that cross-validates (tftrain.sweeps.trial_folds) belongs to its trial."""
    if folder.resolve().name.startswith("fold_") and folder.resolve().parent.name.isdigit():
        folder = folder.resolve().parent
    sweep_dir = folder.resolve().parent
    try:
        sweeper = str(OmegaConf.load(sweep_dir / "multirun.yaml").hydra.sweeper._target_)
    except Exception:  # no sweep around it, or one that says nothing of its sweeper
        return
    if "optuna" in sweeper.lower() and folder.resolve().name.isdigit():
        raise TftrainError(f"resume={folder}: that folder is trial {folder.resolve().name} of the "
                           f"Optuna search in {sweep_dir}; a trial resumes as part of its search "
                           f"(its result is recorded in the study). Re-run the search: "
                           f"{sweep_command(sweep_dir)}")


def job_overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task)


def job_started() -> None:
    """A sweep job starts: the sweep's folder is known (a Ctrl-C between jobs names it), and
    the job's lines are labelled where another launcher than Hydra's in-process one may run
    jobs at the same time."""
    hydra = HydraConfig.get()
    outcome().sweep_dir = str(hydra.sweep.dir)
    if "BasicLauncher" not in str(hydra.launcher.get("_target_", "")):
        label_lines(f"job {hydra.job.num}")


def previous_attempt(cfg: DictConfig) -> dict[str, Any] | None:
    """The summary an earlier attempt of this same job (same overrides) left in its folder.

    Re-running a sweep into the same `hydra.sweep.dir` (or a scheduler requeueing a job)
    gives each job the folder of the same job last time.
    """
    run_dir = Path(cfg.run_dir)
    if not (run_dir / artifacts.SUMMARY).is_file():
        return None
    try:
        summary = artifacts.read_summary(run_dir)
    except ValueError:
        return None
    # resume= names where a run continued, not what it trained
    listed = [o for o in summary.get("overrides") or [] if not o.startswith("resume=")]
    return summary if listed == job_overrides() else None


def completed_objective(cfg: DictConfig) -> float | None:
    """The objective of this job when an earlier attempt completed it: not trained again."""
    summary = previous_attempt(cfg)
    if summary is None or summary.get("status") != "completed":
        return None
    run_dir = Path(cfg.run_dir)
    cfg.data_facts = {"steps_per_epoch": summary["steps_per_epoch"],
                      "vocabulary_sizes": summary["data"].get("vocabulary_sizes", {})}
    artifacts.write_resolved_config(cfg, run_dir)  # Hydra has just rewritten it unresolved
    echo(f"job {HydraConfig.get().job.num}: already completed in {run_dir} "
         f"({summary.get('objective_metric')} {summary.get('objective')}); skipped")
    objective = summary.get("objective")
    return math.nan if objective is None else float(objective)


def interrupted_before(cfg: DictConfig) -> bool:
    """Whether an earlier attempt of this run, in this folder, was interrupted (Ctrl-C, a
    scheduler's SIGTERM before preempting it): then this attempt resumes it, as
    `resume=` would, so a requeued job continues where it stopped."""
    summary = previous_attempt(cfg)
    return summary is not None and summary.get("status") == "interrupted"


def record_failure(cfg: DictConfig, error: BaseException) -> float:
    """Leave the job's verdict in its folder and give the sweeper NaN (Optuna: a failed trial).

    The runner already wrote a full summary for a diverged or interrupted run; any other error
    gets a summary that says failed, why, and with which overrides.
    """
    run_dir = Path(cfg.run_dir)
    log.error("".join(traceback.format_exception(error)))
    written = (run_dir / artifacts.SUMMARY).is_file() and \
        artifacts.read_summary(run_dir).get("status") in ("diverged", "interrupted")
    if not written:
        summary = artifacts.brief_summary("failed", str(error) or type(error).__name__,
                                          cfg.objective, job_overrides())
        artifacts.write_json_atomic(run_dir / artifacts.SUMMARY,
                                    {**summary, "error_type": type(error).__name__})
    return math.nan


class SweepEnd(Callback):
    """At the end of a multirun: report.md, report.csv and sweep.png in the sweep folder,
    the table on the console, and the list of jobs that did not complete (for the exit status)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        atexit.register(discard_if_unused, str(config.hydra.sweep.dir))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from tftrain.sweeps import cv
        from tftrain.tools import report

        sweep_dir = Path(config.hydra.sweep.dir)
        runs = report.collect([sweep_dir])
        if not runs:
            return
        written = report.write_all(runs, sweep_dir)
        report.show(runs, title=f"sweep {sweep_dir}")
        written += cv.summarize(sweep_dir, runs)  # a sweep of folds: their mean, std, predictions
        console().print(f"report: {', '.join(map(str, written))}", markup=False)
        ended = outcome()
        ended.sweep_dir = str(sweep_dir)
        ended.failed = [f"{run.name} ({run.status})" for run in runs
                        if run.status not in ("completed", "pruned") and run.name not in ended.replaced]


def exit_status(ended: Outcome) -> int:
    """0 when every job completed; else 1, after naming the jobs that did not."""
    failed = ended.failed
    if not failed:
        return 0
    fail(f"{len(failed)} job(s) of the sweep in {ended.sweep_dir} did not complete: "
         f"{', '.join(failed)}. Each job folder's summary.json and train.log say why. Re-running "
         f"the sweep ({sweep_command(Path(ended.sweep_dir))}) runs only the jobs that did "
         f"not complete (an Optuna search continues its study instead: a failed trial counts "
         f"toward n_trials and is not run again).")
    return 1

