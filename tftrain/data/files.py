"""The data door's first step: finding and opening the files and folders a user names.

Every source opens what `dataset.path` (or another key) names through here, so a missing
path, a folder given for a file (or the reverse), an empty file, a binary file given as
text or an archive of the wrong kind is told the same way everywhere: the source's
parameter (`name`, which its caller keys: dataset.path, or tftrain-predict's input), the
path, what was found and what the source expects.
"""

from __future__ import annotations

import glob
import re
import zipfile
import zlib
from pathlib import Path
from typing import Iterator

from tftrain.console import echo
from tftrain.errors import TftrainError, param

KINDS = ("file", "folder", "file or folder")
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
WINDOWS_BYTES = re.compile(rb"[\x80-\x9f]")
LATIN1 = ("latin-1", "latin1", "iso-8859-1", "iso8859-1", "l1")
SPREADSHEET = ("a spreadsheet workbook", "Export the sheet to CSV (Save As > CSV, or pandas."
               "read_excel(FILE).to_csv('data.csv', index=False)).")
FORMATS = (  # (magic bytes, what the file is, how to make a CSV of it)
    (b"BZh", "a bzip2-compressed file", "Decompress it first (bunzip2 -k FILE), or recompress it with gzip."),
    (b"\xfd7zXZ\x00", "an xz-compressed file", "Decompress it first (xz -dk FILE), or recompress it with gzip."),
    (b"(\xb5/\xfd", "a zstd-compressed file", "Decompress it first (zstd -d FILE), or recompress it with gzip."),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "Extract the CSV file from it and give that."),
    (b"PK\x03\x04", "a zip archive", "Extract the CSV file from it (unzip FILE) and give that."),
    (b"PAR1", "a Parquet file", "Export it to CSV first: pandas.read_parquet(FILE).to_csv('data.csv', index=False)."),
    (b"\xd0\xcf\x11\xe0", "an Excel (.xls) workbook", SPREADSHEET[1]),
)
NPY_MAGIC = b"\x93NUMPY"
GZIP_CHUNK = 1 << 16  # compressed bytes read at a time
GZIP_WBITS = 31  # zlib's gzip format (a header and a CRC-32 around the deflate stream)


def existing(path: str, kind: str, name: str = "path") -> Path:
    """The path (the parameter `name`), checked to exist and to be a `kind` (file, folder,
    or file or folder)."""
    found = Path(str(path)).expanduser()
    if not found.exists():
        raise TftrainError(f"{param(name)}={path}: no such {kind} (looked for {found.resolve()}).")
    if kind == "file" and found.is_dir():
        raise TftrainError(f"{param(name)}={path} is a folder; this dataset reads a file. Give "
                           f"the file's path (the folder holds: {listing(found)}).")
    if kind == "folder" and not found.is_dir():
        raise TftrainError(f"{param(name)}={path} is a file; this dataset reads a folder (one "
                           "subfolder per class). Give the folder's path.")
    return found


def matching(path: str, patterns: tuple[str, ...], what: str, name: str = "path") -> list[Path]:
    """A file, a folder (its files matching `patterns`) or a glob pattern (quoted for the
    shell), checked to match at least one file."""
    if any(c in str(path) for c in "*?["):
        found = sorted(Path(p) for p in glob.glob(str(Path(str(path)).expanduser())))
    else:
        root = existing(path, "file or folder", name)
        found = sorted({f for p in patterns for f in root.glob(p)
                        if not hidden(f.relative_to(root))}) if root.is_dir() else [root]
    found = [f for f in found if f.is_file()]
    if not found:
        raise TftrainError(f"{param(name)}={path}: no {what} there (a folder is searched for "
                           f"{', '.join(patterns)}; a pattern such as 'data/part-*' also works).")
    return found


def listing(folder: Path, count: int = 5) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    return (", ".join(names[:count]) + (f", ... ({len(names)} in all)" if len(names) > count else "")
            if names else "nothing")


def class_folders(path: str, extensions: tuple[str, ...], what: str) -> Path:
    """The folder, checked: it has class subfolders and each holds a file."""
    folder = existing(path, "folder")
    classes = [folder / name for name in class_names(folder)]
    if not classes:
        raise TftrainError(f"{folder}: no class subfolders; put the {what} of each class in a "
                           f"subfolder named after the class (e.g. {folder}/cats/1.{extensions[0]}).")
    for cls in classes:
        if not class_files(cls, extensions):
            raise TftrainError(f"{cls}: the class folder '{cls.name}' holds no {what} "
                               f"(looked for {', '.join('.' + e for e in extensions)}).")
    return folder


def class_names(folder: Path) -> list[str]:
    """A dataset folder's classes: its subfolders, in name order, hidden ones (.git,
    .ipynb_checkpoints) left out. Only names inside the folder count: the path to it may
    pass through hidden folders (~/.cache/...) or start with ../ and ./."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not hidden(Path(p.name)))


def one_class_folder(folder: Path, classes: list[str], what: str) -> str | None:
    """What a training run is told of a folder of one class (see labels.one_class)."""
    if len(classes) >= 2:
        return None
    return (f"{folder} holds one class folder, '{classes[0]}': a classifier needs two at "
            f"least; put each class's {what} in a subfolder of its own under {folder}.")


def class_files(folder: Path, extensions: tuple[str, ...]) -> list[Path]:
    """A class folder's files with these extensions, in subfolders too, in name order;
    hidden files are left out (macOS' ._name AppleDouble files carry no image)."""
    return sorted(f for f in folder.rglob("*") if f.suffix.lower().lstrip(".") in extensions
                  and f.is_file() and not hidden(f.relative_to(folder)))


def hidden(path: Path) -> bool:
    """Whether `path`, relative to a dataset folder, is or lies in a hidden entry."""
    return any(part.startswith(".") for part in path.parts)


def read_bytes(path: Path) -> bytes:
    """A file's bytes, decompressed when it is gzip (`.gz`, or gzip's magic bytes)."""
    raw = path.read_bytes()
    if path.suffix.lower() != ".gz" and raw[:2] != b"\x1f\x8b":
        return raw
    return b"".join(gunzipped(path))


def read_head(path: Path, size: int) -> bytes:
    """The first `size` bytes of a file (decompressed, for gzip): enough to read a header
    and a sample of rows without reading a file larger than memory."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if path.suffix.lower() != ".gz" and magic != b"\x1f\x8b":
        with open(path, "rb") as handle:
            return handle.read(size)
    head = bytearray()
    for chunk in gunzipped(path):
        head += chunk
        if len(head) >= size:
            break
    return bytes(head[:size])


def gunzipped(path: Path) -> Iterator[bytes]:
    """A gzip file's data, a chunk at a time (multi-member files too); data that is cut
    short or damaged is refused naming the line it was lost after (zlib, not the gzip
    module, which loses the last chunk it read whole when its stream fails)."""
    lines, inflater, fed = 0, zlib.decompressobj(GZIP_WBITS), False
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(GZIP_CHUNK):
                while chunk:
                    data, fed = inflater.decompress(chunk), True
                    lines += data.count(b"\n")
                    yield data
                    chunk = b""
                    if inflater.eof:  # a member ended: another may follow (zeros pad some files)
                        chunk = inflater.unused_data.lstrip(b"\x00")
                        inflater, fed = zlib.decompressobj(GZIP_WBITS), False
            if fed and not inflater.eof:
                raise EOFError("the data ends before gzip's end-of-stream marker")
    except (EOFError, zlib.error) as error:
        raise gzip_damage(path, error, lines) from None


def gzip_damage(path: Path, error: Exception, lines: int) -> TftrainError:
    """A gzip file's data that ends early or does not decompress, after `lines` whole lines."""
    where = f"after line {lines:,}" if lines else "within its first line"
    if isinstance(error, EOFError):
        what = f"is cut short {where} (its end-of-stream marker is missing): the rest is lost"
    elif "check" in str(error):  # a checksum, found at a member's end
        what = "is damaged: its checksum does not match what it holds"
    else:
        what = f"is damaged {where} ({str(error).split(': ')[-1]})"
    return TftrainError(f"{param('path')}={path}: the gzip data {what}. Write or download the "
                        "file again (gunzip -t FILE tells whether a copy is whole).")


def decode(raw: bytes, path: Path, encoding: str | None, advice: bool = True) -> str:
    """Bytes of a text file decoded with `encoding` (default UTF-8, a BOM dropped; UTF-16
    when its byte-order mark says so, said); bytes that do not decode name the line and the
    byte, and the encoding to set (`advice`: its caller's user can set one; tftrain-predict
    reads in the run's encoding, and takes none); a file of another format says how to make
    it a CSV."""
    other = other_format(raw, path)
    if other:
        raise TftrainError(f"{param('path')}={path} is {other}")
    if encoding is None and raw[:2] in UTF16_BOMS:
        echo(f"data: {path.name} is UTF-16 text (it starts with a UTF-16 byte-order mark): "
             "read as such")
        encoding = "utf-16"
    if b"\x00" in raw[:65536] and not (encoding or "").lower().replace("-", "").startswith("utf16"):
        raise TftrainError(f"{param('path')}={path} is a binary file (it holds NUL bytes), not "
                           f"text{kind_of(raw)}; this dataset reads text (CSV: .csv, or .csv.gz "
                           "for gzip)." + (" If it is text in UTF-16 without a byte-order mark, "
                                           f"set {param('encoding')}=utf-16-le (or utf-16-be)."
                                           if advice else ""))
    try:
        text = raw.decode(encoding or "utf-8-sig")
    except LookupError:
        raise TftrainError(f"{param('encoding')}={encoding!r} is not an encoding Python knows; "
                           "use utf-8, latin-1, cp1252, utf-16, ... (any name of Python's "
                           "codecs).") from None
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise TftrainError(
            f"{param('path')}={path}, line {line}: byte 0x{raw[error.start]:02x} is not "
            f"{encoding or 'UTF-8'} text. " + encoding_advice(raw, encoding, advice)) from None
    if (encoding or "").lower().replace("_", "-") in LATIN1 and WINDOWS_BYTES.search(raw):
        echo(f"data: warning: {path.name} holds bytes 0x80-0x9F, control codes in latin-1 but "
             "letters and signs (’ € …) in Windows' cp1252" + (
                 f": if its text looks wrong, set {param('encoding')}=cp1252" if advice else ""))
    return text


def encoding_advice(raw: bytes, encoding: str | None, advice: bool) -> str:
    """What to do about bytes that are not `encoding`'s: the encodings to try, the likelier
    first (cp1252 when bytes 0x80-0x9F occur: its ’ € …, which latin-1 reads as control
    codes), or, where the encoding is not the user's to choose, to convert the file."""
    if not advice:
        return (f"It is read as {encoding or 'UTF-8'}: convert it first (iconv -f "
                f"{'cp1252' if WINDOWS_BYTES.search(raw) else 'latin1'} -t {encoding or 'utf-8'} "
                f"FILE), or save it as {encoding or 'UTF-8'}.")
    if WINDOWS_BYTES.search(raw):
        return (f"If the file is in another encoding, say which: {param('encoding')}=cp1252 "
                "(Windows: bytes 0x80-0x9F such as 0x92 and 0x80 are its ’ and €), or "
                "latin-1, utf-16, ...")
    return (f"If the file is in another encoding, say which: {param('encoding')}=latin-1 (or "
            "cp1252, utf-16, ...).")


def other_format(raw: bytes, path: Path) -> str | None:
    """What a file of a known non-text format is and how to make a CSV of it, or None."""
    name = path.name.lower()
    for magic, what, advice in FORMATS:
        if raw.startswith(magic):
            if magic == b"PK\x03\x04" and not name.endswith((".zip", ".xlsx", ".xlsm", ".ods")):
                return None  # an .npz or .keras given for a CSV: kind_of tells
            if magic == b"PK\x03\x04" and name.endswith((".xlsx", ".xlsm", ".ods")):
                what, advice = SPREADSHEET
            return (f"{what}, not CSV text; tftrain reads CSV files (.csv, or .csv.gz for gzip). "
                    f"{advice}")
    return None


def read_text(path: Path, encoding: str | None, advice: bool = True) -> str:
    """A text file (gzip or not) decoded with `encoding` (default UTF-8, a BOM dropped).

    A file that does not decode names the line and the byte, and the option to set (see
    `decode`); a binary file is said to be one.
    """
    return decode(read_bytes(path), path, encoding, advice)


def kind_of(raw: bytes) -> str:
    """What a binary file looks like it is, as ' (it looks like ...)' or ''."""
    if raw.startswith(NPY_MAGIC):
        return " (it looks like a NumPy .npy array)"
    if raw.startswith(b"PK"):
        return " (it looks like a zip archive, such as an .npz or .keras file)"
    if raw[:8] == b"\x89PNG\r\n\x1a\n" or raw[:3] == b"\xff\xd8\xff":
        return " (it looks like an image)"
    return ""


def check_npz(path: Path) -> Path:
    """`path`, checked to be an .npz archive (a zip of .npy arrays, as np.savez writes)."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(NPY_MAGIC):
        raise TftrainError(f"{param('path')}={path} is a single .npy array, not an .npz archive "
                           "of named arrays. Save inputs and labels together: np.savez('data.npz', "
                           "x_train=x, y_train=y).")
    if not zipfile.is_zipfile(path):
        raise TftrainError(f"{param('path')}={path} is not an .npz archive"
                           f"{kind_of(head) or ' (not a zip file)'}; "
                           "this dataset reads arrays saved with np.savez('data.npz', "
                           "x_train=x, y_train=y).")
    return path
