"""Which reader `tftrain-predict` hands a file or folder to, and a name for each input it
holds. The reading itself is tftrain.data's, the very code training and tftrain-eval read
with (images: tftrain.data.images; CSV cells: tftrain.data.tabular, in the run's recorded
decimal mark and encoding; text: tftrain.data.texts; arrays: tftrain.data.arrays), so
predict's outputs on some data equal eval's on the same data. Every input is checked against
what the model was trained on before it reaches Keras, which would otherwise round, cast or
propagate it silently (float pixels in [0, 1] rounded to 0 or 1 for a model of 0..255
pixels; NaN through every layer).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tftrain.console import echo
from tftrain.data import images, texts
from tftrain.data.arrays import shaped
from tftrain.data.csv_format import listing
from tftrain.data.files import check_npz, existing, read_text
from tftrain.data.tabular import Table, model_inputs, parsed, read_table
from tftrain.errors import UNREADABLE, TftrainError, door, keyed

# The readers' parameters as predict's arguments: a file is `input=`, whatever source the run
# read its data with (its reading options are the run's record, none of them predict's).
READER_KEYS = {"path": "input"}


def read_model_inputs(source: Path, inputs: dict[str, Any], reading: dict[str, Any], shape: tuple[int, ...],
           dtype: str) -> tuple[Any, list[str]]:
    """The inputs in `source`, read as the run read its data (`inputs`, `reading`: its
    record), as arrays (by name for a CSV's columns), and a name for each row."""
    with keyed(READER_KEYS), door(f"input={source}", "arrays saved by NumPy (.npy, or .npz by "
                                  "name), CSV rows, a text file or a folder of images",
                                  refused=UNREADABLE):
        if len(inputs) > 1 or "delimiter" in reading:  # named inputs: a CSV's columns
            columns, names = read_columns(source, inputs, reading)
            return (columns if len(columns) > 1 else next(iter(columns.values()))), names
        gaps = next(iter(inputs.values()), {}).get("kind") == "numeric"
        return read_inputs(source, shape, dtype, gaps, reading)


def table_of(path: Path, reading: dict[str, Any]) -> Table:
    """A CSV read as the run read its own: in its encoding and decimal mark (its delimiter
    and header row are found in the file; no option is advised, none being predict's)."""
    return read_table(path, reading.get("encoding"), None, None, advice=False,
                      decimal=reading.get("decimal") or ".")


def read_columns(path: Path, inputs: dict[str, dict[str, Any]],
                 reading: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Named inputs (a run on dataset=csv, or several inputs): a CSV's columns by name, each
    read as the run read it, or an .npz with an array by each name; a name for each row."""
    if path.suffix.lower() == ".npz" and path.is_file():
        x = named_arrays(path, inputs)
        return x, [str(i) for i in range(len(next(iter(x.values()))))]
    if not path.name.lower().removesuffix(".gz").endswith((".csv", ".tsv", ".txt")) \
            or not path.is_file():
        raise TftrainError(f"input={path}: this model takes named columns "
                           f"({listing(list(inputs))}): give a .csv file with those columns, or an "
                           ".npz file with an array by each name.")
    table = table_of(path, reading)
    positional = not table.header
    missing = [name for name in inputs if name not in table.names]
    if missing and positional and len(table.names) == len(inputs):
        echo(f"data: {path.name}'s columns are taken as the model's inputs in order: "
             f"{listing(list(inputs))}")
        table = replace(table, names=list(inputs))
    elif missing:
        raise TftrainError(f"input={path} lacks the column(s) {listing(missing)} the model "
                           f"takes; it has: {listing(table.names)}."
                           + (f" Without a header row, give exactly the model's {len(inputs)} "
                              "columns, in its order." if positional else ""))
    return model_inputs(table, path, inputs), [str(i) for i in range(len(table.rows))]


def named_arrays(path: Path, inputs: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    """An .npz with one array per named input, each shaped (rows, *input shape)."""
    with np.load(check_npz(path), allow_pickle=False) as arrays:
        missing = [name for name in inputs if name not in arrays.files]
        if missing:
            raise TftrainError(f"input={path} lacks the array(s) {missing} the model takes; "
                               f"it has: {', '.join(arrays.files)}.")
        return {name: arrays[name].astype(str).reshape(-1, *inputs[name]["shape"])
                if inputs[name]["dtype"] == "string" else
                shaped(arrays[name], tuple(inputs[name]["shape"]), f"input={path}",
                       inputs[name]["dtype"], inputs[name].get("kind") == "numeric")
                for name in inputs}


def read_folder(folder: Path, shape: tuple[int, ...], dtype: str) -> tuple[np.ndarray, list[str]]:
    """A folder's texts (for a model that takes text) or images, its subfolders' too (as
    training reads class folders; hidden files left out), each named by its path inside the
    folder. Images are read as training reads them (tftrain.data.images): raw pixels for a
    model that takes uint8 (it scales them itself), else scaled to [0, 1]."""
    if dtype == "string":
        files = texts.files_in(folder)
        if not files:
            raise TftrainError(f"{folder}: this model takes text, and the folder holds no .txt "
                               "files (a file an input).")
        return (np.array([texts.text_of(f) for f in files], dtype=object)[:, None],
                [f.relative_to(folder).as_posix() for f in files])
    files = images.files_in(folder)
    if len(shape) != 3 or not files:
        raise TftrainError(f"{folder}: an image folder fits models that take images (height, "
                           f"width, channels) and must hold image files "
                           f"({', '.join(images.IMAGE_FILES)}); this model takes {shape} and the "
                           f"folder has {len(files)} images.")
    pixels = images.load(files, shape[:2], shape[2])
    return (pixels if dtype == "uint8" else (pixels / 255.0).astype(np.float32),
            [f.relative_to(folder).as_posix() for f in files])


def read_inputs(path: Path, shape: tuple[int, ...], dtype: str, gaps: bool = False,
                reading: dict[str, Any] | None = None) -> tuple[np.ndarray, list[str]]:
    """The inputs in a file or folder, shaped (n, *shape), and a name for each row (`gaps`:
    NaN is a missing value the model fills; `reading`: the run's record of how it read its
    data)."""
    reading = reading or {}
    existing(str(path), "file or folder")
    if path.is_dir():
        return read_folder(path, shape, dtype)
    suffix = path.suffix.lower()
    if suffix == ".txt":
        if dtype != "string":
            raise TftrainError(f"input={path}: a text file fits models that take text; this one "
                               f"takes numbers of shape {shape}: give .npy, .npz or .csv.")
        lines = texts.lines_of(read_text(path, None, advice=False))
        return np.array(lines, dtype=object)[:, None], [str(i) for i in range(len(lines))]
    if suffix == ".npy":
        x = np.load(path, allow_pickle=False)
        if not isinstance(x, np.ndarray):
            x.close()
            raise TftrainError(f"input={path} is an .npz archive, not a .npy array; name it "
                               ".npz (its array 'x', or its only array, is read).")
    elif suffix == ".npz":
        x = npz_inputs(path, reading.get("x_key"))
    elif suffix == ".csv":
        x = csv_numbers(path, reading)
    else:
        raise TftrainError(f"input={path}: unknown kind of input '{suffix}'; give .npy, .npz, "
                           f".csv, .txt or a folder of images.")
    x = shaped(x, shape, f"input={path}", dtype, gaps)
    return x, [str(i) for i in range(len(x))]


def npz_inputs(path: Path, run_key: str | None) -> np.ndarray:
    """An .npz's inputs: its array 'x', its only array, or the array the run read its
    inputs from (`dataset.x_key`, x_train in Keras' layout)."""
    with np.load(check_npz(path), allow_pickle=False) as arrays:
        keys = list(arrays)
        key = next((k for k in ("x", run_key) if k in keys), keys[0] if len(keys) == 1 else None)
        if key is None:
            also = f", or '{run_key}' as the run's data does" if run_key else ""
            raise TftrainError(f"input={path} holds arrays {keys}; name the inputs 'x'{also}, "
                               "or save only one array.")
        if key != "x" and len(keys) > 1:
            echo(f"data: input={path.name}: the array '{key}' is read (the run read its inputs "
                 "from it)")
        return arrays[key]


def csv_numbers(path: Path, reading: dict[str, Any]) -> np.ndarray:
    """A CSV of rows of numbers (a first row that is not numbers is a header), each cell
    read as training reads a CSV's numbers."""
    table = table_of(path, reading)
    return np.stack([parsed(table.column(name), path, name, None, table.decimal, None)
                     for name in table.names], axis=1).astype(np.float32)
