"""Every data source through the real CLI: real files written by the tests (or the real
datasets in ../shared/data), one pipeline, the model adapting to the data."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest

from conftest import SHARED_DATA, RunFolder, in_process, run_cli

needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")


def write_table(path, rows: int = 400, seed: int = 0) -> None:
    """A CSV with numbers, strings, booleans and gaps, whose label follows the features."""
    rng = np.random.default_rng(seed)
    lines = ["size,colour,member,note,label"]
    for i in range(rows):
        size = rng.normal(10, 3)
        colour = rng.choice(["red", "green", "blue"])
        member = rng.choice(["True", "False"])
        label = "big" if size + (2 if colour == "red" else 0) > 11 else "small"
        size_text = "" if i % 17 == 0 else f"{size:.3f}"  # some missing numbers
        colour_text = "" if i % 23 == 0 else colour           # some missing strings
        lines.append(f"{size_text},{colour_text},{member},n{i % 5},{label}")
    path.write_text("\n".join(lines) + "\n")


def test_csv_with_strings_booleans_and_gaps_trains_and_the_saved_model_takes_raw_rows(tmp_path, train):
    write_table(tmp_path / "table.csv")
    run = train("dataset=csv", f"dataset.path={tmp_path / 'table.csv'}", "dataset.label=label",
                "+dataset.columns.note=text", "trainer.epochs=15")
    summary = run.summary
    assert summary["data"]["class_names"] == ["big", "small"]
    assert summary["data"]["inputs"]["size"]["kind"] == "numeric"
    assert summary["data"]["inputs"]["colour"]["kind"] == "categorical"
    assert summary["data"]["inputs"]["note"]["kind"] == "text"  # declared: TextVectorization
    assert summary["test"]["accuracy"] >= 0.85
    import tensorflow as tf

    from tftrain.models import load_model

    model = load_model(str(run.path / "model.keras"))
    rows = {"size": [[15.0], [float("nan")], [5.0]], "colour": [["red"], [""], ["purple"]],
            "member": [["True"], ["False"], [""]], "note": [["n1"], ["n2"], ["n9"]]}
    p = model.predict({k: tf.constant(v) for k, v in rows.items()}, verbose=0)
    assert p.shape == (3, 2) and np.isfinite(p).all()
    assert (int(p[0].argmax()), int(p[2].argmax())) == (0, 1)  # big, small


def test_csv_regression_predicts_in_the_targets_units(tmp_path, train):
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 10, 600)
    lines = ["x,kind,price"] + [f"{v:.4f},{'a' if v > 5 else 'b'},{1000 + 300 * v:.2f}" for v in x]
    (tmp_path / "prices.csv").write_text("\n".join(lines) + "\n")
    run = train("dataset=csv", f"dataset.path={tmp_path / 'prices.csv'}", "dataset.label=price",
                "trainer.epochs=25")
    assert run.summary["data"]["task"] == "regression"
    assert run.summary["test"]["mae"] < 150  # targets span 1000..4000


@needs_shared
@pytest.mark.slow
@pytest.mark.parametrize("name, label, extra, metric, threshold", [
    ("penguins", "species", [], "accuracy", 0.95),
    ("titanic", "survived", ["dataset.drop=[alive]"], "accuracy", 0.78),
    ("winequality-red", "quality", [], "accuracy", 0.55),
    ("housing", "median_house_value", [], "mae", 55000.0),
])
def test_the_shared_csv_datasets_train_well(train, name, label, extra, metric, threshold):
    run = train("dataset=csv", f"dataset.path={SHARED_DATA / (name + '.csv')}",
                f"dataset.label={label}", "trainer.epochs=40", *extra)
    value = run.summary["test"][metric]
    assert value >= threshold if metric == "accuracy" else value <= threshold, (name, value)


@needs_shared
def test_boston_housing_loads_offline_from_a_local_keras_home(tmp_path):
    """A new process: Keras reads KERAS_HOME once, when it is imported."""
    keras_home = tmp_path / "keras_home"
    (keras_home / "datasets").mkdir(parents=True)
    shutil.copy(SHARED_DATA / "boston_housing.npz", keras_home / "datasets" / "boston_housing.npz")
    result = run_cli("dataset=boston_housing", "trainer.epochs=30", f"hydra.run.dir={tmp_path / 'run'}",
                     cwd=tmp_path, env={"KERAS_HOME": str(keras_home)})
    assert result.returncode == 0, result.output
    summary = RunFolder(tmp_path / "run").summary
    assert summary["data"]["sizes"]["test"] == 102  # Keras' own test split
    assert summary["data"]["task"] == "regression" and summary["test"]["mae"] < 5.0


@needs_shared
@pytest.mark.slow
def test_a_keras_dataset_reads_a_local_copy_given_as_path(train):
    run = train("dataset=boston_housing", f"dataset.path={SHARED_DATA / 'boston_housing.npz'}",
                "debug=smoke")
    assert run.summary["data"]["sizes"]["test"] == 102


@pytest.mark.slow
def test_npz_with_and_without_a_test_split(tmp_path, train):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    np.savez(tmp_path / "with.npz", x_train=x[:240], y_train=y[:240], x_test=x[240:], y_test=y[240:])
    np.savez(tmp_path / "without.npz", features=x, target=y)
    run = train("dataset=npz", f"dataset.path={tmp_path / 'with.npz'}", "dataset.normalize=true",
                "trainer.epochs=10")
    assert run.summary["data"]["sizes"]["test"] == 60
    assert run.summary["test"]["accuracy"] >= 0.85
    run = train("dataset=npz", f"dataset.path={tmp_path / 'without.npz'}", "dataset.x_key=features",
                "dataset.y_key=target", "debug=smoke")
    assert run.summary["data"]["sizes"] == {"train": 210, "val": 30, "test": 60}


def write_images(root, classes=("dark", "light"), per_class=24) -> None:
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            base = 40 if index == 0 else 200
            pixels = np.clip(rng.normal(base, 20, (12, 12, 3)), 0, 255).astype("uint8")
            (root / name / f"{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())


def test_image_folder_with_augmentation_in_the_model(tmp_path, train):
    write_images(tmp_path / "images")
    run = train("dataset=image_dir", f"dataset.path={tmp_path / 'images'}", "dataset.image_size=[12,12]",
                "model=cnn", "trainer.batch_size=8", "trainer.epochs=8",
                "dataset.augment=[{_target_: keras.layers.RandomFlip, mode: horizontal}]")
    summary = run.summary
    assert summary["data"]["class_names"] == ["dark", "light"]
    assert summary["data"]["inputs"]["input"]["shape"] == [12, 12, 3]
    assert summary["test"]["accuracy"] >= 0.9
    assert "augment" in (run.path / "model.keras").read_bytes().decode("latin-1")


def test_augmentation_can_run_in_the_pipeline(tmp_path, train):
    write_images(tmp_path / "images")
    run = train("dataset=image_dir", f"dataset.path={tmp_path / 'images'}", "dataset.image_size=[12,12]",
                "trainer.batch_size=8", "debug=smoke", "dataset.augment_in=pipeline",
                "dataset.augment=[{_target_: keras.layers.RandomContrast, factor: 0.2}]")
    assert run.summary["status"] == "completed"
    assert b"random_contrast" not in (run.path / "model.keras").read_bytes()


def test_text_folder_is_vectorised_on_the_training_split(tmp_path, train):
    rng = np.random.default_rng(0)
    for name, words in (("pos", ["great", "fine", "love"]), ("neg", ["awful", "bad", "hate"])):
        (tmp_path / "texts" / name).mkdir(parents=True)
        for i in range(40):
            text = " ".join(rng.choice(words + ["the", "a", "movie"], size=8))
            (tmp_path / "texts" / name / f"{i}.txt").write_text(text)
    run = train("dataset=text_dir", f"dataset.path={tmp_path / 'texts'}", "trainer.batch_size=8",
                "trainer.epochs=10")
    summary = run.summary
    assert summary["data"]["inputs"]["input"]["kind"] == "text"
    assert summary["test"]["accuracy"] >= 0.9


@pytest.mark.parametrize("args, inputs", [
    (["dataset.text=true"], {"input": "text"}),
    (["dataset.inputs={wide: [10], deep: [5]}"], {"wide": "raw", "deep": "raw"}),
], ids=["text", "two-named-inputs"])
def test_synthetic_text_and_named_inputs(train, args, inputs):
    run = train("dataset=synthetic", "trainer.epochs=5", *args)
    summary = run.summary
    assert {name: spec["kind"] for name, spec in summary["data"]["inputs"].items()} == inputs
    assert summary["test"]["accuracy"] >= 0.8


def make_bad_data(tmp_path, make: str | None) -> list[str]:
    """Write the broken input a case needs; return the extra overrides pointing at it."""
    if make == "table":
        write_table(tmp_path / "table.csv", rows=40)
        return [f"dataset.path={tmp_path / 'table.csv'}"]
    if make == "empty":
        (tmp_path / "empty").mkdir()
    elif make == "hollow":
        (tmp_path / "hollow" / "cats").mkdir(parents=True)
        (tmp_path / "hollow" / "cats" / "notes.txt").write_text("no image here")
    elif make == "mismatch":
        np.savez(tmp_path / "mismatch.npz", x_train=np.zeros((100, 3)), y_train=np.zeros(90))
    return []


BAD_DATA = {
    "missing-file": (None, ["dataset=csv", "dataset.path=missing.csv", "dataset.label=y"],
                     ["missing.csv", "no such file"]),
    "no-label-column": ("table", ["dataset=csv", "dataset.label=price"],
                        ["table.csv", "no label column 'price'", "size, colour"]),
    "non-numeric": ("table", ["dataset=csv", "dataset.label=label", "+dataset.columns.colour=numeric"],
                    ["table.csv", "column 'colour'", "not a number"]),
    "empty-folder": ("empty", ["dataset=image_dir", "dataset.path=empty"], ["empty", "no class subfolders"]),
    "empty-class": ("hollow", ["dataset=image_dir", "dataset.path=hollow"], ["hollow/cats", "holds no images"]),
    "lengths": ("mismatch", ["dataset=npz", "dataset.path=mismatch.npz"],
                ["mismatch.npz", "100", "90", "same length"]),
    "key": ("mismatch", ["dataset=npz", "dataset.path=mismatch.npz", "dataset.x_key=inputs"],
            ["mismatch.npz", "'inputs'", "x_train, y_train"]),
}


@pytest.mark.parametrize("case, command", [("missing-file", run_cli), ("no-label-column", in_process)],
                         ids=["missing-file-new-process", "no-label-column-in-process"])
def test_bad_data_ends_the_command_with_one_line_and_no_run_folder(tmp_path, case, command):
    make, args, expected = BAD_DATA[case]
    result = command(*args, *make_bad_data(tmp_path, make), cwd=tmp_path)
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output
    message = result.stderr.strip().splitlines()[-1]
    assert all(fragment in message for fragment in expected), message
    assert not list((tmp_path / "outputs").glob("*/*"))


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_bad_data_is_reported_before_training_naming_file_and_expectation(tmp_path, case,
                                                                         monkeypatch):
    """In-process (the CLI path is covered above): the source raises one TftrainError."""
    from tftrain.config import compose, schema
    from tftrain.config.dataset import build_data
    from tftrain.errors import TftrainError

    make, args, expected = BAD_DATA[case]
    monkeypatch.chdir(tmp_path)  # relative paths in the cases resolve here, as for a user
    schema.register()
    cfg = compose.compose([*args, *make_bad_data(tmp_path, make)])
    with pytest.raises(TftrainError) as raised:
        build_data(cfg.dataset, batch_size=8, seed=0)
    assert all(fragment in str(raised.value) for fragment in expected), str(raised.value)


def test_predict_reads_raw_csv_rows_for_a_tabular_run(tmp_path, train):
    """Columns keep their own names, spaces included, without Keras warning about them."""
    write_table(tmp_path / "table.csv")
    table = tmp_path / "table.csv"
    table.write_text(table.read_text().replace("size,", "size cm,", 1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = train("dataset=csv", f"dataset.path={table}", "dataset.label=label", "trainer.epochs=15")
        (tmp_path / "new.csv").write_text(
            "note,size cm,colour,member\nn1,16.0,red,True\nn2,,,\nn3,4.0,blue,False\n")
        result = in_process(str(run.path), f"input={tmp_path / 'new.csv'}",
                            f"output={tmp_path / 'out.csv'}", cwd=tmp_path, tool="tftrain-predict")
    assert result.returncode == 0, result.output
    assert run.summary["data"]["inputs"]["size cm"]["kind"] == "numeric"
    assert not [w for w in caught if "must match the names" in str(w.message)]
    rows = (tmp_path / "out.csv").read_text().splitlines()
    assert rows[0] == "input,predicted,p_big,p_small"
    assert [r.split(",")[1] for r in rows[1:]] == ["big", rows[2].split(",")[1], "small"]
