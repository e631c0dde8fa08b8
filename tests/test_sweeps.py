"""Sweeps through the real `tftrain -m`: failure isolation, the exit status, re-running an
interrupted sweep, distinct folders, and the report written at the end of every multirun."""

from __future__ import annotations

import csv
import os
import signal
import time
import json
import subprocess
from pathlib import Path

import pytest

from conftest import RunFolder, wait_for, in_process, run_cli, tftrain_command

# cnn cannot take the synthetic data's (16,) vectors: job 0 fails when its model is built,
# at run time (composition is fine), which is what a real job failure looks like.
FAILING_SWEEP = ("-m", "debug=smoke", "dataset=synthetic", "model=cnn,mlp")


def test_a_failing_job_does_not_stop_the_sweep_and_the_exit_status_names_it(tmp_path):
    sweep = tmp_path / "sweep"
    result = in_process(*FAILING_SWEEP, f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode == 1, result.output
    assert "Traceback" not in result.output
    assert "1 job(s) of the sweep" in result.stderr and "0 (failed)" in result.stderr
    failed, completed = RunFolder(sweep / "0").summary, RunFolder(sweep / "1").summary
    assert failed["status"] == "failed" and failed["error_type"] == "TftrainError"
    assert "does not fit the data" in failed["error"]
    assert failed["overrides"][-1] == "model=cnn"
    assert "Traceback" in (sweep / "0" / "train.log").read_text()  # the details stay in the log
    assert completed["status"] == "completed" and completed["epochs_completed"] == 2

    # the end-of-sweep report: best first, failed last, in the console and in the sweep folder
    with open(sweep / "report.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["run"], r["model"], r["status"]) for r in rows] == [
        ("1", "mlp", "completed"), ("0", "cnn", "failed")]
    assert float(rows[0]["objective"]) == pytest.approx(completed["objective"], abs=1e-4)
    assert "| 1 | mlp | completed |" in (sweep / "report.md").read_text()
    assert (sweep / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert "objective val_accuracy" in result.stdout


def test_a_diverging_job_is_recorded_as_diverged_and_the_sweep_goes_on(tmp_path):
    sweep = tmp_path / "sweep"
    result = in_process("-m", "debug=smoke", "optimizer=sgd", "optimizer.learning_rate=1e30,0.01",
                        f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode == 1 and "0 (diverged)" in result.stderr, result.output
    diverged = RunFolder(sweep / "0").summary
    assert diverged["status"] == "diverged" and "loss became" in diverged["error"]
    assert RunFolder(sweep / "1").summary["status"] == "completed"


@pytest.mark.slow
def test_rerunning_an_interrupted_sweep_runs_only_the_jobs_that_did_not_complete(tmp_path):
    sweep = tmp_path / "sweep"
    args = ("-m", "debug=smoke", "seed=1,2,3", f"hydra.sweep.dir={sweep}")
    assert in_process(*args, cwd=tmp_path).returncode == 0
    # a sweep killed during job 2 leaves job 2 without summary.json
    (sweep / "2" / "summary.json").unlink()
    before = {j: (sweep / j / "metrics.csv").stat().st_mtime_ns for j in "01"}
    started = {j: RunFolder(sweep / j).summary["started_at"] for j in "01"}

    result = in_process(*args, cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert "job 0: already completed" in result.stdout and "job 1: already completed" in result.stdout
    assert "job 2: already completed" not in result.stdout
    assert {j: (sweep / j / "metrics.csv").stat().st_mtime_ns for j in "01"} == before
    assert {j: RunFolder(sweep / j).summary["started_at"] for j in "01"} == started
    assert RunFolder(sweep / "2").summary["status"] == "completed"
    assert "${" not in (sweep / "0" / ".hydra" / "config.yaml").read_text()  # still resolved
    with open(sweep / "report.csv", newline="") as handle:
        assert sorted(r["seed"] for r in csv.DictReader(handle)) == ["1", "2", "3"]


@pytest.mark.slow
def test_a_completed_folder_of_other_overrides_is_neither_taken_nor_overwritten(tmp_path):
    """Another sweep's job 0 is not this sweep's job 0: refused, the old one kept as it was."""
    sweep = tmp_path / "sweep"
    first = in_process("-m", "debug=smoke", "seed=1", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert first.returncode == 0, first.output
    result = in_process("-m", "debug=smoke", "seed=7", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode == 2 and "holds another sweep" in result.stderr, result.output
    assert RunFolder(sweep / "0").summary["overrides"] == ["debug=smoke", "seed=1"]


@pytest.mark.slow
def test_ctrl_c_between_the_jobs_of_a_sweep_gives_the_command_that_continues_it(tmp_path):
    sweep = tmp_path / "sweep"
    process = popen(tmp_path, "-m", "debug=smoke", "seed=1,2,3,4", f"hydra.sweep.dir={sweep}")
    wait_for(process, (sweep / "0" / "summary.json").is_file)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in err, err
    command = err.split("with: ", 1)[1].split()  # between jobs, or inside job 1: the same advice
    assert command[:2] == ["tftrain", "-m"] and f"hydra.sweep.dir={sweep}" in command, err
    again = in_process(*command[1:], cwd=tmp_path)
    assert again.returncode == 0, again.output
    assert all(RunFolder(sweep / str(job)).summary["status"] == "completed" for job in range(4))


@pytest.mark.slow  # 8-18 s: the default run stays near 5 minutes
def test_two_runs_started_in_the_same_second_get_distinct_folders(tmp_path):
    """Both runs ask for the same folder name at once; each must get its own."""
    same = "hydra.run.dir=${unique_dir:outputs/same}"
    procs = [subprocess.Popen([*tftrain_command(), "debug=smoke", "trainer.epochs=1", same],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stdout.read()
    folders = sorted(p.name for p in (tmp_path / "outputs").iterdir())
    assert folders == ["same", "same_1"]
    assert all(json.loads((tmp_path / "outputs" / f / "summary.json").read_text())["status"]
               == "completed" for f in folders)



def trials_of(sweep: Path) -> list[tuple[int, str, float | None]]:
    """The study as Optuna stored it in the sweep folder (read back by Optuna itself)."""
    import optuna

    study = optuna.load_study(study_name="tftrain", storage=f"sqlite:///{sweep / 'optuna.db'}")
    return [(t.number, t.state.name, t.value) for t in study.trials]


@pytest.mark.slow
def test_optuna_search_records_failed_trials_and_continues_an_interrupted_study(tmp_path):
    pytest.importorskip("optuna", reason="pip install tftrain[optuna]")
    sweep = tmp_path / "sweep"
    # cnn cannot take synthetic vectors: the trials that pick it fail, and the study goes on
    args = ("-m", "hparams_search=optuna", "debug=smoke", "dataset=synthetic",
            "model=choice(cnn,mlp)", f"hydra.sweep.dir={sweep}")
    result = in_process(*args, "hydra.sweeper.n_trials=4", cwd=tmp_path)
    trials = trials_of(sweep)
    assert [n for n, _, _ in trials] == [0, 1, 2, 3]
    failed = [str(n) for n, state, _ in trials if state == "FAIL"]
    assert failed and len(failed) < 4, trials  # seeded: some trials pick cnn, some mlp
    assert result.returncode == 1 and all(f"{n} (failed)" in result.stderr for n in failed)
    for number, state, value in trials:
        summary = RunFolder(sweep / str(number)).summary
        assert summary["status"] == ("failed" if state == "FAIL" else "completed")
        if state == "COMPLETE":  # Optuna optimised exactly summary.json's objective
            assert value == pytest.approx(summary["objective"]) and summary["objective_mode"] == "max"
    results = (sweep / "optimization_results.yaml").read_text()
    assert "best_params" in results and "best_value" in results
    assert (sweep / "report.csv").is_file() and (sweep / "sweep.png").is_file()

    # re-run with the same sweep folder: the study continues to 6 trials in new folders
    before = (sweep / "0" / "summary.json").read_text()
    in_process(*args, "hydra.sweeper.n_trials=6", cwd=tmp_path)
    assert [n for n, _, _ in trials_of(sweep)] == [0, 1, 2, 3, 4, 5]
    assert (sweep / "5" / "summary.json").is_file()
    assert (sweep / "0" / "summary.json").read_text() == before


HOPELESS = ("-m", "hparams_search=optuna", "optimizer=sgd", "trainer.epochs=6",
            "optimizer.learning_rate=tag(log, interval(1e-6, 0.3))", "trainer.batch_size=32")


@pytest.mark.slow
def test_a_search_prunes_hopeless_trials_keeps_their_folders_and_continues_when_rerun(tmp_path):
    """SGD with learning rates down to 1e-6 on the digits: the median pruner stops the
    trials that trail after their warm-up epochs; they keep their folders and count as
    pruned in Optuna; the search exits 0; re-running continues the study."""
    optuna = pytest.importorskip("optuna", reason="pip install tftrain[optuna]")
    assert int(optuna.__version__.split(".")[0]) >= 4
    sweep = tmp_path / "sweep"
    result = in_process(*HOPELESS, "hydra.sweeper.n_trials=8", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    trials = trials_of(sweep)
    pruned = [n for n, state, _ in trials if state == "PRUNED"]
    assert len(trials) == 8 and pruned, trials
    for number in pruned:
        summary = RunFolder(sweep / str(number)).summary
        assert summary["status"] == "pruned" and summary["epochs_completed"] < 6
        assert (sweep / str(number) / "metrics.csv").is_file()
        assert f"search: trial {number} (" in result.stdout and "pruned after epoch" in result.stdout
    assert "| pruned |" in (sweep / "report.md").read_text()
    for plot in ("optuna_history.png", "optuna_importances.png"):
        assert (sweep / plot).read_bytes()[:4] == b"\x89PNG", plot
    again = in_process(*HOPELESS, "hydra.sweeper.n_trials=10", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert again.returncode == 0 and "continuing study" in again.stdout, again.output
    assert [n for n, _, _ in trials_of(sweep)] == list(range(10))


@pytest.mark.slow
@pytest.mark.parametrize("launcher, plugin", [
    (["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], "hydra_plugins.hydra_joblib_launcher"),
    (["hydra/launcher=submitit_local"], "hydra_plugins.hydra_submitit_launcher"),
])
def test_jobs_in_their_own_processes_write_the_same_run_folders(tmp_path, launcher, plugin):
    pytest.importorskip(plugin, reason="pip install tftrain[joblib] / tftrain[slurm]")
    sweep = tmp_path / "sweep"
    result = run_cli("-m", *launcher, "debug=smoke", "seed=1,2", f"hydra.sweep.dir={sweep}",
                     cwd=tmp_path)
    assert result.returncode == 0, result.output
    for job, seed in (("0", "seed=1"), ("1", "seed=2")):
        summary = RunFolder(sweep / job).summary
        assert summary["status"] == "completed" and summary["overrides"][-1] == seed
        assert "epoch 2/2" in (sweep / job / "train.log").read_text()
    # two processes, two seeds: two different models, and the report covers both
    assert RunFolder(sweep / "0").summary["weights_fingerprint"] != \
        RunFolder(sweep / "1").summary["weights_fingerprint"]
    assert len((sweep / "report.csv").read_text().splitlines()) == 3
    if "joblib" in launcher[0]:  # parallel jobs share the console: every line names its job
        epoch_lines = [l for l in result.stdout.splitlines() if "epoch 2/2" in l]
        assert sorted(l.split("]")[0] for l in epoch_lines) == ["[job 0", "[job 1"]


@pytest.mark.slow
def test_parallel_trials_prune_through_the_shared_study(tmp_path):
    """Two trials at a time in joblib's worker processes: each finds its trial in the study's
    storage, reports to it and is pruned by it, as in one process."""
    pytest.importorskip("optuna", reason="pip install tftrain[optuna]")
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="pip install tftrain[joblib]")
    sweep = tmp_path / "sweep"
    result = run_cli(*HOPELESS, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                     "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=8",
                     f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    states = [state for _, state, _ in trials_of(sweep)]
    assert len(states) == 8 and "PRUNED" in states and "FAIL" not in states, states
    for number, state, _ in trials_of(sweep):
        assert RunFolder(sweep / str(number)).summary["status"] == \
            ("pruned" if state == "PRUNED" else "completed")


def popen(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.Popen([*tftrain_command(), *args], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_an_interrupted_search_resumes_its_trial_when_rerun_and_then_exits_0(tmp_path):
    """Ctrl-C in trial 0: the hint is the sweep's command; running it resumes trial 0 in its
    folder (its epochs kept) and completes the search; running it again has nothing to do."""
    pytest.importorskip("optuna", reason="pip install tftrain[optuna]")
    sweep = tmp_path / "sweep"
    args = ("-m", "hparams_search=optuna", "hydra.sweeper.n_trials=2", "trainer.epochs=40",
            f"hydra.sweep.dir={sweep}")
    process = popen(tmp_path, *args)
    wait_for(process, lambda: len(RunFolder(sweep / "0").metrics) >= 2
             if (sweep / "0" / "metrics.csv").is_file() else False)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in err, err
    assert f"Resume with: tftrain -m hparams_search=optuna trainer.epochs=40 " \
           f"hydra.sweeper.n_trials=2 hydra.sweep.dir={sweep}" in err
    assert RunFolder(sweep / "0").summary["status"] == "interrupted"

    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0, again.output
    # stopped inside an epoch or, on a busy machine, at an epoch's end: resumed either way
    assert "search: resuming trial 0" in again.stdout, again.stdout
    assert "(resuming in epoch" in again.stdout or "(resuming after epoch" in again.stdout
    assert [(n, state) for n, state, _ in trials_of(sweep)] == [(0, "COMPLETE"), (1, "COMPLETE")]
    assert RunFolder(sweep / "0").summary["status"] == "completed"
    third = run_cli(*args, cwd=tmp_path)
    assert third.returncode == 0 and "0 new to run" in third.stdout, third.output


@pytest.mark.slow
def test_ctrl_c_before_the_first_job_leaves_no_sweep_folder(tmp_path):
    sweep = tmp_path / "outputs" / "sweep"
    process = popen(tmp_path, "-m", "debug=smoke", "seed=1,2", f"hydra.sweep.dir={sweep}")
    wait_for(process, (sweep / "multirun.yaml").is_file)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


def test_a_trial_resumes_with_its_search(tmp_path):
    """resume= of an Optuna trial is refused with the search's command (the study records
    the trial's result)."""
    pytest.importorskip("optuna", reason="pip install tftrain[optuna]")
    search = tmp_path / "search"
    assert in_process("-m", "hparams_search=optuna", "hydra.sweeper.n_trials=1", "debug=smoke",
                      f"hydra.sweep.dir={search}", cwd=tmp_path).returncode == 0
    result = in_process(f"resume={search / '0'}", "trainer.epochs=3", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.output, result.output
    assert "trial 0 of the Optuna search" in result.stderr
    assert f"hydra.sweep.dir={search}" in result.stderr and "tftrain -m hparams_search=optuna" in result.stderr


@pytest.mark.slow  # 8-18 s: the default run stays near 5 minutes
def test_a_grid_sweeps_job_resumes_alone_to_train_longer(tmp_path):
    sweep = tmp_path / "sweep"
    assert in_process("-m", "debug=smoke", "seed=1,2", "trainer.epochs=1",
                      f"hydra.sweep.dir={sweep}", cwd=tmp_path).returncode == 0
    longer = in_process(f"resume={sweep / '1'}", "trainer.epochs=2", cwd=tmp_path)
    assert longer.returncode == 0, longer.output
    assert RunFolder(sweep / "1").summary["epochs_completed"] == 2


def test_resume_is_no_swept_parameter_in_a_report(tmp_path):
    from tftrain.tools import report

    for name, overrides in (("a", ["seed=1"]), ("b", ["seed=1", "resume=/x/b"])):
        (tmp_path / name / ".hydra").mkdir(parents=True)
        (tmp_path / name / ".hydra" / "overrides.yaml").write_text(
            "".join(f"- {o}\n" for o in overrides))
    assert report.swept_keys(report.collect([tmp_path])) == []


@pytest.mark.slow
def test_a_sweep_of_fresh_models_prints_no_retracing_warning(tmp_path):
    """Each job traces its fresh model's functions: by design, so TensorFlow's warning about
    frequent retracing (which it counts across the process) must not appear."""
    result = run_cli("-m", "debug=smoke", "trainer.epochs=1", "seed=1,2,3,4,5,6,7",
                     f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert "retracing" not in result.output


def test_a_signal_arriving_inside_a_finalizer_is_raised_after_it_without_a_traceback(capfd):
    """Python cannot raise out of a __del__: an Interrupted raised there was printed as
    "Exception ignored ... signals.py ... Interrupted" (seen once in an Optuna trial, where
    TensorFlow and SQLAlchemy objects are finalized all the time); it is raised after it."""
    from tftrain.errors import Interrupted
    from tftrain.run.signals import Signals

    class Finalized:
        def __del__(self):
            signal.raise_signal(signal.SIGINT)
            sum(range(1000))  # the handler runs here, inside the finalizer

    with pytest.raises(Interrupted):
        with Signals():
            Finalized()
            time.sleep(2)
    assert "Exception ignored" not in capfd.readouterr().err
