"""`tftrain-predict RUN n=16 [seed=0] [output=FILE.png]` for a GAN run: what a generator's
prediction is, samples. The grid goes to FILE.png (default RUN_FOLDER/samples.png), the
arrays beside it in FILE.npz: `images` (n, H, W, C) in [0, 1] and the `noise` (n,
latent_dim) they were generated from; the same seed gives the same samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tftrain import artifacts
from tftrain.callbacks.samples import generated, grid, noise, write_png
from tftrain.console import echo
from tftrain.errors import TftrainError, WriteFailed
from tftrain.run.folder import RunFolder
from tftrain.tools.outputs import not_written, output_file

MOST = 10_000  # samples one call generates at most (their grid is a picture of them all)


def count_of(given: dict[str, str], key: str, default: int, low: int, high: int) -> int:
    """An argument that is a whole number in [low, high]."""
    text = given.get(key, str(default))
    if not text.isdigit() or not low <= int(text) <= high:
        raise TftrainError(f"{key}={text}: {key}= takes a whole number from {low:,} to {high:,}.")
    return int(text)


def generate(folder: RunFolder, model: Any, given: dict[str, str]) -> None:
    """n samples of a GAN run's generator, as a grid (PNG) and arrays (.npz)."""
    if "input" in given:
        raise TftrainError(f"{folder.given} is a GAN run (model '{model.name}'): it generates "
                           "samples from noise and takes no input=; tftrain-predict "
                           f"{folder.given} n=16 writes 16 of them.")
    count = count_of(given, "n", 16, 1, MOST)
    seed = count_of(given, "seed", 0, 0, 2**32 - 1)
    output = output_file(given.get("output"), folder.path / "samples.png", "samples.png")
    if output.suffix.lower() != ".png":
        raise TftrainError(f"output={given['output']}: a GAN run's samples are a PNG grid (the "
                           "arrays go beside it as .npz); name a .png file, e.g. output=samples.png.")
    arrays = output.with_suffix(".npz")
    draws = noise(model, count, seed)
    images = generated(model, draws)
    written: list[Path] = []
    try:
        artifacts.in_place(arrays, lambda tmp: save(tmp, images, draws, seed))
        written.append(arrays)
        write_png(output, grid(images))
    except WriteFailed as failed:
        for path in written:  # the samples are written both ways or not at all
            path.unlink(missing_ok=True)
        echo(f"{count} sample(s) generated, not written")
        raise not_written(failed, "Give output=FILE.png in a folder that can be written (the "
                          "arrays go beside it, as FILE.npz).") from None
    echo(f"{count} sample(s) (seed {seed}) written to {output} (the grid) and {arrays} (images "
         f"{tuple(images.shape)} in [0, 1], and the noise they came from)")


def save(path: Path, images: np.ndarray, draws: np.ndarray, seed: int) -> None:
    with open(path, "wb") as handle:  # a handle: np.savez would add .npz to a name
        np.savez(handle, images=images.astype(np.float32), noise=draws, seed=np.int64(seed))
