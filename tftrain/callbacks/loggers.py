"""Experiment trackers beyond metrics.csv, as Keras callbacks (the `logger` group).

TensorBoard is Keras' own callback; MLflow has no Keras 3 callback that fits a run folder,
so this one logs the run folder's resolved config as params and every epoch's metrics, and
tags the MLflow run with the run folder (where the summary, test metrics and model are).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
from omegaconf import OmegaConf


MAX_PARAM_LENGTH = 500  # MLflow refuses longer parameter values


def flatten(node: Any, prefix: str = "") -> dict[str, str]:
    """Nested config as MLflow params: `optimizer.learning_rate` -> "0.001"."""
    if isinstance(node, dict):
        items = {}
        for key, value in node.items():
            items.update(flatten(value, f"{prefix}{key}."))
        return items
    return {prefix.rstrip("."): str(node)[:MAX_PARAM_LENGTH]}


class MLflowLogger(keras.callbacks.Callback):
    """One MLflow run per tftrain run, named after the run folder and tagged with its path."""

    def __init__(self, tracking_uri: str, experiment: str, run_dir: str) -> None:
        super().__init__()
        self.tracking_uri, self.experiment, self.run_dir = tracking_uri, experiment, Path(run_dir)

    def on_train_begin(self, logs: dict | None = None) -> None:
        # MLflow 3 keeps the file store (offline, no server, no database) behind this switch.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        import mlflow

        if mlflow.active_run():  # an earlier job of this process that stopped mid-training
            mlflow.end_run(status="FAILED")
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_experiment(self.experiment)
        mlflow.start_run(run_name=self.run_dir.name, tags={"tftrain.run_dir": str(self.run_dir)})
        config = OmegaConf.to_container(OmegaConf.load(self.run_dir / ".hydra" / "config.yaml"))
        mlflow.log_params(flatten(config))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        import mlflow

        mlflow.log_metrics({k: float(v) for k, v in (logs or {}).items()}, step=epoch + 1)

    def on_train_end(self, logs: dict | None = None) -> None:
        import mlflow

        mlflow.end_run()
