"""Streaming sources: TFRecord files, and image folders read from disk every epoch.

Each returns a `Stream` (tftrain.data.streaming): references to the examples and how to
read one. Nothing is loaded into memory but the references, so data larger than memory
trains; `dataset.cache` decides whether decoded examples are kept (memory or files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tftrain.data import images
from tftrain.data.files import class_files, class_folders, class_names, matching, one_class_folder
from tftrain.data.images import IMAGE_FILES, channels_named
from tftrain.data.record_checks import checked, located
from tftrain.data.forms import Stream
from tftrain.errors import TftrainError, param

DTYPES = {"float32": tf.float32, "int64": tf.int64, "string": tf.string, "uint8": tf.string}
DECODERS = ("image", "raw")


def record_files(path: str, name: str, compression: str | None) -> list[Path]:
    """A file, a folder (its *.tfrecord* files) or a glob pattern (given as the parameter
    `name`), checked to match something and to hold whole records
    (tftrain.data.record_checks)."""
    found = matching(path, ("*.tfrecord*",), "TFRecord files", name)
    return checked(found, compression, name, path)


def check_features(features: dict[str, dict[str, Any]], label: str) -> None:
    if label not in features:
        raise TftrainError(f"{param('label')}={label!r} is not among {param('features')} "
                           f"({', '.join(features)}); declare the label as a feature too.")
    for name, info in features.items():
        problem = ("dtype" if info.get("dtype") not in DTYPES else
                   "decode" if info.get("decode") not in (None, *DECODERS) else
                   "shape" if not isinstance(info.get("shape", []), list) else None)
        if problem:
            raise TftrainError(
                f"{param('features')}.{name}.{problem}={info.get(problem)!r} is not valid: dtype is "
                f"one of {', '.join(DTYPES)}, decode one of {', '.join(DECODERS)} (for uint8 "
                "images stored as encoded or raw bytes), shape a list such as [28, 28, 1].")


def tfrecord(path: str, features: dict[str, dict[str, Any]], label: str = "label",
             val_path: str | None = None, test_path: str | None = None, task: str = "auto",
             compression: str | None = None, seed: int = 0) -> Stream:
    """tf.train.Example records with a feature spec in config: `{name: {shape, dtype}}`,
    dtype float32 | int64 | string (a categorical input) | uint8 (an image stored as PNG/JPEG
    bytes, `decode: image`, or raw bytes, `decode: raw`)."""
    del seed
    check_features(features, label)
    files = {key: record_files(p, key, compression) if p else None
             for key, p in (("path", path), ("val_path", val_path), ("test_path", test_path))}
    spec = {name: tf.io.FixedLenFeature(info.get("shape", []) if info["dtype"] != "uint8" else [],
                                        DTYPES[info["dtype"]])
            for name, info in features.items()}

    def read(record: tf.Tensor):
        parsed = tf.io.parse_single_example(record, spec)
        x = {name: decode(parsed[name], info) for name, info in features.items() if name != label}
        return (x if len(x) > 1 else next(iter(x.values()))), parsed[label]

    def records(found: list[Path] | None) -> tf.data.Dataset | None:
        return None if found is None else tf.data.TFRecordDataset(
            [str(f) for f in found], compression_type=compression or "")

    inputs = {name: {"shape": info.get("shape", []) or [1] if info["dtype"] != "uint8" else image_shape(info),
                     "dtype": "float32" if info["dtype"] == "int64" else info["dtype"],
                     "kind": "categorical" if info["dtype"] == "string" else "raw"}
              for name, info in features.items() if name != label}
    if len(inputs) == 1:
        inputs = {"input": next(iter(inputs.values()))}
    return Stream(read=read, files=[f for found in files.values() if found for f in found],
                  recipe=repr((sorted(features.items()), label, compression)), inputs=inputs, task=task, records=records(files["path"]),
                  held_out={"val": records(files["val_path"]), "test": records(files["test_path"])},
                  cache=False,
                  diagnose=located([f for found in files.values() if found for f in found],
                                   compression, read))


def decode(value: tf.Tensor, info: dict[str, Any]) -> tf.Tensor:
    """A parsed feature as the model takes it: images as uint8, integers as float32,
    scalars as shape (1,)."""
    if info["dtype"] == "uint8":
        shape = image_shape(info)
        image = (images.decode(value, None, shape[-1])
                 if info.get("decode", "image") == "image" else tf.io.decode_raw(value, tf.uint8))
        return tf.reshape(image, shape)
    value = tf.cast(value, tf.float32) if value.dtype == tf.int64 else value
    return tf.reshape(value, [1]) if value.shape.rank == 0 else value


def image_shape(info: dict[str, Any]) -> list[int]:
    """An image feature's shape, (H, W) taken as one channel (H, W, 1)."""
    shape = list(info["shape"])
    return [*shape, 1] if len(shape) == 2 else shape


def image_files(path: str, image_size: list[int], color_mode: str) -> Stream:
    """An image folder (one subfolder per class) decoded from disk as it trains (see
    tftrain.data.images: the one way tftrain reads an image file). Each example is known
    by its path inside the folder (`ids`)."""
    folder = class_folders(path, IMAGE_FILES, "images")
    classes = class_names(folder)
    found = [(f, index) for index, name in enumerate(classes)
             for f in class_files(folder / name, IMAGE_FILES)]
    channels = channels_named(color_mode)

    def read(file: tf.Tensor, label: tf.Tensor):
        return images.read(file, image_size, channels), label

    files, labels = zip(*found)
    return Stream(read=read, files=list(files), recipe=repr((image_size, channels)),
                  inputs={"input": {"shape": [*image_size, channels], "dtype": "uint8", "kind": "raw"}},
                  task="classification", class_names=classes,
                  references=np.array([str(f) for f in files]), labels=np.array(labels, np.int32),
                  one_class=one_class_folder(folder, classes, "images"),
                  ids=np.array([f.relative_to(folder).as_posix() for f in files]),
                  reading={"image_size": list(image_size), "color_mode": color_mode},
                  diagnose=lambda: images.undecodable(list(files)))


def decoded(stream: Stream) -> np.ndarray:
    """An image folder's images, all in memory (uint8); a file that does not decode is named."""
    size, channels = stream.inputs["input"]["shape"][:2], stream.inputs["input"]["shape"][2]
    return images.load(stream.files, size, channels)
