"""The command line without TensorFlow: help, config printing, and bad-input messages."""

from __future__ import annotations

import os

import pytest
import yaml

from conftest import run_cli


def test_help_lists_every_group_and_option_without_tensorflow(tmp_path, no_tensorflow):
    result = run_cli("--help", cwd=tmp_path, env=no_tensorflow)
    assert result.returncode == 0, result.output
    for group, options in {"dataset": ["digits*", "synthetic"], "model": ["mlp*", "cnn", "resmlp"],
                           "optimizer": ["adam*", "adamw", "rmsprop", "sgd"],
                           "callbacks": ["default*", "none", "tensorboard", "reduce_lr"],
                           "trainer": ["fit*", "custom_loop"], "debug": ["smoke"],
                           "lr_schedule": ["constant*", "cosine", "exponential", "piecewise", "warmup_cosine"],
                           "precision": ["float32*", "mixed_float16", "mixed_bfloat16"],
                           "distribute": ["default*", "mirrored", "multi_worker"],
                           "experiment": ["digits_cnn_custom_loop", "digits_gan"]}.items():
        line = next(l for l in result.stdout.splitlines() if l.strip().startswith(group + " "))
        for option in options:
            assert option in line, (group, option, line)
    assert not (tmp_path / "outputs").exists()


def test_version_names_tftrain_and_what_it_runs_on_without_tensorflow(tmp_path, no_tensorflow):
    """Hydra's own --version would print only Hydra's."""
    import tftrain

    result = run_cli("--version", cwd=tmp_path, env=no_tensorflow)
    assert result.returncode == 0, result.output
    assert result.stdout.startswith(f"tftrain {tftrain.__version__} (TensorFlow "), result.stdout
    assert "Keras" in result.stdout and "Hydra" in result.stdout


def test_python_dash_m_tftrain_is_the_tftrain_command(tmp_path, no_tensorflow):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "tftrain", "--cfg", "job", "trainer.epochs=7"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **no_tensorflow})
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["trainer"]["epochs"] == 7


def test_cfg_job_resolve_resolves_what_it_can_and_keeps_what_needs_the_run(tmp_path, no_tensorflow):
    """Hydra's own --resolve printed a traceback (and exited 0) at the run folder's path."""
    result = run_cli("--cfg", "job", "--resolve", "trainer.epochs=7", "seed=3", cwd=tmp_path,
                     env=no_tensorflow)
    assert result.returncode == 0 and "Traceback" not in result.output, result.output
    printed = yaml.safe_load(result.stdout)
    assert printed["trainer"]["epochs"] == 7 and printed["seed"] == 3
    assert printed["run_dir"] == "${hydra:runtime.output_dir}"
    assert printed["callbacks"]["backup"]["backup_dir"] == "${run_dir}/checkpoints/backup"
    assert not (tmp_path / "outputs").exists()


def test_cfg_job_prints_the_composed_config_with_overrides_without_tensorflow(tmp_path, no_tensorflow):
    result = run_cli("--cfg", "job", "model=cnn", "trainer=custom_loop", "trainer.epochs=7",
                     "optimizer=sgd", "optimizer.learning_rate=0.05", "~callbacks.early_stopping",
                     cwd=tmp_path, env=no_tensorflow)
    assert result.returncode == 0, result.output
    cfg = yaml.safe_load(result.stdout)
    assert cfg["model"]["_target_"] == "tftrain.models.functional"
    assert cfg["trainer"]["_target_"] == "tftrain.trainers.CustomLoopTrainer"
    assert cfg["trainer"]["epochs"] == 7
    assert cfg["optimizer"] == {**cfg["optimizer"], "_target_": "keras.optimizers.SGD",
                                "learning_rate": 0.05}
    assert "early_stopping" not in cfg["callbacks"]
    assert "model_checkpoint" in cfg["callbacks"]
    assert not (tmp_path / "outputs").exists()


def test_debug_smoke_and_experiment_compose(tmp_path, no_tensorflow):
    result = run_cli("--cfg", "job", "debug=smoke", cwd=tmp_path, env=no_tensorflow)
    cfg = yaml.safe_load(result.stdout)
    assert cfg["trainer"]["epochs"] <= 2 and cfg["dataset"]["limit_batches"] <= 5
    result = run_cli("--cfg", "job", "experiment=digits_cnn_custom_loop", cwd=tmp_path, env=no_tensorflow)
    cfg = yaml.safe_load(result.stdout)
    assert cfg["model"]["name"] == "cnn"
    assert cfg["trainer"]["_target_"].endswith("CustomLoopTrainer")


@pytest.mark.parametrize("args, expected", [
    (["model=nope"], ["'nope'", "'model'", "cnn, gan, image_augmented, mlp, regression, resmlp"]),
    (["trainer.epochz=3"], ["trainer.epochz", "batch_size", "epochs", "steps_per_execution", "+trainer.epochz=3"]),
    (["lr_schedule=cosine", "callbacks=[default,reduce_lr]"], ["CosineDecay", "reduce_lr", "cannot do both"]),
    (["precision=float8"], ["'float8'", "float32, mixed_bfloat16, mixed_float16"]),
    (["resume=/nonexistent/run"], ["resume=/nonexistent/run", "no such folder"]),
    (["optimizer.learning_rate=abc"], ["'abc'", "optimizer.learning_rate", "Float"]),
    (["seed=1.5"], ["seed", "1.5", "Integer"]),
    (["trainer.epochs=0"], ["trainer.epochs=0", "positive integer"]),
    (["trainer.jit_compile=sometimes"], ["sometimes", "auto, true or false"]),
    (["dataset.val_split=0.5", "dataset.test_split=0.5"], ["val_split + dataset.test_split", "below 1"]),
    (["-m", "model=mlp,nope"], ["'nope'", "cnn, gan, image_augmented, mlp"]),
    (["trainer=fast"], ["'fast'", "custom_loop, fit"]),
    (["dataset=tfrecord"], ["dataset.path, dataset.features: required but not given",
                            "dataset.path=... '+dataset.features={...}'"]),
])
def test_bad_input_is_one_clear_message_exit_2_and_no_output(tmp_path, no_tensorflow, args, expected):
    result = run_cli(*args, cwd=tmp_path, env=no_tensorflow)
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output
    message = result.stderr.strip()
    assert message.startswith("tftrain: error:") and len(message.splitlines()) == 1, message
    for fragment in expected:
        assert fragment in message, (fragment, message)
    assert not (tmp_path / "outputs").exists()
