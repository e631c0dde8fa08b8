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
from tftrain.errors import TftrainError, WriteFailed
from tftrain.tools.evaluate import load_model, tool_command
from tftrain.tools.outputs import not_written, output_file, run_targets, table, write_table
from tftrain.tools.predict_artifact import is_artifact, predict_artifact
from tftrain.tools.predict_inputs import read_model_inputs
from tftrain.tools.shell import shell
from tftrain.fast_exit import exits_fast
from tftrain.run.folder import RunFolder

ARGUMENTS = ("input", "output", "n", "seed")


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
    x, names = read_model_inputs(Path(given["input"]), data.get("inputs", {}), data.get("reading", {}),
                      tuple(model.input_shape[1:]), model.inputs[0].dtype)
    x = {k: tf_strings(v) for k, v in x.items()} if isinstance(x, dict) else tf_strings(x)
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
       tftrain-predict RUN_FOLDER/export/model.onnx|model.tflite|saved_model input=FILE [output=FILE]
       tftrain-predict GAN_RUN_FOLDER [n=16] [seed=0] [output=FILE.png]

Predictions of RUN_FOLDER/model.keras (loaded in safe mode) for new inputs, read as the run
read its own data: .npy or .npz arrays, .csv rows (a CSV run's columns by name), a folder of
images or of .txt files, or a .txt file (one input per line, for text models). Written as
CSV (default RUN_FOLDER/predictions.csv): each input's name (its path in the folder, or its
row), then for classifiers the predicted class name and a probability per class.

A GAN run generates instead: n samples from noise drawn with seed, as a grid (default
RUN_FOLDER/samples.png) and arrays beside it (samples.npz: images in [0, 1], the noise).

An export tftrain-export wrote predicts the same way, in its own runtime (onnxruntime, the
LiteRT interpreter, TensorFlow), by the record inside it (default output: predictions.csv
beside it)."""


def command(args: list[str]) -> int:
    """`tftrain-predict ARGS` in this process; its exit status."""
    if args and is_artifact(args[0]):  # a file tftrain-export wrote, in place of the run
        return shell(lambda: predict_artifact(Path(args[0]), args[1:]))
    return tool_command(USAGE, predict, args)


@exits_fast
def main() -> None:
    sys.exit(command(sys.argv[1:]))


if __name__ == "__main__":
    main()
