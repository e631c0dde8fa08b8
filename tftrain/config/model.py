"""The model, optimizer, loss and metrics configs, turned into a compiled model: the one
place where `model.*`, `optimizer.*`, `lr_schedule.*`, `loss` and `metrics` become calls
(tftrain.models takes a factory and the data's Spec, and names its own parameters in what it
refuses; here they become `model.<parameter>`)."""

from __future__ import annotations

from typing import Any

import keras
from omegaconf import DictConfig, OmegaConf

from tftrain.config import loss_metrics
from tftrain.config.instantiate import instantiate, parameters, unknown_argument
from tftrain.data import Spec
from tftrain.errors import TftrainError, keyed
from tftrain.models import build
from tftrain.models.head import binary_targets


def build_model(node: DictConfig, spec: Spec) -> keras.Model:
    """Build the model a config names against the data: its arguments checked against the
    builder's before the call (which would count one as a model not fitting the data)."""
    target = node.get("_target_", "?")
    # what a model says of the data's settings names them as dataset keys
    with keyed("model"), keyed({"output_mode": "dataset.output_mode"}):
        factory = instantiate(node, "model", _partial_=True, _convert_="all")
        refused = unknown_argument(target, list(factory.keywords), parameters(factory.func), "model")
        if refused:
            raise TftrainError(f"{refused} To replace the model config whole (the option's own "
                               f"keys with it), write '~model' '+model={{_target_: {target}}}'.")
        return build(factory, spec, node.get("name") or target.rsplit(".", 1)[-1], target,
                     lambda: layer_keys(factory.keywords, "model"))


def layer_keys(node: Any, path: str) -> dict[int, str]:
    """The key path of each layer a model config instantiated (model.layers.1,
    model.nodes.2.layer), by the layer object's id: how a refusing layer is named (asked once
    building failed: builders name layers as they build, `conv1`)."""
    if isinstance(node, keras.layers.Layer):
        return {id(node): f"{path} ({type(node).__name__} '{node.name}')"}
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    return {k: v for key, child in items for k, v in layer_keys(child, f"{path}.{key}").items()}


def check_step(model: keras.Model, trainer: DictConfig) -> None:
    """A model that names the step it is trained by (a GAN: two optimizers, two updates per
    batch) gets that step, or the run is refused: with another it trains nonsense."""
    needed = getattr(model, "trained_by", None)
    step = OmegaConf.select(trainer, "train_step._target_", default=None)
    if needed and step != needed:
        now = f"trainer.train_step._target_={step}" if step else "trainer=fit (Keras' own step)"
        raise TftrainError(
            f"model '{model.name}' ({type(model).__module__}.{type(model).__name__}) is trained "
            f"by its own step, {needed}, not by {now}: add trainer=custom_loop "
            f"trainer.train_step._target_={needed}.")


def compile_model(model: keras.Model, cfg: DictConfig, spec: Spec, steps_per_execution: int,
                  jit_compile: Any) -> None:
    """Optimizer (with the LR schedule, if any), loss and metrics, inside the strategy scope."""
    schedule = instantiate(cfg.lr_schedule, "lr_schedule", _convert_="all") if cfg.lr_schedule else None
    learning_rate = {"learning_rate": schedule} if schedule is not None else {}
    optimizer = instantiate(cfg.optimizer, "optimizer", _partial_=True, _convert_="all")(**learning_rate)
    loss, metrics = loss_metrics.loss_and_metrics(cfg.loss, cfg.metrics, spec, binary_targets(model, spec))
    loss_metrics.check_targets(cfg.loss_weights, "loss_weights", spec)
    loss_weights = OmegaConf.to_container(cfg.loss_weights) if cfg.loss_weights else None
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=loss_weights,
                  steps_per_execution=steps_per_execution, jit_compile=jit_compile)
