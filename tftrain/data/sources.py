"""Data sources: each returns a `Source` of in-memory arrays; the pipeline does the rest.

A source is named by a dataset config's `_target_` and receives that config's own keys
(the shared pipeline keys are taken off first) plus the run's `seed`. Every problem with
the data (a missing file, a missing key, mismatched lengths) is found here, before any
training, and reported as a TftrainError naming the file and what was expected.
"""

from __future__ import annotations

import inspect
import os
import shutil
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from tftrain.data.arrays import as_pixels, finite, same_examples
from tftrain.data.files import (check_npz, class_files, class_folders, class_names, existing,
                                 one_class_folder)
from tftrain.data.forms import Source, Stream, check_lengths
from tftrain.data.records import decoded, image_files
from tftrain.data.labels import encode_like, labels, one_class
from tftrain.data.spec import TASKS
from tftrain.data.texts import TEXT_FILES, text_of
from tftrain.errors import UNREADABLE, TftrainError, door, param


def digits(seed: int = 0) -> Source:
    """The UCI 8x8 handwritten digits shipped with tftrain, scaled to [0, 1], shape (8, 8, 1)."""
    del seed  # the data is fixed; splits are seeded by the pipeline
    with np.load(files("tftrain.data").joinpath("digits.npz").open("rb")) as arrays:
        images, targets = arrays["images"], arrays["labels"]
    x = (images.astype(np.float32) / 16.0)[..., None]
    return Source(x, targets.astype(np.int32), "classification", [str(i) for i in range(10)])


def synthetic(task: str, num_samples: int, shape: list[int], num_classes: int, noise: float,
              inputs: dict[str, list[int]] | None = None, targets: dict[str, str] | None = None,
              text: bool = False, text_output_mode: str = "multi_hot",
              sequence_length: int | None = None, seed: int = 0) -> Source:
    """Seeded, learnable data of any shape: Gaussian class clusters or a noisy linear target.

    `inputs` (name -> shape) makes several named inputs; `targets` (name -> task) several
    named targets, each a noisy linear function of all inputs (one model output each);
    `text: true` makes short texts whose words depend on the class.
    """
    named = {"task": task, **{f"targets.{n}": t for n, t in (targets or {}).items()}}
    for name, kind in named.items():
        if kind not in TASKS:
            raise TftrainError(f"{param(name)}={kind!r} is not a task tftrain knows; "
                               f"use one of: {', '.join(TASKS)}.")
    rng = np.random.default_rng(seed)
    shapes = dict(inputs) if inputs else {"input": list(shape)}
    if text:
        return synthetic_text(rng, num_samples, num_classes, noise,
                              {"max_tokens": 1000, "output_mode": text_output_mode,
                               "sequence_length": sequence_length})
    sizes = {name: int(np.prod(s)) for name, s in shapes.items()}
    features = sum(sizes.values())
    if targets:
        flat = rng.normal(size=(num_samples, features)).astype(np.float32)
        y, names = {}, {}
        for name, kind in targets.items():
            y[name], names[name] = linear_target(rng, flat, kind, num_classes, noise)
        task = dict(targets)
    elif task == "classification":
        centers = rng.normal(size=(num_classes, features)).astype(np.float32)
        y = rng.integers(0, num_classes, size=num_samples).astype(np.int32)
        flat = centers[y] + noise * rng.normal(size=(num_samples, features)).astype(np.float32)
        names = [f"class_{i}" for i in range(num_classes)]
    else:
        flat = rng.normal(size=(num_samples, features)).astype(np.float32)
        y, names = linear_target(rng, flat, task, num_classes, noise)
    parts = np.split(flat, np.cumsum(list(sizes.values()))[:-1], axis=1)
    x = {name: part.reshape(num_samples, *shapes[name]).astype(np.float32)
         for name, part in zip(shapes, parts)}
    return Source(x if inputs else x["input"], y, task, names)


def linear_target(rng: np.random.Generator, flat: np.ndarray, task: str, num_classes: int,
                  noise: float) -> tuple[np.ndarray, list[str] | None]:
    """A noisy linear function of the features: its value, or the argmax of several."""
    width = num_classes if task == "classification" else 1
    weights = rng.normal(size=(flat.shape[1], width)).astype(np.float32) / np.sqrt(flat.shape[1])
    score = flat @ weights + noise * rng.normal(size=(len(flat), width))
    if task == "regression":
        return score.astype(np.float32), None
    return score.argmax(axis=1).astype(np.int32), [f"class_{i}" for i in range(num_classes)]


def synthetic_text(rng: np.random.Generator, num_samples: int, num_classes: int,
                   noise: float, text: dict[str, Any]) -> Source:
    words = [f"w{i}" for i in range(200)]
    own = np.arange(200).reshape(num_classes, -1) if 200 % num_classes == 0 else None
    y = rng.integers(0, num_classes, size=num_samples).astype(np.int32)
    texts = []
    for label in y:
        pool = own[label] if own is not None else rng.integers(0, 200, size=20)
        picks = np.where(rng.random(12) < noise / (1 + noise), rng.integers(0, 200, size=12),
                         rng.choice(pool, size=12))
        texts.append(" ".join(words[i] for i in picks))
    x = np.array(texts, dtype=object)[:, None]
    return Source(x, y, "classification", [f"class_{i}" for i in range(num_classes)],
                  kinds={"input": "text"}, text=text)


def line(slope: float = 3.0, intercept: float = 7.0, noise: float = 1.0, num_samples: int = 1000,
         seed: int = 0) -> Source:
    """y = slope * x + intercept + noise, x uniform in [-5, 5]: the guides' first regression."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-5, 5, size=(num_samples, 1)).astype(np.float32)
    y = (slope * x + intercept + noise * rng.normal(size=(num_samples, 1))).astype(np.float32)
    return Source(x, y, "regression")


def keys_hint(keys: list[str]) -> str:
    """The keys an archive's arrays most likely go by (x/y, images/labels, ...), as the
    parameters that choose them; "" when that is not clear."""
    def one(names: tuple[str, ...]) -> str | None:
        found = [k for k in keys if k.lower() in names or k.lower().rstrip("s") in names]
        return found[0] if len(found) == 1 else None

    x = one(("x", "data", "image", "feature", "input", "x_train", "images"))
    y = one(("y", "label", "target", "output", "y_train", "labels"))
    return f" Set {param('x_key')}={x} {param('y_key')}={y}." if x and y and x != y else ""


def npz(path: str, x_key: str = "x_train", y_key: str = "y_train", x_test_key: str = "x_test",
        y_test_key: str = "y_test", task: str = "auto", seed: int = 0) -> Source:
    """Arrays from an .npz file by key; the test arrays are optional."""
    del seed
    file = check_npz(existing(path, "file"))
    with door(f"{param('path')}={path}", "an .npz archive of numeric or string arrays, as "
              "np.savez writes (arrays of Python objects are refused: loading them would "
              "run pickled code)", refused=UNREADABLE), np.load(file, allow_pickle=False) as arrays:
        keys = sorted(arrays.files)
        for key in (x_key, y_key):
            if key not in keys:
                raise TftrainError(f"{path}: no array '{key}' ({param('x_key' if key == x_key else 'y_key')}); "
                                   f"the file holds: {', '.join(keys)}.{keys_hint(keys)}")
        x, y = arrays[x_key], arrays[y_key]
        test = (arrays[x_test_key], arrays[y_test_key]) if {x_test_key, y_test_key} <= set(keys) else None
    check_lengths(x, y, path, (x_key, y_key))
    for name, array in ((x_key, x), (y_key, y), *zip((x_test_key, y_test_key), test or ())):
        finite(array, name, path)
    y, task, names = labels(y, task, f"{path}: {y_key}")
    if test is not None:
        check_lengths(*test, path, (x_test_key, y_test_key))
        same_examples(x, test[0], (x_key, x_test_key), path)
        test = (as_pixels(test[0], x_test_key), encode_like(test[1], task, names, f"{path}: {y_test_key}"))
    x = as_pixels(x, x_key)
    return Source(x, y, task, names, test=test, one_class=one_class(names, f"{path}: {y_key}", len(y)),
                  reading={"x_key": x_key})


KERAS_IMAGES = ("mnist", "fashion_mnist", "cifar10", "cifar100")
KERAS_SEQUENCES = ("imdb", "reuters")
KERAS_DATASETS = (*KERAS_IMAGES, *KERAS_SEQUENCES, "boston_housing")
WITH_PATH = ("mnist", "imdb", "reuters", "boston_housing")


def keras_dataset(name: str, path: str | None = None, num_words: int = 10000,
                  seed: int = 0) -> Source:
    """A `keras.datasets` dataset: downloaded and cached by Keras (KERAS_HOME), or read from
    a local copy given as `path` (mnist, imdb, reuters, boston_housing)."""
    import keras

    if name not in KERAS_DATASETS:
        raise TftrainError(f"{param('name')}={name!r} is not a keras.datasets dataset tftrain loads; "
                           f"use one of: {', '.join(KERAS_DATASETS)}.")
    loader = getattr(keras.datasets, name).load_data
    options: dict[str, Any] = {}
    if path:
        if name not in WITH_PATH:
            raise TftrainError(f"keras.datasets.{name} takes no path; put its files under "
                               "$KERAS_HOME/datasets instead.")
        stage_in_keras_cache(existing(path, "file"), inspect.signature(loader).parameters["path"].default)
    if name in KERAS_SEQUENCES:
        options["num_words"] = num_words
    if name == "boston_housing":
        options["seed"] = seed
    try:
        (x, y), test = loader(**options)
    except Exception as error:  # a download that cannot happen offline, a corrupt cache
        raise TftrainError(f"keras.datasets.{name} could not be loaded ({error}). Offline, give "
                           f"a local copy with {param('path')}=FILE or set KERAS_HOME to a folder "
                           "whose datasets/ holds it.") from error
    if name in KERAS_SEQUENCES:
        x, test = multi_hot(x, num_words), (multi_hot(test[0], num_words), test[1])
    task = "regression" if name == "boston_housing" else "classification"
    y, task, names = labels(y, task, f"keras.datasets.{name}")
    kinds = {"input": "numeric"} if name == "boston_housing" else {}
    return Source(x, y, task, names, kinds,
                  test=(test[0], encode_like(test[1], task, names, f"keras.datasets.{name} y_test")))


def stage_in_keras_cache(local: Path, fname: str) -> None:
    """Put a local copy where Keras' loader looks first ($KERAS_HOME/datasets), as its own
    download would; Keras still verifies the file's hash."""
    cache = Path(os.path.expanduser(os.environ.get("KERAS_HOME", "~/.keras"))) / "datasets"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / fname
    if not target.exists() or target.stat().st_size != local.stat().st_size:
        shutil.copyfile(local, target)


def multi_hot(sequences: np.ndarray, width: int) -> np.ndarray:
    """Word-index sequences as 0/1 vectors (uint8: a quarter of float32's memory)."""
    out = np.zeros((len(sequences), width), np.uint8)
    for row, sequence in enumerate(sequences):
        out[row, [i for i in sequence if i < width]] = 1
    return out


def image_dir(path: str, image_size: list[int], color_mode: str = "rgb", in_memory: bool = True,
              seed: int = 0) -> Source | Stream:
    """One subfolder per class of image files, decoded and resized as
    keras.utils.image_dataset_from_directory does (WebP too), loaded into memory, or with
    `in_memory: false` decoded from disk as it trains; a file that does not decode is named."""
    stream = image_files(path, image_size, color_mode)
    if not in_memory:
        return stream
    return Source(decoded(stream), stream.labels, "classification", stream.class_names,
                  one_class=stream.one_class, ids=stream.ids, reading=stream.reading)


def text_dir(path: str, max_tokens: int = 10000, output_mode: str = "multi_hot",
             sequence_length: int | None = None, seed: int = 0) -> Source:
    """One subfolder per class of .txt files, a file an example (in the order and encoding
    of keras.utils.text_dataset_from_directory; hidden files left out), each known by its
    path inside the folder."""
    del seed
    folder = class_folders(path, TEXT_FILES, "text files")
    classes = class_names(folder)
    found = [(f, index) for index, name in enumerate(classes)
             for f in class_files(folder / name, TEXT_FILES)]
    texts = [text_of(f) for f, _ in found]
    if not any(text.strip() for text in texts):
        raise TftrainError(f"{param('path')}={path}: all {len(texts):,} text files in {folder}'s "
                           "class folders are empty (or blank), so there is no word to learn "
                           "from; fill them with the texts to classify.")
    return Source(np.array(texts, dtype=object)[:, None],
                  np.array([index for _, index in found], np.int32), "classification", classes,
                  kinds={"input": "text"},
                  text={"max_tokens": max_tokens, "output_mode": output_mode,
                        "sequence_length": sequence_length},
                  one_class=one_class_folder(folder, classes, "text files"),
                  ids=np.array([f.relative_to(folder).as_posix() for f, _ in found]))
