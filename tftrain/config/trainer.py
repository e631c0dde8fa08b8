"""The trainer config, turned into a trainer: the custom loop's `train_step` becomes a factory
of steps (its class with the arguments the config gives, checked here), which the trainer
calls with the model; the trainer receives no config node. `class_weight` is the data's
(tftrain.config.dataset: the pipeline weighs the examples), not the trainer's."""

from __future__ import annotations

import copy

from omegaconf import DictConfig, open_dict

from tftrain.config.instantiate import instantiate, parameters, unknown_argument
from tftrain.errors import TftrainError, keyed


# Trainer keys that the data pipeline applies (build_data takes them), not the trainer.
DATA_KEYS = ("class_weight",)


def build_trainer(node: DictConfig):
    """`trainer=fit` or `trainer=custom_loop` with its knobs, and its step factory."""
    with keyed("trainer"):
        if node.get("train_step") is None:
            return instantiate(knobs_of(node), "trainer", _recursive_=False)
        step = instantiate(node.train_step, "trainer.train_step", _partial_=True, _convert_="all")
        refused = unknown_argument(str(node.train_step._target_), list(step.keywords),
                                   parameters(step.func), "trainer.train_step")
        if refused:
            raise TftrainError(refused)
        return instantiate(knobs_of(node), "trainer", _partial_=True)(train_step=step)


def knobs_of(node: DictConfig) -> DictConfig:
    """The trainer's own arguments: the node without its step and the data's keys."""
    knobs = copy.deepcopy(node)
    with open_dict(knobs):
        for key in ("train_step", *DATA_KEYS):
            knobs.pop(key, None)
    return knobs
