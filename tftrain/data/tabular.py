"""`dataset=csv`: a CSV file of numeric, categorical, boolean, text and missing values.

Each column becomes a named model input of shape (1,): numbers as float32 with NaN for a
missing value, everything else as strings ("" when missing). Column kinds are inferred
(numbers -> numeric; anything else -> categorical) or set per column in `columns`.
The model fills, normalises and looks up each column itself (see tftrain.models.inputs),
with statistics fitted on the training split, so a saved model predicts from raw rows.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from tftrain.console import echo
from tftrain.data.csv_format import MISSING, NAMES, chosen_columns, columns_of, delimiter_named, \
    detect_delimiter, infer_kind, is_number, listing
from tftrain.data.files import existing, read_text
from tftrain.data.forms import Source, Stream
from tftrain.data.sources import labels
from tftrain.errors import TftrainError

def read_rows(path: Path, encoding: str | None = None, delimiter: str | None = None,
              header: bool | None = None, key: str = "dataset.path") -> tuple[list[str], list[list[str]]]:
    """The column names and the rows of a CSV file: gzip or not, in `encoding` (UTF-8 by
    default, with or without a BOM), its delimiter detected unless given, its header row
    detected unless `header` says; quoted fields may hold delimiters and newlines."""
    text = read_text(path, encoding, key)
    if delimiter is None:
        delimiter = detect_delimiter(text)
        if delimiter != ",":
            echo(f"data: {path.name} is {NAMES[delimiter]}-separated (detected; set "
                 f"dataset.delimiter to choose another)")
    else:
        delimiter = delimiter_named(delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    lines = [(reader.line_num, row) for row in reader if row]
    if not lines or not any(field.strip() for field in lines[0][1]):
        raise TftrainError(f"{key}={path}: the file is empty; a CSV needs rows of fields, "
                           "a header row of column names first if it has one.")
    names, has_header = columns_of(lines[0][1], [row for _, row in lines[1:101]], header, path,
                                   advice=key.startswith("dataset"))
    rows = [row for _, row in lines[1:]] if has_header else [row for _, row in lines]
    for line, row in lines:
        if len(row) != len(names):
            raise TftrainError(f"{path}, line {line}: {len(row)} fields where "
                               f"{'the header has' if has_header else 'line 1 has'} {len(names)} "
                               f"({listing(names, 6)}).")
    if not rows:
        raise TftrainError(f"{key}={path}: the file has a header row ({listing(names, 6)}) but "
                           "no data rows.")
    return names, rows


def numeric(values: list[str], path: Path, column: str) -> np.ndarray:
    out = np.empty((len(values), 1), np.float32)
    for row, text in enumerate(values):
        if text.strip().lower() in MISSING:
            out[row] = np.nan
        elif is_number(text):
            out[row] = float(text)
        else:
            raise TftrainError(f"{path}, data row {row + 1}, column '{column}': {text!r} is not a "
                               "number, and the column is numeric. Fix the value, or declare "
                               f"the column categorical with dataset.columns.{column}=categorical.")
    return out


def strings(values: list[str]) -> np.ndarray:
    return np.array([["" if v.strip().lower() in MISSING else v.strip()] for v in values], dtype=object)


def label_values(values: list[str], path: Path, label: str) -> np.ndarray:
    if any(v.strip().lower() in MISSING for v in values):
        raise TftrainError(f"{path}: the label column '{label}' has missing values; drop those "
                           "rows or choose another label.")
    if all(is_number(v) for v in values):
        numbers = np.array([float(v) for v in values])
        return numbers.astype(np.int64) if np.all(numbers == np.round(numbers)) else numbers
    lowered = {v.strip().lower() for v in values}
    return np.array([v.strip().lower() == "true" for v in values]) if lowered <= {"true", "false"} \
        else np.array([v.strip() for v in values], dtype=object)


def csv_file(path: str, label: str | list[str], task: str = "auto", columns: dict[str, str] | None = None,
             drop: list[str] | None = None, max_tokens: int = 10000,
             text_output_mode: str = "multi_hot", encoding: str | None = None,
             delimiter: str | None = None, in_memory: bool = True,
             header: bool | None = None) -> Source | Stream:
    """Several label columns (`label: [a, b]`) make one target, and model output, each; a
    column is named, or given by position (`label: -1`, the last).
    `in_memory: false` streams the rows instead (tftrain.data.csv_stream)."""
    if not in_memory:
        from tftrain.data.csv_stream import csv_stream  # TensorFlow's reader, only when streaming

        return csv_stream(path, label, task, columns, drop, encoding, delimiter, header)
    file = existing(path, "file")
    in_file, rows = read_rows(file, encoding, delimiter, header)
    label_columns, declared, drop = chosen_columns(in_file, label, columns, drop, file)
    by_name = {name: [row[i] for row in rows] for i, name in enumerate(in_file)}
    targets = {name: labels(label_values(by_name.pop(name), file, name), task, str(file))
               for name in label_columns}
    if len(targets) == 1:
        y, task, names = targets[label_columns[0]]
    else:
        y, task, names = ({name: part[i] for name, part in targets.items()} for i in range(3))
    x: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    for name, values in by_name.items():
        if name in drop:
            continue
        kinds[name] = declared.get(name) or infer_kind(values)
        x[name] = numeric(values, file, name) if kinds[name] == "numeric" else strings(values)
    text: dict[str, Any] = {"max_tokens": max_tokens, "output_mode": text_output_mode,
                            "sequence_length": None}
    return Source(x, y, task, names, kinds, text=text)
