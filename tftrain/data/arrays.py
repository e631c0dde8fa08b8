"""Arrays as files hold them (an .npz's x_train and x_test), checked before anything trains.

A NaN or infinity in the inputs does not fail at once: the loss turns NaN some epochs in
and the run stops as diverged, far from the value at fault. Test arrays whose examples have
another shape than the training ones trained, then failed in evaluation, leaving a run
folder without a model. Both are the file's, and told here, naming the array and index.
"""

from __future__ import annotations

import numpy as np

from tftrain.console import echo
from tftrain.data.images import LUMA
from tftrain.errors import TftrainError


TRAINING = ("inputs and labels must be finite numbers. Fill them (np.nan_to_num, or a "
            "column's median) or drop those rows.")


def finite(array: np.ndarray, name: str, where: str, gaps: bool = False,
           advice: str = TRAINING) -> np.ndarray:
    """The array, refused if a value is infinite, or NaN where it is no missing value the
    model fills (`gaps`: a numeric column of a CSV run), naming the first index: NaN does
    not fail at once but goes through every layer (a loss that turns NaN epochs later, or
    probabilities that look like predictions)."""
    if array.dtype.kind not in "fc":
        return array
    bad = np.isinf(array) if gaps else ~np.isfinite(array)
    if not bad.any():
        return array
    found = np.argwhere(bad)
    index = ", ".join(str(int(i)) for i in found[0])
    raise TftrainError(f"{where}: {name}[{index}] is {array[tuple(found[0])]} ({len(found)} "
                       f"value(s) of {name} are {'infinite' if gaps else 'NaN or infinite'}); "
                       f"{advice}")


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


def shaped(x: np.ndarray, shape: tuple[int, ...], where: str, dtype: str = "float32",
           gaps: bool = False) -> np.ndarray:
    """Arrays given to a trained model (tftrain-predict), as (n, *shape) in its input dtype:
    one input or a batch, as arrays or as flat rows; images with or without their channel
    axis, grey or colour as it takes them. `gaps`: see `finite`."""
    if x.dtype.kind not in "biuf":
        raise TftrainError(f"{where} holds {x.dtype} values; this model takes numbers.")
    if x.size == 0:
        raise TftrainError(f"{where} holds no inputs (its array has shape {tuple(x.shape)}); "
                           f"give at least one input of shape {shape}.")
    x = in_channels(x, shape)
    if tuple(x.shape) == shape:
        x = x[None]
    size = int(np.prod(shape))
    if x.ndim < 1 or x.size % size or (tuple(x.shape[1:]) != shape and x.ndim != 2):
        raise TftrainError(f"{where} has shape {tuple(x.shape)}; this model takes inputs "
                           f"of shape {shape} (or rows of {size} numbers).")
    x = finite(x.reshape((-1, *shape)), "input", where, gaps,
               "this model takes finite numbers. Fix or drop those inputs.")
    return to_pixels(x, where) if dtype == "uint8" else x.astype(dtype)


def to_pixels(x: np.ndarray, where: str) -> np.ndarray:
    """Inputs for a model trained on 0..255 pixels (uint8, which it scales itself). Floats all
    in [0, 1] are pixels already scaled, as most image code makes them: scaled back, and said
    (cast as they are, they would round to 0 or 1, a black image). Values outside 0..255
    are no such pixels and are refused."""
    low, high = float(x.min()), float(x.max())
    if x.dtype.kind == "f" and 0 <= low and high <= 1:
        echo(f"data: {where} holds floats in [0, 1]; taken as pixels scaled to [0, 1] "
             "and multiplied by 255 (the model was trained on 0..255 pixels)")
        x = x * 255.0
    elif low < 0 or high > 255:
        raise TftrainError(f"{where} holds values from {low:g} to {high:g}; this model was "
                           "trained on pixels from 0 to 255 (uint8), or takes floats in [0, 1] "
                           "as pixels scaled to [0, 1]. Give the images' pixels.")
    return np.round(x).astype(np.uint8)


def in_channels(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Images as the model takes them: a channel axis added to (H, W) pixels, grey made
    colour (repeated) or colour made grey (luminance, as image files are: tftrain.data.images)
    to match its channels."""
    if len(shape) != 3:
        return x
    height, width, channels = shape
    if x.ndim in (2, 3) and x.shape[-2:] == (height, width):
        x = x[..., None]
    if x.ndim not in (3, 4) or x.shape[-3:-1] != (height, width) or x.shape[-1] == channels:
        return x
    if x.shape[-1] == 1 and channels == 3:
        return np.repeat(x, 3, axis=-1)
    if x.shape[-1] in (3, 4) and channels == 1:
        return (x[..., :3].astype(np.float32) @ np.array(LUMA, np.float32))[..., None]
    return x
