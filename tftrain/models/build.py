"""Instantiate a model config against the data's Spec; shape errors become user messages."""

from __future__ import annotations

import inspect

import keras
from hydra.utils import instantiate
from omegaconf import DictConfig

from tftrain.data import Spec
from tftrain.errors import TftrainError


def spec_arguments(spec: Spec) -> dict:
    return {"spec": spec, "num_outputs": spec.num_outputs, "num_classes": spec.num_classes,
            "output_activation": spec.output_activation, "input_shape": spec.input_shape}


def build_model(cfg: DictConfig, spec: Spec) -> keras.Model:
    """Build the model a config names against the data's input shape."""
    target = cfg.get("_target_", "?")
    factory = instantiate(cfg, _partial_=True, _convert_="all")
    accepted = inspect.signature(factory.func).parameters
    offered = {k: v for k, v in spec_arguments(spec).items()
               if k in accepted and k not in factory.keywords}
    try:
        model = factory(**offered)
        if not model.built:  # a subclassed model: one call on a zero batch builds every layer
            model(keras.ops.zeros((1, *spec.input_shape), dtype=spec.input_dtype))
    except TftrainError:
        raise
    except (ValueError, TypeError) as error:
        raise TftrainError(
            f"model '{cfg.get('name', target)}' ({target}) does not fit the data: the data gives "
            f"inputs of shape {spec.input_shape} ({spec.input_dtype}) for a {spec.task} task"
            f"{f' with {spec.num_classes} classes' if spec.num_classes else ''}. "
            f"Keras said: {' '.join(str(error).split())}") from error
    return model
