"""What a GAN makes, shown: a grid of generated images as a PNG, written by the run at the end
of each epoch (`samples/epoch_NNN.png`, as TensorFlow's DCGAN guide does) and by
`tftrain-predict RUN n=16` (the grid and the arrays).

A model generates when it has a `generator` taking `latent_dim` numbers of noise
(tftrain.models.zoo.ImageGAN). The epoch grids draw the same noise every epoch (from
`seed`), so the grids show one set of samples learning; drawing it with NumPy leaves the
model's own random streams, and so training and resume, untouched.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tftrain import artifacts
from tftrain.errors import TftrainError, param

CELL = 64  # pixels a sample's side is scaled up to, at least (an 8x8 digit is 8x larger)
GAP = 2  # grey pixels between samples


def generates(model: Any) -> bool:
    """Whether `model` is a generator of samples (a GAN) rather than a predictor."""
    return hasattr(model, "generator") and hasattr(model, "latent_dim")


def noise(model: Any, count: int, seed: int) -> np.ndarray:
    """`count` draws of the generator's input noise, the same for the same seed."""
    return np.random.default_rng(seed).standard_normal((count, model.latent_dim)).astype(np.float32)


def generated(model: Any, draws: np.ndarray) -> np.ndarray:
    """The generator's images for `draws` of noise, (count, H, W, C) floats in [0, 1]."""
    images = keras.ops.convert_to_numpy(model.generator(draws, training=False))
    return np.clip(images if images.ndim == 4 else images[..., None], 0.0, 1.0)


def grid(images: np.ndarray) -> np.ndarray:
    """Images (count, H, W, C) in [0, 1] as one uint8 picture: a square-ish grid of them,
    each scaled up (nearest pixel) to CELL pixels at least, GAP pixels apart."""
    count, height, width, channels = images.shape
    scale = max(1, math.ceil(CELL / max(height, width)))
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    cell_h, cell_w = height * scale, width * scale
    picture = np.full((rows * (cell_h + GAP) + GAP, columns * (cell_w + GAP) + GAP, channels), 128,
                      np.uint8)  # grey between the samples
    pixels = np.round(images * 255).astype(np.uint8).repeat(scale, axis=1).repeat(scale, axis=2)
    for index, image in enumerate(pixels):
        top = GAP + (index // columns) * (cell_h + GAP)
        left = GAP + (index % columns) * (cell_w + GAP)
        picture[top:top + cell_h, left:left + cell_w] = image
    return picture


def write_png(path: Path, picture: np.ndarray) -> None:
    """A uint8 (H, W, C) picture as a PNG, written whole or not at all (the writing door)."""
    import tensorflow as tf

    data = tf.io.encode_png(picture).numpy()
    artifacts.in_place(path, lambda tmp: tmp.write_bytes(data), suffix=".png")


class SampleGrid(keras.callbacks.Callback):
    """At the end of each epoch, `count` samples of the generator drawn from the same noise,
    as one grid: `folder`/epoch_NNN.png (1-based, as metrics.csv counts epochs)."""

    def __init__(self, folder: str, count: int = 16, seed: int = 0) -> None:
        super().__init__()
        if count < 1:
            raise TftrainError(f"{param('count')}={count}: the grid needs 1 sample or more.")
        self.folder, self.count, self.seed = Path(folder), count, seed
        self.draws: np.ndarray | None = None

    @staticmethod
    def misfit(model: keras.Model) -> str | None:
        """Why this callback cannot serve `model` (checked when the callbacks are built)."""
        if generates(model):
            return None
        return (f"the sample grid (SampleGrid) draws a GAN's samples, but model '{model.name}' "
                "has no generator (model=gan has one)")

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.draws = noise(self.model, self.count, self.seed)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        picture = grid(generated(self.model, self.draws))
        write_png(self.folder / f"epoch_{epoch + 1:03d}.png", picture)
