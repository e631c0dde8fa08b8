"""Checkpoints inside an epoch, and preemption: a run stopped in the middle of an epoch
(by a scheduler's SIGTERM, or killed outright after a `save_freq` backup) and started
again ends bit-identical to one never stopped, with either trainer, in memory or streamed.

The stop comes from a user callback that signals its own process at a chosen batch (what a
scheduler does, at a moment the test chooses); each run is the real `tftrain` command in a
process of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import RunFolder, run_cli, tftrain_command

STOPPER = '''
import os
import keras

class StopAt(keras.callbacks.Callback):
    """Send this process `signal` after batch `batch` of epoch `epoch` (0-based)."""

    def __init__(self, epoch: int, batch: int, signal: int):
        super().__init__()
        self.at, self.signal, self.epoch = (epoch, batch), signal, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            os.kill(os.getpid(), self.signal)
'''
DIGITS = ("trainer.epochs=3", "trainer.batch_size=16", "trainer.steps_per_execution=1",
          "deterministic=true", "~callbacks.early_stopping")


def stop_at(epoch: int, batch: int, number: int) -> tuple[str, str]:
    return (f"+callbacks.stop={{_target_: stopper.StopAt, epoch: {epoch}, batch: {batch}, "
            f"signal: {int(number)}}}", "allow_targets=[stopper]")


def uninterrupted_and_stopped(tmp_path: Path, args: tuple[str, ...], epoch: int, batch: int,
                              number: int) -> tuple[RunFolder, RunFolder, subprocess.CompletedProcess]:
    (tmp_path / "stopper.py").write_text(STOPPER)
    full = run_cli(*args, f"hydra.run.dir={tmp_path / 'full'}", cwd=tmp_path)
    assert full.returncode == 0, full.output
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    stopped = subprocess.run([*tftrain_command(), *args, *stop_at(epoch, batch, number),
                              f"hydra.run.dir={tmp_path / 'cut'}"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)
    return RunFolder(tmp_path / "full"), RunFolder(tmp_path / "cut"), stopped


def assert_same_run(full: RunFolder, resumed: RunFolder) -> None:
    assert resumed.summary["status"] == "completed"
    assert resumed.summary["weights_fingerprint"] == full.summary["weights_fingerprint"]
    columns = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")
    assert [[r[c] for c in columns] for r in resumed.metrics] == \
        [[r[c] for c in columns] for r in full.metrics]  # every epoch's metrics, to the bit


def streamed_csv(folder: Path) -> tuple[str, ...]:
    from test_streaming import write_table_parts

    write_table_parts(folder / "table", parts=1, rows=1200)
    return ("dataset=csv", "dataset.label=kind", "dataset.in_memory=false", "dataset.drop=[note]",
            f"dataset.path={folder / 'table'}")


@pytest.mark.slow
@pytest.mark.parametrize("trainer, source", [("fit", "memory"), ("custom_loop", "memory"),
                                             ("fit", "streamed")])
def test_sigterm_mid_epoch_saves_where_it_stopped_and_resume_is_bit_identical(tmp_path, trainer,
                                                                                source):
    data = streamed_csv(tmp_path) if source == "streamed" else ()
    args = (f"trainer={trainer}", *data, *DIGITS)
    full, cut, stopped = uninterrupted_and_stopped(tmp_path, args, 1, 30, signal.SIGTERM)
    assert stopped.returncode == 143, stopped.stdout + stopped.stderr
    assert "checkpointed at step 31 of epoch 2" in stopped.stderr
    resumed = run_cli(f"resume={cut.path}", "~callbacks.stop", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.output
    assert "resuming in epoch 2 after step 31" in resumed.stdout
    assert_same_run(full, cut)


@pytest.mark.slow
@pytest.mark.parametrize("trainer", ["fit", "custom_loop"])
def test_a_run_killed_mid_epoch_resumes_from_its_last_save_freq_backup(tmp_path, trainer):
    """SIGKILL cannot be caught: the backup saved every 10 steps is what remains."""
    args = (f"trainer={trainer}", *DIGITS, "callbacks.backup.save_freq=10")
    full, cut, killed = uninterrupted_and_stopped(tmp_path, args, 1, 34, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    saved = json.loads((cut.path / "checkpoints" / "backup" / "training_metadata.json").read_text())
    assert saved["epoch"] == 1 and 35 - 10 <= saved["step"] <= 35  # every 10 steps, as Keras counts
    resumed = run_cli(f"resume={cut.path}", "~callbacks.stop", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.output
    assert f"resuming in epoch 2 after step {saved['step']}" in resumed.stdout
    assert_same_run(full, cut)


@pytest.mark.slow
def test_a_preempted_sweep_job_started_again_resumes_in_its_folder(tmp_path):
    """As a scheduler requeues it: the very same command, the same sweep folder; the job
    finds its interrupted run there and continues it (from a streamed CSV here)."""
    data = (*streamed_csv(tmp_path), "trainer=custom_loop", *DIGITS)
    full = run_cli(*data, f"hydra.run.dir={tmp_path / 'full'}", cwd=tmp_path)
    assert full.returncode == 0, full.output
    (tmp_path / "stopper.py").write_text(STOPPER)
    command = [*tftrain_command(), "-m", *data, *stop_at(1, 20, signal.SIGTERM),
               f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    first = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 143, first.stdout + first.stderr
    job = RunFolder(tmp_path / "sweep" / "0")
    assert job.summary["status"] == "interrupted"
    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "interrupted: resuming it" in again.stdout and "after step 21" in again.stdout
    assert_same_run(RunFolder(tmp_path / "full"), job)
