"""Invariants of reading and evaluating, through the real commands on tiny real runs.

One reader per kind of input: for each kind of source (a folder of images of several
formats and sizes, grey and colour; CSVs of numbers as spreadsheets write them, with
categories and gaps; a folder of texts; arrays in Keras' layout), tftrain-predict's output
for each example equals tftrain-eval's per-example prediction on the same data, matched by
the example's identity (its path, its row). And eval scores exactly the data it names: all
of a debug run's test split, all of other data (said), the split asked for, the weights
asked for, with a record of its own per evaluation, warned when the run's data changed.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import RunFolder, assert_refused, in_process

CLASSES = ("low", "high")


def evaluate(run: RunFolder, *args: str, cwd: Path):
    return in_process(str(run.path), *args, cwd=cwd, tool="tftrain-eval")


def written(result) -> Path:
    """The record an evaluation says it wrote."""
    found = re.search(r"written to (\S+\.json)", result.stdout)
    assert found, result.output
    return Path(found.group(1))


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def predicted(run: RunFolder, given: Path, cwd: Path) -> list[dict[str, str]]:
    out = cwd / f"{given.stem}.predict.csv"
    result = in_process(str(run.path), f"input={given}", f"output={out}", cwd=cwd,
                        tool="tftrain-predict")
    assert result.returncode == 0, result.output
    return rows_of(out)


def evaluated(run: RunFolder, data: Path, cwd: Path, *args: str) -> list[dict[str, str]]:
    """eval's per-example predictions on all of `data`."""
    result = evaluate(run, f"dataset.path={data}", "predictions=true", "split=all", *args, cwd=cwd)
    assert result.returncode == 0, result.output
    return rows_of(written(result).with_suffix(".predictions.csv"))


def assert_agree(by_eval: list[dict[str, str]], by_predict: list[dict[str, str]]) -> None:
    """The same examples (by identity), the same class and probabilities, example by example."""
    ours = {row["input"]: row for row in by_eval}
    theirs = {row["input"]: row for row in by_predict}
    assert set(ours) == set(theirs) and len(ours) == len(by_eval), (sorted(ours), sorted(theirs))
    columns = [c for c in by_predict[0] if c.startswith("p_")]
    assert columns and list(by_eval[0])[:len(by_predict[0])] == list(by_predict[0])
    for name, row in theirs.items():
        assert ours[name]["predicted"] == row["predicted"], name
        np.testing.assert_allclose([float(ours[name][c]) for c in columns],
                                   [float(row[c]) for c in columns], atol=1e-5, err_msg=name)


# Images: PNG, JPEG and WebP, grey and colour, of sizes other than the model's.
def image_folder(root: Path, seed: int, count: int = 12) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    colours = {"low": (40, 40, 200), "high": (220, 60, 40)}
    for name, colour in colours.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            size = tuple(int(s) for s in rng.integers(9, 23, size=2))
            pixels = np.clip(np.array(colour) + rng.normal(0, 50, (*size, 3)), 0, 255)
            image = Image.fromarray(pixels.astype(np.uint8))
            image = image.convert("L") if i % 4 == 3 else image
            image.save(root / name / f"{i}.{('png', 'jpg', 'webp')[i % 3]}")
    return root


@pytest.mark.parametrize("color_mode, in_memory", [("rgb", "true"), ("grayscale", "true"),
                                                   ("rgba", "false")])
def test_predict_equals_eval_on_a_folder_of_images(train, tmp_path, color_mode, in_memory):
    image_folder(tmp_path / "photos", seed=0)
    run = train("dataset=image_dir", "dataset.path=photos", "dataset.image_size=[8,8]",
                f"dataset.color_mode={color_mode}", f"dataset.in_memory={in_memory}",
                "debug=smoke", "trainer.batch_size=8")
    reading = run.summary["data"]["reading"]
    assert reading == {"image_size": [8, 8], "color_mode": color_mode}
    new = image_folder(tmp_path / "new", seed=1, count=5)
    by_predict = predicted(run, new, tmp_path)
    assert {r["input"] for r in by_predict} >= {"low/2.webp", "high/3.png", "low/1.jpg"}
    assert_agree(evaluated(run, new, tmp_path), by_predict)


# CSVs as spreadsheets write them: currency, thousands, percent, decimal commas, gaps.
def formatted_csv(path: Path, seed: int, rows: int, european: bool) -> Path:
    """A label and columns of formatted numbers, a category and missing values: a comma
    file with $1,234 and 45%, or a semicolon file with €1.234,5 and 3,5 (decimal commas)."""
    rng = np.random.default_rng(seed)
    table = [["grade", "price", "share", "rate", "colour"]]
    for i in range(rows):
        high = i % 2
        price = 1000 + 4000 * high + rng.normal(0, 300)
        share, rate = rng.uniform(0, 100), 2 + 3 * high + rng.normal(0, 0.5)
        if european:
            cells = [f"€{price:,.1f}".replace(",", "X").replace(".", ",").replace("X", "."),
                     f"{share:.0f}%", f"{rate:.2f}".replace(".", ",")]
        else:
            cells = [f"${price:,.0f}", f"{share:.0f}%", f"{rate:.2f}"]
        if i % 7 == 3:
            cells[i % 3] = ("", "NA", "-")[i % 3]
        colour = ("red", "green", "")[i % 3]
        table.append([CLASSES[high], *cells, colour])
    with open(path, "w", newline="") as handle:
        csv.writer(handle, delimiter=";" if european else ",").writerows(table)
    return path


@pytest.mark.parametrize("european", [False, True])
def test_predict_equals_eval_on_a_csv_of_formatted_numbers(train, tmp_path, european):
    formatted_csv(tmp_path / "train.csv", seed=0, rows=80, european=european)
    run = train("dataset=csv", "dataset.path=train.csv", "dataset.label=grade", "debug=smoke")
    data = run.summary["data"]
    assert data["reading"]["decimal"] == ("," if european else ".")
    assert data["reading"]["delimiter"] == (";" if european else ",")
    assert {name: spec["kind"] for name, spec in data["inputs"].items()} == {
        "price": "numeric", "share": "numeric", "rate": "numeric", "colour": "categorical"}
    assert "price" in data["reading"]["notation"]
    new = formatted_csv(tmp_path / "new.csv", seed=1, rows=21, european=european)
    by_predict = predicted(run, new, tmp_path)
    assert [r["input"] for r in by_predict] == [str(i) for i in range(21)]
    assert_agree(evaluated(run, new, tmp_path), by_predict)


def test_predict_equals_eval_on_a_folder_of_texts(train, tmp_path):
    rng = np.random.default_rng(0)
    words = {"low": ["dull", "slow", "grey", "flat"], "high": ["bright", "fast", "bold", "keen"]}
    for folder, count in (("reviews", 20), ("new", 6)):
        for name, pool in words.items():
            (tmp_path / folder / name).mkdir(parents=True)
            for i in range(count):
                text = " ".join(rng.choice(pool + ["the", "a", "it"], size=8))
                (tmp_path / folder / name / f"{i}.txt").write_text(text + "\n")
    run = train("dataset=text_dir", "dataset.path=reviews", "debug=smoke", "trainer.batch_size=8")
    by_predict = predicted(run, tmp_path / "new", tmp_path)
    assert {r["input"] for r in by_predict} >= {"low/0.txt", "high/5.txt"}
    assert_agree(evaluated(run, tmp_path / "new", tmp_path), by_predict)
    # the same texts as lines of one file: a line an input, the same outputs
    names = [r["input"] for r in by_predict]
    (tmp_path / "lines.txt").write_text("".join((tmp_path / "new" / n).read_text() for n in names))
    as_lines = predicted(run, tmp_path / "lines.txt", tmp_path)
    assert [r["input"] for r in as_lines] == [str(i) for i in range(len(names))]
    assert_agree([{**r, "input": n} for r, n in zip(as_lines, names)], by_predict)


def test_predict_equals_eval_on_arrays_in_keras_layout(train, tmp_path):
    """(N, 8, 8) uint8 images without a channel axis, as keras.datasets' mnist.npz."""
    with np.load(Path(__file__).parent.parent / "tftrain/data/digits.npz") as arrays:
        x = (arrays["images"] * 15).astype(np.uint8)
        y = arrays["labels"]
    np.savez(tmp_path / "digits.npz", x_train=x[:1200], y_train=y[:1200], x_test=x[1200:1500],
             y_test=y[1200:1500])
    run = train("dataset=npz", "dataset.path=digits.npz", "debug=smoke")
    np.savez(tmp_path / "new.npz", x_train=x[1500:1540], y_train=y[1500:1540])
    by_predict = predicted(run, tmp_path / "new.npz", tmp_path)
    assert [r["input"] for r in by_predict] == [str(i) for i in range(40)]
    assert_agree(evaluated(run, tmp_path / "new.npz", tmp_path), by_predict)


# Eval scores exactly the data it names.
@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> RunFolder:
    """A debug=smoke run on a CSV: its test split (40 rows) is more than 4 batches of 8."""
    root = tmp_path_factory.mktemp("smoke")
    formatted_csv(root / "data.csv", seed=0, rows=200, european=False)
    result = in_process("dataset=csv", f"dataset.path={root / 'data.csv'}", "dataset.label=grade",
                        "debug=smoke", "trainer.batch_size=8", f"hydra.run.dir={root / 'run'}",
                        cwd=root)
    assert result.returncode == 0, result.output
    return RunFolder(root / "run")


def test_eval_of_a_debug_run_scores_all_of_its_test_split(smoke):
    result = evaluate(smoke, "predictions=true", cwd=smoke.path.parent)
    assert result.returncode == 0, result.output
    record = json.loads(written(result).read_text())
    scored = rows_of(written(result).with_suffix(".predictions.csv"))
    test = smoke.summary["data"]["sizes"]["test"]
    assert test > 4 * 8  # more than the 4 batches debug=smoke trains and tests on
    assert record["samples"] == len(scored) == test and record["split"] == "test"
    right = np.mean([row["predicted"] == row["label"] for row in scored])
    assert record["metrics"]["accuracy"] == pytest.approx(right, abs=1e-6)
    assert f"{test} samples" in result.stdout


def test_eval_of_other_data_scores_all_of_it_and_split_picks_one(smoke, tmp_path):
    other = formatted_csv(tmp_path / "other.csv", seed=3, rows=50, european=False)
    result = evaluate(smoke, f"dataset.path={other}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert "evaluating all of dataset.path=" in result.stdout
    assert "not the run's own data" in result.stdout
    record = json.loads(written(result).read_text())
    assert record["samples"] == 50 and record["split"] == "all" and not record["data"]["own"]
    sizes = record["data"]["sizes"]
    assert sizes["train"] + sizes["val"] + sizes["test"] == sizes["all"] == 50
    for split in ("train", "val", "test", "all"):
        chosen = evaluate(smoke, f"dataset.path={other}", f"split={split}", cwd=tmp_path)
        assert chosen.returncode == 0, chosen.output
        record = json.loads(written(chosen).read_text())
        assert record["split"] == split and record["samples"] == sizes[split]
        assert written(chosen).name.endswith(f".{split}.json")
    own = json.loads(written(evaluate(smoke, "split=val", cwd=tmp_path)).read_text())
    assert own["samples"] == smoke.summary["data"]["sizes"]["val"] and own["data"]["own"]


def test_eval_keeps_one_record_per_evaluation_and_loads_the_weights_asked_for(smoke, tmp_path):
    from tftrain import artifacts
    from tftrain.models import load_model

    final = evaluate(smoke, cwd=tmp_path)
    first = written(final).read_bytes()
    best = evaluate(smoke, "weights=best", cwd=tmp_path)
    assert best.returncode == 0, best.output
    record = json.loads(written(best).read_text())
    assert written(best) != written(final) and written(final).read_bytes() == first
    assert record["model"] == "checkpoints/best.keras" and record["weights"] == "best"
    kept = load_model(str(smoke.path / "checkpoints" / "best.keras"), inference=True)
    assert record["weights_fingerprint"] == artifacts.weights_fingerprint(kept)


def test_eval_warns_when_the_runs_own_data_changed_naming_both_fingerprints(tmp_path, train):
    formatted_csv(tmp_path / "data.csv", seed=0, rows=80, european=False)
    run = train("dataset=csv", "dataset.path=data.csv", "dataset.label=grade", "debug=smoke")
    same = evaluate(run, cwd=tmp_path)
    assert same.returncode == 0 and "warning" not in same.stdout, same.output
    before = run.summary["data"]["source_fingerprint"]
    formatted_csv(tmp_path / "data.csv", seed=5, rows=80, european=False)  # edited since
    changed = evaluate(run, cwd=tmp_path)
    assert changed.returncode == 0, changed.output
    record = json.loads(written(changed).read_text())
    now = record["data"]["source_fingerprint"]
    assert now != before
    assert "warning: the run's data changed" in changed.stdout
    assert before in changed.stdout and now in changed.stdout and record["warnings"]


def test_eval_with_output_evaluates_a_run_folder_it_cannot_write(smoke, tmp_path):
    run = tmp_path / "shared_run"
    shutil.copytree(smoke.path, run)
    shutil.rmtree(run / "eval", ignore_errors=True)
    for folder, _, files in os.walk(run):
        for name in [*files, "."]:
            os.chmod(Path(folder) / name, 0o555 if name == "." else 0o444)
    try:
        before = sorted(p.relative_to(run) for p in run.rglob("*"))
        elsewhere = tmp_path / "records" / "shared.json"
        result = in_process(str(run), f"output={elsewhere}", "predictions=true", cwd=tmp_path,
                            tool="tftrain-eval")
        assert result.returncode == 0, result.output
        record = json.loads(elsewhere.read_text())
        assert record["samples"] == smoke.summary["data"]["sizes"]["test"]
        assert (tmp_path / "records" / "shared.predictions.csv").is_file()
        assert sorted(p.relative_to(run) for p in run.rglob("*")) == before
        if not os.access(run, os.W_OK):  # root writes anyway: the refusal shows for others
            refused = in_process(str(run), cwd=tmp_path, tool="tftrain-eval")
            assert_refused(refused, 2, ["could not be written", "output=FILE.json"])
            assert "accuracy" in refused.stdout  # the metrics came first
    finally:
        for folder, _, _ in os.walk(run):
            os.chmod(folder, 0o755)
