"""`tftrain-predict EXPORT input=FILE [output=FILE]`: an artifact `tftrain-export` wrote (an
ONNX or LiteRT file, a SavedModel folder) predicting in its own runtime, as the run folder
would: its inputs read as the run read its data and its outputs named by its classes, both
from the record inside the artifact (tftrain.run.export_formats), so the file alone is
enough, wherever it was copied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tftrain.console import echo
from tftrain.errors import UNREADABLE, TftrainError, WriteFailed, door
from tftrain.tools.outputs import not_written, output_file, run_targets, table, write_table
from tftrain.tools.predict_inputs import read_model_inputs

SUFFIXES = {".onnx": "onnx", ".tflite": "litert"}
SAVED_MODEL = "saved_model.pb"


def is_artifact(given: str) -> bool:
    """Whether tftrain-predict's first argument names an export rather than a run folder."""
    path = Path(given).expanduser()
    return (path.suffix.lower() in SUFFIXES and path.is_file()) or (path / SAVED_MODEL).is_file()


def predict_artifact(path: Path, arguments: list[str]) -> None:
    given = dict(a.split("=", 1) for a in arguments if "=" in a)
    if "input" not in given or len(given) != len(arguments) or set(given) - {"input", "output"}:
        raise TftrainError(f"{path}: an export predicts from inputs: give input=FILE (and "
                           f"optionally output=FILE.csv); got {' '.join(arguments) or 'nothing'}.")
    from tftrain.run import runtime  # noqa: F401  (first: quiets TensorFlow as it loads)
    from tftrain.run.export_check import predicted, runtime_of
    from tftrain.run.export_formats import read_record

    with door(str(path), "a file tftrain-export wrote", refused=UNREADABLE):
        record = read_record(path)
    if record is None:
        raise TftrainError(f"{path} holds no tftrain record: it was not written by "
                           "tftrain-export, so what its inputs and outputs mean is unknown. "
                           "Give the run folder instead, or export the run again.")
    output = output_file(given.get("output"), path.parent / "predictions.csv", "predictions.csv")
    inputs, reading = record.get("inputs", {}), record.get("reading", {})
    first = next(iter(inputs.values()), {})
    x, names = read_model_inputs(Path(given["input"]), inputs, reading, tuple(first.get("shape", ())),
                      first.get("dtype", "float32"))
    x = {k: runtime_array(v) for k, v in x.items()} if isinstance(x, dict) else runtime_array(x)
    name = "saved_model" if path.is_dir() else SUFFIXES[path.suffix.lower()]
    outputs = predicted(runtime_of(name, path), x)
    targets = run_targets({"data": record})
    predictions = outputs[0] if len(outputs) == 1 else dict(zip(sorted(targets), outputs))
    try:
        write_table(output, table(predictions, names, targets))
    except WriteFailed as failed:
        echo(f"{len(names)} prediction(s) computed, not written")
        raise not_written(failed, "Give output=FILE.csv in a folder that can be written.") from None
    echo(f"{len(names)} prediction(s) by {path.name} ({name}) written to {output}")


def runtime_array(values: np.ndarray) -> Any:
    """Strings as UTF-8 bytes (what the runtimes take), floats in float32."""
    if values.dtype.kind in "OU":
        return np.char.encode(values.astype(str), "utf-8")
    return values.astype(np.float32) if values.dtype == np.float64 else values
