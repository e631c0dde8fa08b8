"""What in-memory and streamed CSVs share: delimiters, missing values, column kinds.

At the bottom of the CSV sources (tftrain.data.tabular reads a CSV into memory,
tftrain.data.csv_stream streams one): both import this, it imports neither.
"""

from __future__ import annotations

import csv
import io
import itertools

from tftrain.errors import TftrainError

MISSING = {"", "na", "n/a", "nan", "null", "none", "?"}
KINDS = ("numeric", "categorical", "text")
DELIMITERS = (",", ";", "\t", "|")  # in order of preference when two fit equally well
NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def detect_delimiter(text: str) -> str:
    """The delimiter that splits the first rows into the same number (> 1) of fields, the
    most fields winning; a comma when none does (a one-column file)."""
    sample = text[:65536]
    cut = len(text) > len(sample)
    best, score = ",", (0.0, 0)
    for delimiter in DELIMITERS:
        rows = [r for r in itertools.islice(csv.reader(io.StringIO(sample, newline=""),
                                                       delimiter=delimiter), 100) if r]
        rows = rows[:-1] if cut and len(rows) > 1 else rows  # the sample may end mid-row
        if not rows or len(rows[0]) < 2:
            continue
        agreeing = sum(len(r) == len(rows[0]) for r in rows) / len(rows)
        if (agreeing, len(rows[0])) > score:
            best, score = delimiter, (agreeing, len(rows[0]))
    return best


def delimiter_named(given: str) -> str:
    """A delimiter given as one character, as `\\t`, or by name (tab, semicolon, ...)."""
    by_name = {name: char for char, name in NAMES.items()} | {"\\t": "\t", "space": " "}
    delimiter = by_name.get(given.lower(), given)
    if len(delimiter) != 1:
        raise TftrainError(f"dataset.delimiter={given!r} is not a delimiter: give one character "
                           "(quoted for Hydra: \"dataset.delimiter=';'\") or a name: comma, "
                           "semicolon, tab, pipe, space.")
    return delimiter


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def infer_kind(values: list[str]) -> str:
    present = [v for v in values if v.strip().lower() not in MISSING]
    return "numeric" if present and all(is_number(v) for v in present) else "categorical"
