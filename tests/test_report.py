"""tftrain-report on run folders in every state a sweep leaves behind (written here as a run
would write them, so these tests need no training and no TensorFlow)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from conftest import run_tool


def write_run(folder: Path, overrides: list[str], summary: dict | None,
              curve: list[float] | None = None) -> None:
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps({"overrides": overrides, **summary}))
    if curve:
        rows = "".join(f"{i + 1},{v}\n" for i, v in enumerate(curve))
        (folder / "metrics.csv").write_text("epoch,val_loss\n" + rows)


def completed(objective: float, mode: str = "min") -> dict:
    return {"status": "completed", "objective": objective, "objective_metric": "val_loss",
            "objective_mode": mode, "best": {"val_loss": objective}, "test": {"loss": objective + 0.1},
            "epochs_completed": 3, "wall_time_s": 1.5, "train_samples_per_s": 1000.0}


def report(*args: str, cwd: Path) -> list[dict[str, str]]:
    result = run_tool("tftrain-report", "tftrain.tools.report", *args, "--csv", "-", cwd=cwd)
    assert result.returncode == 0, result.output
    return list(csv.DictReader(result.stdout.splitlines()))


def test_runs_are_sorted_by_objective_with_unfinished_runs_last(tmp_path):
    sweep = tmp_path / "sweep"
    for job, lr in enumerate(["0.1", "0.01", "0.001", "0.0001"]):
        write_run(sweep / str(job), ["debug=smoke", f"optimizer.learning_rate={lr}"],
                  completed(1.0 / (job + 1)), curve=[2.0, 1.5, 1.0 / (job + 1)])
    write_run(sweep / "10", ["debug=smoke", "optimizer.learning_rate=1.0"],
              {"status": "failed", "error": "boom", "objective": None})
    write_run(sweep / "11", ["debug=smoke", "optimizer.learning_rate=9.0"], None)  # killed hard

    rows = report(str(sweep), cwd=tmp_path)
    assert [r["run"] for r in rows] == ["3", "2", "1", "0", "10", "11"]  # lowest val_loss first
    assert [r["status"] for r in rows][-2:] == ["failed", "incomplete"]
    assert "debug" not in rows[0]  # the same in every run: not a column
    assert rows[0]["optimizer.learning_rate"] == "0.0001" and rows[0]["val_loss at best epoch"] == "0.25"
    assert rows[0]["test loss"] == "0.35" and rows[0]["epochs"] == "3"


def test_max_objectives_sort_highest_first_and_all_outputs_are_written(tmp_path):
    for job, accuracy in enumerate([0.5, 0.9, 0.7]):
        write_run(tmp_path / "sweep" / str(job), [f"seed={job}"], completed(accuracy, mode="max"))
    rows = report("sweep", cwd=tmp_path)
    assert [r["seed"] for r in rows] == ["1", "2", "0"]

    result = run_tool("tftrain-report", "tftrain.tools.report", "sweep", "--markdown", "r.md",
                      "--csv", "r.csv", "--plot", "r.png", cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert "3 run(s)" in result.stdout and "seed" in result.stdout  # the table
    lines = (tmp_path / "r.md").read_text().splitlines()
    assert lines[0].startswith("| run | seed | status | objective |") and len(lines) == 5
    assert lines[2].endswith("| 0.9 | 0.9 | 1 | 3 | 1.5 | 1,000 |")  # for people: 1,000, not 1e+03
    assert "1,000" in result.stdout and "e+0" not in result.stdout
    assert (tmp_path / "r.csv").read_text().splitlines()[1].endswith(",1000.0")  # for files
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 4
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_several_paths_and_nested_folders_are_searched(tmp_path):
    write_run(tmp_path / "outputs" / "2026-11-21" / "10-00-00", ["seed=1"], completed(0.3))
    write_run(tmp_path / "outputs" / "multirun" / "2026-11-21" / "11-00-00" / "0", ["seed=2"],
              completed(0.2))
    write_run(tmp_path / "elsewhere", ["seed=3"], completed(0.1))
    rows = report("outputs", "elsewhere", cwd=tmp_path)
    assert [r["seed"] for r in rows] == ["3", "2", "1"]
    assert rows[1]["run"] == "multirun/2026-11-21/11-00-00/0"
