"""`tftrain-predict RUN_FOLDER input=FILE [output=FILE]`: a trained model's predictions as CSV.

Inputs come in whatever form fits the run's data (its summary records the inputs and how it
read them), read by the readers training used (tftrain.tools.predict_inputs says which):
`.npy`/`.npz` arrays, `.csv` rows, a folder of images or texts, or a text file (one input per
line). Classifiers get the class name and one probability column per class.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from tftrain.console import echo
from tftrain.errors import UNREADABLE, TftrainError, WriteFailed, door, keyed
from tftrain.tools.evaluate import load_model, tool_command
from tftrain.tools.outputs import not_written, output_file, run_targets, table, write_table
from tftrain.tools.predict_inputs import read_columns, read_inputs
from tftrain.fast_exit import exits_fast
from tftrain.run.folder import RunFolder

ARGUMENTS = ("input", "output", "n", "seed")
# The readers' parameters as predict's arguments: a file is `input=`, whatever source the run
# read its data with (its reading options are the run's record, none of them predict's).
READER_KEYS = {"path": "input"}


def parse(arguments: list[str]) -> dict[str, str]:
    given = dict(a.split("=", 1) for a in arguments if "=" in a)
    unknown = [a for a in arguments if "=" not in a or a.split("=", 1)[0] not in ARGUMENTS]
    if unknown:
        raise TftrainError(f"tftrain-predict takes input=FILE (for a GAN run: n=COUNT, seed=S) "
                           f"and optionally output=FILE; got {' '.join(arguments) or 'nothing'}.")
    return given


def predict(folder: RunFolder, arguments: list[str]) -> None:
    given = parse(arguments)
    summary = folder.summary("tftrain-predict")
    folder.model_file("tftrain-predict")  # whole, before the inputs are read
    model = load_model(folder, "tftrain-predict")
    from tftrain.callbacks.samples import generates  # imports Keras: TensorFlow is quiet by now
    from tftrain.tools.generate import generate

    if generates(model):
        return generate(folder, model, given)
    if "input" not in given or {"n", "seed"} & set(given):
        raise TftrainError(f"{folder.given} is no GAN run: its model predicts from inputs, so "
                           "give input=FILE (n= and seed= ask a GAN run for samples); got "
                           f"{' '.join(arguments) or 'nothing'}.")
    output = output_file(given.get("output"), folder.path / "predictions.csv", "predictions.csv")
    data = summary.get("data", {})
    inputs, reading = data.get("inputs", {}), data.get("reading", {})
    source = Path(given["input"])
    with keyed(READER_KEYS), door(f"input={source}", "arrays saved by NumPy (.npy, or .npz by "
                                  "name), CSV rows, a text file or a folder of images",
                                  refused=UNREADABLE):
        if len(inputs) > 1 or "delimiter" in reading:  # named inputs: a CSV's columns
            columns, names = read_columns(source, inputs, reading)
            x = {name: tf_strings(values) for name, values in columns.items()}
            x = x if len(x) > 1 else next(iter(x.values()))
        else:
            gaps = next(iter(inputs.values()), {}).get("kind") == "numeric"
            x, names = read_inputs(source, tuple(model.input_shape[1:]), model.inputs[0].dtype,
                                   gaps, reading)
            x = tf_strings(x)
    predictions = model.predict(x, verbose=0)
    try:
        write_table(output, table(predictions, names, run_targets(summary)))
    except WriteFailed as failed:
        echo(f"{len(names)} prediction(s) computed, not written")
        raise not_written(failed, "Give output=FILE.csv in a folder that can be written.") from None
    echo(f"{len(names)} prediction(s) written to {output}")


def tf_strings(values: np.ndarray) -> Any:
    """Strings as a tf.string tensor (Keras takes no NumPy arrays of Python objects)."""
    if values.dtype.kind != "O":
        return values
    import tensorflow as tf

    return tf.constant(values.astype(str))


USAGE = """Usage: tftrain-predict RUN_FOLDER input=FILE [output=FILE]
       tftrain-predict GAN_RUN_FOLDER [n=16] [seed=0] [output=FILE.png]

Predictions of RUN_FOLDER/model.keras (loaded in safe mode) for new inputs, read as the run
read its own data: .npy or .npz arrays, .csv rows (a CSV run's columns by name), a folder of
images or of .txt files, or a .txt file (one input per line, for text models). Written as
CSV (default RUN_FOLDER/predictions.csv): each input's name (its path in the folder, or its
row), then for classifiers the predicted class name and a probability per class.

A GAN run generates instead: n samples from noise drawn with seed, as a grid (default
RUN_FOLDER/samples.png) and arrays beside it (samples.npz: images in [0, 1], the noise)."""


def command(args: list[str]) -> int:
    """`tftrain-predict ARGS` in this process; its exit status."""
    return tool_command(USAGE, predict, args)


@exits_fast
def main() -> None:
    sys.exit(command(sys.argv[1:]))


if __name__ == "__main__":
    main()
