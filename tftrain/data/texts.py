"""Text files read one way: by training (`dataset=text_dir`, a file an example),
`tftrain-eval` and `tftrain-predict` (a folder of .txt files, a file an input, or one .txt
file of lines, a line an input), so that a model scores a text the same whoever reads it.

A file's text is its bytes as UTF-8, a byte-order mark dropped, as Keras'
`text_dataset_from_directory` reads them (and decodes them here); a file that is not
UTF-8 is named with its line and byte.
"""

from __future__ import annotations

from pathlib import Path

from tftrain.data.files import hidden
from tftrain.errors import TftrainError

TEXT_FILES = ("txt",)


def text_of(file: Path) -> str:
    """One text file's text."""
    raw = file.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise TftrainError(f"{file}, line {line}: byte 0x{raw[error.start]:02x} is not UTF-8 "
                           "text; save the text files as UTF-8.") from None


def files_in(folder: Path) -> list[Path]:
    """A folder's .txt files, its subfolders' too, in path order; hidden files (macOS's
    ._name copies) left out."""
    return sorted(f for f in folder.rglob("*") if f.suffix.lower().lstrip(".") in TEXT_FILES
                  and f.is_file() and not hidden(f.relative_to(folder)))


def lines_of(text: str) -> list[str]:
    """The inputs of a file of lines: each line that is not blank, as written."""
    return [line for line in text.splitlines() if line.strip()]
