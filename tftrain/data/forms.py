"""The forms data takes on its way to the trainers.

A source hands the pipeline either a `Source` (arrays in memory) or a `Stream` (examples
read from files as training goes); the pipeline hands the runner `Data`. This module is
at the bottom of the data package: sources, pipelines and trainers import it, it imports
none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np

from tftrain.data.spec import Spec
from tftrain.errors import TftrainError

if TYPE_CHECKING:
    import tensorflow as tf

Arrays = np.ndarray | dict[str, np.ndarray]


class DataSource(Protocol):
    """What a dataset config's `_target_` names: a function (or class) that reads or makes
    the data (README, Your own data source; `tftrain.data.sources` holds tftrain's own)."""

    def __call__(self, **options: Any) -> Source | Stream:
        """Read or make the data.

        Args:
            options: the dataset config's keys but the pipeline's (`val_split`, `shuffle`,
                ...), as plain values; `seed` too when the source takes one.
        Returns:
            A `Source` (arrays in memory) or a `Stream` (examples read from files as
            training goes); the pipeline splits, encodes and batches either.
        Raises:
            TftrainError: what the source refuses in its files or options, in one paragraph
                naming the parameter (tftrain.errors.param: `dataset.` is added where the
                config became the call).
        """


@dataclass(frozen=True)
class Source:
    """Arrays in memory. Several targets (one model output each) come as dicts keyed by
    target name: `y`, `task` and `class_names` alike."""

    x: Arrays
    y: Arrays
    task: str | dict[str, str]
    class_names: list[str] | dict[str, list[str] | None] | None = None
    kinds: dict[str, str] = field(default_factory=dict)  # input name -> raw|numeric|categorical|text
    test: tuple[Arrays, np.ndarray] | None = None  # the source's own test split, if it has one
    text: dict[str, Any] = field(default_factory=dict)  # TextVectorization settings for text inputs
    one_class: str | None = None  # labels of one class: what training is told (labels.one_class)
    ids: np.ndarray | None = None  # each row's identity (an image's path in its folder); None: its index
    reading: dict[str, Any] = field(default_factory=dict)  # how the data was read (Spec.reading)
    weights: np.ndarray | None = None  # each row's weight in the loss (a column), float32
    groups: np.ndarray | None = None  # each row's group: folds keep a group's rows together

    def targets(self) -> list[tuple[str, str, list[str] | None]]:
        """(name, task, class names) of each target; a lone target is called `output`."""
        if not isinstance(self.y, dict):
            return [("output", self.task, self.class_names)]
        return [(name, self.task[name], (self.class_names or {}).get(name)) for name in self.y]

    def strata(self) -> np.ndarray | None:
        """The labels a split stratifies by: the first classification target's."""
        labels = self.y if isinstance(self.y, dict) else {"output": self.y}
        return next((labels[name] for name, task, _ in self.targets() if task == "classification"),
                    None)


@dataclass(frozen=True)
class Stream:
    """What a streaming source hands the pipeline: references to examples and how to read one.

    References either sit in memory with their labels (image paths: the split can be
    stratified) or stream themselves (TFRecord records: each is assigned to a split by a
    seeded draw on its position, unless the source has its own validation/test files).
    """

    read: Callable[..., tuple[Any, tf.Tensor]]  # a reference (and label) -> (x, label)
    files: list[Path]
    recipe: str  # how examples are read (features, sizes): part of the cache's name
    inputs: dict[str, dict[str, Any]]  # name -> {shape, dtype, kind}
    task: str = "auto"
    class_names: list[str] | None = None
    references: np.ndarray | None = None  # in-memory references, with `labels`
    labels: np.ndarray | None = None
    records: tf.data.Dataset | None = None  # streaming references
    held_out: dict[str, tf.data.Dataset | None] = field(default_factory=dict)
    cache: Any = True  # what `dataset.cache: null` means for this source
    batch_read: bool = False  # `read` takes a batch of records (vectorised), not one
    one_class: str | None = None  # as Source.one_class
    ids: np.ndarray | None = None  # with `references`: each example's identity (as Source.ids)
    reading: dict[str, Any] = field(default_factory=dict)  # as Source.reading
    # After tf.data failed to read the files: the file (and record or line) to blame, found
    # by reading them again one by one, or None when none is.
    diagnose: Callable[[], TftrainError | None] | None = None


@dataclass
class Data:
    """What the pipeline hands the runner: the datasets, the Spec, and the facts about them."""

    spec: Spec
    train: tf.data.Dataset  # one epoch: the one `epoch` names when an iterator starts
    train_epochs: Callable[[int, int], tf.data.Dataset]  # (first, last): those epochs in a row
    epoch: tf.Variable
    steps_per_epoch: int
    batch_size: int
    val: tf.data.Dataset | None
    test: tf.data.Dataset | None
    sizes: dict[str, int]
    fingerprint: str  # the training split's
    source_fingerprint: str = ""  # all the data read, before the split (pipeline.source_fingerprint)

    def set_epoch(self, epoch: int) -> None:
        """Choose the order of the next iterator over `train`: call before creating it."""
        self.epoch.assign(epoch)


def lengths(x: Arrays) -> set[int]:
    return {len(v) for v in x.values()} if isinstance(x, dict) else {len(x)}


def rows_in(x: Arrays) -> int:
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def check_lengths(x: Arrays, y: Arrays, where: str,
                  names: tuple[str, str] = ("the inputs", "the labels")) -> None:
    """Inputs and labels of one length; `names` says which arrays (x_test and y_test)."""
    sizes, label_sizes = lengths(x), lengths(y)
    if len(sizes) != 1 or sizes != label_sizes:
        def rows(found: set[int]) -> str:
            return " or ".join(map(str, sorted(found)))

        raise TftrainError(f"{where}: {rows(sizes)} rows in {names[0]} but {rows(label_sizes)} in "
                           f"{names[1]}; they must have the same length (one label a row).")
