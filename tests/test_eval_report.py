"""Looking at a trained run: the layer table a run keeps (model.txt) and the report
`tftrain-eval` writes beside its record (report.html, report.md, report.json), whose
figures are scikit-learn's on the same predictions."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import RunFolder, in_process


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> RunFolder:
    """One real digits run (smoke size), shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("digits")
    result = in_process("debug=smoke", f"hydra.run.dir={root / 'run'}", cwd=root)
    assert result.returncode == 0, result.output
    return RunFolder(root / "run")


def test_a_run_keeps_its_layer_table_and_says_where(digits):
    table = (digits.path / "model.txt").read_text()
    summary = digits.summary
    assert "Layer (type)" in table and "Output Shape" in table and "Param #" in table
    assert "(None, 10)" in table  # the head's output: one per class
    assert "Total params" in table
    log = (digits.path / "train.log").read_text()
    assert f"layers, output shapes and parameters: {digits.path / 'model.txt'}" in log
    assert summary["status"] == "completed"
