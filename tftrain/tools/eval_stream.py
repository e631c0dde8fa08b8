"""`tftrain-eval` on a streaming source (an image folder read from disk, a streamed CSV,
TFRecord files): each split as training assigns it (the same seeded draws), read by the
source's own reader, labels put in the run's class ids. Nothing is trained, so none of
training's pass over the data (statistics, a training split large enough) is made: a
streamed file of three rows is evaluated, not refused for its training split's size.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import tensorflow as tf

from tftrain.data.batches import UNTUNED, split_indices
from tftrain.data.forms import Source, Stream
from tftrain.data.streaming import RECORD_BATCH, assign, files_fingerprint, reading
from tftrain.errors import TftrainError
from tftrain.tools.conform import EvalSet, check_shapes, chosen_split, label_ids

SPLIT_ORDER = ("train", "val", "test")


def streamed(stream: Stream, pipeline: dict[str, Any], run: dict[str, Any], batch_size: int,
             seed: int, name: str, split: str | None, own: bool) -> EvalSet:
    """The split asked for, as (x, y, id) batches in the run's class ids."""
    check_shapes({n: np.empty((0, *f["shape"])) for n, f in stream.inputs.items()},
                 run["inputs"], name)
    val, test = pipeline["val_split"], pipeline["test_split"]
    if stream.references is not None:
        which, examples, sizes = referenced(stream, val, test, seed, split, own)
    else:
        which, examples = recorded(stream, val, test, seed, split, own)
        sizes = {}
    target = next(iter(run["targets"]))
    if stream.class_names is not None:  # class ids of the stream's classes (image folders)
        mapped, count = examples, sizes[which]
        ids = label_ids(target, "classification", stream.class_names, run["targets"], name)
        if ids is not None:
            table = tf.constant(ids)
            mapped = examples.map(lambda x, y, i: (x, tf.gather(table, y), i))
    else:
        with reading(stream):  # a file cut or damaged since the run is named with its record
            mapped, count = labelled(examples, run["targets"], target, name)
        sizes = {which: count}
    if not count:
        raise TftrainError(f"{name}: the {which} split holds no examples; choose another split=.")
    fingerprint = files_fingerprint(stream.files, stream.recipe)
    batches = batched(mapped, batch_size, stream.batch_read).apply(  # Keras warns at an unknown end
        tf.data.experimental.assert_cardinality(-(-count // batch_size)))
    return EvalSet(which, batches.prefetch(tf.data.AUTOTUNE).with_options(UNTUNED), count, sizes,
                   fingerprint, fingerprint)


def batched(examples: tf.data.Dataset, batch_size: int, batch_read: bool) -> tf.data.Dataset:
    """Batches of batch_size (examples come one by one, or in chunks when read a chunk at a time)."""
    return examples.rebatch(batch_size) if batch_read else examples.batch(batch_size)


def referenced(stream: Stream, val: float, test: float, seed: int, split: str | None,
               own: bool) -> tuple[str, tf.data.Dataset, dict[str, int]]:
    """Image files: split as training splits their references (stratified), each read."""
    index = dict(zip(SPLIT_ORDER, split_indices(
        Source(stream.references, stream.labels, "classification"), val, test, seed)))
    index["all"] = np.arange(len(stream.references))
    sizes = {name: len(rows) for name, rows in index.items()}
    which = chosen_split(split, sizes, own)
    rows = index[which]
    ids = stream.ids if stream.ids is not None else stream.references
    examples = tf.data.Dataset.from_tensor_slices(
        (stream.references[rows], stream.labels[rows], ids[rows])).map(
        lambda file, label, identity: (*stream.read(file, label), identity),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return which, examples, sizes


def recorded(stream: Stream, val: float, test: float, seed: int, split: str | None,
             own: bool) -> tuple[str, tf.data.Dataset]:
    """Records (rows of streamed CSVs, TFRecord examples): each goes to the split training
    assigns it (by its position); its identity is its position, `val:N` / `test:N` in a
    source's own validation or test files."""
    def numbered(records: tf.data.Dataset, prefix: str) -> tf.data.Dataset:
        return records.enumerate().map(
            lambda position, record: (tf.strings.join([prefix, tf.strings.as_string(position)]),
                                      record))

    held = {name: numbered(d, f"{name}:") for name, d in stream.held_out.items() if d is not None}
    parts = assign(numbered(stream.records, ""), held, val, test, seed, stream.batch_read)
    whole = numbered(stream.records, "")
    for name in ("val", "test"):
        if name in held:
            whole = whole.concatenate(held[name])
    parts["all"] = whole.batch(RECORD_BATCH) if stream.batch_read else whole
    which = chosen_split(split, {name: 0 if d is None else None for name, d in parts.items()}, own)
    examples = parts[which].map(lambda identity, record: (*stream.read(record), identity),
                                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return which, examples


def labelled(examples: tf.data.Dataset, targets: dict[str, Any], target: str,
             name: str) -> tuple[tf.data.Dataset, int]:
    """Records' labels as read (text or numbers) in the run's class ids, or as float
    values for a regression model; one pass over them counts the examples and finds the
    classes first (a class the model never learnt is refused, naming it)."""
    task = targets[target]["task"]
    count, values, missing = 0, Counter(), 0
    for labels in examples.map(lambda x, y, i: y).as_numpy_iterator():
        flat = np.atleast_1d(labels)
        count += len(flat)
        if flat.dtype.kind in "OSU":
            texts = [v.decode() if isinstance(v, bytes) else str(v) for v in flat]
            missing += texts.count("")
            values.update(texts)
        else:
            missing += int(np.isnan(flat.astype(np.float64)).sum())
            if task == "classification":
                values.update(str(int(v)) for v in flat if np.isfinite(v))
    if missing:
        raise TftrainError(f"{name}: the label has {missing} missing value(s); drop those rows "
                           "or choose another label.")
    if task != "classification":
        def values_of(x, y, i):  # (1,) a record, (rows, 1) a chunk of them
            value = tf.cast(y, tf.float32)
            return x, tf.reshape(value, [-1, 1]) if value.shape.rank else value[None], i

        return examples.map(values_of), count
    label_ids(target, task, sorted(values), targets, name)  # refuses a class never learnt
    classes = [str(c) for c in targets[target]["class_names"]]
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(classes), tf.range(len(classes), dtype=tf.int32)), -1)

    def ids(x, y, i):
        text = y if y.dtype == tf.string else tf.strings.as_string(tf.cast(y, tf.int64))
        return x, table.lookup(text), i

    return examples.map(ids), count
