"""Arrays as files hold them (an .npz's x_train and x_test), checked before anything trains.

A NaN or infinity in the inputs does not fail at once: the loss turns NaN some epochs in
and the run stops as diverged, far from the value at fault. Test arrays whose examples have
another shape than the training ones trained, then failed in evaluation, leaving a run
folder without a model. Both are the file's, and told here, naming the array and index.
"""

from __future__ import annotations

import numpy as np

from tftrain.console import echo
from tftrain.errors import TftrainError


def finite(array: np.ndarray, name: str, where: str) -> None:
    """Refuse a float array holding NaN or an infinity, naming the first index."""
    if array.dtype.kind not in "fc" or np.isfinite(array).all():
        return
    bad = np.argwhere(~np.isfinite(array))
    index = ", ".join(str(int(i)) for i in bad[0])
    raise TftrainError(f"{where}: {name}[{index}] is {array[tuple(bad[0])]} ({len(bad)} value(s) "
                       f"of {name} are NaN or infinite); inputs and labels must be finite numbers. "
                       "Fill them (np.nan_to_num, or a column's median) or drop those rows.")


def same_examples(train: np.ndarray, test: np.ndarray, names: tuple[str, str], where: str) -> None:
    """Refuse test examples of another shape or kind than the training examples."""
    if train.shape[1:] != test.shape[1:]:
        raise TftrainError(f"{where}: {names[1]} holds examples of shape {test.shape[1:]}, "
                           f"{names[0]} of shape {train.shape[1:]}; the test examples must have "
                           "the training examples' shape (the model takes one shape).")
    if (train.dtype.kind in "OUS") != (test.dtype.kind in "OUS"):
        raise TftrainError(f"{where}: {names[1]} holds {test.dtype} values, {names[0]} "
                           f"{train.dtype}; the test examples must be of the same kind.")


def as_pixels(array: np.ndarray, name: str) -> np.ndarray:
    """Images (N, H, W[, C]) of whole-number floats 0..255 as uint8, said on the console:
    the model then scales them, as it does uint8 pixels (float64 pixels went in raw)."""
    if array.dtype.kind != "f" or array.ndim < 3 or not array.size:
        return array
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 255 or high <= 1 or not (array == np.round(array)).all():
        return array
    echo(f"data: {name} holds whole numbers 0..{high:g} ({array.dtype}): read as uint8 pixels, "
         "which the model scales to [0, 1]")
    return array.astype(np.uint8)
