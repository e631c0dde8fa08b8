"""Data sources: each returns a `Source` of in-memory arrays; the pipeline does the rest.

A source is named by a dataset config's `_target_` and receives that config's own keys
(the shared pipeline keys are taken off first) plus the run's `seed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

import numpy as np

from tftrain.errors import TftrainError

TASKS = ("classification", "regression")


@dataclass(frozen=True)
class Source:
    x: np.ndarray
    y: np.ndarray
    task: str
    class_names: list[str] | None = None


def digits(seed: int = 0) -> Source:
    """The UCI 8x8 handwritten digits shipped with tftrain, scaled to [0, 1], shape (8, 8, 1)."""
    del seed  # the data is fixed; splits are seeded by the pipeline
    with np.load(files("tftrain.data").joinpath("digits.npz").open("rb")) as arrays:
        images, labels = arrays["images"], arrays["labels"]
    x = (images.astype(np.float32) / 16.0)[..., None]
    return Source(x, labels.astype(np.int32), "classification", [str(i) for i in range(10)])


def synthetic(task: str, num_samples: int, shape: list[int], num_classes: int,
              noise: float, seed: int = 0) -> Source:
    """Seeded, learnable data of any shape: Gaussian class clusters or a noisy linear target."""
    if task not in TASKS:
        raise TftrainError(f"dataset.task={task!r} is not a task tftrain knows; "
                           f"use one of: {', '.join(TASKS)}.")
    if num_samples < 10 or any(d < 1 for d in shape) or num_classes < 2:
        raise TftrainError(
            f"synthetic data needs num_samples >= 10, positive shape dims and num_classes >= 2; "
            f"got num_samples={num_samples}, shape={list(shape)}, num_classes={num_classes}.")
    rng = np.random.default_rng(seed)
    features = int(np.prod(shape))
    if task == "classification":
        centers = rng.normal(size=(num_classes, features)).astype(np.float32)
        y = rng.integers(0, num_classes, size=num_samples).astype(np.int32)
        x = centers[y] + noise * rng.normal(size=(num_samples, features)).astype(np.float32)
        names = [f"class_{i}" for i in range(num_classes)]
        return Source(x.reshape(num_samples, *shape).astype(np.float32), y, task, names)
    weights = rng.normal(size=(features, 1)).astype(np.float32) / np.sqrt(features)
    x = rng.normal(size=(num_samples, features)).astype(np.float32)
    y = x @ weights + noise * rng.normal(size=(num_samples, 1)).astype(np.float32)
    return Source(x.reshape(num_samples, *shape), y.astype(np.float32), task)
