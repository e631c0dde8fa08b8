"""The model catalogue and the guides' experiments, each one config away."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from conftest import REPO, RunFolder, console_script, in_process, run_cli

EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))


def offline(experiment: str) -> list[str]:
    """Experiments on keras.datasets download them; offline they run on the embedded digits."""
    from tftrain.config import compose, schema

    schema.register()
    cfg = compose.compose([f"experiment={experiment}"])
    return ["dataset=digits"] if cfg.dataset._target_.endswith("keras_dataset") else []


@pytest.mark.slow
def test_every_experiment_on_its_own_data_runs_in_smoke_mode(sweep):
    """The experiments on keras.datasets run from local copies in
    test_data_as_found.py (offline here); every other one runs here, as it is."""
    names = [e for e in EXPERIMENTS if not offline(e)]
    runs = sweep(f"experiment={','.join(names)}", "debug=smoke")
    assert len(runs) == len(names)
    for name, run in zip(names, runs):
        assert run.summary["status"] == "completed" and run.summary["epochs_completed"] == 2, name
        assert f"experiment={name}" in run.summary["overrides"]
        assert (run.path / "history.png").stat().st_size > 5000


@pytest.mark.slow
@pytest.mark.parametrize("experiment, metric, bound", [
    ("regression_functional", "mae", 1.2),       # noise has sigma 1: MAE ~0.8 is the floor
    ("image_augmentation", "accuracy", 0.85),    # digits with flips and rotations
    ("mnist_cnn_custom_loop", "accuracy", 0.93),
    ("linear_regression_sgd", "loss", 1.5),      # mse; the noise variance is 1
])
def test_offline_experiments_reach_sensible_quality(tmp_path, experiment, metric, bound):
    result = in_process(f"experiment={experiment}", *offline(experiment),
                        f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    value = RunFolder(tmp_path / "run").summary["test"][metric]
    assert value >= bound if metric == "accuracy" else value <= bound, value


CATALOGUE = {
    "mlp": [], "cnn": [], "resmlp": [], "resnet": [], "image_augmented": [], "gan": [],
    "regression": ["dataset=line"],
    "text_classifier": ["dataset=synthetic", "dataset.text=true", "dataset.text_output_mode=int",
                        "dataset.sequence_length=10"],
    "wide_deep": ["dataset=synthetic", "dataset.inputs={wide_input: [10], deep_input: [5]}"],
    "transfer": ["dataset=synthetic", "dataset.shape=[32,32,3]", "dataset.num_samples=64"],
}


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_catalogue_model_saves_and_loads_with_identical_predictions(tmp_path, name):
    from tftrain.config import compose, schema
    from tftrain.config.dataset import build_data
    from tftrain.config.model import build_model
    from tftrain.models import load_model

    schema.register()
    cfg = compose.compose([f"model={name}", *CATALOGUE[name]])
    data = build_data(cfg.dataset, batch_size=4, seed=0)
    cfg.data_facts = {"steps_per_epoch": data.steps_per_epoch,
                      "vocabulary_sizes": {f.name: len(f.stats["vocabulary"]) + 2
                                           for f in data.spec.inputs if f.kind == "text"}}
    model = build_model(cfg.model, data.spec)
    x, _ = next(iter(data.test))
    model.save(tmp_path / "model.keras")
    loaded = load_model(str(tmp_path / "model.keras"))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_export_writes_a_savedmodel_that_tensorflow_serves(tmp_path):
    import tensorflow as tf

    result = in_process("debug=smoke", "export=savedmodel", f"hydra.run.dir={tmp_path / 'run'}",
                        cwd=tmp_path)
    assert result.returncode == 0, result.output
    served = tf.saved_model.load(str(tmp_path / "run" / "export" / "saved_model"))
    p = served.serve(tf.constant(np.zeros((2, 8, 8, 1), "float32"))).numpy()
    assert p.shape == (2, 10) and float(p.sum()) == pytest.approx(2.0, abs=1e-4)  # softmax rows


def test_a_binary_head_is_one_sigmoid_unit_trained_with_binary_cross_entropy(tmp_path, train):
    """The guides' binary classifiers (experiments text_classification and multi_input)."""
    import keras

    run = train("experiment=multi_input", "debug=smoke")
    model = keras.models.load_model(run.path / "model.keras")
    assert model.output_shape == (None, 1) and model.loss == "binary_crossentropy"
    assert set(run.summary["test"]) == {"loss", "accuracy"}
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "new.npz", wide_input=rng.normal(size=(4, 10)).astype(np.float32),
             deep_input=rng.normal(size=(4, 5)).astype(np.float32))
    result = in_process(str(run.path), f"input={tmp_path / 'new.npz'}", cwd=tmp_path,
                        tool="tftrain-predict")
    assert result.returncode == 0, result.output
    rows = [line.split(",") for line in (run.path / "predictions.csv").read_text().splitlines()]
    assert rows[0] == ["input", "predicted", "p_class_0", "p_class_1"]
    for row in rows[1:]:  # the sigmoid gives p(class_1); class_0 gets the rest
        assert float(row[2]) + float(row[3]) == pytest.approx(1.0, abs=1e-5)
        assert row[1] == ("class_1" if float(row[3]) > 0.5 else "class_0")

    refused = in_process("+model.binary=true", "debug=smoke", cwd=tmp_path)
    assert refused.returncode == 2 and "target 'output' has 10 classes" in refused.stderr


def test_a_text_model_on_image_data_names_what_it_expected(tmp_path):
    result = in_process("model=text_classifier", "debug=smoke", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.output
    message = result.stderr.strip().splitlines()[-1]
    assert "text input 'input'" in message and "int mode: none" in message
    assert not list((tmp_path / "outputs").glob("*/*"))


@pytest.mark.slow  # 8-18 s: the default run stays near 5 minutes
def test_without_matplotlib_a_run_succeeds_and_says_how_to_get_the_plots(tmp_path):
    """matplotlib is the optional `plots` extra: a shadowing package makes it unimportable, as
    in an install without the extra. The run and its sweep report are written, minus plots."""
    blocker = tmp_path / "site" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'matplotlib'\", name='matplotlib')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(blocker.parent), os.environ.get("PYTHONPATH")]))}
    env.pop("HYDRA_FULL_ERROR", None)
    folder = tmp_path / "sweep"
    result = run_cli("-m", "debug=smoke", f"hydra.sweep.dir={folder}", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.output
    note = ('note: history.png skipped: plots need matplotlib, which is not installed '
            '(pip install "tftrain[plots]" adds it)')
    assert note in result.stdout and note in (folder / "0" / "train.log").read_text()
    assert RunFolder(folder / "0").summary["status"] == "completed"
    assert (folder / "0" / "model.keras").exists() and not (folder / "0" / "history.png").exists()
    assert 'note: sweep.png skipped: plots need matplotlib' in result.stdout
    assert (folder / "report.md").exists() and not (folder / "sweep.png").exists()

    done = subprocess.run([*console_script("tftrain-report", "tftrain.tools.report"), str(folder),
                           "--plot", "runs.png"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert 'tftrain: error: --plot needs matplotlib, which is not installed: pip install ' \
           '"tftrain[plots]" adds it' in done.stderr
    assert not (tmp_path / "runs.png").exists()
