"""Properties a run's numbers keep, checked across sources and both trainers rather than one
case at a time:

1. One objective ranks everything: the summary's best epoch is the objective's best row in
   metrics.csv, early stopping restores it into model.keras (stopped early or not), the best
   checkpoint holds it, a search's study optimises it in its direction.
2. The run says which weights it kept and why training ended.
3. Steps and speed are counted as run: no callback sees a batch past its epoch's end, and
   samples/s is what metrics.csv's epoch times give.
4. A resumed run ends exactly as an uninterrupted one, wherever it was stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import SHARED_DATA, RunFolder, in_process, run_cli, tftrain_command

SPY = '''
import json
from pathlib import Path
import keras

class Batches(keras.callbacks.Callback):
    """Writes the largest batch index any batch hook saw, and the epoch's steps."""

    def __init__(self):
        super().__init__()
        self.seen = -1

    def on_train_batch_begin(self, batch, logs=None):
        self.seen = max(self.seen, batch)

    def on_train_batch_end(self, batch, logs=None):
        self.seen = max(self.seen, batch)

    def on_train_end(self, logs=None):
        Path("batches.json").write_text(json.dumps({"seen": self.seen, "steps": self.params["steps"]}))
'''
KILLER = '''
import os
import signal
from pathlib import Path
import keras

class KillAt(keras.callbacks.Callback):
    """SIGKILL this process once, as batch `batch` of epoch `epoch` (0-based) begins."""

    def __init__(self, epoch, batch=0):
        super().__init__()
        self.epoch, self.batch, self.now = epoch, batch, -1

    def on_epoch_begin(self, epoch, logs=None):
        self.now = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.now, batch) == (self.epoch, self.batch) and not Path("killed").exists():
            Path("killed").write_text("yes")
            os.kill(os.getpid(), signal.SIGKILL)
'''


def fingerprint(model_file: Path) -> str:
    from tftrain import artifacts
    from tftrain.models import load_model

    return artifacts.weights_fingerprint(load_model(str(model_file), inference=True))


def best_row(run: RunFolder) -> dict:
    """The objective's best epoch read from metrics.csv alone: first of the best values."""
    summary = run.summary
    metric, mode = summary["objective_metric"], summary["objective_mode"]
    rows = [r for r in run.metrics if r.get(metric)]
    pick = max if mode == "max" else min
    best = pick(float(r[metric]) for r in rows)
    return next(r for r in rows if float(r[metric]) == best)


CASES = {  # a source of each task and form, with the mode its objective must have
    "digits-fit": (["trainer=fit"], "val_accuracy", "max"),
    "csv-auto-classes-custom-loop": (["trainer=custom_loop", "dataset=csv", "dataset.label=species",
                                      "dataset.path={penguins}"], "val_accuracy", "max"),
    "regression-custom-loop": (["trainer=custom_loop", "dataset=synthetic", "dataset.task=regression",
                                "dataset.num_samples=300"], "val_loss", "min"),
    "regression-csv-fit": (["trainer=fit", "dataset=csv", "dataset.label=median_house_value",
                            "dataset.path={housing}", "dataset.limit_batches=8"], "val_loss", "min"),
}


@pytest.mark.parametrize("case", CASES)
def test_one_objective_ranks_epochs_keeps_weights_and_best_checkpoint(train, tmp_path, case):
    args, metric, mode = CASES[case]
    needed = {"penguins": SHARED_DATA / "penguins.csv", "housing": SHARED_DATA / "housing.csv"}
    if any("{" in a for a in args) and not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    args = [a.format(**{k: str(v) for k, v in needed.items()}) for a in args]
    run = train(*args, "trainer.epochs=4", "trainer.batch_size=32",
                "callbacks.early_stopping.patience=2")
    summary = run.summary
    assert (summary["objective_metric"], summary["objective_mode"]) == (metric, mode)
    best = best_row(run)
    assert summary["best_epoch"] == int(best["epoch"])
    assert summary["objective"] == pytest.approx(float(best[metric]), abs=1e-6)
    weights = summary["model_weights"]
    assert weights["chosen_by"] == "early_stopping" and weights["epoch"] == summary["best_epoch"]
    kept = fingerprint(run.path / "model.keras")
    assert kept == summary["weights_fingerprint"] == fingerprint(run.path / "checkpoints" / "best.keras")
    log = (run.path / "train.log").read_text()
    assert f"model.keras: the weights of epoch {summary['best_epoch']}, the best {metric}" in log
    assert "val (best epoch)" in log  # the closing table lands in train.log too


def test_early_stopping_says_when_and_why_it_stopped(train):
    """The guide's experiment: early stopping on val_loss, which is then the objective."""
    run = train("experiment=binary_mlp_early_stopping", "trainer.epochs=30",
                "callbacks.early_stopping.patience=1", "optimizer.learning_rate=0.05")
    summary = run.summary
    stop = summary["early_stopping"]
    assert summary["status"] == "completed" and stop is not None
    assert stop["monitor"] == "val_loss" and stop["patience"] == 1
    assert stop["stopped_after_epoch"] == summary["epochs_completed"] < 30
    assert summary["model_weights"]["epoch"] == summary["best_epoch"] == stop["best_epoch"]
    log = (run.path / "train.log").read_text()
    assert (f"early stopping: val_loss did not improve for 1 epochs (patience 1); stopped after "
            f"epoch {stop['stopped_after_epoch']} of 30") in log


def test_a_monitor_set_by_hand_is_kept_and_said(tmp_path):
    result = in_process("debug=smoke", "callbacks.early_stopping.monitor=val_loss",
                        f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert "note: early_stopping monitors val_loss, as set, while the objective is val_accuracy" \
        in result.stdout
    summary = RunFolder(tmp_path / "run").summary
    assert summary["model_weights"]["metric"] == "val_loss"
    assert summary["objective_metric"] == "val_accuracy"


@pytest.mark.parametrize("trainer", ["fit", "custom_loop"])
def test_no_callback_sees_a_batch_past_its_epochs_end_and_speed_is_metrics_csvs(tmp_path, trainer):
    """fit runs steps_per_execution=32 steps a call; Keras names a call's last batch past an
    epoch of 4 steps: tftrain's callbacks see batch indices within the epoch."""
    (tmp_path / "spy.py").write_text(SPY)
    result = in_process("debug=smoke", f"trainer={trainer}", "trainer.steps_per_execution=32",
                        "+callbacks.spy={_target_: spy.Batches}", "allow_targets=[spy]",
                        f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    seen = json.loads((tmp_path / "batches.json").read_text())
    assert seen == {"seen": 3, "steps": 4}
    run = RunFolder(tmp_path / "run")
    summary = run.summary
    samples = summary["steps_per_epoch"] * summary["batch_size"] * len(run.metrics)
    seconds = sum(float(r["epoch_time_s"]) for r in run.metrics)
    assert summary["samples_per_s"] == pytest.approx(samples / seconds, rel=0.02)
    # the epoch line's rate is the training loop's, as train_samples_per_s (epoch 2) is:
    # counting 32 steps where 4 ran would make it 8 times larger
    line = next(l for l in result.stdout.splitlines() if l.startswith("epoch 2/2"))
    per_s = float(line.split(" samples/s")[0].rsplit(" ", 1)[-1].replace(",", ""))
    assert per_s == pytest.approx(summary["train_samples_per_s"], rel=0.05)


def test_a_validation_objective_no_epoch_reaches_is_refused_before_anything(tmp_path, no_tensorflow):
    from conftest import assert_refused

    result = run_cli("trainer.epochs=2", "trainer.validation_freq=5", cwd=tmp_path, env=no_tensorflow)
    assert_refused(result, 2, ["objective.metric=auto", "validation runs every 5 epochs",
                               "trainer.validation_freq"])
    assert not (tmp_path / "outputs").exists()


def test_reports_say_what_a_column_holds_and_keep_big_numbers_readable():
    from tftrain.console import number

    assert number(4_590_000_000.0) == "4.59e+09" and number(0.98876) == "0.9888"
    assert number(1.2e-6) == "1.2e-06" and number(0.0) == "0.0000"


# --- searches -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("data, direction", [
    (["dataset=csv", "dataset.path={iris}", "dataset.label=species"], "maximize"),
    (["dataset=synthetic", "dataset.task=regression", "dataset.num_samples=300"], "minimize"),
])
def test_a_search_optimises_the_objective_in_its_direction(tmp_path, data, direction):
    pytest.importorskip("optuna")
    if not SHARED_DATA.is_dir() and any("{iris}" in a for a in data):
        pytest.skip("../shared/data is absent")
    import yaml

    data = [a.format(iris=SHARED_DATA / "iris.csv") for a in data]
    sweep = tmp_path / "sweep"
    result = in_process("-m", "hparams_search=optuna", "hydra.sweeper.n_trials=3", *data,
                        "trainer.epochs=3", "hydra.sweeper.pruner=none",
                        "optimizer.learning_rate=tag(log, interval(1e-4, 0.3))",
                        f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["direction"] == direction
    values = [json.loads((sweep / str(n) / "summary.json").read_text())["objective"] for n in range(3)]
    best = max(values) if direction == "maximize" else min(values)
    assert results["best_value"] == pytest.approx(best)
    assert results["best_trial"] == values.index(best)


# --- resume -----------------------------------------------------------------------------

RESUMABLE = ["dataset=synthetic", "dataset.num_samples=600", "trainer.epochs=4",
             "trainer.batch_size=64", "deterministic=true",
             # the highest val_loss is an early epoch: the weights kept are not the last
             "objective.metric=val_loss", "objective.mode=max",
             "allow_targets=[killer]"]


def uninterrupted(tmp_path: Path, trainer: str, *extra: str) -> RunFolder:
    folder = tmp_path / "whole"
    folder.mkdir()
    (folder / "killer.py").write_text(KILLER)
    (folder / "killed").write_text("never")  # the same callbacks, which never kill here
    result = in_process(*RESUMABLE, f"trainer={trainer}", *extra, "hydra.run.dir=run", cwd=folder)
    assert result.returncode == 0, result.output
    return RunFolder(folder / "run")


def resumed(folder: Path) -> RunFolder:
    result = in_process(f"resume={folder / 'run'}", cwd=folder)
    assert result.returncode == 0, result.output
    return RunFolder(folder / "run")


def assert_same_end(run: RunFolder, whole: RunFolder) -> None:
    a, b = run.summary, whole.summary
    assert a["status"] == "completed"
    assert a["weights_fingerprint"] == b["weights_fingerprint"]
    assert a["test"] == b["test"]
    for key in ("objective", "best_epoch", "model_weights", "early_stopping", "epochs_completed",
                "final", "best"):
        assert a[key] == b[key], key
    assert fingerprint(run.path / "checkpoints" / "best.keras") == \
        fingerprint(whole.path / "checkpoints" / "best.keras")
    assert not (run.path / "checkpoints" / "interrupted.keras").exists()
    assert not list(run.path.rglob(".*.tmp*"))


@pytest.mark.slow
@pytest.mark.parametrize("trainer", ["fit", "custom_loop"])
@pytest.mark.parametrize("where", ["between-epochs", "mid-epoch"])
def test_a_run_killed_while_training_resumes_to_the_uninterrupted_end(tmp_path, trainer, where):
    kill = {"between-epochs": ["+callbacks.kill={_target_: killer.KillAt, epoch: 2, batch: 0}"],
            "mid-epoch": ["+callbacks.kill={_target_: killer.KillAt, epoch: 1, batch: 5}",
                          "callbacks.backup.save_freq=2", "trainer.steps_per_execution=1"]}[where]
    whole = uninterrupted(tmp_path, trainer, *kill)
    assert whole.summary["model_weights"]["epoch"] < 4  # restored: not the last epoch's
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "killer.py").write_text(KILLER)
    killed = run_cli(*RESUMABLE, f"trainer={trainer}", *kill, "hydra.run.dir=run", cwd=cut)
    assert killed.returncode == -signal.SIGKILL, killed.output
    assert_same_end(resumed(cut), whole)


@pytest.mark.slow
@pytest.mark.parametrize("trainer", ["fit", "custom_loop"])
@pytest.mark.parametrize("patience", [10, 1])  # restored at the end / stopped early
def test_a_run_stopped_after_training_resumes_to_the_uninterrupted_end(tmp_path, trainer, patience):
    """Killed after its last epoch (or after early stopping ended it) while testing or
    saving: what such a kill leaves is the run folder without model.keras and summary.json
    (both are written whole or not at all)."""
    whole = uninterrupted(tmp_path, trainer, f"callbacks.early_stopping.patience={patience}")
    cut = tmp_path / "cut"
    shutil.copytree(whole.path.parent, cut)
    for name in ("model.keras", "summary.json", "class_names.json", "history.png"):
        (cut / "run" / name).unlink(missing_ok=True)
    run = resumed(cut)
    assert_same_end(run, whole)
    assert len(run.metrics) == whole.summary["epochs_completed"]  # nothing trained again


SLOW_TEST_STEP = '''
import time
from pathlib import Path
import tensorflow as tf
from tftrain.trainers import SupervisedStep

class SlowTest(SupervisedStep):
    """The supervised step; once training is over, evaluation waits 0.5 s a batch."""

    def test(self, batch):
        super().test(batch)
        tf.py_function(self.wait, [], [])

    @staticmethod
    def wait():
        if Path("trained").exists():
            Path("phase").write_text("evaluating")
            time.sleep(0.5)
        return []
'''
MARK_TRAINED = '''
from pathlib import Path
import keras

class MarkTrained(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        Path("trained").write_text("yes")
'''


@pytest.mark.slow
def test_ctrl_c_during_the_final_evaluation_resumes_to_the_uninterrupted_end(tmp_path):
    args = [*RESUMABLE, "trainer=custom_loop", "trainer.train_step._target_=slow.SlowTest",
            "+callbacks.mark={_target_: mark.MarkTrained}", "allow_targets=[killer,slow,mark]"]
    folders = {}
    for name in ("whole", "cut"):
        folders[name] = tmp_path / name
        folders[name].mkdir()
        for module, text in (("slow", SLOW_TEST_STEP), ("mark", MARK_TRAINED), ("killer", KILLER)):
            (folders[name] / f"{module}.py").write_text(text)
    done = in_process(*args, "hydra.run.dir=run", cwd=folders["whole"])
    assert done.returncode == 0, done.output
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    process = subprocess.Popen([*tftrain_command(), *args, "hydra.run.dir=run"], cwd=folders["cut"],
                               env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    phase = folders["cut"] / "phase"
    started = time.monotonic()
    while not (phase.exists() and phase.read_text() == "evaluating") and process.poll() is None:
        assert time.monotonic() - started < 240
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert RunFolder(folders["cut"] / "run").summary["interrupted_while"] == "evaluating on the test split"
    assert_same_end(resumed(folders["cut"]), RunFolder(folders["whole"] / "run"))

