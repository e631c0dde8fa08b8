"""Data as users bring it: images without a channel axis (MNIST as Keras holds it), and CSVs
as other tools write them (other delimiters and encodings, a BOM, gzip, quoted fields)."""

from __future__ import annotations

import csv
import gzip
import io
import struct
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_DATA, RunFolder, in_process, run_cli

MNIST_T10K = SHARED_DATA / "mnist_t10k"
needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip), as MNIST and Fashion-MNIST are distributed."""
    data = gzip.decompress(path.read_bytes())
    dims = data[3]
    shape = struct.unpack(f">{dims}I", data[4:4 + 4 * dims])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def digits_28(count: int) -> tuple[np.ndarray, np.ndarray]:
    """(count, 28, 28) uint8 images and their labels: real MNIST digits when ../shared has
    them, else learnable stand-ins (class-dependent blobs) of the same layout."""
    if MNIST_T10K.is_dir():
        x = read_idx(MNIST_T10K / "t10k-images-idx3-ubyte.gz")[:count]
        return x, read_idx(MNIST_T10K / "t10k-labels-idx1-ubyte.gz")[:count]
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, count).astype(np.uint8)
    x = rng.integers(0, 60, (count, 28, 28)).astype(np.uint8)
    for i, label in enumerate(y):
        x[i, 2 * label:2 * label + 8, 4:24] = 255
    return x, y


def mnist_npz(path: Path, train: int, test: int) -> Path:
    """Keras' own mnist.npz layout: x_train (N, 28, 28) uint8, y_train, x_test, y_test."""
    x, y = digits_28(train + test)
    np.savez(path, x_train=x[:train], y_train=y[:train], x_test=x[train:], y_test=y[train:])
    return path


def idx_gz(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_mnist_without_a_channel_axis_trains_a_cnn_and_predict_takes_hw_arrays(tmp_path, train):
    mnist_npz(tmp_path / "mnist.npz", train=600, test=200)
    run = train("dataset=npz", f"dataset.path={tmp_path / 'mnist.npz'}", "model=cnn", "debug=smoke")
    inputs = run.summary["data"]["inputs"]["input"]
    assert inputs["shape"] == [28, 28, 1] and inputs["dtype"] == "uint8"
    assert "(28, 28) taken as one-channel images" in (run.path / "train.log").read_text()
    x, _ = digits_28(5)
    for name, array in {"hw": x, "hwc": x[..., None], "one": x[0], "colour": np.repeat(x[..., None], 3, -1)}.items():
        np.save(tmp_path / f"{name}.npy", array)
        result = in_process(str(run.path), f"input={tmp_path / name}.npy", f"output={tmp_path / name}.csv",
                            cwd=tmp_path, tool="tftrain-predict")
        assert result.returncode == 0, (name, result.output)
    rows = {name: (tmp_path / f"{name}.csv").read_text().splitlines()[1:]
            for name in ("hw", "hwc", "one", "colour")}
    assert rows["hw"] == rows["hwc"] and len(rows["hw"]) == 5
    assert rows["one"][0].split(",")[1] == rows["hw"][0].split(",")[1]  # a batch of one: same class
    assert len(rows["colour"]) == 5  # colour made grey (luminance), as the model takes


def test_channel_axis_false_keeps_two_dimensional_examples(tmp_path, train):
    mnist_npz(tmp_path / "mnist.npz", train=300, test=100)
    run = train("dataset=npz", f"dataset.path={tmp_path / 'mnist.npz'}", "dataset.channel_axis=false",
                "debug=smoke")
    assert run.summary["data"]["inputs"]["input"]["shape"] == [28, 28]


def test_tfrecord_images_of_height_and_width_get_one_channel(tmp_path, train):
    import tensorflow as tf

    x, y = digits_28(120)
    with tf.io.TFRecordWriter(str(tmp_path / "digits.tfrecord")) as writer:
        for image, label in zip(x, y):
            feature = {"pixels": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
                       "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)]))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    run = train("dataset=tfrecord", f"dataset.path={tmp_path / 'digits.tfrecord'}", "model=cnn",
                "+dataset.features={pixels: {shape: [28, 28], dtype: uint8, decode: raw}, label: {dtype: int64}}",
                "debug=smoke")
    assert run.summary["data"]["inputs"]["input"]["shape"] == [28, 28, 1]


def keras_experiments() -> dict[str, str]:
    """The experiments whose data is a keras.datasets dataset: {experiment: dataset name}."""
    from conftest import REPO
    from tftrain.config import schema
    from tftrain.config.compose import compose

    schema.register()
    found = {}
    for path in sorted((REPO / "conf" / "experiment").glob("*.yaml")):
        dataset = compose([f"experiment={path.stem}"]).dataset
        if dataset._target_.endswith("keras_dataset"):
            found[path.stem] = dataset.name
    return found


@pytest.mark.slow  # 8-18 s: the default run stays near 5 minutes
def test_keras_dataset_experiments_run_offline_from_the_users_local_copies(tmp_path):
    """The guides' MNIST experiments from a local mnist.npz in Keras' layout (dataset=npz),
    Fashion-MNIST's from its files in $KERAS_HOME/datasets/fashion-mnist (a new process:
    Keras reads KERAS_HOME when it is imported). The other experiments bring their own data
    (test_models.py runs them all)."""
    experiments = keras_experiments()
    assert set(experiments.values()) == {"mnist", "fashion_mnist"}, experiments
    keras_home = tmp_path / "keras_home" / "datasets" / "fashion-mnist"
    keras_home.mkdir(parents=True)
    x, y = digits_28(264)
    for split, part in (("train", slice(0, 200)), ("t10k", slice(200, 264))):
        idx_gz(keras_home / f"{split}-images-idx3-ubyte.gz", x[part])
        idx_gz(keras_home / f"{split}-labels-idx1-ubyte.gz", y[part])
    mnist = mnist_npz(tmp_path / "mnist.npz", 200, 64)
    for experiment, dataset in experiments.items():
        args = (f"experiment={experiment}", "debug=smoke", f"hydra.run.dir={tmp_path / experiment}")
        if dataset == "mnist":
            done = in_process(*args, "dataset=npz", f"dataset.path={mnist}", cwd=tmp_path)
        else:
            done = run_cli(*args, cwd=tmp_path, env={"KERAS_HOME": str(tmp_path / "keras_home")})
        assert done.returncode == 0, (experiment, done.output)
        summary = RunFolder(tmp_path / experiment).summary
        assert summary["status"] == "completed" and summary["data"]["inputs"]["input"]["shape"] == [28, 28, 1]
        assert summary["data"]["sizes"]["test"] == 64  # the local copy's own test split


@needs_shared
@pytest.mark.slow
def test_real_mnist_digits_as_keras_holds_them_reach_high_accuracy_with_model_cnn(tmp_path, train):
    """8,000 real MNIST digits to train, 2,000 to test, (N, 28, 28) uint8 as Keras holds them."""
    mnist = mnist_npz(tmp_path / "mnist.npz", 8000, 2000)
    run = train("dataset=npz", f"dataset.path={mnist}", "model=cnn", "trainer.epochs=5")
    assert run.summary["test"]["accuracy"] >= 0.98, run.summary["test"]


def penguins_rows() -> list[list[str]]:
    """The real penguins table (header first) when ../shared has it, else a stand-in."""
    if (SHARED_DATA / "penguins.csv").is_file():
        return list(csv.reader(io.StringIO((SHARED_DATA / "penguins.csv").read_text())))
    rng = np.random.default_rng(0)
    rows = [["species", "island", "bill_length_mm", "body_mass_g", "sex"]]
    for i in range(120):
        kind = ["Adelie", "Gentoo", "Chinstrap"][i % 3]
        rows.append([kind, ["Biscoe", "Dream"][i % 2], f"{38 + 5 * (i % 3) + rng.normal():.1f}",
                     f"{3500 + 700 * (i % 3) + 50 * rng.normal():.0f}", ["MALE", "FEMALE", ""][i % 3]])
    return rows


def written(path: Path, rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8",
            compress: bool = False) -> Path:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    data = out.getvalue().encode(encoding)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def accented(rows: list[list[str]]) -> list[list[str]]:
    """Island names as a French export would spell them (non-ASCII, in the third data row)."""
    return [rows[0]] + [[c.replace("Dream", "Rêve") for c in row] for row in rows[1:]]


def with_notes(rows: list[list[str]]) -> list[list[str]]:
    """A free-text column whose quoted fields hold commas, quotes and newlines."""
    notes = ['seen near "the rocks", twice', "tagged,\nthen released", "plain"]
    return [rows[0] + ["note"]] + [row + [notes[i % 3]] for i, row in enumerate(rows[1:])]


CSV_VARIANTS = {
    "semicolon-latin1": (lambda p, r: written(p, accented(r), ";", "latin-1"),
                         ["dataset.encoding=latin-1"], "semicolon-separated"),
    "tab": (lambda p, r: written(p, r, "\t"), [], "tab-separated"),
    "pipe": (lambda p, r: written(p, r, "|"), [], "pipe-separated"),
    "utf8-bom": (lambda p, r: written(p, accented(r), ",", "utf-8-sig"), [], None),
    "utf16": (lambda p, r: written(p, r, ",", "utf-16"), ["dataset.encoding=utf-16"], None),
    "gzip": (lambda p, r: written(p.with_suffix(".csv.gz"), r, compress=True), [], None),
    "quoted-commas-newlines": (lambda p, r: written(p, with_notes(r)), ["+dataset.columns.note=text"], None),
    "forced-delimiter": (lambda p, r: written(p, r, ";"), ["dataset.delimiter=semicolon"], None),
}


@pytest.mark.parametrize("variant", sorted(CSV_VARIANTS))
def test_csvs_as_other_tools_write_them_train(tmp_path, train, variant):
    make, args, said = CSV_VARIANTS[variant]
    path = make(tmp_path / "penguins.csv", penguins_rows())
    run = train("dataset=csv", f"dataset.path={path}", "dataset.label=species", *args, "debug=smoke")
    summary = run.summary
    assert summary["status"] == "completed"
    assert summary["data"]["targets"]["output"]["class_names"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert summary["data"]["inputs"]["island"]["kind"] == "categorical"
    log = (run.path / "train.log").read_text()
    assert (said in log) if said else "separated (detected" not in log


def test_a_latin1_csv_without_its_encoding_names_the_line_and_the_option(tmp_path):
    rows = accented(penguins_rows())
    written(tmp_path / "penguins.csv", rows, ";", "latin-1")
    line = next(i for i, row in enumerate(rows, start=1) if "Rêve" in row)
    result = in_process("dataset=csv", "dataset.path=penguins.csv", "dataset.label=species",
                        "debug=smoke", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.output
    assert f"penguins.csv, line {line}: byte 0xea is not UTF-8" in result.stderr
    assert "dataset.encoding=latin-1" in result.stderr
    assert not (tmp_path / "outputs").exists()


def test_a_csv_without_the_label_column_names_the_closest_columns(tmp_path):
    rows = [[c for i, c in enumerate(row) if i != 0] for row in penguins_rows()]  # no species
    written(tmp_path / "penguins.csv", rows)
    result = in_process("dataset=csv", "dataset.path=penguins.csv", "dataset.label=species",
                        "debug=smoke", cwd=tmp_path)
    assert result.returncode == 2 and "no label column 'species'" in result.stderr
    assert "island" in result.stderr and not (tmp_path / "outputs").exists()


def headerless_digits(path: Path, count: int, step: int = 1) -> Path:
    """Digits as other tools write arrays to CSV (../shared/data/mnist_5k.csv.gz is one):
    gzip, no header row, 784 pixel columns (every `step`-th row and column), then the label."""
    x, y = digits_28(count)
    rows = [[*map(str, image[::step, ::step].ravel()), str(label)] for image, label in zip(x, y)]
    return written(path, rows, compress=True)


@pytest.mark.slow  # 8-18 s: the default run stays near 5 minutes
@pytest.mark.parametrize("in_memory, step", [(True, 1), (False, 4)])
def test_a_csv_without_a_header_row_trains_with_its_label_given_by_position(tmp_path, train,
                                                                           in_memory, step):
    path = headerless_digits(tmp_path / "digits.csv.gz", 600, step)
    run = train("dataset=csv", f"dataset.path={path}", "dataset.label=-1",
                f"dataset.in_memory={str(in_memory).lower()}", "debug=smoke")
    summary, log, pixels = run.summary, (run.path / "train.log").read_text(), (28 // step) ** 2
    assert summary["status"] == "completed"
    assert summary["data"]["class_names"] == [str(c) for c in range(10)]
    assert set(summary["data"]["inputs"]) == {str(i) for i in range(pixels)}  # named by position
    assert "has no header row (its first row is data)" in log and f"0 to {pixels}" in log
    assert f"{pixels} in all: {pixels} numeric" in log  # one line, not every input spelt out


@pytest.mark.parametrize("label, said", [
    ("label", "no label column 'label'"),
    ("900", "position 900 is outside the file's 785 columns (0 to 784, or -1 for the last)"),
])
def test_a_label_a_headerless_csv_does_not_have_is_refused_with_its_columns(tmp_path, label, said):
    headerless_digits(tmp_path / "digits.csv.gz", 50)
    result = in_process("dataset=csv", "dataset.path=digits.csv.gz", f"dataset.label={label}",
                        "debug=smoke", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.output
    assert said in result.stderr and "0, 1, 2" in result.stderr and "(785 in all)" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3 and not (tmp_path / "outputs").exists()


def test_header_true_reads_a_first_row_of_numbers_as_column_names(tmp_path, train):
    rows = [["1", "2", "3"]] + [[f"{i % 7}", f"{i * 0.5}", ["a", "b"][i % 2]] for i in range(60)]
    path = written(tmp_path / "numbered.csv", rows)
    run = train("dataset=csv", f"dataset.path={path}", "dataset.label=3", "dataset.header=true",
                "debug=smoke")
    assert set(run.summary["data"]["inputs"]) == {"1", "2"}
    assert run.summary["data"]["class_names"] == ["a", "b"]


def test_a_column_constant_in_training_does_not_blow_up_values_met_later(tmp_path, train):
    """Standardising by a zero spread turned any other value into ~1e7 (val_loss 291,122 on
    MNIST as CSV, whose border pixels are blank in training): the column keeps its scale."""
    rows = penguins_rows()
    written(tmp_path / "penguins.csv", [rows[0] + ["flag"]] + [row + ["0"] for row in rows[1:]])
    run = train("dataset=csv", "dataset.path=penguins.csv", "dataset.label=species", "debug=smoke")
    for flag in ("0", "1"):
        written(tmp_path / f"flag{flag}.csv", [rows[0][1:] + ["flag"]] +
                [row[1:] + [flag] for row in rows[1:21]])
        result = in_process(str(run.path), f"input=flag{flag}.csv", f"output=p{flag}.csv",
                            cwd=tmp_path, tool="tftrain-predict")
        assert result.returncode == 0, result.output
    p0, p1 = (np.loadtxt(tmp_path / f"p{f}.csv", delimiter=",", skiprows=1, usecols=(2, 3, 4),
                         dtype=np.float64) for f in "01")
    assert np.abs(p1 - p0).max() < 0.5, (p0, p1)  # the flag's unit step moves little


@pytest.mark.parametrize("normalize", [False, True])
def test_features_on_very_different_scales_are_pointed_out_unless_normalised(tmp_path, train, normalize):
    """As Keras' boston_housing arrays: raw, they trained to a test MAE of 10.9; normalised, 2.2."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)) * [0.1, 1.0, 170.0]
    np.savez(tmp_path / "houses.npz", x=x, y=x @ [10.0, 1.0, 0.01])
    run = train("dataset=npz", f"dataset.path={tmp_path / 'houses.npz'}", "dataset.x_key=x",
                "dataset.y_key=y", f"dataset.normalize={str(normalize).lower()}", "debug=smoke")
    said = "spread on very different scales" in (run.path / "train.log").read_text()
    assert said != normalize and run.summary["status"] == "completed"


def test_a_pandas_index_column_is_left_out_and_repeated_names_are_kept_apart(tmp_path, train):
    """DataFrame.to_csv writes the row index as a first column with no name: on a file sorted
    by its label that index alone predicts the label, so it is no feature. A repeated column
    name (two 'bill' columns) would hide one column: the second is read as 'bill.1'."""
    rows = penguins_rows()
    header = [rows[0][0], rows[0][1], "bill", "bill", *rows[0][4:]]
    written(tmp_path / "export.csv", [["", *header]] + [[str(i), *row] for i, row in enumerate(rows[1:])])
    run = train("dataset=csv", "dataset.path=export.csv", "dataset.label=species", "debug=smoke")
    inputs, log = run.summary["data"]["inputs"], (run.path / "train.log").read_text()
    assert "unnamed_0" not in inputs and "have no name in the header" in log
    assert {"bill", "bill.1"} <= set(inputs) and "read as bill.1 (column 4)" in log


def test_predict_takes_rows_without_a_header_in_the_models_column_order(tmp_path, train):
    rows = penguins_rows()
    written(tmp_path / "penguins.csv", rows)
    run = train("dataset=csv", "dataset.path=penguins.csv", "dataset.label=species", "debug=smoke")
    order = list(run.summary["data"]["inputs"])
    picked = [[row[rows[0].index(name)] for name in order] for row in rows[1:6]]
    written(tmp_path / "bare.csv", picked)
    written(tmp_path / "extra.csv", [[*row, "x"] for row in picked])
    bare = in_process(str(run.path), "input=bare.csv", "output=p.csv", cwd=tmp_path, tool="tftrain-predict")
    assert bare.returncode == 0, bare.output
    assert "taken as the model's inputs in order" in bare.stdout and "5 prediction(s)" in bare.stdout
    extra = in_process(str(run.path), "input=extra.csv", cwd=tmp_path, tool="tftrain-predict")
    assert extra.returncode == 2 and "Traceback" not in extra.output
    assert f"give exactly the model's {len(order)} columns, in its order" in extra.stderr
