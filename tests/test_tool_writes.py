"""tftrain-eval and tftrain-predict when their output cannot be written: what was computed is
printed first (eval's metrics; how many predictions predict computed), then one paragraph
naming the file, the system's reason and where else to write, exit status 74, and nothing
half-written. The failure is injected by a folder where the file's temporary name will be
(root ignores permissions, so chmod cannot make a folder refuse a write here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from conftest import assert_refused, in_process
from tftrain import artifacts


def blocked(path: Path) -> Path:
    """`path` made unwritable: a folder sits at its temporary name."""
    artifacts.staged(path).mkdir(parents=True)
    return path


def leftovers(folder: Path, blocker: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p != blocker]


def test_eval_prints_the_metrics_then_says_the_record_was_not_written(tmp_path, train):
    run = train("debug=smoke")
    target = blocked(tmp_path / "out" / "eval.json")
    result = in_process(str(run.path), f"output={target}", cwd=tmp_path, tool="tftrain-eval")
    assert_refused(result, 74, [f"could not write {target}", "Is a directory (EISDIR)",
                                "kept nowhere else", "output=FILE.json"])
    assert "test (" in result.stdout and "accuracy" in result.stdout  # the metrics were shown
    assert leftovers(tmp_path / "out", artifacts.staged(target)) == []


def test_eval_predictions_that_cannot_be_written_keep_no_record_either(tmp_path, train):
    run = train("debug=smoke")
    target = tmp_path / "out" / "eval.json"
    blocked(target.with_name("eval.predictions.csv"))
    result = in_process(str(run.path), f"output={target}", "predictions=true", cwd=tmp_path,
                        tool="tftrain-eval")
    assert_refused(result, 74, ["could not write", "eval.predictions.csv", "output=FILE.json"])
    assert "accuracy" in result.stdout and not target.exists()


def test_predict_says_how_many_predictions_it_computed_and_did_not_write(tmp_path, train):
    run = train("debug=smoke")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((5, 8, 8, 1), np.float32))
    target = blocked(run.path / "predictions.csv")
    result = in_process(str(run.path), f"input={tmp_path / 'x.npy'}", cwd=tmp_path,
                        tool="tftrain-predict")
    assert_refused(result, 74, [f"could not write {target}", "Is a directory (EISDIR)",
                                "output=FILE.csv"])
    assert "5 prediction(s) computed, not written" in result.stdout
    assert not target.exists()
