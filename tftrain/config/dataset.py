"""The dataset config, turned into data: the one place where its keys become a source's call
and the pipeline's settings (tftrain.data takes plain values and layers, and names its own
parameters in what it refuses; here they become `dataset.<parameter>`)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tftrain.config.cv import CV_KEYS, folds_of, group_of
from tftrain.config.instantiate import call, instantiate, locate
from tftrain.config.schema import DatasetConfig
from tftrain.data.forms import Data, Source, Stream
from tftrain.errors import UNREADABLE, TftrainError, door, keyed

# The pipeline's keys: those every source shares, and a CSV's column of weights, which the
# pipeline takes out of the columns the source read (tftrain.data.weights).
PIPELINE_KEYS = {f.name for f in fields(DatasetConfig)} - {"_target_"} | {"sample_weight"}


def options_of(node: DictConfig) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A dataset config as (the source's options with its `_target_`, the pipeline's keys,
    the name errors give the data: `dataset.path=...`, or the source)."""
    options = OmegaConf.to_container(node, resolve=True)
    pipeline = {key: options.pop(key) for key in PIPELINE_KEYS if key in options}
    pipeline["folds"] = folds_of(node)  # cv.*: a fold of cross-validation, or None
    pipeline["group"] = group_of(node) if pipeline["folds"] else None
    name = f"dataset.path={options['path']}" if options.get("path") else f"dataset ({options['_target_']})"
    return options, pipeline, name


def read_source(options: dict[str, Any], seed: int, **extra: Any) -> Source | Stream:
    """Call the source a dataset config names (inside the caller's data door); `extra`
    (no config keys: tftrain-eval's `run_kinds`) goes to a source that takes it."""
    source_options = {k: v for k, v in options.items() if k != "_target_"}
    target = options["_target_"]
    source = call(locate(target, "dataset._target_"), "dataset", source_options, seed=seed,
                  **extra)
    if not isinstance(source, (Source, Stream)):
        raise TftrainError(f"dataset._target_={target} returned a {type(source).__name__}; "
                           "a data source returns a tftrain.data.forms.Source (arrays in "
                           "memory) or a Stream (examples read from files).")
    return source


def read_grouped(options: dict[str, Any], pipeline: dict[str, Any], seed: int,
                 **extra: Any) -> Source | Stream:
    """The source; with folds grouped by a column (cv.group), its rows grouped, the column
    read beside the source and no input of the model (only a CSV names columns)."""
    group = pipeline.get("group")
    if group is None:
        return read_source(options, seed, **extra)
    if "label" not in options or "drop" not in options:
        raise TftrainError(f"cv.group={group}: groups are a column of a CSV (dataset=csv), and "
                           f"{options['_target_']} reads no columns; leave cv.group unset.")
    from tftrain.data.groups import group_column, with_groups

    groups = group_column(options["path"], group, options["label"], options.get("encoding"),
                          options.get("delimiter"), options.get("header"))
    source = read_source({**options, "drop": [*options["drop"], group]}, seed, **extra)
    return with_groups(source, groups) if isinstance(source, Source) else source


def augment_layers(nodes: Any) -> tuple[Any, ...]:
    """`dataset.augment`: the augmentation layers, made once (the model or the pipeline
    applies them, as `dataset.augment_in` says)."""
    return tuple(instantiate(node, f"dataset.augment.{index}", _convert_="all")
                 for index, node in enumerate(nodes or ()))


def build_data(node: DictConfig, batch_size: int, seed: int,
               trainer: DictConfig | None = None) -> Data:
    """The data door: read the source a dataset config names, split it, fit the encodings,
    build the datasets. A library's refusal of the user's data (numpy, Keras, tf.data) is one
    TftrainError naming `dataset.path` (or the source), and what the data layer refuses
    names its parameter as a `dataset.` key; a failure of ours keeps its traceback.
    `trainer`: the trainer config, whose `class_weight` the pipeline applies."""
    from tftrain.data.pipeline import assemble  # TensorFlow: only once data is built

    options, pipeline, name = options_of(node)
    pipeline["class_weight"] = class_weight(trainer)
    not_a_label(pipeline.get("sample_weight"), options.get("label"))
    with keyed("dataset"), keyed(OTHER_KEYS), keyed(CV_KEYS), door(name, refused=UNREADABLE):
        pipeline["augment"] = augment_layers(pipeline.get("augment"))
        return assemble(read_grouped(options, pipeline, seed), pipeline, batch_size, seed, name)


# The data's parameters that are no dataset keys: the batch size and the class weights it is
# given, and the metrics it advises.
OTHER_KEYS = {"batch_size": "trainer.batch_size", "class_weight": "trainer.class_weight",
              "metrics": "metrics"}


def not_a_label(column: str | None, label: Any) -> None:
    """`dataset.sample_weight` names a column beside the label: the source reads the label
    apart from its inputs, where the weights are looked for."""
    labels = label if isinstance(label, list) else [label]
    if column is not None and column in map(str, labels):
        raise TftrainError(f"dataset.sample_weight={column} is the label (dataset.label="
                           f"{label}); a column of weights is another column of the file, each "
                           "row's weight in the loss (a number >= 0).")


def class_weight(trainer: DictConfig | None) -> Any:
    """`trainer.class_weight` as a plain value: None, `balanced`, or {class: weight} (class
    names as strings, as the data names its classes; several targets: {target: either})."""
    value = None if trainer is None else trainer.get("class_weight")
    value = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    return names_as_text(value)


def names_as_text(value: Any) -> Any:
    """Keys as the user meant them: the command line reads `{0: 5}` with an integer key,
    `{True: 5}` with a boolean one; the data's class names are text."""
    if not isinstance(value, dict):
        return value
    return {str(key): names_as_text(weight) for key, weight in value.items()}


def check_folds(node: DictConfig, seed: int) -> None:
    """Before a sweep of folds starts: the data read and cut as each fold's run will cut it,
    so that what would refuse every fold (a class of fewer rows than folds, a group column
    that is not there, a streamed source) is refused once, before the sweep's folder exists."""
    from tftrain.data.batches import fold_cut
    from tftrain.data.pipeline import in_memory_only

    options, pipeline, name = options_of(node)
    with keyed("dataset"), keyed(CV_KEYS), door(name, refused=UNREADABLE):
        source = read_grouped(options, pipeline, seed)
        if isinstance(source, Stream):
            in_memory_only({"folds": pipeline["folds"]}, name)
        fold_cut(source, pipeline["test_split"], seed, pipeline["folds"].count)
