"""The trainer config, turned into a trainer: the custom loop's `train_step` becomes a factory
of steps (its class with the arguments the config gives, checked here), which the trainer
calls with the model; the trainer receives no config node."""

from __future__ import annotations

import copy

from omegaconf import DictConfig, open_dict

from tftrain.config.instantiate import instantiate, parameters, unknown_argument
from tftrain.errors import TftrainError, keyed


def build_trainer(node: DictConfig):
    """`trainer=fit` or `trainer=custom_loop` with its knobs, and its step factory."""
    with keyed("trainer"):
        if node.get("train_step") is None:
            return instantiate(node, "trainer", _recursive_=False)
        step = instantiate(node.train_step, "trainer.train_step", _partial_=True, _convert_="all")
        refused = unknown_argument(str(node.train_step._target_), list(step.keywords),
                                   parameters(step.func), "trainer.train_step")
        if refused:
            raise TftrainError(refused)
        knobs = copy.deepcopy(node)
        with open_dict(knobs):
            del knobs["train_step"]
        return instantiate(knobs, "trainer", _partial_=True)(train_step=step)
