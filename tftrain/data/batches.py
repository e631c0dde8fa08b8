"""What both pipelines (in memory and streaming) share: splits, batch counts, augmentation,
and the training split's datasets.

A source describes epoch k of its training split as `then(of_epoch(k))`; `epochs` turns
that into what the trainers read. Epoch k's order depends only on (seed, k), so fit's
iterator per epoch and the custom loop's one iterator per run read the same batches.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import tensorflow as tf

from tftrain.console import echo
from tftrain.data.folds import Folds, fold_ids, grouped_test, said
from tftrain.data.forms import Arrays, Source, rows_in
from tftrain.errors import TftrainError, param

# A training split: one epoch (the one Data.epoch names), and (first, last) -> epochs in a row
Epochs = tuple[tf.data.Dataset, Callable[[int, int], tf.data.Dataset]]
UNTUNED = tf.data.Options()
UNTUNED.autotune.enabled = False  # see `epochs`
Split = tuple[Arrays, Arrays]
SPLIT_NAMES = {"train": "training", "val": "validation", "test": "test"}


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


def rows(x: Arrays, index: np.ndarray) -> Arrays:
    return {k: v[index] for k, v in x.items()} if isinstance(x, dict) else x[index]


def split(source: Source, val: float, test: float, seed: int,
          folds: Folds | None = None) -> tuple[Split, Split, Split]:
    """Seeded train/val/test splits, stratified by class for classification (`folds`:
    validation is that fold of the rows beside the test split).

    A source with its own test split (keras.datasets, an .npz with x_test) keeps it and
    takes only the validation split from its training data.
    """
    return split_at(source, split_indices(source, val, test, seed, folds))


def split_at(source: Source, index: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[Split, Split, Split]:
    """The rows of each split (`split_indices`) as arrays; a source's own test split kept."""
    y = source.y
    train, val_idx, test_idx = index
    held_out = source.test if source.test is not None else (rows(source.x, test_idx), rows(y, test_idx))
    return ((rows(source.x, train), rows(y, train)), (rows(source.x, val_idx), rows(y, val_idx)),
            held_out)


def split_indices(source: Source, val: float, test: float, seed: int,
                  folds: Folds | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of `source.x` in each split (train, val, test), in split order: what `split`
    takes, and what tftrain-eval follows to name each example it scores. The test rows
    are none when the source has its own test split.

    Stratified by class where every split asked for then gets rows: each class gives a
    split round(rows x fraction) of its rows, so classes too small for that (a label unique
    to each row) would leave the split empty; the split is then drawn at random, said with
    the counts (a class of one row cannot be in two splits either way). With `folds` the
    validation split is a fold instead (`in_folds`)."""
    if folds is not None:
        return in_folds(source, test, seed, folds)
    test = 0.0 if source.test is not None else test
    by = source.strata()
    if by is None:
        return at_random(rows_in(source.y), val, test, seed)
    rng = np.random.default_rng(seed)
    parts = cut([rng.permutation(np.flatnonzero(by == c)) for c in np.unique(by)], val, test, rng)
    empty = [SPLIT_NAMES[name] for name, part, fraction in zip(("val", "test"), parts[1:], (val, test))
             if fraction > 0 and not len(part)]
    if not empty:
        return parts
    sizes = np.unique(by, return_counts=True)[1]
    rows = f"{sizes.min():,}" if sizes.min() == sizes.max() else f"{sizes.min():,} to {sizes.max():,}"
    drawn = at_random(rows_in(source.y), val, test, seed)
    echo(f"data: stratified by class, the {' and '.join(empty)} split{'s' if len(empty) > 1 else ''} "
         f"would be empty ({len(sizes):,} classes of {rows} rows, each giving a split its "
         "fraction of its rows, rounded); split at random instead: "
         f"{len(drawn[0]):,} train / {len(drawn[1]):,} val / {len(drawn[2]):,} test (a class found "
         "only in validation or test is never trained on)")
    return drawn


def in_folds(source: Source, test: float, seed: int,
             folds: Folds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cross-validation's splits: the test split as without folds (whole groups, when the
    data names them), the other rows cut into folds (`fold_cut`), one validating."""
    rest, ids, test_idx = fold_cut(source, test, seed, folds.count)
    rng = np.random.default_rng(seed)
    train, val = (rng.permutation(rest[ids != folds.index]), rng.permutation(rest[ids == folds.index]))
    strata, groups = source.strata(), source.groups
    said(folds, len(train), len(val), None if strata is None else strata[rest],
         None if groups is None else groups[rest])
    return train, val, test_idx


def fold_cut(source: Source, test: float, seed: int,
             count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the rows beside the test split, sorted; the fold of each; the test rows): the same
    for every fold's run, and for the check made before a sweep of folds starts."""
    strata, groups = source.strata(), source.groups
    if groups is None:
        rest, _, test_idx = split_indices(source, 0.0, test, seed)
    else:
        test_idx = grouped_test(groups, 0.0 if source.test is not None else test, seed)
        rest = np.setdiff1d(np.arange(rows_in(source.y)), test_idx)
    rest = np.sort(rest)  # the folds depend on the rows, not on the order the split drew
    ids = fold_ids(None if strata is None else strata[rest], None if groups is None else groups[rest],
                   count, seed)
    return rest, ids, test_idx


def at_random(rows: int, val: float, test: float,
              seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return cut([rng.permutation(rows)], val, test, rng)


def cut(strata: list[np.ndarray], val: float, test: float,
        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each stratum's (shuffled) rows cut into train, val and test by the fractions, then
    each split's rows shuffled together."""
    parts: list[list[np.ndarray]] = [[], [], []]
    for idx in strata:
        n_test, n_val = round(len(idx) * test), round(len(idx) * val)
        for part, chunk in zip(parts, (idx[n_test + n_val:], idx[n_test:n_test + n_val], idx[:n_test])):
            part.append(chunk)
    train, val_idx, test_idx = (rng.permutation(np.concatenate(p)) for p in parts)
    return train, val_idx, test_idx


def check_splits(sizes: dict[str, int], val: float, test: float, own: tuple[str, ...] = ()) -> None:
    """Every split asked for (a fraction above 0, and not the source's own files: `own`)
    holds an example: a split never silently vanishes. Refused with the counts."""
    total = sum(sizes.values())
    counts = f"{sizes['train']:,} train / {sizes['val']:,} val / {sizes['test']:,} test"
    if not sizes["train"]:
        raise TftrainError(f"{param('val_split')}={val} and {param('test_split')}={test} leave the "
                           f"training split none of the {total:,} examples ({counts}); give more "
                           "data, or lower them.")
    asked = {"val": 0.0 if "val" in own else val, "test": 0.0 if "test" in own else test}
    empty = [name for name, fraction in asked.items() if fraction > 0 and not sizes[name]]
    if empty:
        settings = [f"{param(name + '_split')}={asked[name]}" for name in empty]
        raise TftrainError(
            f"{' and '.join(settings)}: the "
            f"{' and '.join(SPLIT_NAMES[name] for name in empty)} split{'s' if len(empty) > 1 else ''} "
            f"would hold none of the {total:,} examples ({counts}); give more data, or the split "
            f"a larger fraction ({1 / total:.2g} is one example), or 0 for none.")


def steps_per_epoch(n: int, batch_size: int, drop_remainder: bool, limit: int | None) -> int:
    steps = n // batch_size if drop_remainder else -(-n // batch_size)
    if steps == 0:
        raise TftrainError(
            f"the training split has {n} examples, fewer than one batch of "
            f"{param('batch_size')}={batch_size}; lower the batch size or set "
            f"{param('drop_remainder')}=false.")
    return min(steps, limit) if limit else steps


def augmentation(layers: tuple[Any, ...]):
    """The training-only augmentation layers, when they run in the pipeline."""
    if not layers:
        return None
    import keras

    return keras.Sequential(list(layers), name="augment")
