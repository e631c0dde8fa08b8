"""Numbers as other tools write them: `1,234,567` (Excel's thousands separators), `$452,600`,
`45%`, and decimal commas (`5,1` in a semicolon-separated European export).

Read as plain text, each of these turned a numeric column into categories, or a target into
a classifier with one class a row. A field is a number here when it is a plain number, or
one of these notations with a well-formed grouping (`1,2345` is no number); the decimal mark
is `.` unless the file, or `dataset.decimal`, says `,`. Shared by the in-memory and the
streamed CSV readers (which apply the same rewriting in TensorFlow, `TF_REWRITES`).
"""

from __future__ import annotations

import re

import numpy as np

from tftrain.errors import TftrainError, param

CURRENCY = "$€£¥"
FLOAT32_MAX = float(np.finfo(np.float32).max)
MARKS = {".": ",", ",": "."}  # decimal mark -> the thousands separator that goes with it
PLAIN = {".": r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity", ",": r"\d+([eE][+-]?\d+)?|inf|infinity"}
GROUPED = {".": r"\d{1,3}(,\d{3})+(\.\d*)?", ",": r"\d{1,3}(\.\d{3})+(,\d*)?|\d+,\d*|,\d+"}
DOT_DECIMAL = re.compile(r"[+-]?\d*\.\d+")
COMMA_DECIMAL = re.compile(r"[+-]?\d{1,3}(\.\d{3})*,\d+|[+-]?\d+,\d+")


def pattern(decimal: str) -> re.Pattern:
    """A number in any notation read here: sign, currency, digits, percent."""
    return re.compile(rf"(?P<sign>[+-]?)[{CURRENCY}]?\s*(?P<minus>[+-]?)"
                      rf"(?P<digits>{GROUPED[decimal]}|{PLAIN[decimal]})\s*%?", re.IGNORECASE)


PATTERNS = {mark: pattern(mark) for mark in MARKS}


def number(text: str, decimal: str = ".") -> float | None:
    """The value a field writes, or None when it is no number."""
    text = text.strip()
    if decimal == "." or "." not in text:
        try:
            return float(text) if decimal == "." or "," not in text else float(text.replace(",", "."))
        except ValueError:
            pass
    found = PATTERNS[decimal].fullmatch(text)
    if not found or found["sign"] and found["minus"]:
        return None
    digits = found["digits"].replace(MARKS[decimal], "").replace(",", ".")
    return float(found["sign"] + found["minus"] + digits)


def notation(values: list[str], decimal: str) -> str | None:
    """How a column of numbers is written, when it has currency or percent signs or
    thousands separators: for the console (decimal commas are said for the whole file)."""
    if not re.search(rf"[{CURRENCY}%]|\d\{MARKS[decimal]}\d{{3}}", "\n".join(values)):
        return None  # one pass in C for the common case, plain numbers
    for text in values:
        text = text.strip()
        try:
            float(text)
            continue
        except ValueError:
            pass
        if number(text, decimal) is None:
            continue
        kinds = [name for name, sign in (("currency signs", f"[{CURRENCY}]"), ("'%' signs", "%"),
                                          ("thousands separators", rf"\d\{MARKS[decimal]}\d{{3}}"))
                 if re.search(sign, text)]
        if kinds:
            return f"{' and '.join(kinds)}, as {text!r}"
    return None


def detect_decimal(rows: list[list[str]], delimiter: str) -> str:
    """`,` when a file not separated by commas writes decimals with commas (`5,1`) and
    never with dots; else `.`."""
    if delimiter == ",":
        return "."
    fields = [f.strip() for row in rows[:200] for f in row]
    comma = any(COMMA_DECIMAL.fullmatch(f) for f in fields)
    dot = any(DOT_DECIMAL.fullmatch(f) and not re.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+", f)
              for f in fields)
    return "," if comma and not dot else "."


def decimal_named(given: str | None) -> str | None:
    """`dataset.decimal`: '.' or ',' (or their names), None to detect."""
    if given is None:
        return None
    mark = {"dot": ".", "point": ".", "comma": ","}.get(str(given).lower(), str(given))
    if mark not in MARKS:
        raise TftrainError(f"{param('decimal')}={given!r} is not a decimal mark: use '.' (dot) "
                           f"or ',' (comma), quoted for Hydra: \"{param('decimal')}=','\"; null "
                           "detects it.")
    return mark


def out_of_range(value: float) -> str | None:
    """Why a parsed number cannot be a float32 input, or None."""
    if np.isnan(value):
        return None
    if np.isinf(value):
        return "infinite"
    if abs(value) > FLOAT32_MAX:
        return "beyond float32's range (about 3.4e38)"
    return None


def tf_rewrites(decimal: str) -> list[tuple[str, str]]:
    """The regex rewrites (RE2) that turn a field in these notations into a plain number,
    for the streamed reader: currency and percent signs and thousands separators dropped,
    a decimal comma made a dot."""
    rewrites = [(rf"[{CURRENCY}%\s]", ""), (rf"\{MARKS[decimal]}(\d{{3}})", r"\1")]
    return rewrites + ([(",", ".")] if decimal == "," else [])


TF_NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"  # what the streamed reader then parses
