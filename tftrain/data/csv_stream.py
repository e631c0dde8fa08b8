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
from tftrain.data.files import UTF16_BOMS, decode, gunzipped, matching, read_head
from tftrain.data.forms import Stream
from tftrain.data.csv_format import MISSING, NAMES, chosen_columns, columns_of, \
    delimiter_named, detect_delimiter, infer_kind, listing, not_json
from tftrain.data.numbers import TF_NUMBER, decimal_named, detect_decimal, tf_rewrites
from tftrain.errors import GRAPH_REFUSAL, TftrainError, param

STACKED = 1024  # records whose fields are stacked at once
SAMPLE_BYTES = 1 << 20  # the head read to find the delimiter and the column kinds
PATTERNS = ("*.csv", "*.csv.gz", "*.tsv", "*.tsv.gz", "*.txt")


def head_of(path: Path, encoding: str | None, delimiter: str | None) -> tuple[list[list[str]], str]:
    """The rows of a file's head (the last, perhaps cut, left out) and its delimiter."""
    raw = read_head(path, SAMPLE_BYTES)
    if encoding is None and raw[:2] in UTF16_BOMS:
        raise TftrainError(f"{param('path')}={path} is UTF-16 text (it starts with a UTF-16 "
                           "byte-order mark); streamed CSVs are read by tf.data, which takes UTF-8 "
                           "and 8-bit encodings: convert the file first (iconv -f utf-16 -t utf-8) "
                           f"or set {param('in_memory')}=true.")
    whole = len(raw) < SAMPLE_BYTES
    text = decode(raw if whole else raw[:raw.rfind(b"\n") + 1], path, encoding)
    not_json(text, path)
    if delimiter is None:
        delimiter = detect_delimiter(text)
    else:
        delimiter = delimiter_named(delimiter)
    rows = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if row]
    if not rows or not any(h.strip() for h in rows[0]):
        raise TftrainError(f"{param('path')}={path}: the file is empty; a CSV needs rows of fields, "
                           "a header row of column names first if it has one.")
    return rows, delimiter


def csv_stream(path: str, label: str | list[str], task: str = "auto",
               columns: dict[str, str] | None = None, drop: list[str] | None = None,
               encoding: str | None = None, delimiter: str | None = None,
               header: bool | None = None, decimal: str | None = None,
               run_kinds: dict[str, str] | None = None) -> Stream:
    """The rows of `path` (a file, a folder of CSVs or a glob), streamed (`run_kinds`: see
    tabular.csv_file)."""
    if (encoding or "").lower().replace("-", "").startswith("utf16"):
        raise TftrainError(f"{param('encoding')}={encoding}: streamed CSVs are read by tf.data, "
                           "which takes UTF-8 and 8-bit encodings (latin-1, cp1252, ...); convert "
                           "the files first (iconv -f utf-16 -t utf-8) or set "
                           f"{param('in_memory')}=true.")
    files = matching(path, PATTERNS, "CSV files")
    head, delimiter = head_of(files[0], encoding, delimiter)
    decimal = decimal_named(decimal) or detect_decimal(head[:201], delimiter)
    names, has_header = columns_of(head[0], head[1:101], header, files[0], decimal=decimal)
    sample = head[1:] if has_header else head
    if any(len(row) != len(names) for row in sample):
        raise misshapen([files[0]], delimiter, names, has_header)
    for other in files[1:]:
        first = head_of(other, encoding, delimiter)[0][0]
        if len(first) != len(names) or has_header and [f.strip() for f in first] != names:
            raise TftrainError(f"{other}: its columns differ from {files[0]}'s; every streamed "
                               f"file must have the same columns ({listing(names)}).")
    if delimiter != ",":
        echo(f"data: {files[0].name} is {NAMES[delimiter]}-separated (detected or set)"
             + (f", with decimal commas (5,1 is 5.1; {param('decimal')} chooses)"
                if decimal == "," else ""))
    labels, declared, drop = chosen_columns(names, label, columns, drop, files[0])
    if len(labels) > 1:
        raise TftrainError(f"{param('label')}={labels}: several labels are read in memory only; "
                           f"set {param('in_memory')}=true, or choose one label column.")
    label = labels[0]
    kinds = column_kinds(names, sample, label, {**declared, **(run_kinds or {})}, drop, decimal)
    label_is_number = infer_kind([row[names.index(label)] for row in sample], decimal) == "numeric"
    compressions = {f.suffix.lower() == ".gz" for f in files}
    if len(compressions) > 1:
        raise TftrainError(f"{param('path')}={path}: some files are gzip and some are not; stream "
                           "one kind at a time.")
    records = tf.data.experimental.CsvDataset(
        [str(f) for f in files], [""] * len(names), header=has_header, field_delim=delimiter,
        compression_type="GZIP" if compressions.pop() else "")
    # one tensor of fields a record: what follows (splits, masks, batches) then handles one
    # tensor, not one per column (a file of 785 columns traced 113,000 ops before)
    records = records.batch(STACKED).map(lambda *fields: tf.stack(fields, axis=1)).unbatch()
    inputs = {name: {"shape": [1], "dtype": "float32" if kind == "numeric" else "string",
                     "kind": kind} for name, kind in kinds.items()}
    return Stream(read=reader(names, kinds, label, label_is_number, encoding, decimal), files=files,
                  recipe=repr((names, kinds, label, delimiter, encoding, decimal)), inputs=inputs,
                  task=task, records=records, cache=False, batch_read=True,
                  reading={"encoding": encoding, "decimal": decimal, "delimiter": delimiter,
                           "header": has_header},
                  diagnose=lambda: misshapen(files, delimiter, names, has_header))


def misshapen(files: list[Path], delimiter: str, names: list[str],
              has_header: bool) -> TftrainError | None:
    """After tf.data failed to read the files: the first gzip file cut short or damaged, or
    the first row with another number of fields than the columns (the last row of a file
    cut short, say), named with its line; None when every file is whole and even."""
    for file in files:
        chunks = gunzipped(file) if file.suffix.lower() == ".gz" else plain(file)
        # latin-1: each byte one character, so delimiters, quotes and newlines are found
        # whatever the encoding; only the fields are counted
        lines = io.TextIOWrapper(ChunkReader(chunks), encoding="latin-1", newline="")
        rows = csv.reader(lines, delimiter=delimiter)
        for row in rows:
            if row and len(row) != len(names):
                return TftrainError(
                    f"{file}, line {rows.line_num:,}: {len(row)} fields where "
                    f"{'the header has' if has_header else 'the first row has'} {len(names)} "
                    f"({listing(names, 6)}); a file cut short ends so, and so does a row "
                    "missing a field or quote.")
    return None


def plain(file: Path):
    """An uncompressed file's bytes, a chunk at a time."""
    with open(file, "rb") as handle:
        while chunk := handle.read(1 << 16):
            yield chunk


class ChunkReader(io.RawIOBase):
    """A file-like view of an iterator of byte chunks (a gzip file's, read by `gunzipped`)."""

    def __init__(self, chunks) -> None:
        self.chunks, self.rest = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.rest:
            self.rest = next(self.chunks, b"")
            if not self.rest:
                return 0
        size = min(len(buffer), len(self.rest))
        buffer[:size], self.rest = self.rest[:size], self.rest[size:]
        return size


def column_kinds(header: list[str], sample: list[list[str]], label: str,
                 declared: dict[str, str], drop: list[str], decimal: str) -> dict[str, str]:
    """Each input column's kind: declared, else inferred from the sample of rows."""
    kinds = {name: declared.get(name) or infer_kind([row[i] for row in sample], decimal)
             for i, name in enumerate(header) if name != label and name not in drop}
    text = [name for name, kind in kinds.items() if kind == "text"]
    if text:
        raise TftrainError(f"{param('columns')}: {text} are text columns, which are read in "
                           f"memory only; set {param('in_memory')}=true, or declare them "
                           "categorical.")
    return kinds


def reader(header: list[str], kinds: dict[str, str], label: str, label_is_number: bool,
           encoding: str | None, decimal: str):
    """The function that turns a batch of records' fields into (inputs by column, label).
    The numeric columns are parsed as one (rows, columns) block: a few ops for any number
    of columns (a file of 784 pixel columns traced 784 parsers before)."""
    missing = tf.constant(sorted(MISSING))
    rewrites = tf_rewrites(decimal)
    transcode = encoding is not None and encoding.lower().replace("-", "").replace("_", "") \
        not in ("utf8", "utf8sig")
    numbers = [name for name, kind in kinds.items() if kind == "numeric"]
    column = {name: i for i, name in enumerate(header)}

    def is_missing(text: tf.Tensor) -> tf.Tensor:
        return tf.reduce_any(tf.equal(text[..., None], missing), axis=-1)

    def number(fields: tf.Tensor, names: list[str]) -> tf.Tensor:
        """(rows, len(names)) strings -> float32, NaN where missing; a value that is no
        finite number stops the run naming its column. Numbers in the notations
        tftrain.data.numbers reads are rewritten to plain ones first."""
        text = tf.strings.lower(tf.strings.strip(fields))
        absent = is_missing(text)
        for pattern, rewrite in rewrites:
            text = tf.strings.regex_replace(text, pattern, rewrite)
        good = tf.strings.regex_full_match(text, TF_NUMBER)
        value = tf.strings.to_number(tf.where(absent | ~good, "0", text))
        bad = tf.where(~absent & ~(good & tf.math.is_finite(value)))
        column = tf.gather(tf.constant(names), bad[:1, 1])
        said = tf.strings.join([GRAPH_REFUSAL, "column '", column, f"' is numeric ({param('columns')}.",
                                column, "=categorical declares it otherwise), but a value is not "
                                "a finite number: ", tf.gather_nd(fields, bad[:1])])
        check = tf.debugging.Assert(tf.equal(tf.size(bad), 0), [said])
        with tf.control_dependencies([check]):
            return tf.where(absent, tf.constant(np.nan, tf.float32), value)

    def string(field: tf.Tensor) -> tf.Tensor:
        text = tf.strings.strip(field)
        if transcode:
            text = tf.strings.unicode_transcode(text, input_encoding=encoding, output_encoding="UTF-8")
        return tf.where(is_missing(tf.strings.lower(text)), "", text)

    def read(fields: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        """A batch of records, (rows, columns) strings -> inputs (rows, 1) and labels (rows,)."""
        x = {name: string(fields[:, column[name]])[:, None]
             for name, kind in kinds.items() if kind != "numeric"}
        if numbers:
            block = number(tf.gather(fields, [column[name] for name in numbers], axis=1), numbers)
            x |= {name: block[:, i:i + 1] for i, name in enumerate(numbers)}
        at = column[label]
        y = number(fields[:, at:at + 1], [label])[:, 0] if label_is_number else string(fields[:, at])
        return {name: x[name] for name in kinds}, y

    return read
