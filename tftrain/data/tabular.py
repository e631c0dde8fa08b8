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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tftrain.console import echo
from tftrain.data.csv_format import MISSING, NAMES, chosen_columns, columns_of, delimiter_named, \
    detect_delimiter, infer_kind, listing, not_json
from tftrain.data.files import existing, read_text
from tftrain.data.forms import Source, Stream
from tftrain.data.labels import labels, one_class
from tftrain.data.numbers import COMMA_DECIMAL, FLOAT32_MAX, decimal_named, detect_decimal, notation, number, \
    out_of_range
from tftrain.data.suspects import warn_suspects
from tftrain.errors import TftrainError, param


@dataclass(frozen=True)
class Table:
    """A CSV as read: column names, rows of fields, each row's line in the file (for
    messages), and the decimal mark its numbers use."""

    names: list[str]
    rows: list[list[str]]
    lines: list[int]
    decimal: str = "."
    delimiter: str = ","
    header: bool = True

    def column(self, name: str) -> list[str]:
        at = self.names.index(name)
        return [row[at] for row in self.rows]


def read_table(path: Path, encoding: str | None = None, delimiter: str | None = None,
               header: bool | None = None, advice: bool = True,
               decimal: str | None = ".") -> Table:
    """A CSV file: gzip or not, in `encoding` (UTF-8 by default, with or without a BOM), its
    delimiter detected unless given, its header row detected unless `header` says, its
    decimal mark detected when `decimal` is None; quoted fields may hold delimiters and
    newlines. `advice`: what is detected says how to choose otherwise (tftrain-predict
    reads as the run did, and takes no such option)."""
    text = read_text(path, encoding, advice)
    not_json(text, path)
    if delimiter is None:
        delimiter = detect_delimiter(text)
        if delimiter != ",":
            echo(f"data: {path.name} is {NAMES[delimiter]}-separated (detected"
                 + (f"; set {param('delimiter')} to choose another)" if advice else ")"))
    else:
        delimiter = delimiter_named(delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    lines = [(reader.line_num, row) for row in reader if row]
    if not lines or not any(field.strip() for field in lines[0][1]):
        raise TftrainError(f"{param('path')}={path}: the file is empty; a CSV needs rows of fields, "
                           "a header row of column names first if it has one.")
    if decimal is None:
        decimal = detect_decimal([row for _, row in lines[:201]], delimiter)
        if decimal == ",":
            echo(f"data: {path.name} writes decimal commas (detected: 5,1 is 5.1; set "
                 f"{param('decimal')} to choose another)")
    names, has_header = columns_of(lines[0][1], [row for _, row in lines[1:101]], header, path,
                                   advice=advice, decimal=decimal)
    body = lines[1:] if has_header else lines
    for line, row in lines:
        if len(row) != len(names):
            raise TftrainError(f"{path}, line {line}: {len(row)} fields where "
                               f"{'the header has' if has_header else 'line 1 has'} {len(names)} "
                               f"({listing(names, 6)}).")
    if not body:
        raise TftrainError(f"{param('path')}={path}: the file has a header row ({listing(names, 6)}) but "
                           "no data rows.")
    return Table(names, [row for _, row in body], [line for line, _ in body], decimal, delimiter,
                 has_header)


def parsed(values: list[str], path: Path, column: str, lines: list[int] | None = None,
           decimal: str = ".", declared: bool | None = True) -> np.ndarray:
    """A column's numbers (float64, NaN where missing); a value that is no number, or no
    finite float32, is refused naming its line (its data row without `lines`).
    `declared`: whether dataset.columns declared the column numeric; None for a column a
    trained model takes as numbers (tftrain-eval and tftrain-predict)."""
    out = np.empty(len(values), np.float64)

    def refused(row: int, problem: str) -> TftrainError:
        where = f"line {lines[row]}" if lines else f"data row {row + 1}"
        advice = TRAINED if declared is None else \
            not_numeric_advice(values, values[row], column, decimal, declared)
        return TftrainError(f"{path}, {where}, column '{column}': {values[row]!r} is {problem}"
                            + advice)

    for row, text in enumerate(values):
        if text.strip().lower() in MISSING:
            out[row] = np.nan
            continue
        value = number(text, decimal)
        if value is None:
            raise refused(row, "not a number")
        out[row] = value
    beyond = np.flatnonzero(np.isinf(out) | (np.abs(np.nan_to_num(out)) > FLOAT32_MAX))
    if beyond.size:
        raise refused(int(beyond[0]), out_of_range(float(out[beyond[0]])))
    return out


# What to do about a value a trained model's numeric column cannot take: declaring the column
# categorical, the advice while a run is configured, cannot apply to a model already trained.
TRAINED = (", and the run's model takes this column as numbers. Fix the value, or leave it "
           "empty (a missing value, which the model fills).")


def not_numeric_advice(values: list[str], text: str, column: str, decimal: str,
                       declared: bool) -> str:
    """What to do about a value a numeric column cannot take."""
    fill = "leave it empty (a missing value, filled with the column's median)"
    if number(text, decimal) is not None:  # an infinity, or too large for float32
        return f"; a number here must be a finite float32. Fix the value, or {fill}."
    comma = "" if decimal == "," or not COMMA_DECIMAL.fullmatch(text.strip()) else \
        f" If the file writes decimal commas, set \"{param('decimal')}=','\"."
    if declared:
        return (f", and the column is numeric. Fix the value, or declare the column categorical "
                f"with {param('columns')}.{column}=categorical.{comma}")
    present = [v for v in values if v.strip().lower() not in MISSING]
    count = sum(number(v, decimal) is not None for v in present)
    return (f", in a column of numbers ({count} of its {len(present)} values are). Fix it or "
            f"{fill}; if the column holds categories, declare it: "
            f"+{param('columns')}.{column}=categorical.{comma}")


def numeric(values: list[str], path: Path, column: str, lines: list[int] | None = None,
            decimal: str = ".", declared: bool | None = True) -> np.ndarray:
    """A numeric input column: float32, shape (rows, 1), NaN where missing."""
    return parsed(values, path, column, lines, decimal, declared).astype(np.float32)[:, None]


def strings(values: list[str]) -> np.ndarray:
    return np.array([["" if v.strip().lower() in MISSING else v.strip()] for v in values], dtype=object)


def label_values(values: list[str], path: Path, label: str, lines: list[int] | None = None,
                 decimal: str = ".") -> np.ndarray:
    """A label column's values: numbers (whole ones as int64) when they are numbers but for
    a few, which are refused naming their line; booleans; else strings."""
    gaps = [i for i, v in enumerate(values) if v.strip().lower() in MISSING]
    if gaps:
        where = f"line {lines[gaps[0]]}" if lines else f"data row {gaps[0] + 1}"
        raise TftrainError(f"{path}: the label column '{label}' has {len(gaps)} missing value(s) "
                           f"(the first at {where}); drop those rows or choose another label.")
    if infer_kind(values, decimal) == "numeric":
        numbers = parsed(values, path, label, lines, decimal, declared=False)
        written = notation(values, decimal)
        if written:
            echo(f"data: the label '{label}' writes numbers with {written}: read as numbers")
        return numbers.astype(np.int64) if np.all(numbers == np.round(numbers)) else numbers
    lowered = {v.strip().lower() for v in values}
    return np.array([v.strip().lower() == "true" for v in values]) if lowered <= {"true", "false"} \
        else np.array([v.strip() for v in values], dtype=object)


def csv_file(path: str, label: str | list[str], task: str = "auto", columns: dict[str, str] | None = None,
             drop: list[str] | None = None, max_tokens: int = 10000,
             text_output_mode: str = "multi_hot", encoding: str | None = None,
             delimiter: str | None = None, in_memory: bool = True,
             header: bool | None = None, decimal: str | None = None,
             run_kinds: dict[str, str] | None = None) -> Source | Stream:
    """Several label columns (`label: [a, b]`) make one target, and model output, each; a
    column is named, or given by position (`label: -1`, the last).
    `in_memory: false` streams the rows instead (tftrain.data.csv_stream).
    `run_kinds` (given by tftrain-eval, no config key): the kinds a trained model takes its
    columns as, which win over those declared or inferred from the values."""
    if not in_memory:
        from tftrain.data.csv_stream import csv_stream  # TensorFlow's reader, only when streaming

        return csv_stream(path, label, task, columns, drop, encoding, delimiter, header, decimal,
                          run_kinds)
    file = existing(path, "file")
    table = read_table(file, encoding, delimiter, header, decimal=decimal_named(decimal))
    label_columns, declared, drop = chosen_columns(table.names, label, columns, drop, file)
    by_name = {name: table.column(name) for name in table.names}
    targets = {name: labels(label_values(by_name.pop(name), file, name, table.lines, table.decimal),
                            task, f"{file}, label column '{name}'")
               for name in label_columns}
    if len(targets) == 1:
        y, task, names = targets[label_columns[0]]
    else:
        y, task, names = ({name: part[i] for name, part in targets.items()} for i in range(3))
    fixed = run_kinds or {}
    kinds = {name: fixed.get(name) or declared.get(name) or infer_kind(values, table.decimal)
             for name, values in by_name.items() if name not in drop}
    x = {name: column(by_name[name], kind, file, name, table,
                      None if name in fixed else name in declared)
         for name, kind in kinds.items()}
    warn_suspects(x, kinds, declared, {name: part[0] for name, part in targets.items()})
    text: dict[str, Any] = {"max_tokens": max_tokens, "output_mode": text_output_mode,
                            "sequence_length": None}
    single = next(filter(None, (one_class(part[2], f"{file}, label column '{name}'", len(table.rows))
                                for name, part in targets.items())), None)
    return Source(x, y, task, names, kinds, text=text, one_class=single,
                  reading=reading(table, encoding, by_name, kinds))


def reading(table: Table, encoding: str | None, by_name: dict[str, list[str]],
            kinds: dict[str, str]) -> dict[str, Any]:
    """How the CSV was read, for the run's record: tftrain-eval and tftrain-predict read a
    new file in the run's encoding and decimal mark (neither shows in a file of whole
    numbers); its delimiter and header row they find in the file itself."""
    written = {name: notation(by_name[name], table.decimal) for name, kind in kinds.items()
               if kind == "numeric"}
    return {"encoding": encoding, "decimal": table.decimal, "delimiter": table.delimiter,
            "header": table.header, "notation": {k: v for k, v in written.items() if v}}


def column(values: list[str], kind: str, file: Path, name: str, table: Table,
           declared: bool | None) -> np.ndarray:
    """An input column as the model takes it; numbers written with currency or percent
    signs or thousands separators are read as numbers, said on the console. `declared`:
    see `parsed` (None: the kind a trained model takes; a value is then named by its data
    row, as tftrain-predict numbers its rows)."""
    if kind != "numeric":
        return strings(values)
    written = notation(values, table.decimal)
    if written:
        echo(f"data: column '{name}' writes numbers with {written}: read as numbers")
    return numeric(values, file, name, None if declared is None else table.lines, table.decimal,
                   declared)


def model_inputs(table: Table, path: Path, inputs: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    """The columns a trained model takes, each read as the kind the run read it as (its
    record's `inputs`): the reading of tftrain-predict, the same as training's."""
    return {name: column(table.column(name), "categorical" if spec.get("dtype") == "string"
                         else "numeric", path, name, table, None)
            for name, spec in inputs.items()}
