"""Reading `tftrain-predict`'s inputs in the form the run's model takes them: arrays, CSV
rows (of numbers, or named columns for a model trained on a CSV), a folder of images, or
lines of text. Every input is checked against what the model was trained on before it
reaches Keras, which would otherwise round, cast or propagate it silently (float pixels in
[0, 1] rounded to 0 or 1 for a model of 0..255 pixels; NaN through every layer).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from tftrain.console import echo
from tftrain.data.files import check_npz, existing, read_text
from tftrain.errors import TftrainError, door, origin

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


def read_csv_rows(path: Path) -> np.ndarray:
    """Numeric CSV rows; a first row that is not numbers is taken as a header."""
    from tftrain.data.csv_format import detect_delimiter

    text = read_text(path, None, "input")
    rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=detect_delimiter(text)) if r]
    try:
        [float(v) for v in rows[0]]
    except ValueError:
        rows = rows[1:]
    except IndexError:
        raise TftrainError(f"input={path}: the file is empty; give one row of numbers per "
                           "input.") from None
    try:
        return np.array([[float(v) for v in r] for r in rows], dtype=np.float32)
    except ValueError as error:
        raise TftrainError(f"input={path}: every CSV row must be numbers ({error}).") from None


def read_columns(path: Path, inputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Raw CSV rows for a model with named inputs (a run on dataset=csv): one column per input,
    numbers with gaps as NaN, strings as they are; the model fills, scales and looks them up."""
    import tensorflow as tf

    from tftrain.data.csv_format import listing
    from tftrain.data.tabular import read_rows, strings

    if path.suffix.lower() == ".npz" and path.is_file():
        return named_arrays(path, inputs)
    if not path.name.lower().removesuffix(".gz").endswith((".csv", ".tsv", ".txt")) \
            or not path.is_file():
        raise TftrainError(f"input={path}: this model takes named columns "
                           f"({listing(list(inputs))}): give a .csv file with those columns, or an "
                           ".npz file with an array by each name.")
    header, rows = read_rows(path, key="input")
    positional = header == [str(i) for i in range(len(header))]  # no header row in the file
    missing = [name for name in inputs if name not in header]
    if missing and positional and len(header) == len(inputs):
        echo(f"data: {path.name}'s columns are taken as the model's inputs in order: "
             f"{listing(list(inputs))}")
        header = list(inputs)
    elif missing:
        raise TftrainError(f"input={path} lacks the column(s) {listing(missing)} the model "
                           f"takes; it has: {listing(header)}."
                           + (f" Without a header row, give exactly the model's {len(inputs)} "
                              "columns, in its order." if positional else ""))
    columns = {name: [row[header.index(name)] for row in rows] for name in inputs}
    return {name: tf.constant(strings(values).astype(str) if inputs[name]["dtype"] == "string"
                              else as_numbers(values, path, name))
            for name, values in columns.items()}


def as_numbers(values: list[str], path: Path | str, column: str) -> np.ndarray:
    """A column a trained model takes as numbers: float32 (rows, 1), NaN where missing (the
    model fills it). A value that is no finite number is refused, naming its row; declaring
    the column categorical, the advice while a run is configured, cannot apply to a model
    already trained."""
    from tftrain.data.csv_format import MISSING

    out = np.full((len(values), 1), np.nan, np.float32)
    for row, text in enumerate(values):
        if text.strip().lower() in MISSING:
            continue
        try:
            out[row] = value = float(text)
        except ValueError:
            value = None
        if value is None or not np.isfinite(out[row, 0]):
            raise TftrainError(f"{path}, data row {row + 1}, column '{column}': {text!r} is not a "
                               "finite number, and the run's model takes this column as numbers. "
                               "Fix the value, or leave it empty (a missing value, which the "
                               "model fills).")
    return out


def named_arrays(path: Path, inputs: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    """An .npz with one array per named input, each shaped (rows, *input shape)."""
    with np.load(check_npz(path, "input"), allow_pickle=False) as arrays:
        missing = [name for name in inputs if name not in arrays.files]
        if missing:
            raise TftrainError(f"input={path} lacks the array(s) {missing} the model takes; "
                               f"it has: {', '.join(arrays.files)}.")
        return {name: arrays[name].astype(str).reshape(-1, *inputs[name]["shape"])
                if inputs[name]["dtype"] == "string" else
                shaped(arrays[name], tuple(inputs[name]["shape"]), path, inputs[name]["dtype"],
                       inputs[name].get("kind") == "numeric")
                for name in inputs}


def read_images(folder: Path, shape: tuple[int, ...], dtype: str) -> tuple[np.ndarray, list[str]]:
    """A folder's images (its subfolders' too, as training reads class folders; hidden files
    such as macOS's ._* copies left out), resized to the model's input, grey or colour as it
    takes them: raw pixels for a model that takes uint8 (it scales them itself), else
    scaled to [0, 1]. Each row is named by the image's path inside the folder."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                   and p.is_file() and not any(part.startswith(".")
                                               for part in p.relative_to(folder).parts))
    if len(shape) != 3 or not files:
        raise TftrainError(f"{folder}: an image folder fits models that take images (height, "
                           f"width, channels) and must hold {', '.join(sorted(IMAGE_SUFFIXES))} "
                           f"files; this model takes {shape} and the folder has {len(files)} images.")
    mode = {1: "grayscale", 3: "rgb", 4: "rgba"}[shape[2]]
    images = np.stack([image(p, mode, shape[:2]) for p in files])
    return (images.astype(np.uint8) if dtype == "uint8" else (images / 255.0).astype(np.float32),
            [p.relative_to(folder).as_posix() for p in files])


def image(path: Path, mode: str, size: tuple[int, ...]) -> np.ndarray:
    """One image file's pixels; a file Pillow cannot read is named (in a folder of
    thousands, the user could not find it otherwise)."""
    import keras

    with door(f"input={path}", explain=lambda error: (
            f"input={path} is no image that opens whole ({type(origin(error)).__name__}: a "
            f"damaged, cut or mislabelled file); remove it from the folder or replace it. "
            f"Images are read from {', '.join(sorted(IMAGE_SUFFIXES))} files.")):
        return keras.utils.img_to_array(keras.utils.load_img(path, color_mode=mode, target_size=size))


def read_inputs(path: Path, shape: tuple[int, ...], dtype: str,
                gaps: bool = False) -> tuple[np.ndarray, list[str]]:
    """The inputs in a file or folder, shaped (n, *shape), and a name for each row (`gaps`:
    see `shaped`)."""
    existing(str(path), "file or folder", "input")
    if path.is_dir():
        return read_images(path, shape, dtype)
    suffix = path.suffix.lower()
    if suffix == ".txt":
        if dtype != "string":
            raise TftrainError(f"input={path}: a text file fits models that take text; this one "
                               f"takes numbers of shape {shape}: give .npy, .npz or .csv.")
        lines = [line for line in read_text(path, None, "input").splitlines() if line.strip()]
        return np.array(lines, dtype=object), [str(i) for i in range(len(lines))]
    if suffix == ".npy":
        x = np.load(path, allow_pickle=False)
        if not isinstance(x, np.ndarray):
            x.close()
            raise TftrainError(f"input={path} is an .npz archive, not a .npy array; name it "
                               ".npz (its array 'x', or its only array, is read).")
    elif suffix == ".npz":
        with np.load(check_npz(path, "input"), allow_pickle=False) as arrays:
            keys = list(arrays)
            if len(keys) != 1 and "x" not in keys:
                raise TftrainError(f"input={path} holds arrays {keys}; name the inputs 'x' or "
                                   f"save only one array.")
            x = arrays["x" if "x" in keys else keys[0]]
    elif suffix == ".csv":
        x = read_csv_rows(path)
    else:
        raise TftrainError(f"input={path}: unknown kind of input '{suffix}'; give .npy, .npz, "
                           f".csv, .txt or a folder of images.")
    x = shaped(x, shape, path, dtype, gaps)
    return x, [str(i) for i in range(len(x))]


def shaped(x: np.ndarray, shape: tuple[int, ...], path: Path, dtype: str = "float32",
           gaps: bool = False) -> np.ndarray:
    """(n, *shape) in the model's input dtype: one input or a batch, as arrays or as flat
    rows; images with or without their channel axis, grey or colour as the model takes.
    `gaps`: NaN is a missing value the model fills (a numeric column of a CSV run)."""
    if x.dtype.kind not in "biuf":
        raise TftrainError(f"input={path} holds {x.dtype} values; this model takes numbers.")
    if x.size == 0:
        raise TftrainError(f"input={path} holds no inputs (its array has shape {tuple(x.shape)}); "
                           f"give at least one input of shape {shape}.")
    x = in_channels(x, shape)
    if tuple(x.shape) == shape:
        x = x[None]
    size = int(np.prod(shape))
    if x.ndim < 1 or x.size % size or (tuple(x.shape[1:]) != shape and x.ndim != 2):
        raise TftrainError(f"input={path} has shape {tuple(x.shape)}; this model takes inputs "
                           f"of shape {shape} (or rows of {size} numbers).")
    x = finite(x.reshape((-1, *shape)), path, gaps)
    return as_pixels(x, path) if dtype == "uint8" else x.astype(dtype)


def finite(x: np.ndarray, path: Path, gaps: bool) -> np.ndarray:
    """The values, refused if one is infinite, or NaN where it is no missing value the model
    fills: the model would carry it through every layer into probabilities that look like
    predictions."""
    bad = (np.isinf(x) | (np.isnan(x) & (not gaps))) if x.dtype.kind == "f" else None
    if bad is not None and bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise TftrainError(f"input={path}: input {where[0]} holds {x[where]} (at index {where}); "
                           "this model takes finite numbers. Fix or drop those inputs.")
    return x


def as_pixels(x: np.ndarray, path: Path) -> np.ndarray:
    """Inputs for a model trained on 0..255 pixels (uint8, which it scales itself). Floats all
    in [0, 1] are pixels already scaled, as most image code makes them: scaled back, and said
    (cast as they are, they would round to 0 or 1, a black image). Values outside 0..255
    are no such pixels and are refused."""
    low, high = float(x.min()), float(x.max())
    if x.dtype.kind == "f" and 0 <= low and high <= 1:
        echo(f"data: input={path} holds floats in [0, 1]; taken as pixels scaled to [0, 1] "
             "and multiplied by 255 (the model was trained on 0..255 pixels)")
        x = x * 255.0
    elif low < 0 or high > 255:
        raise TftrainError(f"input={path} holds values from {low:g} to {high:g}; this model was "
                           "trained on pixels from 0 to 255 (uint8), or takes floats in [0, 1] "
                           "as pixels scaled to [0, 1]. Give the images' pixels.")
    return np.round(x).astype(np.uint8)


def in_channels(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Images as the model takes them: a channel axis added to (H, W) pixels, grey made
    colour (repeated) or colour made grey (luminance) to match its channels."""
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
        return (x[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    return x
