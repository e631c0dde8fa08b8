"""The data door as files are found: a dataset folder reached by a relative path or through
hidden folders, streams that hold nothing or are cut short, inputs whose emptiness showed
only downstream, and splits too small for their classes. Each either reads what the user
meant, or is refused in one paragraph naming the file (and the record or column) that
caused it, exit status 2, with no run folder left behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_refused, in_process

SMOKE = ("debug=smoke", "trainer.batch_size=4")


def refused(result, cwd: Path, fragments: list[str]) -> str:
    """The bad-input promise, and no run folder under `cwd`."""
    assert_refused(result, 2, fragments)
    assert not (cwd / "outputs").exists() and not (cwd / "run").exists()
    return result.stderr.strip()


def trained(cwd: Path, *args: str) -> tuple[str, dict]:
    """A smoke run from `cwd` that must succeed: (its console output, its summary's data)."""
    result = in_process(*args, *SMOKE, "hydra.run.dir=run", cwd=cwd)
    assert result.returncode == 0, result.output
    assert "Traceback" not in result.output, result.output
    return result.stdout, json.loads((cwd / "run" / "summary.json").read_text())["data"]


def image_folder(root: Path) -> Path:
    """Two classes of six 16x16 PNGs each, and a hidden folder of notebook checkpoints."""
    from PIL import Image

    for k, colour in enumerate(("red", "blue")):
        (root / colour).mkdir(parents=True)
        for i in range(6):
            pixels = np.zeros((16, 16, 3), np.uint8)
            pixels[..., 2 * k] = 200 + i
            Image.fromarray(pixels).save(root / colour / f"img{i}.png")
    (root / ".ipynb_checkpoints").mkdir()
    (root / ".ipynb_checkpoints" / "img0-checkpoint.png").write_bytes(b"not an image")
    return root


def text_folder(root: Path, empty: bool = False) -> Path:
    for label in ("neg", "pos"):
        (root / label).mkdir(parents=True)
        for i in range(6):
            (root / label / f"{i}.txt").write_text("" if empty else f"{label} review number {i}")
    return root


# -- hidden entries are skipped inside a dataset folder, never along the path to it ------

@pytest.mark.parametrize("in_memory", ["true", "false"])
def test_an_image_folder_given_by_a_relative_path_trains(tmp_path, in_memory):
    image_folder(tmp_path / "data" / "photos")
    (tmp_path / "work").mkdir()
    _, data = trained(tmp_path / "work", "dataset=image_dir", "dataset.path=../data/photos",
                      "dataset.image_size=[16,16]", f"dataset.in_memory={in_memory}")
    assert data["class_names"] == ["blue", "red"] and sum(data["sizes"].values()) == 12
    _, again = trained(tmp_path / "data", "dataset=image_dir", "dataset.path=./photos",
                       "dataset.image_size=[16,16]", f"dataset.in_memory={in_memory}")
    assert again["class_names"] == ["blue", "red"]


def test_a_text_folder_inside_a_hidden_folder_trains(tmp_path):
    folder = text_folder(tmp_path / ".cache" / "reviews")
    _, data = trained(tmp_path, "dataset=text_dir", f"dataset.path={folder}")
    assert data["class_names"] == ["neg", "pos"] and sum(data["sizes"].values()) == 12
