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
from dataclasses import replace
from typing import Any

import numpy as np
import tensorflow as tf

from tftrain.console import echo
from tftrain.data.batches import (Epochs, UNTUNED, augmentation, check_splits, epochs, split_at,
                                  split_indices, steps_per_epoch)
from tftrain.data.features import as_columns, fit_features
from tftrain.data.forms import Arrays, Data, Source, Stream, check_lengths, rows_in
from tftrain.data.spec import Spec, Target, learnable
from tftrain.data.streaming import stream_data
from tftrain.data.weights import sample_weights, with_row_weights
from tftrain.errors import TftrainError, param

def assemble(source: Source | Stream, pipeline: dict[str, Any], batch_size: int, seed: int,
             name: str) -> Data:
    """The Data of what a source read: split, encodings fitted on the training split,
    datasets. `pipeline`: the pipeline's settings as plain values (splits, shuffling,
    caching, `augment`: the augmentation layers, `folds`: a fold of cross-validation or
    None, `class_weight`: the classes' weights in the loss, `sample_weight`: a column of
    row weights, ...); `name`: how messages name the data."""
    if isinstance(source, Stream):
        in_memory_only(pipeline, name)
        return stream_data(source, pipeline, batch_size, seed)
    return memory_data(source, pipeline, batch_size, seed, name)


def in_memory_only(pipeline: dict[str, Any], name: str) -> None:
    """Weights and folds are cut from labels held in memory: class weights are counted on
    the training split's labels before training, a column of weights travels with the rows
    the pipeline gathers, folds are dealt from all the rows; a stream's are read as it
    trains (its splits are drawn record by record)."""
    asked = [f"{param(key)}={pipeline[key] if key != 'folds' else pipeline[key].count}"
             for key in ("class_weight", "sample_weight", "folds") if pipeline.get(key) is not None]
    if asked:
        raise TftrainError(f"{' and '.join(asked)}: {name} streams from its files, and weights "
                           "and folds are drawn from data read in memory. Read it in memory "
                           f"({param('in_memory')}=true, the default for CSVs and image folders), "
                           "or leave them unset; for data larger than memory, a TFRecord or CSV "
                           "holding the rows of each class in the proportions to learn from "
                           "(fewer of the large classes) weighs them without weights.")


def memory_data(source: Source, pipeline: dict[str, Any], batch_size: int, seed: int,
                name: str) -> Data:
    """The Data of an in-memory source."""
    if rows_in(source.y) == 0:
        raise TftrainError(f"{name}: the data holds no examples.")
    if source.one_class:  # before any split or batch check: the first thing to fix
        raise TftrainError(source.one_class)
    check_lengths(source.x, source.y, "the data")
    if pipeline["channel_axis"]:
        source = with_channel_axis(source)
    source = with_row_weights(source, pipeline.get("sample_weight"))
    index = split_indices(source, pipeline["val_split"], pipeline["test_split"], seed,
                          pipeline.get("folds"))
    (x_train, y_train), val, test = split_at(source, index)
    check_splits({"train": rows_in(y_train), "val": rows_in(val[1]), "test": rows_in(test[1])},
                 pipeline["val_split"], pipeline["test_split"], ("test",) if source.test is not None else ())
    limit = pipeline["limit_batches"]
    steps = steps_per_epoch(rows_in(y_train), batch_size, pipeline["drop_remainder"], limit)
    with tf.device("/cpu:0"):  # read by tf.data on the host
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")
    augment_layers = tuple(pipeline["augment"] or ())
    in_model = pipeline["augment_in"] == "model"
    fitted = targets(source, y_train, pipeline["standardize_target"])
    weights = sample_weights(pipeline.get("class_weight"), fitted, y_train,
                             None if source.weights is None else source.weights[index[0]])
    train, train_epochs = train_dataset(x_train, y_train, batch_size, seed, epoch,
                                        pipeline["shuffle"], pipeline["drop_remainder"], steps,
                                        None if in_model else augmentation(augment_layers), weights)
    return Data(
        spec=Spec(
            inputs=fit_features(as_columns(x_train), source.kinds, pipeline["normalize"], source.text),
            targets=fitted,
            augment=augment_layers if in_model else (),
            reading=source.reading,
        ),
        train=train,
        train_epochs=train_epochs,
        epoch=epoch,
        steps_per_epoch=steps,
        batch_size=batch_size,
        val=eval_dataset(*val, batch_size, pipeline["cache"] is not False, limit),
        test=eval_dataset(*test, batch_size, pipeline["cache"] is not False, limit),
        sizes={"train": rows_in(y_train), "val": rows_in(val[1]), "test": rows_in(test[1])},
        fingerprint=fingerprint(x_train, y_train),
        source_fingerprint=source_fingerprint(source),
    )


def with_channel_axis(source: Source) -> Source:
    """Examples that are 2-D arrays of numbers (H, W) are one-channel images (H, W, 1), as
    MNIST comes from Keras and most files: a CNN takes them as they are. Said on the console;
    `dataset.channel_axis=false` keeps them 2-D (sequences for a recurrent model)."""
    def add(x: Arrays) -> Arrays:
        if isinstance(x, dict):
            return {name: add(values) for name, values in x.items()}
        return x[..., None] if x.ndim == 3 and x.dtype.kind in "biuf" else x

    flat = [(name, v) for name, v in as_columns(source.x).items() if v.ndim == 3 and v.dtype.kind in "biuf"]
    if not flat:
        return source
    echo("data: " + ", ".join(f"{name} {tuple(v.shape[1:])}" for name, v in flat)
         + " taken as one-channel images (a channel axis added: "
         + ", ".join(str((*v.shape[1:], 1)) for _, v in flat)
         + f"); {param('channel_axis')}=false keeps them 2-D")
    test = (add(source.test[0]), source.test[1]) if source.test is not None else None
    return replace(source, x=add(source.x), test=test)


def targets(source: Source, y_train: Arrays, standardize: bool) -> tuple[Target, ...]:
    """Each target's task and classes, and a regression target's moments on the training split."""
    labels = y_train if isinstance(y_train, dict) else {"output": y_train}
    clash = [name for name in labels if len(labels) > 1 and name.split("_")[0] == "val"]
    if clash:
        raise TftrainError(f"targets {clash}: Keras logs a target's metrics as NAME_loss and "
                           "validation metrics as val_..., so a target may not be called val "
                           "or val_*; rename the column or target.")
    return tuple(learnable(Target(name, task, tuple(names) if names else None,
                                  target_moments(labels[name], task, standardize)))
                 for name, task, names in source.targets())


def target_moments(y: np.ndarray, task: str, standardize: bool) -> tuple[float, float] | None:
    """Regression targets are learned standardised; the model's head scales them back."""
    if task != "regression" or not standardize:
        return None
    return float(y.mean()), float(y.std() or 1.0)


def train_dataset(x: Arrays, y: Arrays, batch_size: int, seed: int, epoch: tf.Variable,
                  shuffle: bool, drop_remainder: bool, steps: int, augment=None,
                  weights: Arrays | None = None) -> Epochs:
    """Batches `(x, y)`, or `(x, y, sample_weight)` with `weights`, each gathered by index."""
    n = rows_in(y)
    # Host variables, not constants: a dataset function captures a constant by value and
    # copies it into every new iterator (50 ms per epoch for 60 MB), a variable by handle.
    with tf.device("/cpu:0"):
        features = tf.nest.map_structure(lambda a: tf.Variable(a, trainable=False), x)
        labels = tf.nest.map_structure(lambda a: tf.Variable(a, trainable=False),
                                       y if weights is None else (y, weights))
    whole = min(steps, n // batch_size)  # full batches this epoch; then 0 or 1 smaller one
    partial = steps - whole
    # Rows are gathered a chunk of batches at a time (up to 16 MB, 64 batches), then split
    # into batches without a function call: a tf.data function call per batch cost 0.1-0.3
    # ms (as much as a small model's step) and competed with training for the cores.
    row_bytes = sum(64 if a.dtype.kind == "O" else a[:1].nbytes
                    for a in map(np.asarray, tf.nest.flatten((x, y, weights))) if a.ndim)
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
        taken = tf.nest.map_structure(lambda t: tf.gather(t, index), (features, labels))
        return taken if weights is None else (taken[0], *taken[1])

    def batches(chunks: tf.data.Dataset) -> tf.data.Dataset:
        dataset = chunks.map(gather).unbatch()
        if augment:
            dataset = dataset.map(lambda batch, *rest: (augment(batch, training=True), *rest),
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


def source_fingerprint(source: Source) -> str:
    """A short hash of all the data a source read, before any split: what tftrain-eval
    compares to tell that a run's data changed, whatever split it is asked to evaluate."""
    test = source.test if source.test is not None else ({}, {})
    return fingerprint(source.x, source.y, *test)


def fingerprint(x: Arrays, y: Arrays, *more: Arrays) -> str:
    """A short hash of the training split (or of any arrays: `more`): two runs with equal
    fingerprints saw the same data."""
    digest = hashlib.sha256()
    for array in (column for arrays in (x, y, *more) for column in as_columns(arrays).values()):
        digest.update(str((array.shape, array.dtype)).encode())
        digest.update(np.ascontiguousarray(array).tobytes() if array.dtype.kind != "O"
                      else "\x00".join(map(str, array.ravel())).encode())
    return digest.hexdigest()[:16]
