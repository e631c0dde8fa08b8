"""One run, in the order of ARCHITECTURE.md: what `prepare` builds (runtime, data, model,
callbacks, trainer), training, evaluation, artifacts. Each step takes what the one before
produced; none reads another's config. Returns the objective, so Hydra sweepers can optimise it.
An interruption in any phase leaves a resumable folder.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from tftrain.run import runtime  # first: sets TensorFlow's environment before it is imported

import keras  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from tftrain import artifacts  # noqa: E402
from tftrain.artifacts import INTERRUPTED  # noqa: E402
from tftrain.callbacks.record import ordered, recorder  # noqa: E402
from tftrain.config.callbacks import between_validations  # noqa: E402
from tftrain.callbacks.backup import Backup  # noqa: E402
from tftrain.console import echo  # noqa: E402
from tftrain.data import Data, Spec  # noqa: E402
from tftrain.errors import Diverged, Interrupted, Pruned, WriteFailed, keyed, signal_name  # noqa: E402
from tftrain.run.plots import plot_history  # noqa: E402
from tftrain.config.resume import backup_node  # noqa: E402
from tftrain.run.prepare import Pruning, Stage, prepare  # noqa: E402
from tftrain.run.signals import Signals  # noqa: E402
from tftrain.run.summary import class_names, closing_lines, job_overrides, summarize  # noqa: E402
from tftrain.trainers import Trainer  # noqa: E402

EXPORTING = "exporting"  # the phase after a completed run: export=
LAYER_TABLE_WIDTH = 200  # wider than any of Keras' layouts of model.summary (at most 162)


def run(cfg: DictConfig, signals: Signals | None = None, pruning: Pruning | None = None,
        resume_with: str | None = None) -> float:
    """One run, start to end; returns its objective. An interruption in any phase leaves a
    resumable folder (`interrupted`) and reaches the caller with the message to show.
    `pruning`: the callback of an Optuna trial (tftrain.sweeps.trial); `resume_with`: the
    command that continues this run (a sweep's own, for a job of a sweep)."""
    resume_with = resume_with or f"tftrain resume={cfg.run_dir}"
    started, wall = datetime.now(timezone.utc), time.perf_counter()
    signals, stage = signals or Signals(), Stage()
    try:
        return run_stages(cfg, signals, stage, started, wall, pruning, resume_with)
    except Interrupted as error:
        if stage.phase == EXPORTING:  # the run completed and is whole: only the export stopped
            error.args = (f"{error} while exporting, after the run completed (its folder is "
                          f"whole); tftrain-export {cfg.run_dir} format=... exports it",)
            error.kept = True
            raise
        try:
            error.args = (interrupted(cfg, stage, error, started, time.perf_counter() - wall,
                                       resume_with),)
            error.kept = True
        except Interrupted as again:  # a second signal while keeping what the run made
            again.args = (f"interrupted again by {signal_name(again.signal_number)}: stopped at "
                          "once, while keeping what the run made; the backup holds the last "
                          "state saved whole. Resume with: "
                          f"{resume_with}",)
            again.kept = True
            raise again from None
        raise
    except (WriteFailed, OSError) as error:
        failed = error if isinstance(error, WriteFailed) else artifacts.write_failure(error, Path(cfg.run_dir))
        if failed is None:
            raise
        if stage.phase == EXPORTING:
            raise WriteFailed(failed.path, failed.error, then="The run completed and its folder "
                              f"is whole; tftrain-export {cfg.run_dir} format=... exports it "
                              "once the folder can be written.") from error
        raise WriteFailed(failed.path, failed.error,
                          then=f"The run stopped while {stage.phase}; what it wrote before is whole "
                               "(the backup holds the last state saved). Once the folder can be "
                               "written again (free space, a file-size limit lifted, "
                               f"permissions), resume with: {resume_with}") from error


def run_stages(cfg: DictConfig, signals: Signals, stage: Stage, started: datetime,
               wall: float, pruning: Pruning | None, resume_with: str) -> float:
    prepared = stage.prepared = prepare(cfg, signals, stage, pruning)
    strategy, trainer, first_epoch = prepared.strategy, prepared.trainer, prepared.first_epoch
    data, model, callbacks = prepared.data, prepared.model, prepared.callbacks
    chief, run_dir = runtime.is_chief(strategy), Path(cfg.run_dir)
    artifacts.write_resolved_config(cfg, run_dir)
    announce(run_dir, (first_epoch, prepared.first_step) if cfg.resume else None, data, model,
             trainer)

    stage.phase = "training"
    stopped = train(trainer, model, data, callbacks, (first_epoch, prepared.first_step), signals)
    plot_history(recorder(callbacks).rows, run_dir / "history.png")
    test = {}
    if stopped is None:
        stage.phase = "evaluating on the test split"
        test = ordered(trainer.evaluate(model, data.test)) if data.test is not None else {}
        stage.phase = "saving the model"
        with signals.protected():
            save_model(cfg, model, data.spec, run_dir)
    stage.phase = "writing the summary"
    summary = summarize(cfg, prepared, test, started, time.perf_counter() - wall, stopped)
    artifacts.write_json_atomic(run_dir / artifacts.SUMMARY, summary)
    if stopped is not None:
        raise stopped
    with keyed("dataset"):  # what the closing lines name of the data's settings
        closing_lines(summary, run_dir)
    artifacts.remove_leftovers(run_dir)
    if not chief:
        shutil.rmtree(run_dir, ignore_errors=True)
    elif cfg.export:  # after the run is whole: an export that fails leaves a completed run
        stage.phase = EXPORTING
        from tftrain.run.export import export_run  # the converters load only when asked

        export_run(cfg.export, model, data, summary, run_dir)
    return summary["objective"]


def save_model(cfg: DictConfig, model: keras.Model, spec: Spec, run_dir: Path) -> None:
    """model.keras and what its outputs mean."""
    artifacts.save_model_atomic(model, run_dir / artifacts.MODEL)
    write_layer_table(model, run_dir)
    if any(t.class_names for t in spec.targets):  # what the outputs mean, beside the model
        artifacts.write_json_atomic(run_dir / "class_names.json", class_names(spec))


def write_layer_table(model: keras.Model, run_dir: Path) -> None:
    """model.txt: Keras' layer table (each layer, its output shape and parameters, nested
    models expanded), so a run's model can be read without loading it. Keras sizes the
    table to the terminal (COLUMNS) and cuts columns past it: the file is made as wide as
    Keras' own layout, whatever terminal the run had."""
    table: list[str] = []
    terminal = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(LAYER_TABLE_WIDTH)
    try:
        model.summary(print_fn=table.append, expand_nested=True)
    finally:
        if terminal is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = terminal
    artifacts.write_text_atomic(run_dir / artifacts.LAYER_TABLE, "".join(table))


def interrupted(cfg: DictConfig, stage: Stage, error: Interrupted, started: datetime,
                seconds: float, resume_with: str) -> str:
    """Keep what an interrupted run made (the weights, a summary saying where it stopped)
    and say how to continue it."""
    run_dir = Path(cfg.run_dir)
    if stage.model is not None:
        artifacts.save_model_atomic(stage.model, run_dir / INTERRUPTED)
    prepared = stage.prepared
    backups = [c for c in prepared.callbacks if isinstance(c, Backup)] if prepared else []
    if stage.phase == "training":  # the backup resumes exactly where the run stopped
        for backup in backups:
            backup.save_now()
    summary = (summarize(cfg, prepared, {}, started, seconds, error) if prepared is not None else
               artifacts.brief_summary("interrupted", str(error), cfg.objective, job_overrides()))
    epochs, done = cfg.trainer.epochs, summary["epochs_completed"]
    training = stage.phase == "training" and done < epochs  # not just after its last epoch
    where = f"in epoch {done + 1} of {epochs}" if training else \
        f"while {stage.phase}" + (f", after {done} epoch(s)" if done else "")
    steps = backups[0].steps if backups else 0
    kept = [f"checkpointed at step {steps} of epoch {done + 1}" if steps else
            f"epochs 1-{done} are checkpointed" if done else "no epoch had completed"] \
        if training else []
    if stage.model is not None:
        kept.append(f"the weights so far are in {run_dir / INTERRUPTED}")
    then = (f"Resume with: {resume_with}" if backup_node(cfg) is not None else
            "This run has no backup callback, so it cannot be resumed; run it again to start over")
    message = (f"interrupted by {signal_name(error.signal_number)} {where}"
               + (f" ({'; '.join(kept)})" if kept else "") + f". {then}")
    artifacts.write_json_atomic(run_dir / artifacts.SUMMARY,
                                {**summary, "error": message, "interrupted_while": stage.phase})
    return message


def announce(run_dir: Path, resumed_at: tuple[int, int] | None, data: Data, model: keras.Model,
             trainer: Trainer) -> None:
    spec, replicas = data.spec, model.distribute_strategy.num_replicas_in_sync
    where = "" if resumed_at is None else \
        " (resuming after training: evaluating and saving)" if resumed_at[0] >= trainer.epochs else \
        f" (resuming after epoch {resumed_at[0]})" if not resumed_at[1] else \
        f" (resuming in epoch {resumed_at[0] + 1} after step {resumed_at[1]})"
    echo(f"run folder: {run_dir}{where}")
    echo(f"data: {data.sizes['train']} train / {data.sizes['val']} val / {data.sizes['test']} "
         f"test; {spec.describe()}")
    echo(f"model: {model.name}, {model.count_params():,} parameters; trainer: "
         f"{type(trainer).__name__}, {trainer.epochs} epochs x {data.steps_per_epoch} steps"
         + (f"; {replicas} replicas" if replicas > 1 else ""))


def train(trainer: Trainer, model: keras.Model, data: Data, callbacks: list,
          start: tuple[int, int], signals: Signals) -> Diverged | Pruned | None:
    """Train; a divergence or a pruned trial ends the run but keeps everything written.
    Signals wait for the next batch boundary (the callbacks check), so no step or
    checkpoint is cut short."""
    try:
        with between_validations(trainer.validation_freq), signals.protected():
            trainer.train(model, data, callbacks, *start)
    except (Diverged, Pruned) as error:
        return error
    finally:
        for callback in callbacks:  # a live display stops even when training did not end
            if hasattr(callback, "close"):
                callback.close()
    return None
