"""What in-memory and streamed CSVs share: delimiters, header rows and column names (by name
or position), missing values, column kinds.

At the bottom of the CSV sources (tftrain.data.tabular reads a CSV into memory,
tftrain.data.csv_stream streams one): both import this, it imports neither.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from pathlib import Path

from tftrain.console import echo
from tftrain.data.numbers import number
from tftrain.errors import TftrainError, did_you_mean, param

MISSING = {"", "na", "n/a", "#n/a", "nan", "null", "none", "?", "-", "--", "."}
MOSTLY = 0.9  # a column whose values are numbers but for at most 10% is numeric (the rest refused)
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


def not_json(text: str, path: Path) -> None:
    """Refuse JSON records (a list of objects, or one object a line) before they are read
    as a CSV of odd column names."""
    suffix = "".join(path.suffixes[-2:]).lower().removesuffix(".gz")
    if suffix.endswith((".json", ".jsonl", ".ndjson")) or re.match(r'\s*(\[\s*)?\{\s*"', text[:200]):
        if text.lstrip()[:1] in ("[", "{"):
            raise TftrainError(f"{param('path')}={path} holds JSON, not CSV; tftrain reads CSV files "
                               "(.csv, .tsv, .csv.gz). Export the records to CSV first, e.g. "
                               f"pandas.read_json('{path.name}'{', lines=True' if text.lstrip()[:1] == '{' else ''})"
                               ".to_csv('data.csv', index=False).")


def delimiter_named(given: str) -> str:
    """A delimiter given as one character, as `\\t`, or by name (tab, semicolon, ...)."""
    by_name = {name: char for char, name in NAMES.items()} | {"\\t": "\t", "space": " "}
    delimiter = by_name.get(given.lower(), given)
    if len(delimiter) != 1:
        raise TftrainError(f"{param('delimiter')}={given!r} is not a delimiter: give one "
                           f"character (quoted for Hydra: \"{param('delimiter')}=';'\") or a name: "
                           "comma, semicolon, tab, pipe, space.")
    return delimiter


def columns_of(first: list[str], body: list[list[str]], header: bool | None,
               file: Path, advice: bool = True, decimal: str = ".") -> tuple[list[str], bool]:
    """(the column names, whether the first row holds them). `header` null: detected as
    csv.Sniffer does, from the rows below it: a first row with a number in every column of
    numbers is data (arrays as other tools write them, MNIST as 785 numbers a row). Without
    a header, columns are named by position: 0, 1, ... (`advice`: say how to choose otherwise)."""
    if header is None:
        numeric = [i for i in range(len(first))
                   if infer_kind([row[i] for row in body if i < len(row)], decimal) == "numeric"]
        header = not numeric or not all(is_number(first[i], decimal) for i in numeric)
        if not header:
            echo(f"data: {file.name} has no header row (its first row is data): its columns are "
                 f"named by position, 0 to {len(first) - 1}" + (
                     f" ({param('label')}=-1 is the last); set {param('header')}=true if that "
                     "row is the header" if advice else ""))
    names = [name.strip() or f"unnamed_{i}" for i, name in enumerate(first)] if header else \
        [str(i) for i in range(len(first))]
    return distinct(names, file), header


def distinct(names: list[str], file: Path) -> list[str]:
    """Column names made unique as pandas reads them (x, x.1, x.2): a repeated name would
    otherwise hide a column."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        out.append(f"{name}.{count}" if count else name)
    renamed = [f"{new} (column {i})" for i, (old, new) in enumerate(zip(names, out)) if old != new]
    if renamed:
        echo(f"data: {file.name} repeats column names; read as {listing(renamed, 8)}")
    return out


def index_columns(names: list[str], used: list[str], file: Path) -> list[str]:
    """Columns without a name in the header ('' or pandas' 'Unnamed: 0'): the index
    DataFrame.to_csv writes, a row number that would leak the file's order into the model.
    They are left out, and said to be, unless a label or dataset.columns names them."""
    unnamed = [n for n in names if re.fullmatch(r"unnamed_\d+|Unnamed: \d+", n) and n not in used]
    if unnamed:
        echo(f"data: {file.name}: column(s) {', '.join(unnamed)} have no name in the header (an "
             f"index, as pandas writes one) and are left out; name them in {param('columns')} to "
             "use them")
    return unnamed


def chosen_columns(names: list[str], label: object, columns: dict[str, str] | None,
                   drop: list[str] | None, file: Path) -> tuple[list[str], dict[str, str], list[str]]:
    """(the label column(s), the declared column kinds, the columns left out), each given
    by name or position and checked against the file's columns; an unnamed index column
    is left out too."""
    given = [label] if isinstance(label, (str, int, float)) else list(label)
    if not given:
        raise TftrainError(f"{param('label')}=[]: name the label column (or several).")
    labels = [column_named(name, names, file) for name in given]
    declared = {column_named(name, names, file, "columns"): kind
                for name, kind in (columns or {}).items()}
    bad = {c: k for c, k in declared.items() if k not in KINDS}
    if bad:
        raise TftrainError(f"{param('columns')}: {bad}; a column kind is one of {', '.join(KINDS)}.")
    dropped = [column_named(name, names, file, "drop") for name in drop or []]
    return labels, declared, dropped + index_columns(names, [*labels, *declared, *dropped], file)


def column_named(name: object, header: list[str], file: Path, given: str = "label") -> str:
    """A column given (as the parameter `given`) by name, or by position (an integer; -1 is
    the last column)."""
    if str(name) in header:
        return str(name)
    position = isinstance(name, int) and not isinstance(name, bool)
    if position and -len(header) <= name < len(header):
        return header[name]
    where = (f"position {name} is outside the file's {len(header)} columns (0 to "
             f"{len(header) - 1}, or -1 for the last)") if position else \
        f"no {'label ' if given == 'label' else ''}column {str(name)!r}"
    near = "" if position else did_you_mean(str(name), header)
    raise TftrainError(f"{file}: {param(given)}={name}: {where}.{near} The columns are: "
                       f"{listing(header)}.")


def listing(names: list[str], limit: int = 12) -> str:
    """Names for a message: all of them, or the first and last few of a long list."""
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit - 3])}, ..., {', '.join(names[-2:])} ({len(names)} in all)"


def is_number(text: str, decimal: str = ".") -> bool:
    return number(text, decimal) is not None


def infer_kind(values: list[str], decimal: str = ".") -> str:
    """numeric when the values that are present are numbers, all but a few (MOSTLY): the
    few are typos or other missing markers, which reading the column then refuses, naming
    each one's line, instead of silently making the column categories; else categorical."""
    present = [v for v in values if v.strip().lower() not in MISSING]
    numbers = sum(is_number(v, decimal) for v in present)
    return "numeric" if present and numbers >= MOSTLY * len(present) else "categorical"
