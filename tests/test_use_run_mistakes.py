"""Using a trained run on data other than its own, as users bring it: tftrain-eval on another
CSV or image folder reads it with the run's columns, kinds and classes (a subset of the
classes is fine, an unknown one refused); tftrain-predict checks its inputs against what the
model was trained on. Real tiny runs, real files, the real commands in process."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import RunFolder, assert_refused, in_process

CLASSES = {"A": (-3.0, "north"), "B": (0.0, "south"), "C": (3.0, "east")}
HEADER = ["species", "x1", "x2", "site"]
SMALL_BATCH = "trainer.batch_size=4"  # so that only the small-file test meets a batch too large


def refused(result, fragments: list[str], absent: tuple[str, ...] = ()) -> None:
    """Exit status 2, one paragraph naming the input, no traceback; `absent` never said."""
    assert_refused(result, 2, [*fragments, *(f"!{text}" for text in absent)])


def write_csv(path: Path, rows: list[list[object]], header: list[str] = HEADER) -> Path:
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def rows_of(species: str, count: int, rng: np.random.Generator | None = None) -> list[list[object]]:
    """Rows of one class; identical ones when no generator is given (their loss is known)."""
    center, site = CLASSES[species]
    noise = (lambda: 0.0) if rng is None else (lambda: float(rng.normal(scale=0.5)))
    return [[species, round(center + noise(), 3), round(-center + noise(), 3), site]
            for _ in range(count)]


def evaluate(*args: str, cwd: Path):
    return in_process(*args, cwd=cwd, tool="tftrain-eval")


def predict(*args: str, cwd: Path):
    return in_process(*args, cwd=cwd, tool="tftrain-predict")


@pytest.fixture(scope="module")
def table_run(tmp_path_factory) -> RunFolder:
    """A run on a three-class CSV (two numeric columns, one categorical)."""
    root = tmp_path_factory.mktemp("table")
    rng = np.random.default_rng(0)
    write_csv(root / "train.csv", [r for s in CLASSES for r in rows_of(s, 60, rng)])
    result = in_process("dataset=csv", "dataset.path=train.csv", "dataset.label=species",
                        "trainer.epochs=2", f"hydra.run.dir={root / 'run'}", cwd=root)
    assert result.returncode == 0, result.output
    return RunFolder(root / "run")


@pytest.fixture(scope="module")
def image_run(tmp_path_factory) -> RunFolder:
    """A run on a folder of 8x8 PNGs in two classes, red and blue (uint8 pixels)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    colours = {"red": (200, 30, 30), "blue": (30, 30, 200), "green": (30, 200, 30)}
    rng = np.random.default_rng(0)
    for folder, classes in (("train", ("red", "blue")), ("one", ("blue",)),
                            ("three", ("red", "blue", "green"))):
        for name in classes:
            (root / folder / name).mkdir(parents=True)
            for i in range(20):
                pixels = np.clip(np.array(colours[name]) + rng.normal(0, 20, (8, 8, 3)), 0, 255)
                Image.fromarray(pixels.astype(np.uint8)).save(root / folder / name / f"{i}.png")
    result = in_process("dataset=image_dir", "dataset.path=train", "dataset.image_size=[8,8]",
                        "trainer.batch_size=8", "trainer.epochs=2",
                        f"hydra.run.dir={root / 'run'}", cwd=root)
    assert result.returncode == 0, result.output
    return RunFolder(root / "run")


def probabilities(run: RunFolder, file: Path, cwd: Path) -> list[dict[str, str]]:
    out = cwd / f"{file.stem}.predictions.csv"
    result = predict(str(run.path), f"input={file}", f"output={out}", cwd=cwd)
    assert result.returncode == 0, result.output
    with open(out, newline="") as handle:
        return list(csv.DictReader(handle))


def test_eval_on_a_subset_of_the_classes_uses_the_runs_class_ids(table_run, tmp_path):
    """B and C rows only: numbered by the run's classes (B=1, C=2), not the file's (B=0,
    C=1). Rows of a class are identical, so the loss is known from the model's outputs."""
    subset = write_csv(tmp_path / "b_and_c.csv", rows_of("B", 20) + rows_of("C", 20))
    result = evaluate(str(table_run.path), f"dataset.path={subset}", SMALL_BATCH, cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert "evaluating all of" in result.stdout  # other data: all of it, not its test split
    written = json.loads(next((table_run.path / "eval").glob("b_and_c-*.all.json")).read_text())
    assert written["samples"] == 40
    one_each = write_csv(tmp_path / "one_each.csv", rows_of("B", 1) + rows_of("C", 1))
    b, c = probabilities(table_run, one_each, tmp_path)
    expected = -(math.log(float(b["p_B"])) + math.log(float(c["p_C"]))) / 2
    assert written["metrics"]["loss"] == pytest.approx(expected, rel=1e-3)
    right = (b["predicted"] == "B") + (c["predicted"] == "C")
    assert written["metrics"]["accuracy"] == pytest.approx(right / 2)


def test_eval_of_a_file_smaller_than_a_batch_evaluates_it(table_run, tmp_path):
    """Eval trains nothing: a training split smaller than a batch is no reason to refuse."""
    small = write_csv(tmp_path / "small.csv", rows_of("A", 10) + rows_of("C", 10))
    result = evaluate(str(table_run.path), f"dataset.path={small}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert "training split" not in result.output


@pytest.mark.parametrize("case, fragments", [
    ("unknown-class", ["unknown.csv", "holds the class(es) Z", "never learnt", "A, B, C"]),
    ("renamed-column", ["renamed.csv", "lacks the input(s) x2", "Did you mean 'x_2'?"]),
    ("other-data", ["other.csv", "lacks the input(s) x1, x2, site", "it has: petal"]),
    ("words-in-a-numeric-column", ["words.csv", "data row 1, column 'x2'",
                                   "takes this column as numbers"]),
])
def test_eval_refuses_data_that_does_not_fit_the_run_in_one_paragraph(table_run, tmp_path, case,
                                                                       fragments):
    rows = rows_of("A", 10) + rows_of("B", 10)
    if case == "unknown-class":
        file = write_csv(tmp_path / "unknown.csv", rows + [["Z", 0.0, 0.0, "north"]] * 10)
    elif case == "renamed-column":
        file = write_csv(tmp_path / "renamed.csv", rows, ["species", "x1", "x_2", "site"])
    elif case == "other-data":
        file = write_csv(tmp_path / "other.csv", [[r[0], r[1], r[2]] for r in rows],
                         ["species", "petal", "sepal"])
    else:
        file = write_csv(tmp_path / "words.csv", [[*r[:2], "low" if i % 2 else "high", r[3]]
                                                  for i, r in enumerate(rows)])
    before = records(table_run)
    result = evaluate(str(table_run.path), f"dataset.path={file}", SMALL_BATCH, cwd=tmp_path)
    refused(result, fragments, absent=("dataset.columns",))
    assert records(table_run) == before  # nothing written


def records(run: RunFolder) -> dict[str, bytes]:
    """The evaluation records a run folder holds, with their bytes."""
    return {p.name: p.read_bytes() for p in (run.path / "eval").glob("*")}


def test_eval_takes_numbers_in_a_categorical_column_as_categories(table_run, tmp_path):
    file = write_csv(tmp_path / "numbered_sites.csv",
                     [[*r[:3], str(i % 3)] for i, r in enumerate(rows_of("A", 15) + rows_of("B", 15))])
    result = evaluate(str(table_run.path), f"dataset.path={file}", SMALL_BATCH, cwd=tmp_path)
    assert result.returncode == 0, result.output


def test_eval_of_an_image_folder_of_one_of_the_runs_classes(image_run):
    result = evaluate(str(image_run.path), "dataset.path=one", SMALL_BATCH, cwd=image_run.path.parent)
    assert result.returncode == 0, result.output


def test_eval_refuses_an_image_folder_with_a_class_the_run_never_learnt(image_run):
    result = evaluate(str(image_run.path), "dataset.path=three", SMALL_BATCH, cwd=image_run.path.parent)
    refused(result, ["dataset.path=three", "green", "never learnt", "blue, red"])


def test_predict_scales_float_pixels_in_0_1_for_a_model_of_0_255_pixels(image_run, tmp_path):
    from PIL import Image

    pixels = np.stack([np.asarray(Image.open(image_run.path.parent / "train" / c / "0.png"))
                       for c in ("red", "blue")])
    np.save(tmp_path / "u8.npy", pixels)
    np.save(tmp_path / "f01.npy", pixels.astype(np.float32) / 255)
    as_bytes = probabilities(image_run, tmp_path / "u8.npy", tmp_path)
    as_floats = probabilities(image_run, tmp_path / "f01.npy", tmp_path)
    assert [r["p_red"] for r in as_floats] == [r["p_red"] for r in as_bytes]


@pytest.mark.parametrize("values, fragments", [
    ("nan", ["x.npy", "nan", "finite numbers"]),
    ("negative", ["x.npy", "from -1", "0 to 255"]),
])
def test_predict_refuses_inputs_the_model_was_not_trained_on(image_run, tmp_path, values, fragments):
    x = np.full((2, 8, 8, 3), 0.5, np.float32)
    x[1, 2, 3, 0] = np.nan if values == "nan" else -1.0
    np.save(tmp_path / "x.npy", x)
    result = predict(str(image_run.path), f"input={tmp_path / 'x.npy'}",
                     f"output={tmp_path / 'out.csv'}", cwd=tmp_path)
    refused(result, fragments)
    assert not (tmp_path / "out.csv").exists()


def test_predict_names_a_damaged_image_and_reads_subfolders(image_run, tmp_path):
    source = image_run.path.parent / "train" / "red" / "0.png"
    (tmp_path / "photos" / "day2").mkdir(parents=True)
    (tmp_path / "photos" / "top.png").write_bytes(source.read_bytes())
    (tmp_path / "photos" / "day2" / "deep.png").write_bytes(source.read_bytes())
    (tmp_path / "photos" / "._top.png").write_bytes(b"\x00\x05\x16\x07" + b"\x00" * 80)  # macOS
    rows = probabilities(image_run, tmp_path / "photos", tmp_path)
    assert [r["input"] for r in rows] == ["day2/deep.png", "top.png"]

    (tmp_path / "photos" / "day2" / "cut.png").write_bytes(source.read_bytes()[:60])
    result = predict(str(image_run.path), f"input={tmp_path / 'photos'}", cwd=tmp_path)
    refused(result, [str(tmp_path / "photos" / "day2" / "cut.png"), "remove or replace it"],
                   absent=("BytesIO", ".npy"))


def test_predict_refuses_an_output_that_is_a_folder(image_run, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8, 3), np.uint8))
    result = predict(str(image_run.path), f"input={tmp_path / 'x.npy'}", f"output={tmp_path}",
                     cwd=tmp_path)
    refused(result, [f"output={tmp_path} is a folder", "predictions.csv"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def test_predict_refusing_a_word_in_a_numeric_column_gives_advice_that_applies(table_run, tmp_path):
    file = write_csv(tmp_path / "typo.csv", [["A", "long", -3.0, "north"], ["B", 0.0, 0.0, "south"]])
    result = predict(str(table_run.path), f"input={file}", f"output={tmp_path / 'o.csv'}", cwd=tmp_path)
    refused(result, ["typo.csv", "data row 1, column 'x1'", "'long'", "takes this column as numbers"],
                   absent=("dataset.columns",))


# What the readers refuse in a file given to tftrain-predict names its input= (the readers
# name their parameter `path`; predict keys it), never a dataset.* key predict does not take.
UNREADABLE_INPUTS = {
    "not-utf8": ("table_run", "latin.csv", b"species,x1,x2,site\nA,-3,3,caf\x92\n",
                 ["input=", "latin.csv, line 2", "byte 0x92 is not UTF-8", "iconv -f cp1252"]),
    "empty": ("table_run", "empty.csv", b"", ["input=", "empty.csv: the file is empty"]),
    "json": ("table_run", "rows.csv", b'[{"x1": 1}]', ["input=", "rows.csv holds JSON"]),
    "npy-as-npz": ("image_run", "x.npz", b"\x93NUMPY\x01\x00", ["input=", "is a single .npy array"]),
    "missing": ("image_run", "nothing.npy", None, ["input=", "nothing.npy: no such file or folder"]),
}


@pytest.mark.parametrize("case", UNREADABLE_INPUTS)
def test_predict_names_its_input_where_a_reader_refuses_the_file(request, tmp_path, case):
    run, name, content, fragments = UNREADABLE_INPUTS[case]
    if content is not None:
        (tmp_path / name).write_bytes(content)
    result = predict(str(request.getfixturevalue(run).path), f"input={tmp_path / name}", cwd=tmp_path)
    refused(result, fragments, absent=("dataset.", "⟨"))
