"""k-fold cross-validation's cut: the rows beside the test split in `count` folds, seeded,
stratified by class, and keeping a group's rows in one fold when the data names groups.

One run trains on all folds but one and validates on that one (`Folds.index`); `count`
runs, one per fold, see every row validated exactly once. The cut depends only on the data,
the seed and the count, so each fold's run, its resumption and tftrain-eval find the same
rows wherever they run. Stratified as scikit-learn's StratifiedKFold (each class's rows dealt
round the folds), grouped as its StratifiedGroupKFold (each group, the least even first, to
the fold whose class proportions it disturbs least), without needing scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tftrain.console import echo
from tftrain.errors import TftrainError, param


@dataclass(frozen=True)
class Folds:
    """Fold `index` (0-based) of `count` validates; the other folds train."""

    count: int
    index: int


def fold_ids(strata: np.ndarray | None, groups: np.ndarray | None, count: int,
             seed: int) -> np.ndarray:
    """The fold (0..count-1) of each row; `strata`: each row's class (None: not stratified),
    `groups`: each row's group (None: rows are their own)."""
    rows = len(strata if strata is not None else groups)
    if rows < count:
        raise TftrainError(f"{param('folds')}={count}: the data beside the test split holds "
                           f"{rows:,} rows, fewer than one a fold; lower {param('folds')}.")
    rng = np.random.default_rng(seed)
    if groups is None and strata is not None:
        smallest(strata, count)
    if groups is None:
        classes = [np.arange(rows)] if strata is None else \
            [np.flatnonzero(strata == c) for c in np.unique(strata)]
        order = np.concatenate([rng.permutation(members) for members in classes])
        ids = np.empty(rows, np.int64)
        ids[order] = np.arange(rows) % count  # each class dealt round the folds in turn
        return ids
    return grouped(strata, groups, count, rng)


def grouped(strata: np.ndarray | None, groups: np.ndarray, count: int,
            rng: np.random.Generator) -> np.ndarray:
    """Whole groups to folds, most uneven group first, each to the fold where the folds'
    class proportions then differ least (ties: the smaller fold)."""
    names, group_of = np.unique(groups, return_inverse=True)
    if len(names) < count:
        raise TftrainError(f"{param('folds')}={count} with {param('group')}: the rows beside the "
                           f"test split hold {len(names):,} groups, and a group's rows stay in one "
                           f"fold; lower {param('folds')} to {len(names)} at most, or group by "
                           "another column.")
    class_of = np.zeros(len(groups), np.int64) if strata is None else \
        np.unique(strata, return_inverse=True)[1]
    counts = np.zeros((len(names), class_of.max() + 1))
    np.add.at(counts, (group_of, class_of), 1)
    order = rng.permutation(len(names))
    spread = np.std(counts, axis=1) if counts.shape[1] > 1 else counts[:, 0]
    order = order[np.argsort(-spread[order], kind="stable")]
    totals, per_fold = counts.sum(axis=0), np.zeros((count, counts.shape[1]))
    fold_of_group = np.empty(len(names), np.int64)
    for group in order:
        candidates = per_fold[None] + np.eye(count)[:, :, None] * counts[group]
        unevenness = np.std(candidates / totals, axis=1).mean(axis=1)
        best = np.flatnonzero(np.isclose(unevenness, unevenness.min()))
        fold = best[np.argmin(per_fold[best].sum(axis=1))]
        per_fold[fold] += counts[group]
        fold_of_group[group] = fold
    return fold_of_group[group_of]


def grouped_test(groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Whole groups drawn at random (seeded) for the test split, each taken when it brings
    the split nearer its fraction of the rows (a large group first would make a test split
    of most of the data): a group's rows on both sides of it would leak as across folds."""
    needed = round(len(groups) * fraction)
    if needed == 0:
        return np.zeros(0, np.int64)
    names, group_of = np.unique(groups, return_inverse=True)
    sizes = np.bincount(group_of)
    taken, total = [], 0
    for group in np.random.default_rng(seed).permutation(len(names)):
        if abs(total + sizes[group] - needed) < abs(total - needed):
            taken.append(group)
            total += sizes[group]
    taken = taken or [int(np.argmin(sizes))]  # every group larger than twice the split
    return np.flatnonzero(np.isin(group_of, taken))


def smallest(strata: np.ndarray, count: int) -> None:
    """Stratified folds give every fold some rows of every class: a class of fewer rows
    than folds cannot, and some folds would validate (or score) without it."""
    classes, sizes = np.unique(strata, return_counts=True)
    if sizes.min() < count:
        name = classes[np.argmin(sizes)]
        raise TftrainError(f"{param('folds')}={count}: the smallest class ({name!s}) has "
                           f"{sizes.min()} rows beside the test split, fewer than one a fold, so "
                           f"some folds would validate without it; lower {param('folds')} to "
                           f"{max(2, sizes.min())} at most, or gather more rows of that class.")


def said(folds: Folds, train: int, val: int, strata: np.ndarray | None,
         groups: np.ndarray | None) -> None:
    """One line: which fold validates, its rows and how the folds were cut."""
    how = ", stratified by class" if strata is not None else ""
    if groups is not None:
        how += f", whole groups of {param('group')} ({len(np.unique(groups)):,} groups)"
    echo(f"data: fold {folds.index + 1} of {param('folds')}={folds.count} validates: {train:,} "
         f"train / {val:,} val rows of the {train + val:,} beside the test split{how}")
