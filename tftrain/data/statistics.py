"""What one pass over a streamed training split learns: row counts, each column's
moments, fill value and vocabulary, and the label's task and classes (its Spec)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from tftrain.console import echo
from tftrain.data.features import check_vocabulary
from tftrain.data.forms import Stream
from tftrain.data.packing import Packing
from tftrain.data.spec import TASKS, Feature, Target, learnable
from tftrain.errors import TftrainError, param

PASS_BATCH = 4096  # examples per step of the statistics pass
MEDIAN_SAMPLE = 100_000  # rows a streamed column's median (its fill value) is taken from
LABEL = "\x00label"  # the label's key in the statistics pass (no input can be named so)



@dataclass
class Tally:
    """Running statistics of one column over the statistics pass (missing numbers, NaN,
    and missing strings, "", are counted apart)."""

    count: int = 0  # rows
    finite: np.ndarray | float = 0.0  # per feature: the values that are numbers
    total: np.ndarray | float = 0.0  # their sum
    squares: np.ndarray | float = 0.0  # and the sum of their squares
    values: Counter | None = None  # distinct values (strings, or a label's numbers)
    sample: list[np.ndarray] = field(default_factory=list)  # the first values, for medians
    missing: int = 0  # rows with a missing value

    def add(self, batch: np.ndarray, distinct: bool) -> None:
        if batch.dtype.kind in "OSU":
            texts = [v.decode() if isinstance(v, bytes) else str(v) for v in batch.ravel()]
            self.values = (self.values or Counter()) + Counter(texts)
            self.missing += texts.count("")
            return
        flat = batch.reshape(-1, batch.shape[-1] if batch.ndim > 1 else 1).astype(np.float64)
        present = np.isfinite(flat)
        self.count += len(flat)
        self.missing += int((~present).any(axis=1).sum())
        self.finite = self.finite + present.sum(axis=0)
        self.total = self.total + np.where(present, flat, 0.0).sum(axis=0)
        self.squares = self.squares + np.where(present, flat ** 2, 0.0).sum(axis=0)
        if sum(map(len, self.sample)) < MEDIAN_SAMPLE:
            self.sample.append(flat)
        if distinct and len(self.values or ()) <= 1000:
            self.values = (self.values or Counter()) + Counter(flat[present].tolist())

    def moments(self) -> tuple[list[float], list[float]]:
        """Mean and variance of the values that are numbers."""
        finite = np.maximum(np.asarray(self.finite, np.float64), 1)
        mean = np.asarray(self.total) / finite
        return mean.tolist(), np.maximum(np.asarray(self.squares) / finite - mean ** 2, 0.0).tolist()

    def filled(self) -> dict[str, list[float]]:
        """A numeric column's encoding, as tftrain.data.features fits it in memory: missing
        values filled with the median (of the first MEDIAN_SAMPLE rows: exact for smaller
        data), then the mean and variance of the filled column."""
        sample = np.concatenate(self.sample) if self.sample else np.zeros((0, 1))
        fill = np.nan_to_num(np.nanmedian(np.where(np.isfinite(sample), sample, np.nan), axis=0)) \
            if np.isfinite(sample).any() else np.zeros(sample.shape[1])
        absent = self.count - np.asarray(self.finite)
        rows = max(self.count, 1)
        mean = (np.asarray(self.total) + fill * absent) / rows
        variance = (np.asarray(self.squares) + fill ** 2 * absent) / rows - mean ** 2
        return {"fill": fill.tolist(), "mean": mean.tolist(),
                "variance": np.maximum(variance, 0.0).tolist()}


def statistics_pass(dataset: tf.data.Dataset, packing: Packing,
                    label: str) -> tuple[int, dict[str, Tally]]:
    """One pass over the (cached) training split: the row count and a tally per column."""
    tallies: dict[str, Tally] = {}
    rows = 0
    for x, y in dataset.rebatch(PASS_BATCH).map(packing.unpack).prefetch(2).as_numpy_iterator():
        columns = {**(x if isinstance(x, dict) else {"input": x}), label: y}
        rows += len(y)
        for name, values in columns.items():
            tallies.setdefault(name, Tally()).add(values, distinct=name == label)
    return rows, tallies


def label_pass(dataset: tf.data.Dataset | None) -> tuple[int, Tally]:
    """The rows and label values of an evaluation split (one pass, which also fills its
    cache): a class found there but not in training still gets its class id."""
    tally, rows = Tally(), 0
    if dataset is None:
        return rows, tally
    for y in dataset.map(lambda _x, y: y).rebatch(PASS_BATCH).prefetch(2).as_numpy_iterator():
        rows += len(y)
        tally.add(y, distinct=True)
    return rows, tally


def fit_target(stream: Stream, tally: Tally, standardize: bool, held: tuple[Tally, ...] = ()) -> Target:
    """The label's task and classes, or its moments, from the training split; classes that
    only the held-out splits (`held`) hold are added, and said: a streamed split is a draw
    row by row, not stratified, and a class id of -1 stopped the run mid-epoch."""
    if stream.class_names is not None:
        return learnable(Target("output", "classification", tuple(stream.class_names)))
    values = tally.values or Counter()
    if tally.missing:
        raise TftrainError(f"the label has {tally.missing} missing value(s) in the training "
                           "split; drop those rows or choose another label.")
    task = stream.task
    if task == "auto":
        textual = any(isinstance(v, str) for v in values)
        few_ints = tally.count and len(values) <= 20 and all(float(v).is_integer() for v in values)
        task = "classification" if textual or few_ints else "regression"
    if task not in TASKS:
        raise TftrainError(f"{param('task')}={task!r} is not valid; use auto, {', '.join(TASKS)}.")
    if task == "classification":
        def name(value: Any) -> str:
            return value if isinstance(value, str) else str(int(value))

        unseen = {v for t in held for v in (t.values or ())} - set(values)
        extra = sorted(map(name, unseen))
        if extra:
            echo(f"data: class(es) {', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''} "
                 "appear only in the validation or test split (a streamed split is drawn row by "
                 "row, not stratified): the model has an output for each but never trains on them")
        return learnable(Target("output", task, tuple(map(name, sorted({*values, *unseen})))))
    mean, variance = tally.moments()
    return Target("output", task, None,
                  (mean[0], float(np.sqrt(variance[0])) or 1.0) if standardize else None)


def features(inputs: dict[str, dict[str, Any]], tallies: dict[str, Tally], normalize: bool,
             rows: int) -> tuple[Feature, ...]:
    """Each input's Feature, its statistics from the pass: vocabularies, moments, scale."""
    out = []
    for name, info in inputs.items():
        tally, kind, stats = tallies[name], info.get("kind", "raw"), {}
        if kind == "categorical":
            stats["vocabulary"] = [v for v, _ in (tally.values or Counter()).most_common() if v != ""]
        if kind == "numeric":
            stats.update(tally.filled())
        if info["dtype"] == "uint8":
            stats["scale"] = 1.0 / 255.0
        if normalize and kind == "raw":
            mean, variance = tally.moments()
            scale = stats.get("scale", 1.0)
            stats.update(mean=[m * scale for m in mean], variance=[v * scale ** 2 for v in variance])
        out.append(Feature(name, tuple(info["shape"]), info["dtype"], kind, stats))
        check_vocabulary(out[-1], rows)
    return tuple(out)
