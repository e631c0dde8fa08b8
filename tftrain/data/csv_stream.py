"""`dataset=csv dataset.in_memory=false`: CSV files larger than memory, streamed.

The header and a sample of the first rows are read in Python, as for an in-memory CSV
(delimiter, encoding, column kinds); the rows themselves stream from one or more files (a
folder or a glob) through tf.data's CSV reader, which takes quoted fields holding
delimiters and newlines, and gzip. Each field is parsed as its column's kind: a number
(a missing one as NaN) or a string (trimmed, in UTF-8 whatever the file's encoding).
Statistics, vocabularies and the label's classes come from the streaming pipeline's one
pass over the training split (`tftrain.data.streaming`); only they stay in memory.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import tensorflow as tf

from tftrain.console import echo
from tftrain.data.files import decode, matching, read_head
from tftrain.data.forms import Stream
from tftrain.data.csv_format import KINDS, MISSING, NAMES, delimiter_named, detect_delimiter, \
    infer_kind
from tftrain.errors import TftrainError, did_you_mean

SAMPLE_BYTES = 1 << 20  # the head read to find the delimiter and the column kinds
PATTERNS = ("*.csv", "*.csv.gz", "*.tsv", "*.tsv.gz", "*.txt")
NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity)"


def head_of(path: Path, encoding: str | None, delimiter: str | None) -> tuple[list[str], list[list[str]], str]:
    """A file's header, the rows of its head (the last, perhaps cut, left out), its delimiter."""
    raw = read_head(path, SAMPLE_BYTES)
    whole = len(raw) < SAMPLE_BYTES
    text = decode(raw if whole else raw[:raw.rfind(b"\n") + 1], path, encoding)
    if delimiter is None:
        delimiter = detect_delimiter(text)
    else:
        delimiter = delimiter_named(delimiter)
    rows = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if row]
    if not rows or not any(h.strip() for h in rows[0]):
        raise TftrainError(f"dataset.path={path}: the file is empty; a CSV needs a header row "
                           "of column names, then one row per example.")
    return [h.strip() for h in rows[0]], rows[1:], delimiter


def csv_stream(path: str, label: str | list[str], task: str = "auto",
               columns: dict[str, str] | None = None, drop: list[str] | None = None,
               encoding: str | None = None, delimiter: str | None = None) -> Stream:
    """The rows of `path` (a file, a folder of CSVs or a glob), streamed."""
    if (encoding or "").lower().replace("-", "").startswith("utf16"):
        raise TftrainError(f"dataset.encoding={encoding}: streamed CSVs are read by tf.data, "
                           "which takes UTF-8 and 8-bit encodings (latin-1, cp1252, ...); convert "
                           "the files first (iconv -f utf-16 -t utf-8) or set dataset.in_memory=true.")
    if not isinstance(label, str):
        raise TftrainError(f"dataset.label={list(label)}: several labels are read in memory only; "
                           "set dataset.in_memory=true, or choose one label column.")
    files = matching(path, PATTERNS, "CSV files")
    header, sample, delimiter = head_of(files[0], encoding, delimiter)
    for other in files[1:]:
        if head_of(other, encoding, delimiter)[0] != header:
            raise TftrainError(f"{other}: its header differs from {files[0]}'s; every streamed "
                               f"file must have the same columns ({', '.join(header)}).")
    if delimiter != ",":
        echo(f"data: {files[0].name} is {NAMES[delimiter]}-separated (detected or set)")
    kinds = column_kinds(header, sample, label, dict(columns or {}), list(drop or []), files[0])
    label_is_number = infer_kind([row[header.index(label)] for row in sample]) == "numeric"
    compressions = {f.suffix.lower() == ".gz" for f in files}
    if len(compressions) > 1:
        raise TftrainError(f"dataset.path={path}: some files are gzip and some are not; stream "
                           "one kind at a time.")
    records = tf.data.experimental.CsvDataset(
        [str(f) for f in files], [""] * len(header), header=True, field_delim=delimiter,
        compression_type="GZIP" if compressions.pop() else "")
    inputs = {name: {"shape": [1], "dtype": "float32" if kind == "numeric" else "string",
                     "kind": kind} for name, kind in kinds.items()}
    return Stream(read=reader(header, kinds, label, label_is_number, encoding), files=files,
                  recipe=repr((header, kinds, label, delimiter, encoding)), inputs=inputs,
                  task=task, records=records, cache=False, batch_read=True)


def column_kinds(header: list[str], sample: list[list[str]], label: str,
                 declared: dict[str, str], drop: list[str], file: Path) -> dict[str, str]:
    """Each input column's kind: declared, else inferred from the sample of rows."""
    unknown = [name for name in (label, *declared, *drop) if name not in header]
    if unknown:
        raise TftrainError(f"{file}: no column {unknown[0]!r} (dataset.label, columns or drop)."
                           f"{did_you_mean(unknown[0], header)} The columns are: {', '.join(header)}.")
    bad = {c: k for c, k in declared.items() if k not in KINDS}
    if bad:
        raise TftrainError(f"dataset.columns: {bad}; a column kind is one of {', '.join(KINDS)}.")
    kinds = {name: declared.get(name) or infer_kind([row[i] for row in sample])
             for i, name in enumerate(header) if name != label and name not in drop}
    text = [name for name, kind in kinds.items() if kind == "text"]
    if text:
        raise TftrainError(f"dataset.columns: {text} are text columns, which are read in memory "
                           "only; set dataset.in_memory=true, or declare them categorical.")
    return kinds


def reader(header: list[str], kinds: dict[str, str], label: str, label_is_number: bool,
           encoding: str | None):
    """The function that turns one record's fields into (inputs by column, label)."""
    missing = tf.constant(sorted(MISSING))
    transcode = encoding is not None and encoding.lower().replace("-", "").replace("_", "") \
        not in ("utf8", "utf8sig")

    def is_missing(text: tf.Tensor) -> tf.Tensor:
        return tf.reduce_any(tf.equal(text[:, None], missing), axis=1)

    def number(field: tf.Tensor, name: str) -> tf.Tensor:
        text = tf.strings.lower(tf.strings.strip(field))
        absent = is_missing(text)
        valid = tf.strings.regex_full_match(text, NUMBER)
        check = tf.debugging.Assert(tf.reduce_all(tf.logical_or(absent, valid)), [
            f"column '{name}' is numeric (dataset.columns.{name}=categorical declares it "
            "otherwise), but a value is not a number:",
            tf.boolean_mask(field, tf.logical_not(tf.logical_or(absent, valid)))[:1]])
        with tf.control_dependencies([check]):
            value = tf.strings.to_number(tf.where(absent, "0", text))
        return tf.where(absent, tf.constant(np.nan, tf.float32), value)

    def string(field: tf.Tensor) -> tf.Tensor:
        text = tf.strings.strip(field)
        if transcode:
            text = tf.strings.unicode_transcode(text, input_encoding=encoding, output_encoding="UTF-8")
        return tf.where(is_missing(tf.strings.lower(text)), "", text)

    def read(*fields: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        """A batch of records (one vector per column) -> inputs (rows, 1) and labels (rows,)."""
        by_name = dict(zip(header, fields))
        x = {name: (number(by_name[name], name) if kind == "numeric" else string(by_name[name]))[:, None]
             for name, kind in kinds.items()}
        y = number(by_name[label], label) if label_is_number else string(by_name[label])
        return x, y

    return read

