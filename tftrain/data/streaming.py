"""Sources larger than memory: examples stream from files through one tf.data pipeline.

A streaming source (`dataset=tfrecord`, `dataset=csv dataset.in_memory=false`, or
`dataset=image_dir dataset.in_memory=false`) hands the pipeline references to its
examples in a fixed order and how to read them, plus what the Spec needs. The pipeline
then runs: read (a parallel map) -> `cache` (in memory, in files under a folder, or none)
-> shuffle -> batches -> prefetch. Examples travel in chunks (up to RECORD_BATCH of them,
packed by tftrain.data.packing), never one by one: tf.data's per-element stages cost
microseconds per tensor, as much as a small model's step per row. So the shuffle is a
permutation of each window of `shuffle_buffer` examples, the windows themselves shuffled
a few at a time, and batches are cut from windows by `rebatch`. Every draw is seeded by
(seed, epoch): as for in-memory sources, the order of epoch k depends only on (seed, k),
so `fit` and the custom loop see the same batches and a resumed run continues exactly.
Statistics (classes, moments, vocabularies) come from one streaming pass over the
training split, which also fills the cache, so the first epoch already reads from it.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any, Iterator

import tensorflow as tf

from tftrain.data.batches import UNTUNED, augmentation, check_splits, epochs, split, steps_per_epoch
from tftrain.data.forms import Data, Source, Stream
from tftrain.data.packing import Packing
from tftrain.data.statistics import LABEL, features, fit_target, label_pass, statistics_pass
from tftrain.data.spec import Spec, Target
from tftrain.errors import TftrainError, param

RECORD_BATCH = 1024  # examples per chunk (records read at once by a vectorised `read`)
WINDOWS = 4  # windows of shuffle_buffer examples shuffled among themselves


def files_fingerprint(paths: list[Path], recipe: str) -> str:
    """Names, sizes and modification times (cheap, and changes when any file does), and
    how examples are read from them (a cache of other features is never read back)."""
    digest = hashlib.sha256(recipe.encode())
    for path in sorted(paths):
        stat = path.stat()
        digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def cached(dataset: tf.data.Dataset, cache: Any, fingerprint: str, split: str) -> tf.data.Dataset:
    """`cache: true` keeps decoded examples in memory, a folder keeps them in files named
    after the data's fingerprint (a changed dataset never reads a stale cache), false
    decodes every epoch (for data larger than memory without a folder to spare)."""
    if cache is True or cache == "memory":
        return dataset.cache()
    if not cache:
        return dataset
    folder = Path(str(cache)).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise TftrainError(f"{param('cache')}={cache}: cannot create the cache folder ({error}); "
                           "give a writable folder, true (memory) or false.") from None
    for stale in folder.glob(f"{fingerprint}_{split}*.lockfile"):  # left by a killed run
        stale.unlink()
    return dataset.cache(str(folder / f"{fingerprint}_{split}"))


def train_stream(examples: tf.data.Dataset, packing: Packing, batch_size: int, seed: int,
                 epoch: tf.Variable, shuffle: bool, buffer: int, drop_remainder: bool, steps: int,
                 augment=None):
    """The training datasets (`batches.epochs`) from chunks of examples: each window of
    `buffer` examples permuted, the windows shuffled WINDOWS at a time, all seeded by
    (seed, epoch)."""
    def batches_of_epoch(number: tf.Tensor) -> tf.data.Dataset:
        ordered = examples
        if shuffle:
            key = tf.constant(seed, tf.int64) * 1_000_003 + number

            def permuted(index: tf.Tensor, window):
                rows = tf.shape(tf.nest.flatten(window)[0])[0]
                order = tf.random.experimental.stateless_shuffle(
                    tf.range(rows), seed=tf.stack([key, index]))
                return tf.nest.map_structure(lambda t: tf.gather(t, order), window)

            ordered = (examples.rebatch(buffer).enumerate().map(permuted)
                       .shuffle(WINDOWS, seed=key, reshuffle_each_iteration=False))
        return ordered.rebatch(batch_size, drop_remainder).take(steps)

    def then(batches: tf.data.Dataset) -> tf.data.Dataset:
        batches = batches.map(packing.unpack) if packing.active else batches
        if not augment:
            return batches
        return batches.map(lambda x, y: (augment(x, training=True), y),
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    return epochs(batches_of_epoch, then, epoch, steps)


def eval_stream(examples: tf.data.Dataset | None, packing: Packing, rows: int, batch_size: int,
                limit: int | None) -> tf.data.Dataset | None:
    """Batches with their count declared (Keras warns when a dataset of unknown size ends)."""
    if examples is None:
        return None
    steps = -(-rows // batch_size)
    batches = examples.rebatch(batch_size).map(packing.unpack)
    batches = batches.apply(tf.data.experimental.assert_cardinality(steps))
    return ((batches.take(limit) if limit else batches).prefetch(tf.data.AUTOTUNE)
            .with_options(UNTUNED))  # as training: see batches.py


def split_references(stream: Stream, val: float, test: float,
                     seed: int) -> tuple[dict[str, tf.data.Dataset | None], Packing]:
    """Each split's examples, read (decoded) in parallel, in a fixed order, in chunks of
    up to RECORD_BATCH packed examples (tftrain.data.packing)."""
    if stream.references is not None:
        parts = split(Source(stream.references, stream.labels, "classification"), val, test, seed)
        datasets = {name: tf.data.Dataset.from_tensor_slices(part) if len(part[1]) else None
                    for name, part in zip(("train", "val", "test"), parts)}
    else:
        datasets = assign(stream.records, stream.held_out, val, test, seed, stream.batch_read)
    first = next(d for d in datasets.values() if d is not None)
    packing = Packing(first.map(stream.read).element_spec[0], stream.batch_read)

    def read(*record):
        return packing.pack(*stream.read(*record))

    chunks = {name: None if d is None else
              d.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
              for name, d in datasets.items()}
    return {name: d if d is None or stream.batch_read else d.batch(RECORD_BATCH)
            for name, d in chunks.items()}, packing


def assign(records: tf.data.Dataset, held_out: dict[str, tf.data.Dataset | None], val: float,
           test: float, seed: int, batched: bool = False) -> dict[str, tf.data.Dataset | None]:
    """Streaming records go to a split by a uniform draw seeded by (seed, position): the
    same record always lands in the same split. A source's own val/test files win.

    `batched`: records are drawn and handed on RECORD_BATCH at a time (each draw seeded by
    the batch's position, one per record in it): a source whose `read` is vectorised then
    pays tf.data's cost per element once per batch, not once per row (streamed CSVs).
    """
    bounds = {"test": (0.0, 0.0 if held_out.get("test") else test)}
    bounds["val"] = (bounds["test"][1], bounds["test"][1] + (0.0 if held_out.get("val") else val))
    bounds["train"] = (bounds["val"][1], 1.0)

    def part(low: float, high: float) -> tf.data.Dataset:
        def inside(position: tf.Tensor, _record: tf.Tensor) -> tf.Tensor:
            draw = tf.random.stateless_uniform([], seed=tf.stack([tf.constant(seed, tf.int64), position]))
            return tf.logical_and(draw >= low, draw < high)

        def kept(position: tf.Tensor, batch):
            size = tf.shape(tf.nest.flatten(batch)[0])[0]
            draws = tf.random.stateless_uniform([size], seed=tf.stack([tf.constant(seed, tf.int64), position]))
            keep = tf.logical_and(draws >= low, draws < high)
            return tf.nest.map_structure(lambda t: tf.boolean_mask(t, keep), batch)

        if batched:
            return records.batch(RECORD_BATCH).enumerate().map(
                kept, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return records.enumerate().filter(inside).map(lambda _position, record: record)

    own = {name: d.batch(RECORD_BATCH) if batched else d
           for name, d in held_out.items() if d is not None}
    return {name: own.get(name) or (part(*bounds[name]) if bounds[name][1] > bounds[name][0]
                                    else None)
            for name in ("train", "val", "test")}


def stream_data(stream: Stream, pipeline: dict[str, Any], batch_size: int, seed: int):
    """The Data of a streaming source: splits, a statistics pass, then the batched datasets."""
    if stream.one_class:
        raise TftrainError(stream.one_class)
    fingerprint = files_fingerprint(stream.files, stream.recipe)
    cache = stream.cache if pipeline["cache"] is None else pipeline["cache"]
    split, packing = split_references(stream, pipeline["val_split"], pipeline["test_split"], seed)
    examples = {name: None if d is None else cached(d, cache, fingerprint, name)
                for name, d in split.items()}
    if examples["train"] is None:
        raise TftrainError(f"the training split is empty: lower {param('val_split')}/"
                           f"{param('test_split')}.")
    with reading(stream):
        rows, tallies = statistics_pass(examples["train"], packing, LABEL)
        held = {name: label_pass(examples[name]) for name in ("val", "test")}
    sizes = {"train": rows, **{name: count for name, (count, _) in held.items()}}
    check_drawn(stream, sizes, pipeline["val_split"], pipeline["test_split"])
    target = fit_target(stream, tallies.pop(LABEL), pipeline["standardize_target"],
                        tuple(tally for _, tally in held.values()))
    if stream.class_names is None:  # labels as read: map them to class ids or floats
        examples = {name: None if d is None else with_label_ids(d, target)
                    for name, d in examples.items()}
    limit = pipeline["limit_batches"]
    steps = steps_per_epoch(rows, batch_size, pipeline["drop_remainder"], limit)
    with tf.device("/cpu:0"):
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")
    augment, in_model = tuple(pipeline["augment"] or ()), pipeline["augment_in"] == "model"
    train, train_epochs = train_stream(examples["train"], packing, batch_size, seed, epoch,
                                       pipeline["shuffle"], pipeline["shuffle_buffer"],
                                       pipeline["drop_remainder"], steps,
                                       None if in_model else augmentation(augment))
    return Data(
        spec=Spec(inputs=features(stream.inputs, tallies, pipeline["normalize"], rows), targets=(target,),
                  augment=augment if in_model else (), reading=stream.reading),
        train=train, train_epochs=train_epochs,
        epoch=epoch, steps_per_epoch=steps, batch_size=batch_size,
        val=eval_stream(examples["val"], packing, sizes["val"], batch_size, limit),
        test=eval_stream(examples["test"], packing, sizes["test"], batch_size, limit),
        sizes=sizes,
        fingerprint=fingerprint,
        source_fingerprint=fingerprint,  # the files, whatever the split
    )


@contextlib.contextmanager
def reading(stream: Stream) -> Iterator[None]:
    """A pass over a stream's files: when tf.data fails to read them (a record cut short or
    damaged, an image that does not decode, a row of the wrong width), the source names the
    file and the record or line to blame, instead of tf.data's words for it."""
    try:
        yield
    except tf.errors.OpError:
        found = stream.diagnose() if stream.diagnose else None
        if found is None:
            raise
        raise found from None


def check_drawn(stream: Stream, sizes: dict[str, int], val: float, test: float) -> None:
    """Examples were read, and every split asked for drew some (a stream is split example
    by example, so a tiny one can leave a split empty): refused naming the files, or with
    the counts."""
    if not sum(sizes.values()):
        files = stream.files
        which = (f"{files[0]} holds no example" if len(files) == 1 else f"none of the "
                 f"{len(files)} files ({', '.join(str(f) for f in files[:3])}"
                 f"{' ...' if len(files) > 3 else ''}) holds an example")
        raise TftrainError(f"{which} (no records, or a header row only); give data that holds some.")
    check_splits(sizes, val, test, tuple(name for name, d in stream.held_out.items() if d is not None))


def with_label_ids(dataset: tf.data.Dataset, target: Target) -> tf.data.Dataset:
    """Class labels as ids 0..K-1 (a lookup by the class's text); regression labels as
    float; a chunk of examples at a time."""
    if target.task != "classification" or target.class_names is None:
        def labels(x, y):
            return x, tf.reshape(tf.cast(y, tf.float32), [-1, 1])
    else:
        table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(target.class_names), tf.range(len(target.class_names), dtype=tf.int32)), -1)

        def labels(x, y):
            text = y if y.dtype == tf.string else tf.strings.as_string(tf.cast(y, tf.int64))
            return x, table.lookup(tf.reshape(text, [-1]))

    return dataset.map(labels, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
