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
from tftrain.data.csv_format import KINDS, MISSING, NAMES, delimiter_named, detect_delimiter, \
    infer_kind, is_number
from tftrain.data.files import existing, read_text
from tftrain.data.forms import Source, Stream
from tftrain.data.sources import labels
from tftrain.errors import TftrainError, did_you_mean

def read_rows(path: Path, encoding: str | None = None, delimiter: str | None = None,
              key: str = "dataset.path") -> tuple[list[str], list[list[str]]]:
    """The header and the rows of a CSV file: gzip or not, in `encoding` (UTF-8 by default,
    with or without a BOM), its delimiter detected unless given; quoted fields may hold
    delimiters and newlines."""
    text = read_text(path, encoding, key)
    if delimiter is None:
        delimiter = detect_delimiter(text)
        if delimiter != ",":
            echo(f"data: {path.name} is {NAMES[delimiter]}-separated (detected; set "
                 f"dataset.delimiter to choose another)")
    else:
        delimiter = delimiter_named(delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise TftrainError(f"{key}={path}: the file is empty; a CSV needs a header row of "
                           "column names, then one row per example.")
    rows = []
    for row in reader:
        if row and len(row) != len(header):
            raise TftrainError(f"{path}, line {reader.line_num}: {len(row)} fields where the "
                               f"header has {len(header)} ({', '.join(header[:6])}"
                               f"{', ...' if len(header) > 6 else ''}).")
        if row:
            rows.append(row)
    if not rows:
        raise TftrainError(f"{key}={path}: the file has a header row ({', '.join(header[:6])}"
                           f"{', ...' if len(header) > 6 else ''}) but no data rows.")
    return [h.strip() for h in header], rows


def numeric(values: list[str], path: Path, column: str) -> np.ndarray:
    out = np.empty((len(values), 1), np.float32)
    for row, text in enumerate(values):
        if text.strip().lower() in MISSING:
            out[row] = np.nan
        elif is_number(text):
            out[row] = float(text)
        else:
            raise TftrainError(f"{path}, line {row + 2}, column '{column}': {text!r} is not a "
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
             delimiter: str | None = None, in_memory: bool = True) -> Source | Stream:
    """Several label columns (`label: [a, b]`) make one target, and model output, each.
    `in_memory: false` streams the rows instead (tftrain.data.csv_stream)."""
    if not in_memory:
        from tftrain.data.csv_stream import csv_stream  # TensorFlow's reader, only when streaming

        return csv_stream(path, label, task, columns, drop, encoding, delimiter)
    file = existing(path, "file")
    header, rows = read_rows(file, encoding, delimiter)
    label_columns = [label] if isinstance(label, str) else list(label)
    missing = [name for name in label_columns if name not in header]
    if missing or not label_columns:
        raise TftrainError(f"{file}: no label column {', '.join(map(repr, missing)) or ''} "
                           f"(dataset.label).{did_you_mean(missing[0], header) if missing else ''} "
                           f"The columns are: {', '.join(header)}.")
    declared = dict(columns or {})
    unknown = sorted(set(declared) - set(header)) + sorted(set(drop or []) - set(header))
    if unknown:
        raise TftrainError(f"{file}: dataset.columns/drop name {unknown}, which the file does not "
                           f"have.{did_you_mean(unknown[0], header)} The columns are: "
                           f"{', '.join(header)}.")
    bad = {c: k for c, k in declared.items() if k not in KINDS}
    if bad:
        raise TftrainError(f"dataset.columns: {bad} — a column kind is one of {', '.join(KINDS)}.")
    by_name = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    targets = {name: labels(label_values(by_name.pop(name), file, name), task, str(file))
               for name in label_columns}
    if len(targets) == 1:
        y, task, names = targets[label_columns[0]]
    else:
        y, task, names = ({name: part[i] for name, part in targets.items()} for i in range(3))
    x: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    for name, values in by_name.items():
        if name in (drop or []):
            continue
        kinds[name] = declared.get(name) or infer_kind(values)
        x[name] = numeric(values, file, name) if kinds[name] == "numeric" else strings(values)
    text: dict[str, Any] = {"max_tokens": max_tokens, "output_mode": text_output_mode,
                            "sequence_length": None}
    return Source(x, y, task, names, kinds, text=text)
