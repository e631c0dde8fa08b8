"""Labels as files hold them, read as the task needs: class ids and names, or float targets.

Every in-memory source (npz, CSV, keras.datasets) reads its labels here, so the same values
make the same task whatever file they come from: whole numbers are classes when few
(`7.0` as `7`, in an .npz as in a CSV), one-hot rows are the class they mark, and a guess
of the task from numbers is said on the console with the key that overrides it.
"""

from __future__ import annotations

import numpy as np

from tftrain.console import echo
from tftrain.data.spec import TASKS
from tftrain.errors import TftrainError, param

FEW_CLASSES = 20  # whole-number labels with at most this many values are classes


def one_hot(rows: np.ndarray) -> bool:
    """Rows of 0/1 with a single 1 each (Keras' to_categorical), of any dtype."""
    if rows.dtype.kind not in "biuf" or rows.shape[1] < 2:
        return False
    return bool(np.isin(rows, (0, 1)).all() and (rows.sum(axis=1) == 1).all())


def label_column(y: np.ndarray, where: str) -> tuple[np.ndarray, int | None]:
    """(one label per row, the number of classes one-hot rows declare or None).

    A label of shape (N, 1) is a column; one-hot rows (N, K) are class indices 0..K-1, said
    on the console; other rows of several values are refused (the first column was taken
    before, silently: uint8 one-hot became two classes, '0' and '1')."""
    y = np.asarray(y)
    if y.ndim <= 1:
        return y, None
    rows = y.reshape(len(y), -1)
    if rows.shape[1] == 1:
        return rows[:, 0], None
    if one_hot(rows):
        echo(f"data: {where} is one-hot ({rows.shape[1]} columns of 0/1, one 1 a row): read as "
             f"class indices 0 to {rows.shape[1] - 1}")
        return rows.argmax(axis=1), rows.shape[1]
    raise TftrainError(f"{where} has shape {y.shape} and its rows are not one-hot (row 0 is "
                       f"{np.array2string(rows[0][:6], separator=', ')}"
                       f"{' ...' if rows.shape[1] > 6 else ''}); tftrain reads one label a row: "
                       "a class (a number or a name), one-hot rows (0/1, a single 1 a row) or a "
                       "number to regress. Save one column, e.g. y.argmax(1) for class scores.")


def whole(y: np.ndarray) -> np.ndarray:
    """Floats that are all whole numbers as int64 (`7.0` is class '7', as a CSV's `7.0`)."""
    if y.dtype.kind == "f" and y.size and np.isfinite(y).all() and (y == np.round(y)).all():
        return y.astype(np.int64)
    return y


def labels(y: np.ndarray, task: str, where: str) -> tuple[np.ndarray, str, list[str] | None]:
    """Integer class ids and names for classification, float targets for regression.

    `auto` picks classification for strings, booleans and whole numbers with few values
    (said, with dataset.task=regression to say otherwise); `where` names the labels
    (a file and column, or an array) in what is said.
    """
    y, width = label_column(y, where)
    floats = y.dtype.kind == "f"
    y = whole(y)
    if task not in ("auto", *TASKS):
        raise TftrainError(f"{param('task')}={task!r} is not valid for {where}; "
                           f"use auto, {', '.join(TASKS)}.")
    if task == "auto":
        task = guessed_task(y, width, where, floats)
    if task == "regression":
        return regression_target(y, where), task, None
    if width:
        names, ids = [str(i) for i in range(width)], y.astype(np.int32)
    else:
        found, ids = np.unique(y.astype(str) if y.dtype.kind in "OUSb" else y, return_inverse=True)
        names = [str(n) for n in found]
    return ids.astype(np.int32), task, names


def one_class(names: list[str] | None, where: str, rows: int) -> str | None:
    """What a training run is told of labels holding a single class (evaluating, a file of
    one of the run's classes is fine, so the source reports it and training refuses it)."""
    if names is None or len(names) >= 2:
        return None
    return (f"{where} holds a single class, {names[0]!r}, in all {rows} rows: a classifier "
            f"needs at least two. Check that the label is the one you mean, or set "
            f"{param('task')}=regression for a numeric target.")


def guessed_task(y: np.ndarray, width: int | None, where: str, floats: bool) -> str:
    """The task `auto` picks, said when it is a guess from numbers other than class ids
    0..K-1 (floats such as 7.0, or values such as ages); labels with about one class a row
    are refused (a quantity written as text, such as '$452,600')."""
    if width or y.dtype.kind in "b":
        return "classification"
    if y.dtype.kind in "OUS":
        values = np.unique(y.astype(str))
        if len(values) > max(FEW_CLASSES, len(y) // 2):
            raise TftrainError(
                f"{where} holds text with {len(values)} distinct values in {len(y)} rows (such "
                f"as {', '.join(repr(v) for v in values[:3])}): as classes, most would have one "
                "example. If it is a quantity, write its values as plain numbers; if it is "
                f"classes, set {param('task')}=classification.")
        return "classification"
    values = np.unique(y)
    count = len(values)
    if y.dtype.kind in "iu" and count <= FEW_CLASSES:
        if floats or not np.array_equal(values, np.arange(count)):
            echo(f"data: {where} holds {count} whole-number values: read as {count} classes "
                 f"(set {param('task')}=regression if it is a quantity)")
        return "classification"
    return "regression"


def regression_target(y: np.ndarray, where: str) -> np.ndarray:
    """Float targets, shape (N, 1); text is refused, naming a value."""
    if y.dtype.kind in "OUS":
        raise TftrainError(f"{where}: a regression target must be numbers; it holds text such "
                           f"as {str(y[0])!r}. Write the values as plain numbers, or set "
                           f"{param('task')}=classification if they are classes.")
    return y.astype(np.float32)[:, None]


def encode_like(y: np.ndarray, task: str, names: list[str] | None, where: str) -> np.ndarray:
    """Test labels in the training labels' encoding (class ids by the same names)."""
    y = whole(label_column(y, where)[0])
    if task == "regression":
        return regression_target(y, where)
    index = {name: i for i, name in enumerate(names or ())}
    unknown = sorted({str(v) for v in y} - set(index))
    if unknown:
        raise TftrainError(f"{where} holds classes the training labels do not: "
                           f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''} (the "
                           f"training classes: {', '.join(names or ())}).")
    return np.array([index[str(v)] for v in y], np.int32)
