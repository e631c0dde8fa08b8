"""End to end through the real `tftrain` command: Hydra composition, TensorFlow training,
and the run folder read back from disk."""

from __future__ import annotations

import os
import pty
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import RunFolder, in_process, tftrain_command

SUMMARY_KEYS = {"objective", "objective_metric", "final", "best", "test", "epochs_completed",
                "wall_time_s", "train_samples_per_s", "versions", "status"}


def check_run_folder(run: RunFolder, epochs: int, trainer: str) -> None:
    """Everything issue #2 says a run folder holds, with consistent contents."""
    for name in (".hydra/config.yaml", ".hydra/overrides.yaml", ".hydra/hydra.yaml",
                 "train.log", "metrics.csv", "summary.json", "model.keras", "class_names.json",
                 "checkpoints/best.keras", "checkpoints/backup/latest.weights.h5"):
        assert (run.path / name).is_file(), name
        # as readable as the files Hydra and Keras write (a temporary file's 0600 would not be)
        assert (run.path / name).stat().st_mode & 0o777 == (run.path / "train.log").stat().st_mode & 0o777, name
    assert "${" not in (run.path / ".hydra/config.yaml").read_text()  # resolved

    rows = run.metrics
    assert [int(r["epoch"]) for r in rows] == list(range(1, epochs + 1))
    header = list(rows[0])
    assert header[0] == "epoch" and header[-2:] == ["lr", "epoch_time_s"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(header)
    assert all(float(r["epoch_time_s"]) > 0 and float(r["lr"]) > 0 for r in rows)

    summary = run.summary
    assert SUMMARY_KEYS <= set(summary)
    assert summary["status"] == "completed" and summary["trainer"] == trainer
    assert summary["epochs_completed"] == epochs
    assert summary["objective_metric"] == "val_accuracy"
    assert summary["objective"] == max(float(r["val_accuracy"]) for r in rows)
    assert summary["final"]["loss"] == pytest.approx(float(rows[-1]["loss"]))
    assert set(summary["test"]) == {"loss", "accuracy"}
    assert set(summary["versions"]) >= {"tftrain", "tensorflow", "keras", "python"}
    assert summary["train_samples_per_s"] > 0 and summary["wall_time_s"] > 0

    log = (run.path / "train.log").read_text()
    assert f"epoch {epochs}/{epochs}" in log and "test: loss" in log


def load_and_predict(path: Path) -> str:
    """Load model.keras (safe mode) and predict 3 digits: the shape and the rows' sum.
    (tftrain-eval and tftrain-predict load run folders in fresh interpreters: test_use_run.)"""
    import keras

    model = keras.models.load_model(path, safe_mode=True)
    p = model.predict(np.random.default_rng(0).random((3, 8, 8, 1)).astype("float32"), verbose=0)
    return f"{p.shape} {round(float(p.sum()), 3)}"


def test_default_config_smoke_run_writes_a_complete_dated_run_folder(tmp_path):
    result = in_process("debug=smoke", cwd=tmp_path)
    assert result.returncode == 0, result.output
    folders = list((tmp_path / "outputs").glob("*/*"))
    assert len(folders) == 1
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}/\d{2}-\d{2}-\d{2}",
                        folders[0].relative_to(tmp_path / "outputs").as_posix())
    run = RunFolder(folders[0])
    check_run_folder(run, epochs=2, trainer="FitTrainer")
    assert run.summary["steps_per_epoch"] == 4
    assert load_and_predict(run.path / "model.keras") == "(3, 10) 3.0"


def test_cnn_with_the_custom_loop_writes_the_same_run_folder(train):
    run = train("model=cnn", "trainer=custom_loop", "debug=smoke")
    check_run_folder(run, epochs=2, trainer="CustomLoopTrainer")
    assert load_and_predict(run.path / "model.keras") == "(3, 10) 3.0"


@pytest.mark.slow
def test_subclassed_model_run_saves_a_loadable_model(train):
    run = train("model=resmlp", "debug=smoke", "trainer=custom_loop")
    assert load_and_predict(run.path / "model.keras") == "(3, 10) 3.0"


def test_fit_and_custom_loop_give_bit_identical_losses(sweep):
    """Same seed and config: dropout, shuffling and a steps_per_execution that does not
    divide the epoch (39 steps, 8 per call) included; both jobs in one process."""
    fit, loop = sweep("trainer=fit,custom_loop", "trainer.epochs=2", "trainer.steps_per_execution=8")
    assert fit.summary["steps_per_epoch"] == 39
    for fit_row, loop_row in zip(fit.metrics, loop.metrics, strict=True):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert fit_row[key] == loop_row[key], (key, fit_row, loop_row)


@pytest.mark.slow
def test_callbacks_can_be_dropped_one_by_one_or_all(tmp_path):
    run = in_process("debug=smoke", "~callbacks.model_checkpoint", "~callbacks.backup",
                  f"hydra.run.dir={tmp_path / 'some'}", cwd=tmp_path)
    assert run.returncode == 0, run.output
    assert not (tmp_path / "some/checkpoints").exists()
    assert (tmp_path / "some/metrics.csv").exists()
    run = in_process("debug=smoke", "callbacks=none", f"hydra.run.dir={tmp_path / 'none'}", cwd=tmp_path)
    assert run.returncode == 0, run.output
    assert not (tmp_path / "none/metrics.csv").exists()
    assert "epoch 1/2" not in run.stdout  # no progress callback, no epoch lines
    assert RunFolder(tmp_path / "none").summary["epochs_completed"] == 2


def test_multirun_runs_each_job_in_its_own_folder(tmp_path):
    sweep = tmp_path / "sweep"
    result = in_process("-m", "debug=smoke", "optimizer.learning_rate=0.001,0.01",
                     f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    for job, lr in (("0", 0.001), ("1", 0.01)):
        run = RunFolder(sweep / job)
        check_run_folder(run, epochs=2, trainer="FitTrainer")
        assert float(run.metrics[0]["lr"]) == pytest.approx(lr)
        assert run.summary["overrides"][-1] == f"optimizer.learning_rate={lr}"


def test_multirun_jobs_start_from_a_clean_seeded_state(tmp_path):
    """Two jobs with the same config must match exactly: same weights, same layer names."""
    sweep = tmp_path / "sweep"
    result = in_process("-m", "debug=smoke", "seed=5,5", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    first, second = RunFolder(sweep / "0"), RunFolder(sweep / "1")
    drop_time = lambda rows: [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in rows]
    assert drop_time(first.metrics) == drop_time(second.metrics)
    assert first.summary["test"] == second.summary["test"]
    import keras

    layers = [[layer.name for layer in keras.models.load_model(sweep / job / "model.keras").layers]
              for job in "01"]
    assert layers[0] == layers[1], layers


def test_a_model_that_does_not_fit_the_data_fails_cleanly_without_output(tmp_path):
    result = in_process("model=cnn", "dataset=synthetic", "debug=smoke", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.output
    assert "model 'cnn'" in result.stderr and "input (16,)" in result.stderr
    assert not list((tmp_path / "outputs").glob("*/*"))


def test_progress_is_one_plain_line_per_epoch_when_piped(train):
    run = train("debug=smoke", "trainer.epochs=3")
    stdout = (run.path / "train.log").read_text()
    lines = [l for l in stdout.splitlines() if re.search(r"\] epoch \d+/3 ", l)]
    assert len(lines) == 3
    assert all("loss" in l and "val_accuracy" in l and "samples/s" in l for l in lines)
    assert all(re.search(r"elapsed \d+:\d\d  eta \d+:\d\d$", l) for l in lines), lines
    assert lines[-1].endswith("eta 0:00")  # nothing left after the last epoch


def test_progress_is_a_live_display_on_a_terminal(tmp_path):
    main, child = pty.openpty()
    proc = subprocess.Popen([*tftrain_command(), "debug=smoke", "trainer=custom_loop",
                             f"hydra.run.dir={tmp_path / 'run'}"],
                            stdout=child, stderr=child, cwd=tmp_path)
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=120) == 0
    screen = b"".join(chunks).decode(errors="replace")
    assert "\x1b[" in screen  # terminal control: the live bar redraws in place
    assert "━" in screen and "samples/s" in screen
    assert "epoch 2/2" in screen and "eta" in screen
    assert "run" in screen and "epochs" in screen  # the run's bar under the epoch's


@pytest.mark.slow
def test_default_run_reaches_093_test_accuracy_within_a_minute(train):
    run = train()
    assert run.summary["test"]["accuracy"] >= 0.93
    assert run.summary["wall_time_s"] < 60


@pytest.mark.slow
def test_cnn_custom_loop_reaches_093_test_accuracy(train):
    run = train("model=cnn", "trainer=custom_loop")
    assert run.summary["test"]["accuracy"] >= 0.93
    assert run.summary["trainer"] == "CustomLoopTrainer"


USER_CODE = '''
import keras

@keras.saving.register_keras_serializable(package="usercode")
class Tiny(keras.Model):
    def __init__(self, num_outputs, output_activation=None, width=8, **kwargs):
        super().__init__(**kwargs)
        self.width, self.num_outputs, self.output_activation = width, num_outputs, output_activation
        self.flat = keras.layers.Flatten()
        self.hidden = keras.layers.Dense(width, activation="relu")
        self.out = keras.layers.Dense(num_outputs, activation=output_activation)

    def call(self, x):
        return self.out(self.hidden(self.flat(x)))

    def get_config(self):
        return {**super().get_config(), "width": self.width, "num_outputs": self.num_outputs,
                "output_activation": self.output_activation}


def scaled_mse(y_true, y_pred, scale=1.0):
    return scale * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


@keras.saving.register_keras_serializable(package="usercode")
class ScaledMAE(keras.metrics.Metric):
    """A stateful metric: the mean absolute error over the epoch, times `scale`."""

    def __init__(self, scale=1.0, name="scaled_mae", **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale = scale
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = keras.ops.reshape(keras.ops.cast(y_true, y_pred.dtype), keras.ops.shape(y_pred))
        error = keras.ops.abs(y_true - y_pred)
        self.total.assign_add(keras.ops.cast(keras.ops.sum(error), "float32"))
        self.count.assign_add(keras.ops.cast(keras.ops.size(error), "float32"))

    def result(self):
        return self.scale * self.total / keras.ops.maximum(self.count, 1.0)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
'''


def test_user_model_loss_and_metric_import_from_the_working_folder(tmp_path, train):
    (tmp_path / "usercode.py").write_text(USER_CODE)
    run = train("debug=smoke", "dataset=synthetic", "dataset.task=regression", "~model",
                "+model={_target_: usercode.Tiny, width: 12}",
                "loss={_target_: usercode.scaled_mse, scale: 3.0}",
                "metrics=[mae, {_target_: usercode.scaled_mse}, {_target_: usercode.ScaledMAE, scale: 2.0}]",
                "allow_targets=[usercode]")
    summary = run.summary
    assert set(summary["test"]) == {"loss", "mae", "scaled_mse", "scaled_mae"}
    # the loss is 3x the (unscaled) function metric, the Metric subclass 2x mae, on the same data
    assert summary["test"]["loss"] == pytest.approx(3 * summary["test"]["scaled_mse"], rel=1e-4)
    assert summary["test"]["scaled_mae"] == pytest.approx(2 * summary["test"]["mae"], rel=1e-4)
    assert {"scaled_mae", "val_scaled_mae"} <= set(run.metrics[0])
    config = (run.path / ".hydra/config.yaml").read_text()
    assert "usercode.Tiny" in config and "width: 12" in config


USER_STEP = '''
import keras
import tensorflow as tf

from tftrain.trainers import SupervisedStep


class ConfidencePenaltyStep(SupervisedStep):
    def __init__(self, model, beta=0.1):
        super().__init__(model)
        self.beta = beta
        self.entropy = keras.metrics.Mean(name="entropy")

    def train(self, batch):
        model = self.model
        x, y, _ = keras.utils.unpack_x_y_sample_weight(batch)
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            entropy = -tf.reduce_mean(tf.reduce_sum(y_pred * tf.math.log(y_pred + 1e-7), axis=-1))
            loss = model.compute_loss(x, y, y_pred, training=True) - self.beta * entropy
        self.loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        self.entropy.update_state(entropy)
        weights = model.trainable_weights
        model.optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        model.compute_metrics(x, y, y_pred)

    def results(self):
        return {**super().results(), "entropy": self.entropy.result()}

    def reset(self):
        super().reset()
        self.entropy.reset_state()
'''


def test_a_user_step_plugs_into_the_custom_loop(tmp_path, train):
    (tmp_path / "usersteps.py").write_text(USER_STEP)
    run = train("trainer=custom_loop", "debug=smoke",
                "trainer.train_step._target_=usersteps.ConfidencePenaltyStep",
                "+trainer.train_step.beta=0.5", "allow_targets=[usersteps]")
    rows = run.metrics
    assert "entropy" in rows[0] and float(rows[0]["entropy"]) > 0
    assert run.summary["status"] == "completed"
