"""The data `tftrain-eval` evaluates a run's model on: read by the data source the run's
config (or the overrides) names, then conformed to what the model was trained with, as the
run's summary.json records it (its inputs and their kinds, its targets and their classes).

Why not the training pipeline as it is: training derives everything afresh from the data
it reads (class ids from the classes present, column kinds from the values, a training
split large enough to train on, two classes at least). That is right for training and
wrong here: a file holding two of the run's three classes would number them 0 and 1 and
every metric would be computed against shifted labels (exit 0); a stray word would make a
numeric column categorical and Keras would fail deep inside the model; a small file or a
one-class folder would be refused although nothing is trained.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from tftrain.console import echo
from tftrain.data.batches import split
from tftrain.data.csv_format import listing
from tftrain.data.features import as_columns
from tftrain.data.forms import Arrays, Source, Stream, rows_in
from tftrain.data.pipeline import (dataset_options, eval_dataset, fingerprint, read_source,
                                   with_channel_axis)
from tftrain.data.streaming import stream_data
from tftrain.errors import TftrainError, door, did_you_mean



READ_AS_RUN = ("decimal", "encoding")  # options a new file is read with as the run read its own


@dataclass
class EvalSet:
    """What eval evaluates on and records: the split's name and dataset, the sizes of all
    splits, and the training split's fingerprint (the same as the run's for the same data)."""

    split: str
    dataset: tf.data.Dataset | None
    sizes: dict[str, int]
    fingerprint: str


def eval_data(cfg: DictConfig, run: dict[str, Any], batch_size: int, seed: int) -> EvalSet:
    """The evaluation split of the data `cfg` (a dataset config) describes, in the run's
    encoding; whatever a library raises while reading it names the data (the data door)."""
    options, pipeline, name = dataset_options(cfg)
    reading = run.get("reading", {})
    for key in READ_AS_RUN:  # a new file in the run's encoding and decimal mark, unless set
        if key in options and options[key] is None and reading.get(key) is not None:
            options[key] = reading[key]
    kinds = {n: spec.get("kind", "raw") for n, spec in run["inputs"].items()}
    with door(name):
        source = read_source(options, seed, run_kinds=kinds)
        if isinstance(source, Stream):
            return streamed(source, pipeline, run, batch_size, seed, name)
        return in_memory(source, pipeline, run, batch_size, seed, name)


def in_memory(source: Source, pipeline: dict[str, Any], run: dict[str, Any], batch_size: int,
              seed: int, name: str) -> EvalSet:
    """Arrays in memory: inputs conformed, split as in training, labels in the run's ids."""
    if rows_in(source.y) == 0:
        raise TftrainError(f"{name}: the data holds no examples.")
    source = replace(source, x=conformed_inputs(source, run["inputs"], name))
    if pipeline["channel_axis"]:
        source = with_channel_axis(source)
    check_shapes(as_columns(source.x), run["inputs"], name)
    recode = label_recoder(source.targets(), run["targets"], name)
    (x_train, y_train), val, test = split(source, pipeline["val_split"], pipeline["test_split"], seed)
    sizes = {"train": rows_in(y_train), "val": rows_in(val[1]), "test": rows_in(test[1])}
    which = "test" if sizes["test"] else "val"
    x, y = test if which == "test" else val
    cache, limit = pipeline["cache"] is not False, pipeline["limit_batches"]
    return EvalSet(which, eval_dataset(x, recode(y), batch_size, cache, limit) if sizes[which]
                   else None, sizes, fingerprint(x_train, y_train))


def streamed(stream: Stream, pipeline: dict[str, Any], run: dict[str, Any], batch_size: int,
             seed: int, name: str) -> EvalSet:
    """Examples read from files: the streaming pipeline, then labels mapped to the run's ids."""
    data = stream_data(stream, pipeline, batch_size, seed)
    check_shapes({f.name: np.empty((0, *f.shape)) for f in data.spec.inputs}, run["inputs"], name)
    ids = label_ids(data.spec.targets[0].name, data.spec.task, data.spec.class_names,
                    run["targets"], name)
    which = "test" if data.test is not None else "val"
    dataset = getattr(data, which)
    if dataset is not None and ids is not None:
        table = tf.constant(ids)
        dataset = dataset.map(lambda x, y: (x, tf.gather(table, tf.cast(y, tf.int32))))
    return EvalSet(which, dataset, data.sizes, data.fingerprint)


def conformed_inputs(source: Source, inputs: dict[str, dict[str, Any]], name: str) -> Arrays:
    """The model's inputs (a CSV's columns read by the kinds the run read them as: the
    source takes `run_kinds`); columns the model does not take are left out, and said."""
    columns = as_columns(source.x)
    missing = [n for n in inputs if n not in columns]
    if missing:
        near = did_you_mean(missing[0], [c for c in columns if c not in inputs]) \
            if len(missing) == 1 else ""  # one input missing: most likely renamed
        raise TftrainError(f"{name} lacks the input(s) {listing(missing)} the run's model takes; "
                           f"it has: {listing(list(columns))}.{near} Give data with the run's "
                           f"inputs: {listing(list(inputs))}.")
    extra = [c for c in columns if c not in inputs]
    if extra:
        echo(f"data: {listing(extra)} left out: the run's model does not take them")
    return source.x if not isinstance(source.x, dict) else {n: columns[n] for n in inputs}


def check_shapes(columns: dict[str, np.ndarray], inputs: dict[str, dict[str, Any]], name: str) -> None:
    """Each input's shape per example, as the run's model takes it."""
    for column, spec in inputs.items():
        given, wanted = tuple(columns[column].shape[1:]), tuple(spec["shape"])
        if given != wanted:
            what = "the examples have" if len(inputs) == 1 else f"the input '{column}' has"
            raise TftrainError(f"{name}: {what} shape {given}; the run's model takes {wanted}. "
                               "Choose data with the run's input shapes.")


def label_recoder(targets: list[tuple[str, str, list[str] | None]], run: dict[str, Any], name: str):
    """A function putting labels (one array, or a dict by target) in the run's class ids."""
    ids = {target: label_ids(target, task, names, run, name) for target, task, names in targets}

    def recode(y: Arrays) -> Arrays:
        labels = y if isinstance(y, dict) else {"output": y}
        out = {t: v if ids[t] is None else ids[t][v] for t, v in labels.items()}
        return out if isinstance(y, dict) else out["output"]

    return recode


def label_ids(target: str, task: str, names: Any, run: dict[str, Any], name: str) -> np.ndarray | None:
    """For a classification target, the run's id of each class the data numbers 0..K-1
    (None for a regression target): a subset of the run's classes is fine, a class the
    model never learnt is refused, naming it."""
    which = "the label" if target == "output" else f"the target '{target}'"
    if target not in run:
        raise TftrainError(f"{name}: {which} is none the run's model predicts; it predicts "
                           f"{listing(list(run))}.")
    trained = run[target]
    if task != trained["task"]:
        raise TftrainError(f"{name}: {which} reads as a {task} target, but the run's model was "
                           f"trained for {trained['task']}; set dataset.task={trained['task']}.")
    if task != "classification" or names is None:
        return None
    index = {str(c): i for i, c in enumerate(trained["class_names"])}
    unknown = [str(n) for n in names if str(n) not in index]
    if unknown:
        raise TftrainError(f"{name}: {which} holds the class(es) {listing(unknown)}, which the "
                           f"run's model never learnt; it knows {listing(list(index))}. Evaluate "
                           "on examples of those classes (some of them are enough).")
    return np.array([index[str(n)] for n in names], np.int32)

