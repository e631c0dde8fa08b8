"""A GAN run is used like any run: it writes a grid of samples each epoch
(samples/epoch_NNN.png, as TensorFlow's DCGAN guide does), `tftrain-predict RUN n=16`
generates samples (a PNG grid and the arrays), `tftrain-eval RUN` reports its losses on its
data, and what does not apply to a GAN (input=, predictions=true) is refused in one
paragraph, as is what applies only to one (n=, callbacks.samples) on another model."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_refused, in_process
from tftrain import artifacts

EPOCHS = 3


@pytest.fixture(scope="module")
def gan(tmp_path_factory) -> Path:
    """A short digits_gan run (shared: the tools only read it, or write beside it)."""
    root = tmp_path_factory.mktemp("gan")
    result = in_process("experiment=digits_gan", f"trainer.epochs={EPOCHS}", "hydra.run.dir=run", cwd=root)
    assert result.returncode == 0, result.output
    return root / "run"


def png(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(path.read_bytes())))


def test_a_gan_run_writes_a_grid_of_samples_each_epoch(gan):
    grids = sorted((gan / "samples").iterdir())
    assert [g.name for g in grids] == [f"epoch_{e:03d}.png" for e in range(1, EPOCHS + 1)]
    first, last = png(grids[0]), png(grids[-1])
    assert first.shape == (4 * (64 + 2) + 2,) * 2  # 16 grey 8x8 digits, 8x larger, in a 4x4 grid
    assert not np.array_equal(first, last)  # the generator learnt between them


def test_predict_generates_samples_as_a_grid_and_arrays(gan, tmp_path):
    from tftrain.callbacks.samples import grid

    out = tmp_path / "out" / "s.png"
    result = in_process(str(gan), "n=9", "seed=3", f"output={out}", cwd=tmp_path, tool="tftrain-predict")
    assert result.returncode == 0, result.output
    assert f"9 sample(s) (seed 3) written to {out}" in result.stdout
    arrays = np.load(out.with_suffix(".npz"))
    images, noise = arrays["images"], arrays["noise"]
    assert images.shape == (9, 8, 8, 1) and noise.shape == (9, 16) and int(arrays["seed"]) == 3
    assert images.min() >= 0 and images.max() <= 1
    assert np.array_equal(png(out), grid(images)[..., 0])  # the grid shows these arrays

    again = in_process(str(gan), "n=9", "seed=3", f"output={tmp_path / 'again.png'}", cwd=tmp_path,
                       tool="tftrain-predict")
    assert again.returncode == 0, again.output
    assert np.array_equal(np.load(tmp_path / "again.npz")["images"], images)  # the seed decides


def test_predict_writes_beside_the_run_by_default(gan, tmp_path):
    result = in_process(str(gan), cwd=tmp_path, tool="tftrain-predict")
    assert result.returncode == 0, result.output
    assert np.load(gan / "samples.npz")["images"].shape == (16, 8, 8, 1)
    assert (gan / "samples.png").is_file()


def test_eval_reports_the_gan_losses_on_its_data(gan, tmp_path):
    result = in_process(str(gan), cwd=tmp_path, tool="tftrain-eval")
    assert result.returncode == 0, result.output
    record = json.loads((gan / "eval" / "run.test.json").read_text())
    test = json.loads((gan / "summary.json").read_text())["test"]
    assert set(record["metrics"]) == set(test) == {"loss", "d_loss", "g_loss"}
    assert record["samples"] == 359
    # the same model on the same split: only the generator's noise differs from the run's
    assert abs(record["metrics"]["d_loss"] - test["d_loss"]) < 0.1


REFUSED = {  # tool, arguments after the run folder, what the paragraph says
    "an-input-for-a-gan": ("tftrain-predict", ["input=x.npy"], ["is a GAN run", "takes no input=", "n=16"]),
    "no-samples": ("tftrain-predict", ["n=0"], ["n=0", "from 1 to 10,000"]),
    "a-csv-for-samples": ("tftrain-predict", ["output=s.csv"], ["output=s.csv", "name a .png file"]),
    "a-seed-of-words": ("tftrain-predict", ["seed=abc"], ["seed=abc", "whole number"]),
    "predictions-of-a-gan": ("tftrain-eval", ["predictions=true"], ["predictions=true", "is a GAN run",
                                                                      "predicts no label"]),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_a_gan_cannot_do_is_refused(gan, tmp_path, case):
    tool, args, fragments = REFUSED[case]
    before = sorted(p.name for p in gan.rglob("*"))
    result = in_process(str(gan), *args, cwd=tmp_path, tool=tool)
    assert_refused(result, 2, fragments)
    assert sorted(p.name for p in gan.rglob("*")) == before  # nothing written


def test_samples_of_a_model_without_a_generator_are_refused(tmp_path, train):
    run = train("debug=smoke")
    result = in_process(str(run.path), "n=4", cwd=tmp_path, tool="tftrain-predict")
    assert_refused(result, 2, ["is no GAN run", "give input=FILE", "n=4"])
    refused = in_process("callbacks=[default,samples]", "debug=smoke", "hydra.run.dir=grid", cwd=tmp_path)
    assert_refused(refused, 2, ["callbacks.samples", "model 'mlp' has no generator", "~callbacks.samples"])
    assert not (tmp_path / "grid").exists()


def test_samples_that_cannot_be_written_are_counted_and_exit_74(gan, tmp_path):
    target = tmp_path / "blocked.png"
    artifacts.staged(target, ".png").mkdir()
    result = in_process(str(gan), "n=4", f"output={target}", cwd=tmp_path, tool="tftrain-predict")
    assert_refused(result, 74, [f"could not write {target}", "Is a directory", "output=FILE.png"])
    assert "4 sample(s) generated, not written" in result.stdout
    assert not target.exists() and not target.with_suffix(".npz").exists()


@pytest.mark.slow  # two short GAN runs and a resume
def test_a_resumed_gan_draws_the_grids_an_uninterrupted_one_draws(tmp_path):
    args = ("experiment=digits_gan", "dataset.limit_batches=3", "deterministic=true")
    full = in_process(*args, "trainer.epochs=3", "hydra.run.dir=full", cwd=tmp_path)
    assert full.returncode == 0, full.output
    part = in_process(*args, "trainer.epochs=1", "hydra.run.dir=part", cwd=tmp_path)
    assert part.returncode == 0, part.output
    resumed = in_process(f"resume={tmp_path / 'part'}", "trainer.epochs=3", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.output
    names = [f"epoch_{e:03d}.png" for e in (1, 2, 3)]
    assert sorted(p.name for p in (tmp_path / "part" / "samples").iterdir()) == names
    for name in names:
        assert np.array_equal(png(tmp_path / "part" / "samples" / name),
                              png(tmp_path / "full" / "samples" / name)), name
