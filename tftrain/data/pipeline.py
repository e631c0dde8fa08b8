"""One tf.data pipeline for every in-memory source.

The training dataset is one epoch whose order is a permutation drawn from
`stateless_shuffle((seed, epoch))`, where `epoch` is a variable the trainer sets at each
epoch's start (`Data.set_epoch`). The order of epoch k depends only on (seed, k), so:
- `fit` and the custom loop see exactly the same batches, whatever iterators they make
  (fit makes a spare one per epoch), which makes their losses comparable step for step;
- a resumed run that starts at epoch k sees what an uninterrupted run saw.
The dataset is finite with a known cardinality, so `fit` stops each epoch exactly at its
last batch even when `steps_per_execution` does not divide the epoch (an endless stream
plus `steps_per_epoch` would make fit run whole executions past the epoch's end).
Batches are gathered from the arrays by index (one vectorised gather per batch), so
shuffling costs nothing per example.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
import numpy as np
import tensorflow as tf
from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf

from tftrain.data.sources import Source
from tftrain.errors import TftrainError
from tftrain.schema import DatasetConfig

PIPELINE_KEYS = {f.name for f in fields(DatasetConfig)} - {"_target_"}


@dataclass(frozen=True)
class Spec:
    """What a model needs to know about the data, so nobody types a shape twice."""

    input_shape: tuple[int, ...]
    input_dtype: str
    task: str
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None

    @property
    def num_outputs(self) -> int:
        return self.num_classes if self.task == "classification" else 1

    @property
    def output_activation(self) -> str | None:
        return "softmax" if self.task == "classification" else None


@dataclass
class Data:
    spec: Spec
    train: tf.data.Dataset
    epoch: tf.Variable
    steps_per_epoch: int
    batch_size: int
    val: tf.data.Dataset | None
    test: tf.data.Dataset | None
    sizes: dict[str, int]
    fingerprint: str

    def set_epoch(self, epoch: int) -> None:
        """Choose the order of the next iterator over `train`: call before creating it."""
        self.epoch.assign(epoch)


def build_data(cfg: DictConfig, batch_size: int, seed: int) -> Data:
    """Load the source a dataset config names, split it, and build the datasets."""
    options = OmegaConf.to_container(cfg, resolve=True)
    pipeline = {key: options.pop(key) for key in PIPELINE_KEYS if key in options}
    source: Source = get_method(options.pop("_target_"))(**options, seed=seed)
    check_source(source)
    train_idx, val_idx, test_idx = split(source, pipeline["val_split"], pipeline["test_split"], seed)
    limit = pipeline.get("limit_batches")
    x, y = source.x, source.y
    steps = steps_per_epoch(len(train_idx), batch_size, pipeline["drop_remainder"], limit)
    with tf.device("/cpu:0"):  # read by tf.data on the host
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")
    return Data(
        spec=Spec(
            input_shape=tuple(x.shape[1:]),
            input_dtype=str(x.dtype),
            task=source.task,
            num_classes=int(y.max()) + 1 if source.task == "classification" else None,
            class_names=tuple(source.class_names) if source.class_names else None,
        ),
        train=train_dataset(x[train_idx], y[train_idx], batch_size, seed, epoch,
                            pipeline["shuffle"], pipeline["drop_remainder"], steps),
        epoch=epoch,
        steps_per_epoch=steps,
        batch_size=batch_size,
        val=eval_dataset(x[val_idx], y[val_idx], batch_size, pipeline["cache"], limit),
        test=eval_dataset(x[test_idx], y[test_idx], batch_size, pipeline["cache"], limit),
        sizes={"train": len(train_idx), "val": len(val_idx), "test": len(test_idx)},
        fingerprint=fingerprint(x[train_idx], y[train_idx]),
    )


def check_source(source: Source) -> None:
    if len(source.x) != len(source.y):
        raise TftrainError(f"the data has {len(source.x)} inputs but {len(source.y)} labels; "
                           "inputs and labels must have the same length.")


def split(source: Source, val: float, test: float, seed: int) -> tuple[np.ndarray, ...]:
    """Seeded train/val/test indices; stratified by class for classification."""
    rng = np.random.default_rng(seed)
    if source.task == "classification":
        strata = [rng.permutation(np.flatnonzero(source.y == c)) for c in np.unique(source.y)]
    else:
        strata = [rng.permutation(len(source.y))]
    parts: list[list[np.ndarray]] = [[], [], []]
    for idx in strata:
        n_test, n_val = round(len(idx) * test), round(len(idx) * val)
        for part, chunk in zip(parts, (idx[n_test + n_val:], idx[n_test:n_test + n_val], idx[:n_test])):
            part.append(chunk)
    return tuple(rng.permutation(np.concatenate(p)) for p in parts)


def steps_per_epoch(n: int, batch_size: int, drop_remainder: bool, limit: int | None) -> int:
    steps = n // batch_size if drop_remainder else -(-n // batch_size)
    if steps == 0:
        raise TftrainError(
            f"the training split has {n} examples, fewer than one batch of "
            f"trainer.batch_size={batch_size}; lower the batch size or set "
            "dataset.drop_remainder=false.")
    return min(steps, limit) if limit else steps


def train_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, epoch: tf.Variable,
                  shuffle: bool, drop_remainder: bool, steps: int) -> tf.data.Dataset:
    n = len(x)
    features, labels = tf.constant(x), tf.constant(y)

    def batches_of_epoch(_: tf.Tensor) -> tf.data.Dataset:
        order = tf.range(n, dtype=tf.int64)
        if shuffle:
            key = tf.stack([tf.constant(seed, tf.int64), epoch.read_value()])
            order = tf.random.experimental.stateless_shuffle(order, seed=key)
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder).take(steps)

    return (tf.data.Dataset.range(1).flat_map(batches_of_epoch)
            .map(lambda idx: (tf.gather(features, idx), tf.gather(labels, idx)),
                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .apply(tf.data.experimental.assert_cardinality(steps))
            .prefetch(tf.data.AUTOTUNE))


def eval_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, cache: bool,
                 limit: int | None) -> tf.data.Dataset | None:
    if len(x) == 0:
        return None
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    if limit:
        dataset = dataset.take(limit)
    if cache:
        dataset = dataset.cache()
    return dataset.prefetch(tf.data.AUTOTUNE)


def fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    """A short hash of the training split: two runs with equal fingerprints saw the same data."""
    digest = hashlib.sha256()
    for array in (x, y):
        digest.update(str((array.shape, array.dtype)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]
