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
from tftrain.errors import TftrainError, door
from tftrain.tools.evaluate import load_model, tool_command
from tftrain.tools.predict_inputs import read_columns, read_inputs
from tftrain.fast_exit import exits_fast
from tftrain.run.folder import RunFolder

ARGUMENTS = ("input", "output")


def parse(arguments: list[str]) -> dict[str, str]:
    given = dict(a.split("=", 1) for a in arguments if "=" in a)
    unknown = [a for a in arguments if "=" not in a or a.split("=", 1)[0] not in ARGUMENTS]
    if unknown or "input" not in given:
        raise TftrainError(f"tftrain-predict takes input=FILE and optionally output=FILE; got "
                           f"{' '.join(arguments) or 'nothing'}.")
    return given


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


def output_file(given: str | None, folder: RunFolder) -> Path:
    """Where the predictions go, checked before anything is computed. A folder is refused
    rather than filled with a file name of our choosing: output= names a file, and a name
    guessed inside a folder could replace a file the user did not name."""
    output = Path(given).expanduser() if given else folder.path / "predictions.csv"
    if output.is_dir():
        raise TftrainError(f"output={given} is a folder; output= names the CSV file to write, "
                           f"e.g. output={output / 'predictions.csv'}.")
    above = next(p for p in output.absolute().parents if p.exists())
    if not above.is_dir():
        raise TftrainError(f"output={given}: {above} is a file, so no file can be written "
                           "under it; give a path in a folder.")
    return output


def predict(folder: RunFolder, arguments: list[str]) -> None:
    given = parse(arguments)
    output = output_file(given.get("output"), folder)
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
            gaps = next(iter(inputs.values()), {}).get("kind") == "numeric"
            x, names = read_inputs(source, tuple(model.input_shape[1:]), model.inputs[0].dtype, gaps)
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
