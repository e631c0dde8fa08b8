"""k-fold cross-validation through the real `tftrain cv.folds=K`: a sweep of one run per fold,
the folds' mean and std and the out-of-fold predictions at its end, the test split kept out
of the folds, the mistakes refused before any folder exists, resume after Ctrl-C; inside an
Optuna search, a trial that runs its folds and reports their mean."""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import statistics
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import RunFolder, wait_for, assert_refused, in_process, tftrain_command
from tftrain.data.folds import fold_ids, grouped_test

TITANIC = Path("/work/shared/data/titanic.csv")


def small_csv(folder: Path, rows: int = 90) -> Path:
    """A CSV of two classes (one twice the other) and a column of 15 groups."""
    rng = np.random.default_rng(0)
    path = folder / "small.csv"
    lines = ["x1,x2,site,label"]
    for i in range(rows):
        label = "yes" if i % 3 == 0 else "no"
        lines.append(f"{rng.normal() + (label == 'yes'):.3f},{rng.normal():.3f},s{i % 15},{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def csv_args(path: Path) -> list[str]:
    return ["dataset=csv", f"dataset.path={path}", "dataset.label=label", "trainer.epochs=1",
            "model.layers.1.units=8", "model.layers.3.units=8"]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_folds_are_stratified_seeded_and_keep_groups_whole():
    strata = np.array([0] * 60 + [1] * 30)
    ids = fold_ids(strata, None, 5, seed=3)
    assert (ids == fold_ids(strata, None, 5, seed=3)).all()
    assert not (ids == fold_ids(strata, None, 5, seed=4)).all()
    for fold in range(5):  # each fold 12 of class 0 and 6 of class 1
        assert np.bincount(strata[ids == fold]).tolist() == [12, 6]
    groups = np.array([f"g{i % 15}" for i in range(90)])
    grouped = fold_ids(strata, groups, 5, seed=3)
    assert all(len(set(grouped[groups == g])) == 1 for g in set(groups))
    assert sorted(set(grouped)) == [0, 1, 2, 3, 4]


def test_the_test_split_of_grouped_folds_takes_whole_groups_near_its_size():
    """Groups of 644, 168, 77 and 2 rows, 20% for test: never the 644 (whatever the draw)."""
    groups = np.repeat(np.array(["S", "C", "Q", "-"]), [644, 168, 77, 2])
    for seed in range(8):
        test = grouped_test(groups, 0.2, seed)
        assert 150 <= len(test) <= 250, (seed, len(test))
        taken = set(groups[test])
        assert all((groups == g).sum() == (groups[test] == g).sum() for g in taken)


def test_cv_folds_trains_a_run_per_fold_and_writes_mean_std_and_out_of_fold_predictions(tmp_path):
    data = small_csv(tmp_path)
    sweep = tmp_path / "sweep"
    result = in_process(*csv_args(data), "cv.folds=3", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    jobs = [RunFolder(sweep / str(i)) for i in range(3)]
    assert [j.summary["overrides"][-1] for j in jobs] == ["cv.fold=0", "cv.fold=1", "cv.fold=2"]
    record = json.loads((sweep / "cv.json").read_text())["cross_validation"]
    assert len(record) == 1 and record[0]["folds"] == 3 and record[0]["completed"] == [0, 1, 2]
    objectives = [j.summary["objective"] for j in jobs]
    stats = record[0]["metrics"]["objective"]
    assert stats["mean"] == pytest.approx(statistics.fmean(objectives))
    assert stats["std"] == pytest.approx(statistics.stdev(objectives))
    assert record[0]["metrics"]["test.accuracy"]["values"] == \
        [j.summary["test"]["accuracy"] for j in jobs]
    assert "cross-validation, 3 of 3 folds" in result.stdout and "mean ± std" in result.stdout
    # every row beside the test split once, in the fold that validated it, with its row number
    # and its label; the test rows in none
    oof = read_csv(sweep / "oof.csv")
    given = read_csv(data)
    test_rows = 90 - sum(sum(j.summary["data"]["sizes"][s] for s in ("val",)) for j in jobs)
    assert len(oof) == 90 - test_rows == len({r["input"] for r in oof})
    assert all(given[int(r["input"])]["label"] == r["label"] for r in oof)
    for job, fold in zip(jobs, range(3)):
        assert sum(r["fold"] == str(fold) for r in oof) == job.summary["data"]["sizes"]["val"]
        assert job.summary["data"]["sizes"]["test"] == test_rows  # the same test split in each
    assert (sweep / "cv.md").read_text().startswith("## cross-validation: 3 of 3 folds")
    report = in_process(str(sweep), cwd=tmp_path, tool="tftrain-report")
    assert report.returncode == 0 and report.stdout.count("completed") == 3, report.output
    # tftrain-eval of a fold's run, split=val: that fold's rows, the run's own number
    evaluated = in_process(str(sweep / "1"), "split=val", cwd=tmp_path,
                           tool="tftrain-eval")
    assert evaluated.returncode == 0, evaluated.output
    scored = json.loads((sweep / "1" / "eval" / "run.val.json").read_text())
    assert scored["samples"] == sum(r["fold"] == "1" for r in oof)
    assert scored["metrics"]["accuracy"] == pytest.approx(jobs[1].summary["best"]["val_accuracy"],
                                                          abs=1e-6)


@pytest.mark.slow
def test_a_fold_named_trains_that_fold_alone_as_one_run(tmp_path):
    data = small_csv(tmp_path)
    run = tmp_path / "run"
    result = in_process(*csv_args(data), "cv.folds=3", "cv.fold=1", f"hydra.run.dir={run}",
                        cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert "fold 2 of cv.folds=3 validates" in result.stdout
    assert not (tmp_path / "outputs").exists() and (run / "summary.json").is_file()


@pytest.mark.parametrize("extra, said", [
    (["cv.folds=1"], ["cv.folds=1", "at least 2 folds"]),
    (["cv.folds=3", "cv.fold=3"], ["cv.fold=3", "0 to 2"]),
    (["cv.fold=1"], ["cv.fold=1 without cv.folds"]),
    (["cv.folds=40"], ["cv.folds=40", "smallest class", "lower cv.folds"]),
    (["cv.folds=3", "cv.group=place"], ["cv.group=place", "no column 'place'", "site"]),
    (["cv.folds=3", "cv.group=label"], ["cv.group=label is the label"]),
    (["cv.folds=20", "cv.group=site"], ["cv.folds=20", "12 groups", "cv.group"]),  # 3 in test
    (["cv.folds=3", "dataset.in_memory=false"], ["cv.folds=3", "streams", "dataset.in_memory=true"]),
    (["-m", "cv.folds=2,3"], ["cv.folds=2,3", "give one cv.folds"]),
])
def test_cross_validation_mistakes_are_refused_before_any_folder_exists(tmp_path, extra, said):
    data = small_csv(tmp_path)
    result = in_process(*csv_args(data), *extra, cwd=tmp_path)
    assert_refused(result, 2, said)
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_titanic_cross_validation_resumes_after_ctrl_c_with_the_command_it_prints(tmp_path):
    """The issue's Done-when: cv.folds=5 on titanic, Ctrl-C inside fold 1, the printed
    command resumes fold 1 and runs the rest (fold 0 not trained again); the same command
    once more trains nothing and writes the same mean and std."""
    args = ["dataset=csv", f"dataset.path={TITANIC}", "dataset.label=survived",
            "dataset.drop=[alive]", "cv.folds=5", "trainer.epochs=40",
            "callbacks.early_stopping.patience=40"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    process = subprocess.Popen([*tftrain_command(), *args], cwd=tmp_path, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    metrics = lambda: next(tmp_path.glob("outputs/multirun/*/*/1/metrics.csv"), None)  # noqa: E731
    wait_for(process, lambda: metrics() is not None and len(metrics().read_text().splitlines()) > 3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in err, err
    command = shlex.split(err.split("Resume with: ", 1)[1].splitlines()[0])
    assert command[:2] == ["tftrain", "-m"] and "cv.fold=range(0,5)" in " ".join(command), err
    sweep = metrics().parent.parent
    zero = (sweep / "0" / "metrics.csv").stat().st_mtime_ns
    again = in_process(*command[1:], cwd=tmp_path)
    assert again.returncode == 0, again.output
    assert "job 0: already completed" in again.stdout and "resuming" in again.stdout
    assert (sweep / "0" / "metrics.csv").stat().st_mtime_ns == zero
    first = json.loads((sweep / "cv.json").read_text())["cross_validation"][0]
    assert first["completed"] == [0, 1, 2, 3, 4] and first["out_of_fold_rows"] == 713
    assert 0.7 < first["metrics"]["objective"]["mean"] < 0.9 and first["metrics"]["objective"]["std"] > 0
    once_more = in_process(*command[1:], cwd=tmp_path)
    assert once_more.returncode == 0 and once_more.stdout.count("already completed") == 5
    assert json.loads((sweep / "cv.json").read_text())["cross_validation"][0]["metrics"] == \
        first["metrics"]


SEARCH = ("-m", "hparams_search=optuna", "hydra.sweeper.n_trials=2", "cv.folds=2",
          "objective.metric=val_loss", "trainer.batch_size=16",
          "optimizer.learning_rate=tag(log, interval(0.001, 0.3))")


def study_of(sweep: Path):
    import optuna

    return optuna.load_study(study_name="tftrain", storage=f"sqlite:///{sweep / 'optuna.db'}")


def test_an_optuna_trial_runs_its_folds_and_reports_their_mean(tmp_path):
    pytest.importorskip("optuna", reason="pip install tftrain[optuna]")
    data = small_csv(tmp_path)
    sweep = tmp_path / "sweep"
    result = in_process(*SEARCH, *csv_args(data), f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    study = study_of(sweep)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    for trial in study.trials:
        folder = sweep / str(trial.number)
        folds = [RunFolder(folder / f"fold_{k}") for k in range(2)]
        objectives = [f.summary["objective"] for f in folds]
        assert [f.summary["status"] for f in folds] == ["completed", "completed"]
        assert trial.value == pytest.approx(statistics.fmean(objectives))
        summary = RunFolder(folder).summary
        assert summary["objective"] == pytest.approx(trial.value)
        assert summary["folds"]["objectives"] == objectives and summary["objective_metric"] == "val_loss"
        # each fold validated on its own rows; the trial's folds' table and predictions beside
        assert folds[0].summary["best"]["val_loss"] != folds[1].summary["best"]["val_loss"]
        record = json.loads((folder / "cv.json").read_text())["cross_validation"][0]
        assert record["completed"] == [0, 1] and (folder / "oof.csv").is_file()
    best = min(study.trials, key=lambda t: t.value)
    assert study.best_trial.number == best.number
    assert not (sweep / "cv.json").exists()  # the search's trials are its settings, not folds
    # the sweep's report and tftrain-report: a trial is one run, its folds inside it
    report = in_process(str(sweep), cwd=tmp_path, tool="tftrain-report")
    assert report.returncode == 0 and report.stdout.count("completed") == 2, report.output
    assert "fold_0" not in (sweep / "report.csv").read_text()


@pytest.mark.slow
def test_ctrl_c_in_a_trials_fold_resumes_that_fold_with_the_search(tmp_path):
    """Ctrl-C inside trial 0's second fold: the trial is interrupted, the printed command
    (the search's) resumes that fold, fold 0 is not trained again, and the study completes."""
    pytest.importorskip("optuna", reason="pip install tftrain[optuna]")
    data = small_csv(tmp_path)
    sweep = tmp_path / "sweep"
    args = [*SEARCH, *csv_args(data), "trainer.epochs=80", "callbacks.early_stopping.patience=80",
            f"hydra.sweep.dir={sweep}"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    process = subprocess.Popen([*tftrain_command(), *args], cwd=tmp_path, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    metrics = sweep / "0" / "fold_1" / "metrics.csv"
    wait_for(process, lambda: metrics.is_file() and len(metrics.read_text().splitlines()) > 3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in err, err
    assert RunFolder(sweep / "0").summary["status"] == "interrupted"
    command = shlex.split(err.split("Resume with: ", 1)[1].splitlines()[0])
    assert command[:3] == ["tftrain", "-m", "hparams_search=optuna"], err
    zero = (sweep / "0" / "fold_0" / "metrics.csv").stat().st_mtime_ns
    again = in_process(*command[1:], cwd=tmp_path)
    assert again.returncode == 0, again.output
    assert "search: resuming trial 0" in again.stdout and "fold 0: already completed" in again.stdout
    assert "(resuming" in again.stdout, again.stdout
    assert (sweep / "0" / "fold_0" / "metrics.csv").stat().st_mtime_ns == zero
    study = study_of(sweep)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert study.trials[0].value == pytest.approx(statistics.fmean(
        RunFolder(sweep / "0" / f"fold_{k}").summary["objective"] for k in range(2)))
