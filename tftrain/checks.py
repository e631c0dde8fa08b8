"""Checks a type cannot express, made at composition (the composition door, with the
schemas' own type and key checks): required values, ranges, exclusive settings, and the
`_target_` allowlist. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from tftrain.errors import TftrainError

POSITIVE = {"trainer": ("epochs", "batch_size", "steps_per_execution", "validation_freq")}
# Ranges a type cannot express, for keys of these names wherever they are in a config (in
# Keras' own nodes too: EarlyStopping takes patience=-1 without a word, an optimizer a
# negative learning rate). Values still given as interpolations are checked once resolved.
LIMITS: dict[str, tuple[Any, str]] = {
    **dict.fromkeys(("learning_rate", "clipnorm", "global_clipnorm", "clipvalue"),
                    (lambda v: v > 0, "a number > 0")),
    **dict.fromkeys(("initial_learning_rate", "patience", "min_delta", "weight_decay", "noise",
                     "start_from_epoch"),
                    (lambda v: v >= 0, "a number >= 0")),
    **dict.fromkeys(("num_samples", "shuffle_buffer", "max_tokens", "cpu_devices",
                     "sequence_length", "num_words"), (lambda v: v >= 1, "an integer >= 1")),
    **dict.fromkeys(("beta_1", "beta_2", "ema_momentum"), (lambda v: 0 <= v < 1, "a number in [0, 1)")),
    "num_classes": (lambda v: v >= 2, "an integer >= 2 (a classifier needs two classes)"),
    "gradient_accumulation_steps": (lambda v: v >= 2, "an integer >= 2, or null for none"),
    "save_freq": (lambda v: v == "epoch" or (isinstance(v, int) and v >= 1),
                  "epoch, or a number of steps >= 1"),
    "port": (lambda v: isinstance(v, int) and 1024 <= v <= 65535, "a port in [1024, 65535], or null"),
    **dict.fromkeys(("shape", "image_size"), (lambda v: all(isinstance(d, int) and d >= 1 for d in v),
                                              "a list of integers >= 1, such as [28, 28, 1]")),
}
JIT_CHOICES = ("auto", True, False)
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
LR_CALLBACKS = ("keras.callbacks.ReduceLROnPlateau", "keras.callbacks.LearningRateScheduler")

TRUSTED_MODULES = ("tftrain", "keras", "tensorflow")


def unset(node: Any, prefix: str = "") -> list[str]:
    """The keys a config leaves as ??? (read without resolving any interpolation)."""
    if isinstance(node, dict):
        return [key for k, v in node.items() for key in unset(v, f"{prefix}{k}.")]
    if isinstance(node, list):
        return [key for i, v in enumerate(node) for key in unset(v, f"{prefix}{i}.")]
    return [prefix.rstrip(".")] if node == "???" else []


def how_to_set(cfg: DictConfig, key: str) -> str:
    """`key=...`, or `'+key={...}'` for a dict (Hydra only adds a dict's new keys with +)."""
    node = cfg
    for part in key.split("."):
        node = node._get_node(part)  # the node itself: reading its value would fail (???)
    return f"'+{key}={{...}}'" if isinstance(node, DictConfig) else f"{key}=..."


def validate(cfg: DictConfig) -> None:
    """Range checks a type cannot express, done at composition (before TensorFlow starts)."""
    missing = unset(OmegaConf.to_container(cfg, resolve=False))
    if missing:
        raise TftrainError(f"{', '.join(missing)}: required but not given (??? in the config); "
                           f"add {' '.join(map(partial(how_to_set, cfg), missing))} to the "
                           "command line.")
    trainer, dataset = cfg.trainer, cfg.dataset
    for key in POSITIVE["trainer"]:
        if key in trainer and (not isinstance(trainer[key], int) or trainer[key] < 1):
            raise TftrainError(f"trainer.{key}={trainer[key]!r} must be a positive integer.")
    if trainer.get("jit_compile", "auto") not in JIT_CHOICES:
        raise TftrainError(f"trainer.jit_compile={trainer.jit_compile!r} is not valid; "
                           "use auto, true or false.")
    splits = {k: dataset[k] for k in ("val_split", "test_split") if k in dataset}
    for key, fraction in splits.items():
        if not 0.0 <= fraction < 1.0:
            raise TftrainError(f"dataset.{key}={fraction} must be a fraction in [0, 1).")
    if sum(splits.values()) >= 1.0:
        raise TftrainError(f"dataset.val_split + dataset.test_split = {sum(splits.values()):g} "
                           "leaves nothing to train on; keep their sum below 1.")
    if dataset.get("augment_in", "model") not in ("model", "pipeline"):
        raise TftrainError(f"dataset.augment_in={dataset.augment_in!r} is not valid; "
                           "use model (augmentation layers inside the model) or pipeline (tf.data).")
    if dataset.get("limit_batches") is not None and dataset.limit_batches < 1:
        raise TftrainError(f"dataset.limit_batches={dataset.limit_batches} must be a positive "
                           "integer, or null for all batches.")
    if cfg.objective.mode not in ("auto", "min", "max"):
        raise TftrainError(f"objective.mode={cfg.objective.mode!r} is not valid; "
                           "use min, max or auto.")
    if cfg.precision.policy not in PRECISIONS:
        raise TftrainError(f"precision.policy={cfg.precision.policy!r} is not valid; "
                           f"use one of: {', '.join(PRECISIONS)}.")
    if trainer.initial_epoch < 0 or trainer.initial_epoch >= trainer.epochs:
        raise TftrainError(f"trainer.initial_epoch={trainer.initial_epoch} must be in "
                           f"[0, trainer.epochs={trainer.epochs}).")
    check_lr_control(cfg)
    check_limits(OmegaConf.to_container(cfg, resolve=False))
    if cfg.get("export") not in (None, "savedmodel"):
        raise TftrainError(f"export={cfg.export!r} is not valid; use savedmodel (writes export/ "
                           "with model.export) or leave it null.")
    check_targets(cfg)
    if (str(cfg.distribute.get("_target_", "")).endswith("multi_worker_strategy")
            and str(trainer._target_).endswith("FitTrainer")):
        raise TftrainError("trainer=fit cannot train under distribute=multi_worker: Keras 3's fit "
                           "does not support MultiWorkerMirroredStrategy (keras-team/keras#20585). "
                           "Use trainer=custom_loop, which does.")


def check_limits(node: Any, path: str = "") -> None:
    """Every key named in LIMITS holds a value in its range, however deep in the config."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            rule = LIMITS.get(str(key))
            resolved_later = isinstance(value, str) and "${" in value
            if rule and value is not None and not resolved_later and not isinstance(value, dict) \
                    and not within(rule[0], value):
                raise TftrainError(f"{where}={value!r} is not valid: use {rule[1]}.")
            check_limits(value, where)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            check_limits(value, f"{path}.{index}")


def within(rule: Any, value: Any) -> bool:
    """Whether `value` keeps the rule: a value of a type the rule cannot compare (a word
    for a number, a flag) does not."""
    if isinstance(value, bool):
        return False
    try:
        return bool(rule(value))
    except TypeError:
        return False


def check_lr_control(cfg: DictConfig) -> None:
    """Keras cannot both follow a LearningRateSchedule and let a callback set the rate."""
    schedule = (cfg.get("lr_schedule") or {}).get("_target_")
    callbacks = [name for name, node in (cfg.get("callbacks") or {}).items()
                 if node is not None and node.get("_target_") in LR_CALLBACKS]
    if schedule and callbacks:
        raise TftrainError(
            f"lr_schedule ({schedule.rsplit('.', 1)[-1]}) and the callback "
            f"'{callbacks[0]}' both want to set the learning rate, and Keras cannot do both. "
            f"Keep one: lr_schedule=constant, or drop the callback with ~callbacks.{callbacks[0]}.")


def targets(node: Any, path: str = "") -> list[tuple[str, str]]:
    """Every `_target_` in a config, with its key path as an override names it
    (`model.layers.1._target_`), however deep."""
    found = []
    if isinstance(node, DictConfig):
        for key in node.keys():
            child = node._get_node(key)
            where = f"{path}.{key}" if path else str(key)
            if key == "_target_":
                found.append((where, str(node[key])))
            elif isinstance(child, (DictConfig, ListConfig)):
                found += targets(child, where)
    elif isinstance(node, ListConfig):
        for index in range(len(node)):
            found += targets(node._get_node(index), f"{path}.{index}")
    return found


def check_targets(cfg: DictConfig) -> None:
    """A config may instantiate only tftrain, Keras, TensorFlow and the modules the user lists.

    A config file is data: it must not become a way to run `os.system` or `builtins.eval`
    when someone trains with a config they were sent.
    """
    allowed = (*TRUSTED_MODULES, *cfg.get("allow_targets", []))
    for where, target in targets(cfg):
        module = target.split(".", 1)[0]
        if module not in allowed:
            raise TftrainError(
                f"{where}={target!r} is refused: `_target_` may only name something in "
                f"{', '.join(allowed)}. If you trust the module '{module}', allow it with one "
                f"line in your config, `allow_targets: [{module}]`, or on the command line "
                f"`allow_targets=[{module}]`.")
