"""Input columns that train a model which looks good and is not: said on the console.

A copy of the label (titanic's `alive` is `survived` as yes/no) gives perfect validation
scores and a model useless on new rows; a row number or ID teaches the file's order (iris
is sorted by species); a column of strings unique to nearly every row (dates, free text,
names) becomes categories seen once each. None of these is an error (the user may mean
it), so each is a warning naming the column and the override that leaves it out. Only
inferred kinds are questioned: a column named in `dataset.columns` is meant.
"""

from __future__ import annotations

import numpy as np

from tftrain.console import echo
from tftrain.errors import param

MIN_ROWS = 20  # fewer rows say too little to suspect a column


def warn_suspects(x: dict[str, np.ndarray], kinds: dict[str, str], declared: dict[str, str],
                  targets: dict[str, np.ndarray]) -> None:
    """One console line per suspect input column."""
    for name, values in x.items():
        if name in declared or len(values) < MIN_ROWS:
            continue
        column = values[:, 0]
        copied = next((label for label, y in targets.items() if copies(column, np.ravel(y))), None)
        if copied is not None:
            echo(f"data: warning: column '{name}' matches the label '{copied}' one to one (each "
                 "of its values goes with one label value): a copy of the answer makes "
                 "validation look perfect and the model useless on new rows; leave it out "
                 f"with '{param('drop')}=[{name}]'")
        elif kinds[name] == "numeric" and row_number(column):
            echo(f"data: warning: column '{name}' looks like a row number or ID (unique whole "
                 "numbers, in order or consecutive): the model would learn the file's order; "
                 f"leave it out with '{param('drop')}=[{name}]' (+{param('columns')}.{name}=numeric "
                 "keeps it without this warning)")
        elif kinds[name] == "categorical" and mostly_unique(column):
            echo(f"data: warning: column '{name}' has {len(set(column.tolist()))} distinct "
                 f"values in {len(column)} rows: as categories most are seen once and teach "
                 f"nothing that carries to new rows; leave it out with '{param('drop')}=[{name}]', "
                 f"or read it as words with +{param('columns')}.{name}=text")


def copies(column: np.ndarray, label: np.ndarray) -> bool:
    """Whether the column's values and the label's map one to one (over rows where the
    column is present), with values that repeat (two unique-per-row columns map trivially)."""
    present = ~missing(column)
    if present.sum() < MIN_ROWS:
        return False
    values, targets = column[present], label[present]
    distinct = len(np.unique(values.astype(str) if values.dtype.kind == "O" else values))
    if not 2 <= distinct <= len(values) // 2 or distinct != len(np.unique(targets)):
        return False  # the cheap test first: a table of 785 pixel columns pays it alone
    pairs = len(set(zip(values.tolist(), targets.tolist())))
    return distinct == pairs


def row_number(column: np.ndarray) -> bool:
    """Unique whole numbers, sorted or a run of consecutive ones: an index or ID."""
    values = column.astype(np.float64)
    if not np.isfinite(values).all() or not (values == np.round(values)).all():
        return False
    if len(np.unique(values)) != len(values):
        return False
    steps = np.diff(values)
    return bool((steps > 0).all() or (steps < 0).all() or values.max() - values.min() == len(values) - 1)


def mostly_unique(column: np.ndarray) -> bool:
    """Strings of which more than half the rows hold their own."""
    present = column[~missing(column)]
    return len(set(present.tolist())) > max(MIN_ROWS, len(column) // 2)


def missing(column: np.ndarray) -> np.ndarray:
    if column.dtype.kind == "f":
        return np.isnan(column)
    return column == ""
