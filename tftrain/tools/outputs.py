"""What `tftrain-predict` and `tftrain-eval` write for each input: one CSV layout, so that
predict's file and eval's `predictions=true` file line up row by row (eval's adds the
true label), and the `output=` path both check before anything is computed.

Each row starts with `input`, the input's identity (an image's or text's path inside the
folder given, a row's number among the file's data rows, 0 first), then for a classifier
the predicted class and one probability per class (`p_<class>`), for a regressor the
value(s); with several targets, those columns for each, prefixed with its name.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from tftrain import artifacts
from tftrain.errors import TftrainError, WriteFailed


def run_targets(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What the run's model predicts, by target, as its summary.json records it."""
    data = summary.get("data", {})
    return data.get("targets") or {"output": {"task": data.get("task"),
                                              "class_names": data.get("class_names")}}


def table(predictions: Any, names: list[str], targets: dict[str, dict[str, Any]],
          labels: Any = None) -> list[list[Any]]:
    """CSV rows (a header first) of the model's outputs for the inputs `names`; `labels`
    (eval: the true labels, class ids or values, by target when there are several) adds a
    `label` column per target at the end."""
    outputs = predictions if isinstance(predictions, dict) else {next(iter(targets)): predictions}
    header, columns = ["input"], [list(names)]
    for name, values in outputs.items():
        prefix = f"{name}_" if len(outputs) > 1 else ""
        heads, cells = target_columns(np.asarray(values), targets.get(name, {}), prefix)
        header += heads
        columns += cells
    if labels is not None:
        truth = labels if isinstance(labels, dict) else {next(iter(outputs)): labels}
        for name, values in truth.items():
            header.append(f"{name}_label" if len(outputs) > 1 else "label")
            columns.append(label_cells(np.asarray(values), targets.get(name, {})))
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


def label_cells(values: np.ndarray, target: dict[str, Any]) -> list[str]:
    """True labels as written: a class by its name, a value as a number."""
    if target.get("task") == "classification":
        classes = target.get("class_names") or []
        return [classes[int(v)] if int(v) < len(classes) else str(int(v)) for v in values.ravel()]
    return [f"{v:.6g}" for v in values.reshape(len(values), -1)[:, 0]]


def csv_text(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def write_table(path: Path, rows: list[list[Any]]) -> None:
    artifacts.write_text_atomic(path, csv_text(rows))


def not_written(failed: WriteFailed, then: str) -> WriteFailed:
    """The same failed write, saying what was lost and where else to write (`then`): the
    tools print what they computed before writing it, so the user still has it."""
    return WriteFailed(failed.path, failed.error, then)


def output_file(given: str | None, default: Path | None, example: str) -> Path | None:
    """Where a tool writes (`output=`, else `default`), checked before anything is
    computed. A folder is refused rather than filled with a file name of our choosing:
    output= names a file, and a name guessed inside a folder could replace a file the user
    did not name."""
    output = Path(given).expanduser() if given else default
    if output is None:
        return None
    if output.is_dir():
        raise TftrainError(f"output={given} is a folder; output= names the file to write, "
                           f"e.g. output={output / example}.")
    above = next(p for p in output.absolute().parents if p.exists())
    if not above.is_dir():
        raise TftrainError(f"output={given}: {above} is a file, so no file can be written "
                           "under it; give a path in a folder.")
    return output
