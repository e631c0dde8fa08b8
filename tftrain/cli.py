"""The `tftrain` command: compose (`tftrain.config.compose`), run each job (`tftrain.run.runner`), and
end each the way the README's Errors section promises.

Every way a job can end is decided in `ended`: a TftrainError (bad input, found at one of
the doors listed in `tftrain.errors`) is one paragraph and exit 2; a diverged run exit 3;
an interrupted one 130/143 with the line that resumes it; anything else is a bug of ours
or an error in the user's own code, shown with its traceback. A run that ends before it
trained leaves no folder; a sweep job keeps its folder with its verdict in summary.json.
Nothing here imports TensorFlow: `--help` and `--cfg job` are instant.
"""

from __future__ import annotations

import math
import shlex
import shutil
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from tftrain.config import checks
from tftrain.sweeps import multirun
from tftrain.tools.shell import prepared
from tftrain.config.describe import help_text, version_line
from tftrain.sweeps.trial import check_sweeper
from tftrain.sweeps.cv import sweep_of_folds
from tftrain.config.cv import folds_of_trial
from tftrain.config.compose import command_overrides, compose, layered, resolved_as_far_as_known
from tftrain.config.preflight import preflight
from tftrain.config.sources import (PRIMARY, flag_values, flags_of_run, packaged,
                                    source_of, used)
from tftrain.console import detach_log_file, echo, fail, log, refuse
from tftrain.errors import (Diverged, Interrupted, Pruned, TftrainError, raised_in_tftrain,
                            raised_in_users_code, user_error)
from tftrain.fast_exit import exits_fast
from tftrain.run import lock
from tftrain.run.folder_lock import Bookkeeping, maybe_a_worker, named_folder, worker_group
from tftrain.run.folder import RunFolder
from tftrain.run.lock import FolderInUse, Hold
from tftrain.run.signals import Held, Signals

# What Hydra writes into a run folder before the run itself starts, and the lock that holds it.
BOOKKEEPING = {".hydra", "train.log", lock.LOCK}


def _task(cfg: DictConfig) -> float:
    """Hydra's task function: one job, start to end, in a folder it holds."""
    in_sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        hold = hold_folders(cfg, in_sweep)
    except TftrainError as error:
        return ended(cfg, error, in_sweep)
    try:
        return job(cfg, in_sweep)
    finally:
        lock.release(hold)


def hold_folders(cfg: DictConfig, in_sweep: bool) -> Hold | None:
    """The job's folder, held until the job ends (a dated folder, a job of a sweep; one the
    command named is held already), and a sweep's folder, held until the command ends, where
    its jobs run in this process (a dated sweep folder)."""
    group = worker_group(checks.multi_worker(cfg))
    hydra = HydraConfig.get()
    if not in_sweep:
        return lock.claim(Path(cfg.run_dir), shlex.join(["tftrain", *sys.argv[1:]]), group)
    sweep = multirun.sweep_command(Path(hydra.sweep.dir))
    if "BasicLauncher" in str(hydra.launcher.get("_target_", "")):
        lock.claim(Path(hydra.sweep.dir), sweep)
    return lock.claim(Path(cfg.run_dir), f"job {hydra.job.num} of {sweep}", group)


def job(cfg: DictConfig, in_sweep: bool) -> float:
    """One job; a completed job of an earlier attempt of the same sweep is skipped."""
    if in_sweep:
        multirun.job_started()
        if (count := folds_of_trial(cfg, HydraConfig.get())) is not None:
            return trial_of_folds(cfg, count)
        if (done := multirun.completed_objective(cfg)) is not None:
            return done
    if not cfg.resume and multirun.interrupted_before(cfg):  # started again: a requeued job
        echo(f"{cfg.run_dir} holds this run, interrupted: resuming it")
        cfg.resume = cfg.run_dir
    try:
        with Signals() as signals:  # Ctrl-C and SIGTERM from here on: tftrain.run.signals
            checks.validate(cfg)
            from tftrain.run.runner import run  # the first TensorFlow import happens here
            from tftrain.sweeps.trial import trial_of_this_job

            from tftrain.sweeps.pruning import pruning_of

            return run(cfg, signals, pruning_of(trial_of_this_job(cfg.trainer.epochs)),
                       multirun.resume_command(Path(cfg.run_dir)))
    except (Exception, Interrupted) as error:
        return ended(cfg, error, in_sweep)


def trial_of_folds(cfg: DictConfig, count: int) -> float:
    """An Optuna trial that cross-validates: its folds' runs one after another, their mean its
    objective (tftrain.sweeps.trial_folds); a fold that fails fails the trial."""
    def run_fold(fold: DictConfig) -> float:
        with Signals() as signals:
            checks.validate(fold)
            from tftrain.run.runner import run  # the first TensorFlow import happens here

            return run(fold, signals, None, multirun.resume_command(Path(fold.run_dir)))

    try:
        from tftrain.sweeps.trial_folds import run_folds

        return run_folds(cfg, count, run_fold)
    except (Exception, Interrupted) as error:
        return ended(cfg, error, True)


def ended(cfg: DictConfig, error: BaseException, in_sweep: bool) -> float:
    """A job that did not complete: say why, keep or discard its folder, and exit (a sweep
    job returns NaN to the sweeper instead; Ctrl-C stops a whole sweep)."""
    run_dir = Path(cfg.run_dir)
    error = user_error(error) or error
    if isinstance(error, FolderInUse):  # another command's folder: nothing there is ours
        fail(str(error))
        if in_sweep:
            return math.nan
        sys.exit(error.exit_code)
    if isinstance(error, Pruned):  # an Optuna trial the search's pruner stopped: not a failure
        echo(f"trial {error}; its folder keeps what it trained.")
        return math.nan
    if isinstance(error, TftrainError):
        refuse(error)
    elif isinstance(error, Interrupted):
        fail(str(error) if error.kept else f"{error} before the run began; " + (
            f"nothing of this job was kept. Continue the sweep with: {multirun.resume_command(run_dir)}"
            if in_sweep else "nothing was written."))
    elif isinstance(error, Diverged):
        kept = [str(p) for p in (run_dir / "checkpoints").glob("*") if error.epoch > 0]
        fail(f"{error} A loss that diverges most often means a learning rate too high "
             "(optimizer.learning_rate, lr_schedule) or inputs on very different scales "
             "(dataset.normalize=true). " + (f"The last good state is kept in "
                                             f"{', '.join(sorted(kept))}." if kept else
                                             "No epoch had completed, so nothing was checkpointed."))
    else:  # a sweep job's traceback goes to its train.log with its summary (record_failure)
        print("".join(traceback.format_exception(error)), file=sys.stderr, end="")
        if not in_sweep:
            log.error("".join(traceback.format_exception(error)))
        fail(unexpected(error, run_dir if in_sweep else None))
    if in_sweep and not isinstance(error, Interrupted):
        return multirun.record_failure(cfg, error)
    if not cfg.resume:
        discard_untrained(run_dir)
    sys.exit(getattr(error, "exit_code", 1))


def unexpected(error: BaseException, kept_in: Path | None) -> str:
    """The line under a traceback: whose fault it was, told by where it was raised."""
    where = f" (traceback in {kept_in}/train.log)" if kept_in else ""
    yours = raised_in_users_code(error)
    if yours is not None:
        return (f"the run stopped on an error raised in your own code, {yours}: "
                f"{type(error).__name__}{where}; the traceback above says where.")
    if raised_in_tftrain(error):
        return (f"this is a bug in tftrain, not a problem with your input: {type(error).__name__}"
                f"{where}. Please report it with the traceback above (TFTRAIN_FULL_ERROR=1 "
                "shows Keras' and TensorFlow's frames too).")
    return (f"the run stopped on an error raised outside tftrain (in Keras or TensorFlow): "
            f"{type(error).__name__}{where}; the traceback above says where (TFTRAIN_FULL_ERROR=1 "
            "shows their own frames too).")


def discard_untrained(run_dir: Path) -> None:
    """A run that ended before it trained leaves no folder (nor empty folders above it, up
    to the working folder); one that trained keeps everything it wrote."""
    if not run_dir.is_dir() or not {p.name for p in run_dir.iterdir()} <= BOOKKEEPING:
        return
    shutil.rmtree(run_dir, ignore_errors=True)
    here, folder = Path.cwd().resolve(), run_dir.resolve().parent
    while folder != here and folder.is_relative_to(here) and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def interrupted_outside_a_run(ended: multirun.Outcome) -> str:
    """Ctrl-C before a run started, or between the jobs of a sweep (the sweeper's own loop)."""
    if ended.sweep_dir:
        folder = Path(ended.sweep_dir)
        if folder.is_dir() and any(p.is_dir() for p in folder.iterdir()):
            return (f"interrupted between the jobs of the sweep in {folder}; the jobs that ran "
                    f"keep their folders. Continue it with: {multirun.sweep_command(folder)}")
    return "interrupted before the run started; nothing was written."


def print_resolved(argv: list[str]) -> int:
    """`--cfg job --resolve`: the composed config, resolved as far as it can be without a run."""
    try:
        with used(source_of(argv)):
            problem = preflight([a for a in argv if a != "--resolve"], check_sweeper)
            if problem:
                raise TftrainError(problem)
            cfg = compose(command_overrides(argv)[0])
    except TftrainError as error:
        return refuse(error)
    print(OmegaConf.to_yaml(resolved_as_far_as_known(cfg)), end="")
    return 0


def expand_resume(argv: list[str]) -> list[str]:
    """`resume=DIR` reruns DIR's own overrides into DIR; arguments given now still apply."""
    typed = [a for a in argv if a.startswith("resume=")]
    if not typed:
        return argv
    try:
        given = named_folder(typed[-1:], "resume")  # quoted as Hydra reads quotes
    except Exception:  # not Hydra's syntax: the path as typed
        given = typed[-1].split("=", 1)[1]
    if not given or given == "None":
        raise TftrainError("resume= names no run folder (an unset shell variable?): give the "
                           "folder of the run to continue, e.g. resume=outputs/2026-11-21/10-32-05.")
    folder = RunFolder(given, "resume")
    multirun.refuse_resuming_a_trial(Path(folder.path))  # a trial resumes with its search
    previous = [o for o in folder.overrides() if not o.startswith("resume=")]
    rest = [a for a in argv if not a.startswith("resume=")]
    moved = next((a for a in rest if a.startswith("hydra.run.dir=")), None)
    if moved:
        raise TftrainError(f"{moved} with resume={given}: a run resumes in its own folder, "
                           f"{given}; to keep a copy elsewhere, copy the folder first and "
                           "resume the copy.")
    # from the configs it was made with (--config-dir...), unless others are named now
    flags = [] if flag_values(argv) else flags_of_run(Path(folder.path))
    with used(source_of([*flags, *argv])):
        layers = layered(previous, rest)
    return [*flags, *layers, f"resume={folder.path}", f"hydra.run.dir={folder.path}"]


def claim_folder(argv: list[str], typed: str) -> Bookkeeping:
    """The folder the command line names, held from now on for this command (`typed`: the
    command line a second command is told of); a worker of a multi-worker run shares it with
    the others of its run."""
    overrides, multirun = command_overrides(argv)
    group = None
    if not multirun and maybe_a_worker():
        group = worker_group(checks.multi_worker(compose(overrides)))
    return Bookkeeping.claim(overrides, multirun, typed, group)


@exits_fast
def main() -> None:
    sys.exit(command(sys.argv[1:]))


def command(argv: list[str]) -> int:
    """One `tftrain` command line, start to end, in this process; returns its exit status.

    `main` runs it as the console script; the tests run it in their worker process too, so
    that TensorFlow starts once per worker instead of once per test.
    """
    prepared()  # as every tftrain command: the user's modules import from the working folder
    detach_log_file()
    if "--help" in argv or "-h" in argv:
        try:
            print(help_text(source_of(argv)))  # a user's --config-dir: its options too
        except TftrainError as error:
            return refuse(error)
        return 0
    if "--version" in argv or "-V" in argv:  # Hydra's own --version names only Hydra
        print(version_line())
        return 0
    if {"--cfg", "job", "--resolve"} <= set(argv):  # Hydra's own stops at the run's folder
        return print_resolved(argv)
    with multirun.tracked() as ended:
        return run_command(argv, ended)


def run_command(argv: list[str], ended: multirun.Outcome) -> int:
    """Compose and run the command line's jobs (`ended`: what its sweep comes to)."""
    kept, typed, held = Bookkeeping(), shlex.join(["tftrain", *argv]), Held()
    try:
        with held:  # a signal outside a run waits for the run (tftrain.run.signals)
            argv = expand_resume(argv)
            sys.argv[1:] = argv  # what Hydra parses
            with used(source_of(argv)):  # --config-dir and co.: every composition of this command
                problem = preflight(argv, check_sweeper)
                if problem:
                    raise TftrainError(problem)
                argv = sys.argv[1:] = sweep_of_folds(argv)  # cv.folds=K: a sweep of K folds
                kept = claim_folder(argv, typed)
                hydra.main(version_base="1.3", config_path=str(packaged()),
                           config_name=PRIMARY)(_task)()
    except TftrainError as error:
        return refuse(error)
    except KeyboardInterrupt:  # outside a run (each run handles its own signals)
        fail(interrupted_outside_a_run(ended))
        return 130
    except SystemExit as stop:  # a run that failed, or Hydra's own usage errors
        code = stop.code if isinstance(stop.code, int) else 1 if stop.code else 0
        if code == TftrainError.exit_code:  # refused before training: the folder as it was
            kept.restore()
        if code:
            return code
    finally:
        with Held():  # a signal now (a second Ctrl-C) must not leave a lock behind
            kept.release()
            lock.release_all()  # a sweep's folder held for its jobs
    if held.received:  # after the last job, while Hydra ended the sweep
        fail(interrupted_outside_a_run(ended))
        return 128 + held.received
    return multirun.exit_status(ended)

if __name__ == "__main__":
    main()
