"""Checks a type cannot express, made at composition (the composition door, with the
schemas' own type and key checks): required values, ranges, exclusive settings, and the
`_target_` allowlist. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tftrain.errors import TftrainError, user_error
from tftrain.config import exports, objective
from tftrain.config.tree import join, leaves, mapped, nodes, with_targets

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
# Ranges of keys at one place in the config (`seed`: NumPy's range; a layer's own seed is Keras').
PATHS: dict[str, tuple[Any, str]] = {
    "seed": (lambda v: isinstance(v, int) and 0 <= v <= 2**32 - 1, "an integer in [0, 2**32 - 1]"),
}
RATE = (lambda v: v > 0, "a number > 0")
STEPS = (lambda v: v >= 1, "a number of steps >= 1")
# Ranges of the arguments of Keras classes, wherever a node names one (`_target_:
# keras.optimizers.schedules.CosineDecay`, under lr_schedule or as an optimizer's
# learning_rate): Keras takes alpha=-3 or warmup_steps=-5 without a word and trains at a
# negative rate, or at none.
ARGUMENTS: dict[str, dict[str, tuple[Any, str]]] = {
    "CosineDecay": {"decay_steps": STEPS, "alpha": (lambda v: 0 <= v <= 1, "a fraction in [0, 1]"),
                    "warmup_target": RATE,
                    "warmup_steps": (lambda v: v >= 0, "a number of steps >= 0")},
    "CosineDecayRestarts": {"initial_learning_rate": RATE, "first_decay_steps": STEPS,
                            "alpha": (lambda v: 0 <= v <= 1, "a fraction in [0, 1]"),
                            "t_mul": RATE, "m_mul": RATE},
    "ExponentialDecay": {"initial_learning_rate": RATE, "decay_steps": STEPS, "decay_rate": RATE},
    "InverseTimeDecay": {"initial_learning_rate": RATE, "decay_steps": STEPS,
                         "decay_rate": (lambda v: v >= 0, "a number >= 0")},
    "PolynomialDecay": {"initial_learning_rate": RATE, "decay_steps": STEPS,
                        "end_learning_rate": (lambda v: v >= 0, "a number >= 0"), "power": RATE},
    "PiecewiseConstantDecay": {
        "values": (lambda v: all(x > 0 for x in v), "a list of learning rates > 0"),
        "boundaries": (lambda v: all(x >= 0 for x in v)
                       and all(a < b for a, b in zip(v, v[1:])),
                       "a list of increasing step numbers >= 0 (${epochs_to_steps:N} converts "
                       "epochs)")},
}
# Arguments that must agree with each other: (class, argument named, arguments read, rule, valid).
TOGETHER = [
    ("PiecewiseConstantDecay", "values", ("values", "boundaries"),
     lambda values, boundaries: len(values) == len(boundaries) + 1,
     "one value more than boundaries: values[i] until boundaries[i], the last one after"),
    ("CosineDecay", "initial_learning_rate", ("initial_learning_rate", "warmup_target"),
     lambda rate, target: target is not None or rate > 0,
     "a number > 0: without warmup_target the schedule starts there and only decays"),
]
JIT_CHOICES = ("auto", True, False)
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
LR_CALLBACKS = ("keras.callbacks.ReduceLROnPlateau", "keras.callbacks.LearningRateScheduler")

TRUSTED_MODULES = ("tftrain", "keras", "tensorflow")


def unset(tree: Any) -> list[str]:
    """The keys a config leaves as ??? (read without resolving any interpolation)."""
    return [path for path, value in leaves(tree) if value == "???"]


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
    check_validation(cfg)
    check_lr_control(cfg)
    check_limits(settle(OmegaConf.to_container(cfg, resolve=False), cfg))
    check_export(cfg.get("export"))
    check_targets(cfg)
    if multi_worker(cfg) and str(trainer._target_).endswith("FitTrainer"):
        raise TftrainError("trainer=fit cannot train under distribute=multi_worker: Keras 3's fit "
                           "does not support MultiWorkerMirroredStrategy (keras-team/keras#20585). "
                           "Use trainer=custom_loop, which does.")


def check_export(value: Any) -> None:
    """export=: the formats and arguments tftrain-export takes (tftrain.config.exports), and
    their packages installed, refused before the run trains rather than after."""
    value = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    asked = exports.from_config(value)
    if asked is not None:
        exports.missing_packages(asked.formats)


def multi_worker(cfg: DictConfig) -> bool:
    """Whether the run is one model trained by several processes (distribute=multi_worker)."""
    return str(cfg.distribute.get("_target_", "")).endswith("multi_worker_strategy")


def check_limits(tree: Any, at: str = "") -> None:
    """Every key named in PATHS, LIMITS or by its class's ARGUMENTS holds a value in its
    range, however deep in the config (interpolations not yet resolved are skipped)."""
    for path, node in nodes(tree, at):
        if not isinstance(node, dict):
            continue
        arguments = class_arguments(node.get("_target_"))
        for key, value in node.items():
            where = join(path, key)
            rule = arguments.get(str(key)) or PATHS.get(where) or LIMITS.get(str(key))
            known = settled(value)
            if rule and known is not None and not isinstance(value, dict) \
                    and not within(rule[0], known):
                raise TftrainError(f"{where}={value!r} is not valid: use {rule[1]}.")
        check_together(node, path)


def settled(value: Any) -> Any:
    """A value without what is still an interpolation (resolved later, then checked again by
    `tftrain.config.instantiate`): None for one, a list without its unresolved items."""
    if isinstance(value, list):
        return [item for item in value if not unresolved(item)]
    return None if unresolved(value) else value


def unresolved(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def settle(tree: Any, cfg: DictConfig) -> Any:
    """The config as plain data with each interpolation that already has a number as its
    value (${optimizer.learning_rate}) resolved; one resolved later (${epochs_to_steps:N}
    once the data is built, ${hydra:...} in the run) stays as written."""
    return mapped(tree, lambda path, value: settled_value(path, value, cfg))


def settled_value(path: str, node: Any, cfg: DictConfig) -> Any:
    if not unresolved(node):
        return node
    try:
        value = OmegaConf.select(cfg, path)
    except Exception as error:  # a resolver that answers only later, or refuses (TftrainError)
        if user_error(error) is not None:
            raise TftrainError(f"{path}={node!r}: {user_error(error)}") from None
        return node
    return value if isinstance(value, (int, float)) else node


def class_arguments(target: Any) -> dict[str, tuple[Any, str]]:
    """ARGUMENTS' rules for the Keras or TensorFlow class a `_target_` names, if any."""
    if not isinstance(target, str) or target.split(".", 1)[0] not in ("keras", "tensorflow"):
        return {}
    return ARGUMENTS.get(target.rsplit(".", 1)[-1], {})


def check_together(node: dict, path: str) -> None:
    """TOGETHER's rules for the node's class, where every argument they read is known."""
    target = node.get("_target_")
    name = str(target).rsplit(".", 1)[-1] if class_arguments(target) else None
    for cls, key, reads, rule, valid in TOGETHER:
        values = [node.get(k) for k in reads]
        if cls != name or any(map(unresolved, values)):
            continue
        try:
            agree = rule(*values)
        except TypeError:  # an argument missing or of the wrong type: Keras says so itself
            continue
        if not agree:
            where = f"{path}.{key}" if path else key
            given = ", ".join(f"{k}={node.get(k)!r}" for k in reads)
            raise TftrainError(f"{where}: {given} do not fit together: use {valid}.")


def within(rule: Any, value: Any) -> bool:
    """Whether `value` keeps the rule: a value of a type the rule cannot compare (a word
    for a number, a flag) does not."""
    if isinstance(value, bool):
        return False
    try:
        return bool(rule(value))
    except TypeError:
        return False


def check_validation(cfg: DictConfig) -> None:
    """A validation objective (auto's val_accuracy or val_loss included) where the data has a
    validation split but no epoch of the run validates (trainer.validation_freq past the
    epochs) is refused here, before a run, or every trial of a search, trains for nothing:
    nothing would ever rank its epochs or its runs."""
    trainer, dataset, metric = cfg.trainer, cfg.dataset, cfg.objective.metric
    split = dataset.get("val_split", 0) or dataset.get("val_path")
    if not split or not (metric == "auto" or metric.startswith("val_")):
        return
    validates = objective.validation(True, trainer.initial_epoch, trainer.epochs,
                                     trainer.get("validation_freq", 1))
    if validates != "yes":
        raise TftrainError(f"objective.metric={metric}: the objective is a validation metric, but "
                           f"{validates}. Set trainer.validation_freq to at most "
                           f"{trainer.epochs}, or objective.metric to a training metric (such "
                           "as loss).")


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


def targets(cfg: DictConfig) -> list[tuple[str, str]]:
    """Every `_target_` in a config, with its key path as an override names it
    (`model.layers.1._target_`), however deep."""
    return [(join(path, "_target_"), str(node["_target_"])) for path, node in with_targets(cfg)]


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
