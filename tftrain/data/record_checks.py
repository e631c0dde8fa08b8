"""TFRecord files checked as the data door opens them, and blamed when tf.data fails.

A TFRecord file is a row of records, each framed as: its length (8 bytes), the length's
masked CRC-32C (4), the data, the data's masked CRC-32C (4). tf.data stops silently at a
file that ends inside a record's 12-byte header (an empty file reads as no records at
all), and names only a byte offset for one cut inside a record's data. So each
uncompressed file's framing is walked when the source opens it (one read of 8 bytes a
record: a fraction of a second per million records), and a file that is empty, cut short
or no TFRecord file at all is named with the record; when tf.data fails later anyway (a
damaged record, a compressed file cut short, an example the feature spec does not
parse), the files are read again one by one to name the file and the record.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import Callable

import tensorflow as tf

from tftrain.console import echo
from tftrain.data.files import kind_of
from tftrain.errors import TftrainError, param, tf_text

HEADER, FOOTER = 12, 4  # bytes framing each record: length + its CRC, then the data's CRC
LENGTH = struct.Struct("<QI")
GZIP_MAGIC = b"\x1f\x8b"
EMPTY = "is empty: it holds no records"
# tf.data's words around the reason a record failed (the map and iterator it failed in)
def crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


CRC32C = crc32c_table()


def masked_crc(data: bytes) -> int:
    """TFRecord's checksum of `data`: CRC-32C, rotated and offset (its `MaskedCrc`)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = CRC32C[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def framing_problem(file: Path, compression: str | None) -> str | None:
    """What is wrong with how `file` holds its records, and what to do, as the end of a
    sentence starting with the file's name; None for a whole file (a compressed one is
    left to tf.data and `located`)."""
    size = file.stat().st_size
    if size == 0:
        return EMPTY
    with open(file, "rb") as handle:
        head = handle.read(HEADER)
    if compression:
        return None
    if head.startswith(GZIP_MAGIC):
        return f"is gzip-compressed; say so: {param('compression')}=GZIP"
    if len(head) == HEADER and masked_crc(head[:8]) != LENGTH.unpack(head)[1]:
        return (f"is not a TFRecord file{kind_of(head)}: its first bytes are no record header. "
                "tf.io.TFRecordWriter writes TFRecord files")
    with open(file, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        cut = cut_record(data, size)
    return f"{cut}. Write the file again, or leave it out" if cut else None


def cut_record(data: mmap.mmap, size: int) -> str | None:
    """The record a file ends inside, said, or None when it ends after a whole record."""
    offset, number = 0, 1
    unpack = LENGTH.unpack_from
    while offset < size:
        if size - offset < HEADER:
            return (f"is cut short inside record {number:,}'s header ({size - offset} of its "
                    f"{HEADER} bytes): the records from there on are lost")
        length = unpack(data, offset)[0]
        end = offset + HEADER + length + FOOTER
        if end > size:
            return (f"is cut short inside record {number:,} (it declares {length:,} bytes of "
                    f"data; the file ends {size - offset - HEADER:,} bytes into them)")
        offset, number = end, number + 1
    return None


def checked(files: list[Path], compression: str | None, name: str, given: str) -> list[Path]:
    """`files` (what the parameter `name`=`given` matched), each framed as TFRecords: a file cut
    short or of another kind is refused, naming it and the record; an empty file is left
    out (said) unless every file is empty."""
    problems = {file: framing_problem(file, compression) for file in files}
    for file, problem in problems.items():
        if problem not in (None, EMPTY):
            raise TftrainError(f"{param(name)}={given}: {file} {problem}.")
    kept = [file for file in files if problems[file] is None]
    if not kept:
        raise TftrainError(f"{param(name)}={given}: {', '.join(map(str, files[:3]))} "
                           f"{'is' if len(files) == 1 else 'are'} empty: no records to read.")
    for file in files:
        if file not in kept:
            echo(f"data: {file} is empty (0 bytes): left out")
    return kept


def located(files: list[Path], compression: str | None,
            read: Callable) -> Callable[[], TftrainError | None]:
    """The diagnosis of a failed pass over TFRecord `files`: each file read again, record by
    record, through `read` (what parses an example), until one fails; that file and record
    are named with tf.data's reason and what to do."""
    def diagnose() -> TftrainError | None:
        for file in files:
            number = 0
            records = tf.data.TFRecordDataset(str(file), compression_type=compression or "")
            try:
                for _ in records.map(read):
                    number += 1
            except tf.errors.OpError as error:
                return TftrainError(f"{file}, record {number + 1:,} {blamed(error)}.")
        return None

    return diagnose


def blamed(error: tf.errors.OpError) -> str:
    """What tf.data's failure to read a record says of it, and what to do."""
    reason = tf_text(error.message.strip().splitlines()[0]).rstrip(".")
    if isinstance(error, tf.errors.DataLossError):
        return f"is damaged or cut short ({reason}): write the file again, or leave it out"
    if isinstance(error, tf.errors.InvalidArgumentError):
        return (f"does not match {param('features')} ({reason}): describe each feature as the "
                "records were written (its name, shape and dtype)")
    return f"could not be read: {reason}"
