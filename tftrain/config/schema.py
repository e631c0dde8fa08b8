"""Structured configs for tftrain's own keys, registered in Hydra's ConfigStore.

Each YAML option in ``conf/`` names its schema in its defaults list
(``- /schema/trainer/fit@_here_``), so a misspelt key or a value of the wrong type is
refused while Hydra composes, before TensorFlow is imported. Keys that belong to Keras
(layer arguments in a model, a user's own ``_target_``) stay free-form: Keras checks them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from tftrain.errors import TftrainError


@dataclass
class ObjectiveConfig:
    """What a sweep optimises: ``auto`` is val_accuracy (max) for classifiers, else val_loss (min)."""

    metric: str = "auto"
    mode: str = "auto"


@dataclass
class PrecisionConfig:
    policy: str = "float32"


@dataclass
class CvConfig:
    """k-fold cross-validation (tftrain.config.cv): `folds` runs, one per fold, as a sweep;
    `fold` is the job's (the sweep sets it), `group` a column whose rows share a fold."""

    folds: Optional[int] = None
    fold: Optional[int] = None
    group: Optional[str] = None


@dataclass
class TrainConfig:
    """The root of a run. Groups stay ``Any`` here; each option brings its own schema."""

    dataset: Any = MISSING
    model: Any = MISSING
    optimizer: Any = MISSING
    lr_schedule: Any = field(default_factory=dict)
    callbacks: Any = field(default_factory=dict)
    trainer: Any = MISSING
    precision: PrecisionConfig = field(default_factory=PrecisionConfig)
    cv: CvConfig = field(default_factory=CvConfig)
    distribute: Any = MISSING
    loss: Any = None
    metrics: Any = None
    loss_weights: Any = None
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    seed: int = 42
    deterministic: bool = False
    resume: Optional[str] = None
    export: Any = None  # a format, all, a list of them, or tftrain-export's arguments
    run_dir: str = "${hydra:runtime.output_dir}"
    allow_targets: List[str] = field(default_factory=list)
    logger: Any = field(default_factory=dict)
    # What the run learnt of its data, filled once it is read (`run.prepare`): what
    # ${epochs_to_steps:N} and ${vocabulary_size:} answer from. null until then.
    data_facts: Optional[Dict[str, Any]] = None


@dataclass
class TrainerConfig:
    _target_: str = MISSING
    epochs: int = 30
    batch_size: int = 32
    steps_per_execution: int = 1
    validation_freq: int = 1
    jit_compile: Any = "auto"
    initial_epoch: int = 0
    # balanced | {class: weight}: each training example weighs its class's weight in the loss
    # (sample weights the data pipeline gathers with the batches, so both trainers see them)
    class_weight: Any = None


@dataclass
class CustomLoopConfig(TrainerConfig):
    train_step: Any = field(default_factory=lambda: {"_target_": "tftrain.trainers.SupervisedStep"})


@dataclass
class DatasetConfig:
    """Pipeline keys shared by every source; a source's own keys extend it."""

    _target_: str = MISSING
    val_split: float = 0.1
    test_split: float = 0.2
    shuffle: bool = True
    shuffle_buffer: int = 10000  # streaming sources (in-memory ones shuffle whole epochs)
    # true (memory) | false | a folder for cache files (streaming sources) | null: the source's
    # choice (memory, but none for TFRecord files and streamed CSVs, which may exceed it)
    cache: Any = None
    drop_remainder: bool = True
    limit_batches: Optional[int] = None
    normalize: bool = False
    standardize_target: bool = True
    augment: Optional[List[Any]] = None
    augment_in: str = "model"
    channel_axis: bool = True  # 2-D examples (H, W) are one-channel images (H, W, 1)


@dataclass
class DigitsConfig(DatasetConfig):
    _target_: str = "tftrain.data.sources.digits"


@dataclass
class SyntheticConfig(DatasetConfig):
    _target_: str = "tftrain.data.sources.synthetic"
    task: str = "classification"
    num_samples: int = 2000
    shape: List[int] = field(default_factory=lambda: [16])
    num_classes: int = 4
    noise: float = 0.5
    inputs: Any = None  # {name: shape, ...}: several named inputs
    targets: Any = None  # {name: task, ...}: several named targets, one model output each
    text: bool = False
    text_output_mode: str = "multi_hot"
    sequence_length: Optional[int] = None


@dataclass
class LineConfig(DatasetConfig):
    _target_: str = "tftrain.data.sources.line"
    slope: float = 3.0
    intercept: float = 7.0
    noise: float = 1.0
    num_samples: int = 1000


@dataclass
class NpzConfig(DatasetConfig):
    _target_: str = "tftrain.data.sources.npz"
    path: str = MISSING
    x_key: str = "x_train"
    y_key: str = "y_train"
    x_test_key: str = "x_test"
    y_test_key: str = "y_test"
    task: str = "auto"


@dataclass
class KerasDatasetConfig(DatasetConfig):
    _target_: str = "tftrain.data.sources.keras_dataset"
    name: str = MISSING
    path: Optional[str] = None
    num_words: int = 10000


@dataclass
class CsvConfig(DatasetConfig):
    _target_: str = "tftrain.data.tabular.csv_file"
    path: str = MISSING
    label: Any = MISSING  # a column name, or a list of them: one model output each
    task: str = "auto"
    columns: Dict[str, str] = field(default_factory=dict)
    drop: List[str] = field(default_factory=list)
    max_tokens: int = 10000
    text_output_mode: str = "multi_hot"
    encoding: Optional[str] = None  # null: UTF-8, with or without a byte-order mark
    delimiter: Optional[str] = None  # null: detected among , ; tab |
    header: Optional[bool] = None  # null: detected (a first row of numbers is data)
    decimal: Optional[str] = None  # null: '.', or ',' detected in a file not separated by commas
    in_memory: bool = True  # false: stream the rows from the files (larger than memory)
    sample_weight: Optional[str] = None  # a column of each row's weight in the loss (not an input)


@dataclass
class ImageDirConfig(DatasetConfig):
    _target_: str = "tftrain.data.sources.image_dir"
    path: str = MISSING
    image_size: List[int] = field(default_factory=lambda: [64, 64])
    color_mode: str = "rgb"
    in_memory: bool = True  # false: decode from disk as it trains (folders larger than memory)


@dataclass
class TfrecordConfig(DatasetConfig):
    _target_: str = "tftrain.data.records.tfrecord"
    path: str = MISSING
    features: Dict[str, Any] = MISSING
    label: str = "label"
    val_path: Optional[str] = None
    test_path: Optional[str] = None
    task: str = "auto"
    compression: Optional[str] = None


@dataclass
class TextDirConfig(DatasetConfig):
    _target_: str = "tftrain.data.sources.text_dir"
    path: str = MISSING
    max_tokens: int = 10000
    output_mode: str = "multi_hot"
    sequence_length: Optional[int] = None


@dataclass
class OptimizerConfig:
    """Arguments every ``keras.optimizers.Optimizer`` takes."""

    _target_: str = MISSING
    learning_rate: float = 0.001
    weight_decay: Optional[float] = None
    clipnorm: Optional[float] = None
    clipvalue: Optional[float] = None
    global_clipnorm: Optional[float] = None
    use_ema: bool = False
    ema_momentum: float = 0.99
    gradient_accumulation_steps: Optional[int] = None


@dataclass
class AdamConfig(OptimizerConfig):
    _target_: str = "keras.optimizers.Adam"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    amsgrad: bool = False


@dataclass
class AdamWConfig(AdamConfig):
    _target_: str = "keras.optimizers.AdamW"
    weight_decay: Optional[float] = 0.004


@dataclass
class SGDConfig(OptimizerConfig):
    _target_: str = "keras.optimizers.SGD"
    learning_rate: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False


@dataclass
class RMSpropConfig(OptimizerConfig):
    _target_: str = "keras.optimizers.RMSprop"
    rho: float = 0.9
    momentum: float = 0.0
    epsilon: float = 1e-7
    centered: bool = False


SCHEMAS = {
    "trainer": {"fit": TrainerConfig, "custom_loop": CustomLoopConfig},
    "dataset": {"digits": DigitsConfig, "synthetic": SyntheticConfig, "line": LineConfig,
                "npz": NpzConfig,
                "keras": KerasDatasetConfig, "csv": CsvConfig, "image_dir": ImageDirConfig,
                "text_dir": TextDirConfig, "tfrecord": TfrecordConfig},
    "optimizer": {
        "adam": AdamConfig,
        "adamw": AdamWConfig,
        "sgd": SGDConfig,
        "rmsprop": RMSpropConfig,
    },
}


def data_facts(root: Any) -> Any:
    """What the run whose config this is learnt of its data (its `data_facts`), or None
    before it has read it (composing, `--cfg job --resolve`): facts travel in the config
    they resolve, not in module state a run before this one (a sweep's, a test's) set."""
    return root.get("data_facts") if root is not None else None


def epochs_to_steps(epochs: Any, _root_: Any = None) -> int | str:
    """`${epochs_to_steps:N}`: N epochs in optimizer steps, for LR schedules.

    Before a run has built its data (`--cfg job --resolve`) it shows what it will compute;
    N is checked at once, when the config is composed.
    """
    facts = data_facts(_root_)
    try:
        count = float(epochs) if not isinstance(epochs, bool) else math.nan
    except (TypeError, ValueError):
        count = math.nan
    if not count >= 0:
        raise TftrainError(f"epochs_to_steps takes a number of epochs >= 0, not {epochs!r}.")
    if facts is None:
        return f"<{epochs} epochs in steps>"
    return int(count * facts["steps_per_epoch"])


def vocabulary_size(name: str = "input", _root_: Any = None) -> int | str:
    """`${vocabulary_size:}` (or `${vocabulary_size:column}`): the token count of a text
    input's vocabulary, padding and out-of-vocabulary tokens included: an Embedding's input_dim."""
    facts = data_facts(_root_)
    if facts is None:
        return f"<vocabulary size of {name}>"
    sizes = facts["vocabulary_sizes"]
    if name not in sizes:
        raise TftrainError(
            f"this model embeds token ids of a text input '{name}' (${{vocabulary_size:{name}}}), "
            f"but the data has no such input in int mode (text inputs in int mode: "
            f"{', '.join(sizes) or 'none'}). Use text data with dataset.output_mode=int "
            "(dataset.text_output_mode=int for csv and synthetic).")
    return sizes[name]


def register() -> None:
    """Store the schemas where the YAML defaults lists look for them."""
    OmegaConf.register_new_resolver("epochs_to_steps", epochs_to_steps, replace=True)
    OmegaConf.register_new_resolver("vocabulary_size", vocabulary_size, replace=True)
    store = ConfigStore.instance()
    store.store(name="tftrain_schema", node=TrainConfig)
    for group, nodes in SCHEMAS.items():
        for name, node in nodes.items():
            store.store(group=f"schema/{group}", name=name, node=node)
