"""Using a finished run through the real commands: tftrain-eval, tftrain-predict, tftrain-report."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import RunFolder, in_process, run_tool


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> RunFolder:
    """One real digits run (smoke size), shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("use")
    result = in_process("debug=smoke", f"hydra.run.dir={root / 'run'}", cwd=root)
    assert result.returncode == 0, result.output
    return RunFolder(root / "run")


def evaluate(*args: str, cwd: Path):
    return in_process(*args, cwd=cwd, tool="tftrain-eval")


def predict(*args: str, cwd: Path):
    return in_process(*args, cwd=cwd, tool="tftrain-predict")


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> RunFolder:
    """A digits run of one epoch, its test split scored whole (a debug=smoke run scores 4
    batches of it, and eval always all of it)."""
    root = tmp_path_factory.mktemp("whole")
    result = in_process("trainer.epochs=1", f"hydra.run.dir={root / 'run'}", cwd=root)
    assert result.returncode == 0, result.output
    return RunFolder(root / "run")


def record_of(result) -> dict:
    """The record an evaluation says it wrote."""
    written = re.search(r"written to (\S+\.json)", result.stdout)
    assert written, result.output
    return json.loads(Path(written.group(1)).read_text())


def test_eval_reproduces_the_runs_test_metrics_and_keeps_its_record(whole):
    """The console script in a new process: the model loads without the run's state."""
    result = run_tool("tftrain-eval", "tftrain.tools.evaluate", str(whole.path), cwd=whole.path.parent)
    assert result.returncode == 0, result.output
    written = json.loads((whole.path / "eval" / "run.test.json").read_text())
    assert written["split"] == "test" and written["overrides"] == [] and written["data"]["own"]
    assert written["samples"] == whole.summary["data"]["sizes"]["test"]
    # same split rebuilt from the run's own config, same model: the run's own test numbers
    for name, value in whole.summary["test"].items():
        assert written["metrics"][name] == pytest.approx(value, rel=1e-5), name
    assert written["weights_fingerprint"] == whole.summary["weights_fingerprint"]
    assert written["data"]["source_fingerprint"] == whole.summary["data"]["source_fingerprint"]
    assert "accuracy" in result.stdout and "eval/run.test.json" in result.stdout


def test_eval_on_another_split_of_the_data_changes_the_numbers(finished):
    result = evaluate(str(finished.path), "dataset.test_split=0.5", cwd=finished.path.parent)
    assert result.returncode == 0, result.output
    written = record_of(result)
    assert written["overrides"] == ["dataset.test_split=0.5"] and written["data"]["own"]
    assert written["samples"] == written["data"]["sizes"]["test"] > finished.summary["data"]["sizes"]["test"]
    assert written["warnings"] == []  # the same data, cut otherwise: not changed data


@pytest.mark.parametrize("args, message", [
    (["dataset=synthetic"], "the run's model takes (8, 8, 1)"),
    (["dataset=nope"], "Choose one of: boston_housing, cifar10"),
    (["dataset.test_split=2"], "dataset.test_split=2.0 must be a fraction"),
])
def test_eval_refuses_bad_input_in_one_paragraph(finished, args, message):
    result = evaluate(str(finished.path), *args, cwd=finished.path.parent)
    assert result.returncode == 2 and message in result.stderr, result.output
    assert "Traceback" not in result.output


def test_eval_of_a_folder_that_is_no_run_says_so(tmp_path):
    result = evaluate(str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2 and "not a tftrain run folder" in result.stderr


def test_predict_writes_class_probabilities_for_arrays_csv_rows_and_images(finished, tmp_path):
    from PIL import Image

    with np.load(Path(__file__).parent.parent / "tftrain/data/digits.npz") as arrays:
        images = arrays["images"][:6]  # 0..16 grey levels, as the dataset ships them
    x = (images.astype(np.float32) / 16.0)[..., None]
    np.save(tmp_path / "x.npy", x)
    np.savetxt(tmp_path / "x.csv", x.reshape(6, -1), delimiter=",",
               header=",".join(f"px{i}" for i in range(64)), comments="")
    (tmp_path / "images").mkdir()
    for i, image in enumerate(images):  # PNGs of the same digits, 0..255
        Image.fromarray((image.astype(np.int32) * 255 // 16).astype(np.uint8)).save(tmp_path / f"images/{i}.png")

    outputs = {}
    for given in ("x.npy", "x.csv", "images"):
        out = tmp_path / f"{given}.predictions.csv"
        result = predict(str(finished.path), f"input={tmp_path / given}", f"output={out}",
                         cwd=tmp_path)
        assert result.returncode == 0, result.output
        assert "6 prediction(s)" in result.stdout
        outputs[given] = read_csv(out)

    rows = outputs["x.npy"]
    assert list(rows[0]) == ["input", "predicted", *[f"p_{c}" for c in range(10)]]
    for row in rows:
        probabilities = [float(row[f"p_{c}"]) for c in range(10)]
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)
        assert row["predicted"] == str(int(np.argmax(probabilities)))
    probs = lambda rs: np.array([[float(r[f"p_{c}"]) for c in range(10)] for r in rs])  # noqa: E731
    np.testing.assert_allclose(probs(outputs["x.csv"]), probs(rows), atol=1e-5)
    np.testing.assert_allclose(probs(outputs["images"]), probs(rows), atol=2e-2)  # 8-bit PNGs
    assert [r["input"] for r in outputs["images"]] == [f"{i}.png" for i in range(6)]


def test_predict_defaults_to_the_run_folder_and_refuses_wrong_shapes(finished, tmp_path):
    np.save(tmp_path / "one.npy", np.zeros((8, 8, 1), np.float32))  # one sample, no batch axis
    result = predict(str(finished.path), f"input={tmp_path / 'one.npy'}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert len(read_csv(finished.path / "predictions.csv")) == 1

    np.save(tmp_path / "bad.npy", np.zeros((3, 5), np.float32))
    result = predict(str(finished.path), f"input={tmp_path / 'bad.npy'}", cwd=tmp_path)
    assert result.returncode == 2 and "(3, 5)" in result.stderr and "(8, 8, 1)" in result.stderr
    result = predict(str(finished.path), "inputs=x.npy", cwd=tmp_path)
    assert result.returncode == 2 and "input=FILE" in result.stderr
    assert "Traceback" not in result.output


def test_report_on_a_run_folder_prints_csv_and_markdown(finished, tmp_path):
    result = run_tool("tftrain-report", "tftrain.tools.report", str(finished.path.parent), "--csv", "-",
                      cwd=tmp_path)
    assert result.returncode == 0, result.output
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert len(rows) == 1 and rows[0]["status"] == "completed"
    assert float(rows[0]["objective"]) == pytest.approx(finished.summary["objective"], abs=1e-4)
    assert rows[0]["debug"] == "smoke"  # a lone run shows all its overrides
    assert float(rows[0]["test accuracy"]) == pytest.approx(finished.summary["test"]["accuracy"], abs=1e-4)

    md = tmp_path / "r.md"
    result = run_tool("tftrain-report", "tftrain.tools.report", str(finished.path), "--markdown", str(md),
                      cwd=tmp_path)
    assert result.returncode == 0 and "objective val_accuracy" in result.stdout
    assert md.read_text().startswith("| run | debug | status | objective |")


def test_report_refuses_a_missing_folder(tmp_path):
    result = run_tool("tftrain-report", "tftrain.tools.report", "nowhere", cwd=tmp_path)
    assert result.returncode == 2 and "no such folder: nowhere" in result.stderr
    result = run_tool("tftrain-report", "tftrain.tools.report", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2 and "no run folders" in result.stderr
