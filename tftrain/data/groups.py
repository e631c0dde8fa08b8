"""Groups for cross-validation: a CSV column whose rows stay in one fold (a patient's scans,
a user's sessions), so that no fold validates on rows of a group it trained on. The column
is read beside the source's own reading and is no input of the model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tftrain.data.files import existing
from tftrain.data.forms import Source, rows_in
from tftrain.data.tabular import read_table
from tftrain.errors import TftrainError, param


def group_column(path: str, column: str, label: object, encoding: str | None,
                 delimiter: str | None, header: bool | None) -> np.ndarray:
    """Each row's group: the column `column` of the CSV at `path`, read as the source reads
    the file (its encoding, delimiter and header row); refused when there is no such
    column, or when it is the label."""
    table = read_table(existing(path, "file"), encoding, delimiter, header, advice=False)
    labels = label if isinstance(label, list) else [label]
    if column not in table.names:
        raise TftrainError(f"{param('group')}={column}: {path} has no column {column!r}; its "
                           f"columns: {', '.join(table.names)}.")
    if column in labels:
        raise TftrainError(f"{param('group')}={column} is the label; groups are another column "
                           "(a patient, a user) whose rows must not be split across folds.")
    return np.asarray(table.column(column), dtype=str)


def with_groups(source: Source, groups: np.ndarray) -> Source:
    """The source, its rows grouped (the group column read beside it, row for row)."""
    if len(groups) != rows_in(source.y):  # the reader kept every row: a mismatch is ours
        raise AssertionError(f"{len(groups)} groups for {rows_in(source.y)} rows")
    return replace(source, groups=groups)
