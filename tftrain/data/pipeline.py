"""One tf.data pipeline for every in-memory source.

The training dataset is one epoch whose order is a permutation drawn from
`stateless_shuffle((seed, epoch))`, where `epoch` is a variable the trainer sets at each
epoch's start (`Data.set_epoch`); `Data.train_epochs(first, last)` gives the same epochs
back to back, the epoch number taken from the stream itself. The order of epoch k depends
only on (seed, k), so:
- `fit` and the custom loop see exactly the same batches, whatever iterators they make
  (fit one per epoch, the custom loop one per run), which makes their losses comparable
  step for step;
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
from typing import Any, Callable

import numpy as np
import tensorflow as tf
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, OmegaConf

from tftrain.data.batches import UNTUNED, Epochs, epochs
from tftrain.data.features import as_columns, fit_features
from tftrain.data.sources import Arrays, Source, check_lengths
from tftrain.data.spec import Spec, Target
from tftrain.data.streaming import Stream, stream_data
from tftrain.errors import TftrainError
from tftrain.schema import DatasetConfig

PIPELINE_KEYS = {f.name for f in fields(DatasetConfig)} - {"_target_"}
Split = tuple[Arrays, Arrays]


@dataclass
class Data:
    spec: Spec
    train: tf.data.Dataset  # one epoch: the one `epoch` names when an iterator starts
    train_epochs: Callable[[int, int], tf.data.Dataset]  # (first, last): those epochs in a row
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
    """Load the source a dataset config names, split it, fit the encodings, build the datasets."""
    options = OmegaConf.to_container(cfg, resolve=True)
    pipeline = {key: options.pop(key) for key in PIPELINE_KEYS if key in options}
    source: Source | Stream = get_method(options.pop("_target_"))(**options, seed=seed)
    if isinstance(source, Stream):
        return stream_data(source, pipeline, batch_size, seed)
    check_lengths(source.x, source.y, "the data")
    (x_train, y_train), val, test = split(source, pipeline["val_split"], pipeline["test_split"], seed)
    limit = pipeline["limit_batches"]
    steps = steps_per_epoch(rows_in(y_train), batch_size, pipeline["drop_remainder"], limit)
    with tf.device("/cpu:0"):  # read by tf.data on the host
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")
    augment_nodes = tuple(pipeline["augment"] or ())
    in_model = pipeline["augment_in"] == "model"
    train, train_epochs = train_dataset(x_train, y_train, batch_size, seed, epoch,
                                        pipeline["shuffle"], pipeline["drop_remainder"], steps,
                                        None if in_model else augmentation(augment_nodes))
    return Data(
        spec=Spec(
            inputs=fit_features(as_columns(x_train), source.kinds, pipeline["normalize"], source.text),
            targets=targets(source, y_train, pipeline["standardize_target"]),
            augment=augment_nodes if in_model else (),
        ),
        train=train,
        train_epochs=train_epochs,
        epoch=epoch,
        steps_per_epoch=steps,
        batch_size=batch_size,
        val=eval_dataset(*val, batch_size, pipeline["cache"], limit),
        test=eval_dataset(*test, batch_size, pipeline["cache"], limit),
        sizes={"train": rows_in(y_train), "val": rows_in(val[1]), "test": rows_in(test[1])},
        fingerprint=fingerprint(x_train, y_train),
    )


def rows(x: Arrays, index: np.ndarray) -> Arrays:
    return {k: v[index] for k, v in x.items()} if isinstance(x, dict) else x[index]


def rows_in(x: Arrays) -> int:
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def split(source: Source, val: float, test: float, seed: int) -> tuple[Split, Split, Split]:
    """Seeded train/val/test splits, stratified by class for classification.

    A source with its own test split (keras.datasets, an .npz with x_test) keeps it and
    takes only the validation split from its training data.
    """
    rng = np.random.default_rng(seed)
    y, by = source.y, source.strata()
    if by is not None:
        strata = [rng.permutation(np.flatnonzero(by == c)) for c in np.unique(by)]
    else:
        strata = [rng.permutation(rows_in(y))]
    test = 0.0 if source.test is not None else test
    parts: list[list[np.ndarray]] = [[], [], []]
    for idx in strata:
        n_test, n_val = round(len(idx) * test), round(len(idx) * val)
        for part, chunk in zip(parts, (idx[n_test + n_val:], idx[n_test:n_test + n_val], idx[:n_test])):
            part.append(chunk)
    train, val_idx, test_idx = (rng.permutation(np.concatenate(p)) for p in parts)
    held_out = source.test if source.test is not None else (rows(source.x, test_idx), rows(y, test_idx))
    return ((rows(source.x, train), rows(y, train)), (rows(source.x, val_idx), rows(y, val_idx)),
            held_out)


def targets(source: Source, y_train: Arrays, standardize: bool) -> tuple[Target, ...]:
    """Each target's task and classes, and a regression target's moments on the training split."""
    labels = y_train if isinstance(y_train, dict) else {"output": y_train}
    clash = [name for name in labels if len(labels) > 1 and name.split("_")[0] == "val"]
    if clash:
        raise TftrainError(f"targets {clash}: Keras logs a target's metrics as NAME_loss and "
                           "validation metrics as val_..., so a target may not be called val "
                           "or val_*; rename the column or target.")
    return tuple(Target(name, task, tuple(names) if names else None,
                        target_moments(labels[name], task, standardize))
                 for name, task, names in source.targets())


def target_moments(y: np.ndarray, task: str, standardize: bool) -> tuple[float, float] | None:
    """Regression targets are learned standardised; the model's head scales them back."""
    if task != "regression" or not standardize:
        return None
    return float(y.mean()), float(y.std() or 1.0)


def augmentation(nodes: tuple[Any, ...]):
    """The training-only augmentation layers, when they run in the pipeline."""
    if not nodes:
        return None
    import keras

    return keras.Sequential([instantiate(node, _convert_="all") for node in nodes], name="augment")


def steps_per_epoch(n: int, batch_size: int, drop_remainder: bool, limit: int | None) -> int:
    steps = n // batch_size if drop_remainder else -(-n // batch_size)
    if steps == 0:
        raise TftrainError(
            f"the training split has {n} examples, fewer than one batch of "
            f"trainer.batch_size={batch_size}; lower the batch size or set "
            "dataset.drop_remainder=false.")
    return min(steps, limit) if limit else steps


def train_dataset(x: Arrays, y: Arrays, batch_size: int, seed: int, epoch: tf.Variable,
                  shuffle: bool, drop_remainder: bool, steps: int, augment=None) -> Epochs:
    n = rows_in(y)
    # Host variables, not constants: a dataset function captures a constant by value and
    # copies it into every new iterator (50 ms per epoch for 60 MB), a variable by handle.
    with tf.device("/cpu:0"):
        features = tf.nest.map_structure(lambda a: tf.Variable(a, trainable=False), x)
        labels = tf.nest.map_structure(lambda a: tf.Variable(a, trainable=False), y)
    whole = min(steps, n // batch_size)  # full batches this epoch; then 0 or 1 smaller one
    partial = steps - whole
    # Rows are gathered a chunk of batches at a time (up to 16 MB, 64 batches), then split
    # into batches without a function call: a tf.data function call per batch cost 0.1-0.3
    # ms (as much as a small model's step) and competed with training for the cores.
    row_bytes = sum(64 if a.dtype.kind == "O" else a[:1].nbytes
                    for a in map(np.asarray, tf.nest.flatten((x, y))))
    chunk = int(np.clip((16 << 20) // max(1, row_bytes * batch_size), 1, 64))

    def chunks_of_epoch(number: tf.Tensor) -> tf.data.Dataset:
        """Epoch `number`'s order, cut into chunks of batches of row indices."""
        order = tf.range(n, dtype=tf.int64)
        if shuffle:
            key = tf.stack([tf.constant(seed, tf.int64), number])
            order = tf.random.experimental.stateless_shuffle(order, seed=key)
        rows = tf.reshape(order[:whole * batch_size], [whole, batch_size])
        chunks = tf.data.Dataset.from_tensor_slices(rows).batch(chunk)
        if partial:
            chunks = chunks.concatenate(tf.data.Dataset.from_tensors(order[whole * batch_size:][None]))
        return chunks

    def gather(index: tf.Tensor):  # [batches, batch_size] indices -> that many batches
        return (tf.nest.map_structure(lambda t: tf.gather(t, index), features),
                tf.nest.map_structure(lambda t: tf.gather(t, index), labels))

    def batches(chunks: tf.data.Dataset) -> tf.data.Dataset:
        dataset = chunks.map(gather).unbatch()
        if augment:
            dataset = dataset.map(lambda batch, targets: (augment(batch, training=True), targets),
                                  num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return dataset

    return epochs(chunks_of_epoch, batches, epoch, steps)


def eval_dataset(x: Arrays, y: Arrays, batch_size: int, cache: bool,
                 limit: int | None) -> tf.data.Dataset | None:
    if rows_in(y) == 0:
        return None
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    if limit:
        dataset = dataset.take(limit)
    if cache:
        dataset = dataset.cache()
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(UNTUNED)  # as training: see batches.py


def fingerprint(x: Arrays, y: Arrays) -> str:
    """A short hash of the training split: two runs with equal fingerprints saw the same data."""
    digest = hashlib.sha256()
    for array in (*as_columns(x).values(), *as_columns(y).values()):
        digest.update(str((array.shape, array.dtype)).encode())
        digest.update(np.ascontiguousarray(array).tobytes() if array.dtype.kind != "O"
                      else "\x00".join(map(str, array.ravel())).encode())
    return digest.hexdigest()[:16]
