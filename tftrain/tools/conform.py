"""Data read for `tftrain-eval`, conformed to what the run's model was trained with, as the
run's summary.json records it: its inputs (names, shapes, kinds), its targets and their
classes; and which split of it is evaluated.

Why not the training pipeline as it is: training derives everything afresh from the data
it reads (class ids from the classes present, column kinds from the values, a training
split large enough to train on, two classes at least). That is right for training and
wrong here: a file holding two of the run's three classes would number them 0 and 1 and
every metric would be computed against shifted labels (exit 0); a stray word would make a
numeric column categorical and Keras would fail deep inside the model; a small file or a
one-class folder would be refused although nothing is trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tftrain.console import echo
from tftrain.data.csv_format import listing
from tftrain.data.features import as_columns
from tftrain.data.forms import Arrays, Source
from tftrain.errors import TftrainError, did_you_mean

SPLITS = ("train", "val", "test", "all")
SPLIT_NAMES = {"train": "training split", "val": "validation split", "test": "test split",
               "all": "data"}


@dataclass
class EvalSet:
    """What eval scores and records: the split's name, its batches of (inputs, labels in
    the run's class ids, each example's identity), its size, the sizes of the splits, and
    the fingerprints of the training split and of all the data (the run's, for its data)."""

    split: str
    dataset: Any  # tf.data.Dataset of (x, y, id) batches
    samples: int
    sizes: dict[str, int]
    fingerprint: str
    source_fingerprint: str


def chosen_split(given: str | None, sizes: dict[str, int | None], own: bool) -> str:
    """The split evaluated: the one given (`split=`), else the test split of the run's own
    data (its validation split when it has none, said), else all of other data. `sizes`:
    None where not known before reading (streamed records), 0 where empty."""
    split = given or ("test" if own else "all")
    if given is None and own and sizes["test"] == 0:
        echo("data: no test split (dataset.test_split=0): the validation split is evaluated")
        split = "val"
    if sizes[split] == 0:
        found = ", ".join(f"{name} {count}" for name, count in sizes.items() if count is not None)
        raise TftrainError(f"split={split}: the data has no {SPLIT_NAMES[split]}"
                           f"{f' ({found})' if found else ''}; choose another split= "
                           f"({', '.join(SPLITS)}), or set dataset.val_split/dataset.test_split.")
    return split


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


def check_shapes(columns: dict[str, Any], inputs: dict[str, dict[str, Any]], name: str) -> None:
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
