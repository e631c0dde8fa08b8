"""Data as users get it wrong, or write it otherwise than tftrain did: one-hot labels, float
class ids, numbers with thousands separators, currency or percent signs, decimal commas,
typos and infinities in numeric columns, test arrays of another shape, leaks, damaged
images, files of other formats. Each either trains what the data means, said on the
console, or is refused before training in one paragraph naming the file and the value."""

from __future__ import annotations

import bz2
import csv
import io
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_refused, in_process

SMOKE = ("debug=smoke",)
SPECIES = ("setosa", "versicolor", "virginica")


def iris_like(rows: int = 150, seed: int = 0) -> list[list[str]]:
    """A header and rows of four measurements and a species, learnable and sorted by class."""
    rng = np.random.default_rng(seed)
    out = [["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]]
    for i in range(rows):
        k = i * 3 // rows
        out.append([f"{v:.1f}" for v in rng.normal(2 + 2 * k, 0.4, 4)] + [SPECIES[k]])
    return out


def write(path: Path, rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8") -> Path:
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="\n").writerows(rows)
    path.write_text(text.getvalue(), encoding=encoding)
    return path


def digits(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(rows, 12, 12) uint8 images whose bright band's place is the class (0..9)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, rows)
    x = rng.integers(0, 40, (rows, 12, 12)).astype(np.uint8)
    for i, label in enumerate(y):
        x[i, label:label + 2] = 255
    return x, y


def refused(result, tmp_path: Path, fragments: list[str]) -> str:
    """The promise (exit 2, one paragraph naming the input, no traceback) and no run folder."""
    assert_refused(result, 2, fragments)
    assert not (tmp_path / "outputs").exists()
    return result.stderr.strip()


def trained(tmp_path: Path, *args: str):
    """A smoke run that must succeed: (its console output, its summary's data)."""
    import json

    result = in_process(*args, *SMOKE, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert "Traceback" not in result.output and "RuntimeWarning" not in result.output, result.output
    return result.stdout, json.loads((tmp_path / "run" / "summary.json").read_text())["data"]


# -- npz labels and arrays ---------------------------------------------------------------

@pytest.mark.parametrize("layout", ["float32", "uint8", "float32-with-test"])
def test_one_hot_labels_train_as_classes_and_are_said(tmp_path, layout):
    x, y = digits(400)
    onehot = np.eye(10, dtype=layout.split("-")[0])[y]
    arrays = {"x_train": x[:300], "y_train": onehot[:300]}
    if layout.endswith("with-test"):
        arrays |= {"x_test": x[300:], "y_test": onehot[300:]}
    np.savez(tmp_path / "d.npz", **arrays)
    out, data = trained(tmp_path, "dataset=npz", f"dataset.path={tmp_path / 'd.npz'}")
    assert data["task"] == "classification" and data["class_names"] == [str(i) for i in range(10)]
    assert "y_train is one-hot" in out


def test_float_class_ids_in_an_npz_are_classes_as_in_a_csv(tmp_path):
    x, y = digits(300)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y.astype(np.float32))
    out, data = trained(tmp_path, "dataset=npz", f"dataset.path={tmp_path / 'd.npz'}")
    assert data["task"] == "classification" and data["class_names"][:3] == ["0", "1", "2"]
    assert "read as 10 classes" in out and "dataset.task=regression" in out


def test_float64_pixels_0_to_255_are_read_as_uint8_and_said(tmp_path):
    x, y = digits(300)
    np.savez(tmp_path / "d.npz", x_train=x.astype(np.float64), y_train=y)
    out, data = trained(tmp_path, "dataset=npz", f"dataset.path={tmp_path / 'd.npz'}")
    assert data["inputs"]["input"]["dtype"] == "uint8" and "read as uint8 pixels" in out


def npz_mistake(tmp_path: Path, case: str) -> Path:
    x, y = digits(120)
    arrays = {"x_train": x[:100], "y_train": y[:100], "x_test": x[100:], "y_test": y[100:]}
    if case == "test-shape":
        arrays["x_test"] = x[100:, :8, :8]
    elif case == "test-lengths":
        arrays["y_test"] = y[100:105]
    elif case == "nan":
        arrays["x_train"] = x[:100].astype(np.float32)
        arrays["x_train"][5, 3, 3] = np.nan
    elif case == "two-d-labels":
        arrays["y_train"] = np.stack([y[:100], y[:100]], axis=1)
    np.savez(tmp_path / "d.npz", **arrays)
    return tmp_path / "d.npz"


@pytest.mark.parametrize("case, fragments", [
    ("test-shape", ["x_test holds examples of shape (8, 8)", "x_train of shape (12, 12)"]),
    ("test-lengths", ["20 rows in x_test but 5 in y_test"]),
    ("nan", ["x_train[5, 3, 3] is nan", "finite"]),
    ("two-d-labels", ["y_train has shape (100, 2)", "not one-hot", "y.argmax(1)"]),
])
def test_npz_mistakes_are_refused_before_training(tmp_path, case, fragments):
    path = npz_mistake(tmp_path, case)
    result = in_process("dataset=npz", f"dataset.path={path}", *SMOKE, cwd=tmp_path)
    refused(result, tmp_path, ["d.npz", *fragments])


# -- numbers in CSVs ---------------------------------------------------------------------

def housing(rows: int = 300) -> list[list[str]]:
    """A regression table whose target and one input are written as spreadsheets write them."""
    rng = np.random.default_rng(1)
    out = [["rooms", "share", "value"]]
    for _ in range(rows):
        rooms = rng.integers(500, 9000)
        out.append([f"{rooms:,}", f"{rng.integers(1, 99)}%", f"${rooms * 60 + rng.integers(0, 999):,}.00"])
    return out


def test_thousands_separators_currency_and_percent_are_numbers(tmp_path):
    path = write(tmp_path / "h.csv", housing())
    out, data = trained(tmp_path, "dataset=csv", f"dataset.path={path}", "dataset.label=value")
    assert data["task"] == "regression"
    assert {info["kind"] for info in data["inputs"].values()} == {"numeric"}
    assert "thousands separators, as '" in out and "'%' signs" in out and "currency signs" in out


def test_a_streamed_csv_reads_the_same_notations(tmp_path):
    path = write(tmp_path / "h.csv", housing())
    out, data = trained(tmp_path, "dataset=csv", f"dataset.path={path}", "dataset.label=value",
                        "dataset.in_memory=false")
    assert data["task"] == "regression"
    assert {info["kind"] for info in data["inputs"].values()} == {"numeric"}


@pytest.mark.parametrize("in_memory", ["true", "false"])
def test_decimal_commas_in_a_semicolon_file_are_detected_and_said(tmp_path, in_memory):
    rows = iris_like()
    path = write(tmp_path / "eu.csv", [rows[0]] + [[c.replace(".", ",") for c in r] for r in rows[1:]], ";")
    out, data = trained(tmp_path, "dataset=csv", f"dataset.path={path}", "dataset.label=species",
                        f"dataset.in_memory={in_memory}")
    assert [info["kind"] for info in data["inputs"].values()] == ["numeric"] * 4
    assert "decimal commas" in out


def test_a_dash_is_a_missing_value(tmp_path):
    rows = iris_like()
    for row in rows[1::7]:
        row[0] = "-"
    out, data = trained(tmp_path, "dataset=csv", f"dataset.path={write(tmp_path / 'd.csv', rows)}",
                        "dataset.label=species")
    assert data["inputs"]["sepal_length"]["kind"] == "numeric"


def numbers_mistake(tmp_path: Path, value: str) -> Path:
    rows = iris_like()
    rows[41][1] = value  # line 42 of the file
    return write(tmp_path / "d.csv", rows)


@pytest.mark.parametrize("value, fragments", [
    ("abc", ["'abc' is not a number", "149 of its 150 values are", "+dataset.columns.sepal_width=categorical"]),
    ("inf", ["'inf' is infinite"]),
    ("1e39", ["'1e39' is beyond float32's range"]),
    ("3,5", ["'3,5' is not a number", "dataset.decimal=','"]),
])
def test_a_value_a_column_of_numbers_cannot_take_is_refused_naming_its_line(tmp_path, value, fragments):
    result = in_process("dataset=csv", f"dataset.path={numbers_mistake(tmp_path, value)}",
                        "dataset.label=species", *SMOKE, cwd=tmp_path)
    refused(result, tmp_path, ["d.csv, line 42, column 'sepal_width'", *fragments])


def test_a_streamed_infinity_is_refused(tmp_path):
    result = in_process("dataset=csv", f"dataset.path={numbers_mistake(tmp_path, 'inf')}",
                        "dataset.label=species", "dataset.in_memory=false", *SMOKE, cwd=tmp_path)
    refused(result, tmp_path, ["column 'sepal_width'", "not a finite number: inf"])


def test_a_label_of_text_unique_to_each_row_is_no_classifier(tmp_path):
    rows = [["size", "price"]] + [[str(i), f"about {i * 1000} USD"] for i in range(100)]
    result = in_process("dataset=csv", f"dataset.path={write(tmp_path / 'd.csv', rows)}",
                        "dataset.label=price", *SMOKE, cwd=tmp_path)
    refused(result, tmp_path, ["label column 'price'", "100 distinct values in 100 rows",
                               "dataset.task=classification"])


def test_a_single_class_is_named_before_the_batch_size(tmp_path):
    rows = [["a", "b", "label"], ["1", "2", "x"], ["3", "4", "x"], ["5", "6", "x"]]
    result = in_process("dataset=csv", f"dataset.path={write(tmp_path / 'd.csv', rows)}",
                        "dataset.label=label", *SMOKE, cwd=tmp_path)
    refused(result, tmp_path, ["d.csv, label column 'label' holds a single class, 'x'"])


def test_a_class_only_the_held_out_splits_hold_is_added_when_streaming(tmp_path):
    rows = iris_like() + [["6.0", "3.0", "4.0", "1.0", f"rare{i}"] for i in range(10)]
    out, data = trained(tmp_path, "dataset=csv", f"dataset.path={write(tmp_path / 'd.csv', rows)}",
                        "dataset.label=species", "dataset.in_memory=false")
    assert len(data["class_names"]) == 13
    assert "appear only in the validation or test split" in out


# -- leaks and ID-like columns -----------------------------------------------------------

def test_a_copy_of_the_label_a_row_number_and_unique_strings_are_warned_about(tmp_path):
    rows = iris_like()
    rows[0] += ["id", "alive", "when"]
    for i, row in enumerate(rows[1:]):
        row += [str(i + 1), {"setosa": "yes", "versicolor": "no", "virginica": "maybe"}[row[4]],
                f"2021-03-{i:03d}"]
    out, _ = trained(tmp_path, "dataset=csv", f"dataset.path={write(tmp_path / 'd.csv', rows)}",
                     "dataset.label=species")
    assert "column 'alive' matches the label 'species'" in out and "'dataset.drop=[alive]'" in out
    assert "column 'id' looks like a row number" in out and "'dataset.drop=[id]'" in out
    assert "column 'when' has 150 distinct values in 150 rows" in out
    assert "column 'sepal_length'" not in out


# -- files of other formats and encodings ------------------------------------------------

def test_files_of_other_formats_say_what_they_are_and_what_to_do(tmp_path):
    text = "a,b\n1,x\n2,y\n"
    (tmp_path / "d.csv.bz2").write_bytes(bz2.compress(text.encode()))
    (tmp_path / "d.json").write_text('[{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]')
    cases = {"d.csv.bz2": ["bzip2-compressed", ".csv.gz", "bunzip2"],
             "d.json": ["holds JSON, not CSV", "pandas.read_json('d.json')"]}
    for name, fragments in cases.items():
        result = in_process("dataset=csv", f"dataset.path={tmp_path / name}", "dataset.label=b",
                            *SMOKE, cwd=tmp_path)
        refused(result, tmp_path, [name, *fragments])


def test_windows_bytes_suggest_cp1252_first(tmp_path):
    rows = iris_like()
    rows[1][4] = "set’osa"
    path = write(tmp_path / "d.csv", rows, encoding="cp1252")
    result = in_process("dataset=csv", f"dataset.path={path}", "dataset.label=species", *SMOKE, cwd=tmp_path)
    message = refused(result, tmp_path, ["line 2", "byte 0x92", "dataset.encoding=cp1252"])
    assert message.index("cp1252") < message.index("latin-1")


def test_utf16_with_a_byte_order_mark_is_read_and_said(tmp_path):
    path = write(tmp_path / "d.csv", iris_like(), encoding="utf-16")
    out, data = trained(tmp_path, "dataset=csv", f"dataset.path={path}", "dataset.label=species")
    assert "UTF-16" in out and len(data["class_names"]) == 3


# -- image folders -----------------------------------------------------------------------

def image_folder(root: Path, formats: tuple[str, ...] = ("png",)) -> Path:
    from PIL import Image

    for k, colour in enumerate(("red", "blue")):
        (root / colour).mkdir(parents=True)
        for i in range(6):
            pixels = np.zeros((16, 16, 3), np.uint8)
            pixels[..., 2 * k] = 200 + i
            Image.fromarray(pixels).save(root / colour / f"img{i}.{formats[i % len(formats)]}")
    return root


def test_webp_images_are_read_and_apple_double_files_skipped(tmp_path):
    folder = image_folder(tmp_path / "img", ("png", "webp"))
    (folder / "red" / "._img0.png").write_bytes(b"\x00\x05\x16\x07" + b"\x00" * 80)
    _, data = trained(tmp_path, "dataset=image_dir", f"dataset.path={folder}",
                      "dataset.image_size=[16,16]", "trainer.batch_size=2")
    assert sum(data["sizes"].values()) == 12


@pytest.mark.parametrize("in_memory", ["true", "false"])
def test_an_image_that_does_not_decode_is_named(tmp_path, in_memory):
    folder = image_folder(tmp_path / "img")
    (folder / "blue" / "zero.jpg").write_bytes(b"")
    (folder / "red" / "broken.png").write_bytes((folder / "red" / "img0.png").read_bytes()[:60])
    result = in_process("dataset=image_dir", f"dataset.path={folder}", "dataset.image_size=[16,16]",
                        "trainer.batch_size=2", f"dataset.in_memory={in_memory}", *SMOKE, cwd=tmp_path)
    message = refused(result, tmp_path, ["remove or replace it"])
    assert "blue/zero.jpg is an empty file" in message or "red/broken.png is not an image" in message


def test_a_folder_of_one_class_says_so_for_folders(tmp_path):
    folder = image_folder(tmp_path / "img")
    for file in (folder / "blue").iterdir():
        file.unlink()
    (folder / "blue").rmdir()
    result = in_process("dataset=image_dir", f"dataset.path={folder}", "dataset.image_size=[16,16]",
                        *SMOKE, cwd=tmp_path)
    message = refused(result, tmp_path, ["holds one class folder, 'red'", "subfolder"])
    assert "dataset.label" not in message
