"""The training split's datasets, shared by every source (in memory or streaming).

A source describes epoch k of its training split as `then(of_epoch(k))`; `epochs` turns
that into what the trainers read. Epoch k's order depends only on (seed, k), so fit's
iterator per epoch and the custom loop's one iterator per run read the same batches.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

# A training split: one epoch (the one Data.epoch names), and (first, last) -> epochs in a row
Epochs = tuple[tf.data.Dataset, Callable[[int, int], tf.data.Dataset]]
UNTUNED = tf.data.Options()
UNTUNED.autotune.enabled = False  # see `epochs`


def epochs(of_epoch: Callable[[tf.Tensor], tf.data.Dataset],
           then: Callable[[tf.data.Dataset], tf.data.Dataset], epoch: tf.Variable,
           steps: int) -> Epochs:
    """The training datasets of a source whose epoch k is `then(of_epoch(k))`.

    First, one epoch: the one `epoch` names when an iterator asks for its first batch (fit
    makes an iterator per epoch, the one for epoch k+1 at the end of epoch k, before
    on_epoch_begin sets the number). Second, `(first, last) ->` epochs first..last-1 back to
    back, numbered by the stream itself: one iterator serves a whole run, so no epoch waits
    for a new iterator (TensorFlow instantiates and optimises the dataset's functions for
    each: ~20 ms on 2 cores, a third of a digits epoch) and prefetching runs on across
    epoch boundaries (the custom loop's way).

    tf.data's autotuning is off (`UNTUNED`): with it on, tearing down an epoch's iterator
    stalled now and then for up to 26 ms (digits) and 258 ms (20,000 x 784 floats), against
    at most 4 ms without it, while starting and reading an epoch took the same time either
    way (`python benchmarks/data.py --iterators 30`). The prefetch buffer still grows on
    demand, and a parallel map runs one call per core.
    """
    def finish(numbers: tf.data.Dataset, of_number, count: int) -> tf.data.Dataset:
        return (then(numbers.flat_map(of_number))
                .apply(tf.data.experimental.assert_cardinality(count))
                .prefetch(tf.data.AUTOTUNE)
                .with_options(UNTUNED))

    one = finish(tf.data.Dataset.range(1), lambda _: of_epoch(epoch.read_value()), steps)
    return one, lambda first, last: finish(tf.data.Dataset.range(first, last), of_epoch,
                                           (last - first) * steps)
