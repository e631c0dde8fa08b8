"""The signals door: Ctrl-C (SIGINT) or SIGTERM in any phase of a run ends with exit
130/143, one line saying how to resume, summary.json saying interrupted, and the weights
in checkpoints/interrupted.keras whenever a model exists; the run then resumes to the end.
Each case signals a real `tftrain` process at a moment it can recognise."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import in_process, tftrain_command

# A user's data source that takes its time (the data phase), and a user's custom-loop step
# whose evaluation does (the test phase): each says when it has started.
SLOW_SOURCE = '''
import time
from pathlib import Path
from tftrain.data.sources import synthetic

def load(seconds: float = 60.0, seed: int = 0):
    Path("phase").write_text("loading")
    time.sleep(seconds)
    return synthetic("classification", 200, [4], 2, 0.5, seed=seed)
'''
SLOW_STEP = '''
import time
from pathlib import Path
import tensorflow as tf
from tftrain.trainers import SupervisedStep

class SlowTest(SupervisedStep):
    """The supervised step; evaluation waits 0.5 s a batch, once training is over."""

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


def start(folder: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.Popen([*tftrain_command(), *args, f"hydra.run.dir={folder / 'run'}"],
                            cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def signal_when(process: subprocess.Popen, ready, number: int, timeout: float = 240) -> tuple[str, str]:
    """Send `number` once `ready()` holds; the process's output once it has ended."""
    started = time.monotonic()
    while not ready() and process.poll() is None:
        assert time.monotonic() - started < timeout, "the run never reached the phase"
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()
    process.send_signal(number)
    out, err = process.communicate(timeout=120)
    return out, err


def assert_interrupted(folder: Path, out: str, err: str, status: int, returncode: int,
                       phase: str, model: bool) -> dict:
    run = folder / "run"
    assert returncode == status, out + err
    assert "Traceback" not in out + err
    message = err.strip().splitlines()
    assert len(message) == 1 and message[0].startswith("tftrain: error: interrupted by"), err
    assert f"Resume with: tftrain resume={run}" in message[0]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["interrupted_while"] == phase
    assert (run / "checkpoints" / "interrupted.keras").is_file() == model
    return summary


@pytest.mark.slow
def test_ctrl_c_in_the_first_epoch_keeps_the_weights_and_says_how_to_resume(tmp_path):
    """The issue's case: a CNN on 20,000 synthetic 28x28 images, Ctrl-C during epoch 1."""
    process = start(tmp_path, "model=cnn", "dataset=synthetic", "dataset.shape=[28,28,1]",
                    "dataset.num_samples=20000", "callbacks=[default,csv_logger]")
    history = tmp_path / "run" / "history.csv"  # Keras' CSVLogger opens it when training starts
    out, err = signal_when(process, history.exists, signal.SIGINT)
    summary = assert_interrupted(tmp_path, out, err, 130, process.returncode, "training", model=True)
    assert "in epoch 1 of 30 (checkpointed at step" in err
    assert summary["epochs_completed"] == 0


@pytest.mark.slow
def test_sigterm_while_loading_the_data_leaves_a_resumable_folder_and_resume_completes(tmp_path):
    (tmp_path / "slow_source.py").write_text(SLOW_SOURCE)
    args = ("debug=smoke", "dataset._target_=slow_source.load", "+dataset.seconds=60",
            "allow_targets=[slow_source]")
    process = start(tmp_path, *args)
    out, err = signal_when(process, (tmp_path / "phase").exists, signal.SIGTERM)
    assert_interrupted(tmp_path, out, err, 143, process.returncode, "loading the data", model=False)
    assert "while loading the data" in err
    result = in_process(f"resume={tmp_path / 'run'}", "dataset.seconds=0", cwd=tmp_path)
    assert result.returncode == 0, result.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2


@pytest.mark.slow
def test_ctrl_c_while_evaluating_keeps_the_trained_model_and_resume_only_evaluates(tmp_path):
    (tmp_path / "slow_step.py").write_text(SLOW_STEP)
    (tmp_path / "mark_trained.py").write_text(MARK_TRAINED)
    args = ("debug=smoke", "trainer=custom_loop", "trainer.steps_per_execution=1",
            "trainer.train_step._target_=slow_step.SlowTest", "dataset.val_split=0",
            "+callbacks.mark={_target_: mark_trained.MarkTrained}",
            "allow_targets=[slow_step,mark_trained]")
    process = start(tmp_path, *args)
    phase = tmp_path / "phase"
    out, err = signal_when(process, lambda: phase.exists() and phase.read_text() == "evaluating",
                           signal.SIGINT)
    summary = assert_interrupted(tmp_path, out, err, 130, process.returncode,
                                 "evaluating on the test split", model=True)
    assert summary["epochs_completed"] == 2 and not (tmp_path / "run" / "model.keras").exists()
    (tmp_path / "trained").unlink()
    result = in_process(f"resume={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["test"]
    assert (tmp_path / "run" / "model.keras").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("gap", [0.0, 0.05, 0.3])
def test_a_second_ctrl_c_soon_after_the_first_still_leaves_a_run_that_resumes(tmp_path, gap):
    """A second signal stops at once, wherever the first one's saving had got to (a backup
    is renamed into place whole, so it is the new one or the one before, never half of one);
    resume then completes. Weights of 13 MB make the saving take a while."""
    process = start(tmp_path, "trainer.epochs=1", "dataset=synthetic", "dataset.num_samples=100000",
                    "model.layers.1.units=1024", "callbacks=[default,csv_logger]")
    history = tmp_path / "run" / "history.csv"
    started = time.monotonic()
    while not history.exists() and process.poll() is None and time.monotonic() - started < 240:
        time.sleep(0.05)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    time.sleep(gap)
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in out + err, out + err
    assert "Resume with: tftrain resume=" in err, err
    backup = tmp_path / "run" / "checkpoints" / "backup"
    assert not list(backup.glob("latest*")) or (backup / "training_metadata.json").is_file()
    result = in_process(f"resume={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "completed"


def test_a_signal_inside_a_protected_section_waits_for_its_end():
    """A checkpoint being written is never cut short: the signal is raised after it."""
    from tftrain.errors import Interrupted
    from tftrain.run.signals import Signals

    finished = []
    with pytest.raises(Interrupted) as raised, Signals() as signals:
        with signals.protected():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler has run by now, and raised nothing
            finished.append("written")
    assert finished == ["written"] and raised.value.exit_code == 143


def test_a_signal_outside_a_run_is_held_until_the_next_run_starts():
    """Between the jobs of a sweep (Hydra composing the next one) a Ctrl-C is held: raised
    inside OmegaConf it left a half-made node and ended as an AttributeError, exit 1. The
    next run stops as it starts; a second signal while held stops at once."""
    from tftrain.errors import Interrupted
    from tftrain.run.signals import Held, Signals

    before = signal.getsignal(signal.SIGINT)  # a pytest-xdist worker ignores SIGINT
    with Held() as held:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # handled by now: held, nothing raised
        assert held.received == signal.SIGINT
        with pytest.raises(Interrupted) as raised:
            with Signals():
                pytest.fail("a run began after a Ctrl-C")
        assert raised.value.exit_code == 130 and held.received is None
        assert signal.getsignal(signal.SIGINT) == held._arrived  # the run gave its handler back
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
    assert signal.getsignal(signal.SIGINT) == before
