"""The `logger` group through the real CLI: what each tracker records, read back by its own tools."""

from __future__ import annotations

import os

import pytest

from conftest import RunFolder, run_cli


def test_tensorboard_and_mlflow_loggers_record_every_epoch_offline(tmp_path):
    mlflow = pytest.importorskip("mlflow", reason="pip install tftrain[mlflow]")
    result = run_cli("debug=smoke", "logger=[csv,tensorboard,mlflow]",
                     f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    run = RunFolder(tmp_path / "run")
    assert len(run.metrics) == 2  # csv: metrics.csv as always
    assert list((run.path / "tensorboard" / "train").glob("events.out.tfevents.*"))
    assert list((run.path / "tensorboard" / "validation").glob("events.out.tfevents.*"))

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.tracking.MlflowClient(tracking_uri=f"file:{tmp_path / 'outputs' / 'mlruns'}")
    experiment = client.get_experiment_by_name("tftrain")
    [tracked] = client.search_runs([experiment.experiment_id])
    assert tracked.info.status == "FINISHED"
    assert tracked.data.tags["tftrain.run_dir"] == str(run.path)
    assert tracked.data.params["trainer.epochs"] == "2"
    history = client.get_metric_history(tracked.info.run_id, "val_accuracy")
    assert [m.step for m in history] == [1, 2]
    assert [m.value for m in history] == pytest.approx([float(r["val_accuracy"]) for r in run.metrics])


def test_the_default_logger_adds_no_tracker(tmp_path):
    result = run_cli("--cfg", "job", "-p", "logger", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip().splitlines()[-1] == "{}"
    result = run_cli("--cfg", "job", "-p", "logger", "logger=[csv,tensorboard]", cwd=tmp_path)
    assert "keras.callbacks.TensorBoard" in result.stdout and "${run_dir}/tensorboard" in result.stdout
