"""`tftrain-predict RUN_FOLDER input=FILE [output=FILE]`: a trained model's predictions as CSV.

Inputs come in whatever form fits the run's data (its summary records the input shape):
`.npy`/`.npz` arrays, `.csv` rows of numbers, a folder of images (resized to the input,
scaled to [0, 1]), or a text file (one input per line, for models that take strings).
Classifiers get the class name and one probability column per class.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tftrain import artifacts
from tftrain.console import echo
from tftrain.data.files import check_npz, existing, read_text
from tftrain.errors import TftrainError, door
from tftrain.evaluate import load_model, tool_command
from tftrain.process import exits_fast
from tftrain.run_folder import RunFolder

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
ARGUMENTS = ("input", "output")


def parse(arguments: list[str]) -> dict[str, str]:
    given = dict(a.split("=", 1) for a in arguments if "=" in a)
    unknown = [a for a in arguments if "=" not in a or a.split("=", 1)[0] not in ARGUMENTS]
    if unknown or "input" not in given:
        raise TftrainError(f"tftrain-predict takes input=FILE and optionally output=FILE; got "
                           f"{' '.join(arguments) or 'nothing'}.")
    return given


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
    from tftrain.data.tabular import numeric, read_rows, strings

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
                              else numeric(values, path, name))
            for name, values in columns.items()}


def named_arrays(path: Path, inputs: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    """An .npz with one array per named input, each shaped (rows, *input shape)."""
    with np.load(check_npz(path, "input"), allow_pickle=False) as arrays:
        missing = [name for name in inputs if name not in arrays.files]
        if missing:
            raise TftrainError(f"input={path} lacks the array(s) {missing} the model takes; "
                               f"it has: {', '.join(arrays.files)}.")
        return {name: arrays[name].astype(str).reshape(-1, *inputs[name]["shape"])
                if inputs[name]["dtype"] == "string" else
                shaped(arrays[name], tuple(inputs[name]["shape"]), path, inputs[name]["dtype"])
                for name in inputs}


def read_images(folder: Path, shape: tuple[int, ...], dtype: str) -> tuple[np.ndarray, list[str]]:
    """A folder's images, resized to the model's input, grey or colour as it takes them:
    raw pixels for a model that takes uint8 (it scales them itself), else scaled to [0, 1]."""
    import keras

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(shape) != 3 or not files:
        raise TftrainError(f"{folder}: an image folder fits models that take images (height, "
                           f"width, channels) and must hold {', '.join(sorted(IMAGE_SUFFIXES))} "
                           f"files; this model takes {shape} and the folder has {len(files)} images.")
    mode = {1: "grayscale", 3: "rgb", 4: "rgba"}[shape[2]]
    images = np.stack([keras.utils.img_to_array(keras.utils.load_img(p, color_mode=mode,
                                                                     target_size=shape[:2]))
                       for p in files])
    return (images.astype(np.uint8) if dtype == "uint8" else (images / 255.0).astype(np.float32),
            [p.name for p in files])


def read_inputs(path: Path, shape: tuple[int, ...], dtype: str) -> tuple[np.ndarray, list[str]]:
    """The inputs in a file or folder, shaped (n, *shape), and a name for each row."""
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
    x = shaped(x, shape, path, dtype)
    return x, [str(i) for i in range(len(x))]


def shaped(x: np.ndarray, shape: tuple[int, ...], path: Path, dtype: str = "float32") -> np.ndarray:
    """(n, *shape) in the model's input dtype: one input or a batch, as arrays or as flat
    rows; images with or without their channel axis, grey or colour as the model takes."""
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
    x = x.reshape((-1, *shape))
    return np.clip(np.round(x), 0, 255).astype(dtype) if dtype == "uint8" else x.astype(dtype)


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


def table(predictions: Any, names: list[str], summary: dict[str, Any]) -> list[list[Any]]:
    """CSV rows: for a classifier the class and each class's probability, else the values;
    with several targets, those columns for each target, prefixed with its name."""
    data = summary.get("data", {})
    targets = data.get("targets") or {"output": {"task": data.get("task"),
                                                 "class_names": data.get("class_names")}}
    outputs = predictions if isinstance(predictions, dict) else {next(iter(targets)): predictions}
    header, columns = ["input"], [names]
    for name, values in outputs.items():
        prefix = f"{name}_" if len(outputs) > 1 else ""
        heads, cells = target_columns(np.asarray(values), targets.get(name, {}), prefix)
        header += heads
        columns += cells
    return [header, *map(list, zip(*columns))]


def target_columns(values: np.ndarray, target: dict[str, Any],
                   prefix: str) -> tuple[list[str], list[list[str]]]:
    """One target's header cells and columns."""
    if target.get("task") == "classification":
        if values.shape[1] == 1:  # a binary head: the probability of the second class
            values = np.concatenate([1 - values, values], axis=1)
        classes = target.get("class_names") or [str(i) for i in range(values.shape[1])]
        predicted = [classes[i] for i in np.argmax(values, axis=1)]
        return ([f"{prefix}predicted", *(f"{prefix}p_{c}" for c in classes)],
                [predicted, *([f"{v:.6g}" for v in column] for column in values.T)])
    flat = values.reshape(len(values), -1)
    heads = [f"{prefix}prediction"] if flat.shape[1] == 1 else \
        [f"{prefix}prediction_{i}" for i in range(flat.shape[1])]
    return heads, [[f"{v:.6g}" for v in column] for column in flat.T]


def predict(folder: RunFolder, arguments: list[str]) -> None:
    given = parse(arguments)
    output = Path(given.get("output") or folder.path / "predictions.csv")
    summary = folder.summary("tftrain-predict")
    folder.model_file("tftrain-predict")  # whole, before the inputs are read
    model = load_model(folder, "tftrain-predict")
    inputs = summary.get("data", {}).get("inputs", {})
    source = Path(given["input"])
    with door(f"input={source}", "arrays saved by NumPy (.npy, or .npz by name), CSV rows, a "
              "text file or a folder of images"):
        if len(inputs) > 1:
            x = read_columns(source, inputs)
            names = [str(i) for i in range(len(next(iter(x.values()))))]
        else:
            x, names = read_inputs(source, tuple(model.input_shape[1:]), model.inputs[0].dtype)
    predictions = model.predict(x, verbose=0)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(table(predictions, names, summary))
    artifacts.write_text_atomic(output, out.getvalue())
    echo(f"{len(names)} prediction(s) written to {output}")


USAGE = """Usage: tftrain-predict RUN_FOLDER input=FILE [output=FILE]

Predictions of RUN_FOLDER/model.keras (loaded in safe mode) for new inputs: .npy or .npz
arrays, .csv rows of numbers, a folder of images, or a .txt file (one input per line, for
text models). Written as CSV (default RUN_FOLDER/predictions.csv); classifiers get the
predicted class name and a probability per class."""


def command(args: list[str]) -> int:
    """`tftrain-predict ARGS` in this process; its exit status."""
    return tool_command(USAGE, predict, args)


@exits_fast
def main() -> None:
    sys.exit(command(sys.argv[1:]))


if __name__ == "__main__":
    main()
