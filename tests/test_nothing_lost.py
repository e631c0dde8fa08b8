"""Nothing lost when a second process misbehaves: a folder is held from the moment a
command claims it, made or not. A second command into it (started at the same instant, or
while the first trains; a resume=, a sweep, a job of a sweep, a folder inside it) is refused
naming the holder's command line and PID, exit 2, and leaves the folder as it was; a holder
that died holds nothing; the workers of one multi-worker run share their folder, no one
else does. (A user's config folder: test_config_sources.py.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import Result, RunFolder, assert_refused, in_process, tftrain_command

# A callback that holds training at its start until the test lets it go: the first command
# is then certainly running (and holding its folder) while the second one starts.
WAITER = """
import os, time
import keras

class Wait(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        open("STARTED", "w").close()
        while not os.path.exists("GO"):
            time.sleep(0.05)
"""
WAIT = ["+callbacks.wait={_target_: waiter.Wait}", "allow_targets=[waiter]"]


def contents(folder: Path) -> dict[Path, bytes | None]:
    """Every path under `folder`, with each file's bytes: nothing added, nothing rewritten."""
    return {p.relative_to(folder): p.read_bytes() if p.is_file() else None for p in folder.rglob("*")}


@pytest.fixture
def start(tmp_path):
    """`start(ARGS)`: `tftrain ARGS` in a process of its own in tmp_path, held at the start of
    training (WAIT); killed at the end of the test if it is still there."""
    (tmp_path / "waiter.py").write_text(WAITER)
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    started = []

    def _start(*args: str, **more_env: str) -> subprocess.Popen:
        started.append(subprocess.Popen([*tftrain_command(), *args, *WAIT], cwd=tmp_path,
                                        env={**env, **more_env}, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        return started[-1]

    yield _start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


def training(process: subprocess.Popen, folder: Path, timeout: float = 240) -> None:
    """Wait until the process holds its folder and trains (held by WAIT)."""
    started = time.monotonic()
    while not (folder / "STARTED").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() - started < timeout, "never started training"
        time.sleep(0.05)


def finish(process: subprocess.Popen, folder: Path) -> str:
    """Let a held process go on; it must complete."""
    (folder / "GO").touch()
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, out + err
    return out


def test_two_commands_started_together_into_one_folder_train_once(tmp_path, start):
    """Started at the same instant with different seeds: exactly one trains; the other is
    refused naming it; the folder's overrides and summary are the same run's."""
    processes = {seed: start("debug=smoke", f"seed={seed}", "hydra.run.dir=runs/x")
                 for seed in (1, 2)}
    while all(p.poll() is None for p in processes.values()):
        time.sleep(0.05)
    loser, = [p for p in processes.values() if p.poll() is not None]
    (won, winner), = [(seed, p) for seed, p in processes.items() if p is not loser]
    out, err = loser.communicate()
    assert_refused(Result(loser.returncode, out, err), 2, [f"runs/x is in use: `tftrain debug=smoke seed={won}",
                                f"(PID {winner.pid}", f"kill {winner.pid}"])
    finish(winner, tmp_path)
    run = RunFolder(tmp_path / "runs" / "x")
    assert f"seed={won}" in run.summary["overrides"]
    assert f"- seed={won}" in (run.path / ".hydra" / "overrides.yaml").read_text()
    assert not (run.path / ".tftrain.lock").exists()  # let go when the holder ended


def test_a_second_command_while_the_first_trains_is_refused_and_leaves_the_folder_as_it_was(tmp_path, start):
    """The folder did not exist before the first command: it is held all the same."""
    first = start("debug=smoke", "seed=1", "hydra.run.dir=runs/x")
    training(first, tmp_path)
    before = contents(tmp_path / "runs")
    for second in (["debug=smoke", "seed=2", "hydra.run.dir=runs/x"],  # another run
                   ["debug=smoke", "seed=1", "hydra.run.dir=runs/x", *WAIT],  # the same, twice
                   ["debug=smoke", "hydra.run.dir=runs/x/inside"]):  # a folder inside it
        result = in_process(*second, cwd=tmp_path)
        assert_refused(result, 2, ["is in use: `tftrain debug=smoke seed=1", f"(PID {first.pid}",
                                   "hydra.run.dir=runs/x"])
        assert contents(tmp_path / "runs") == before
    finish(first, tmp_path)
    assert RunFolder(tmp_path / "runs" / "x").summary["status"] == "completed"


def test_a_run_resumed_twice_at_once_trains_once(tmp_path, start):
    """resume= of a folder another resume= is training in."""
    made = in_process("debug=smoke", "trainer.epochs=1", "hydra.run.dir=run", cwd=tmp_path)
    assert made.returncode == 0, made.output
    first = start("resume=run", "trainer.epochs=2")
    training(first, tmp_path)
    before = contents(tmp_path / "run")
    result = in_process("resume=run", "trainer.epochs=3", cwd=tmp_path)
    assert_refused(result, 2, ["run is in use: `tftrain resume=run trainer.epochs=2",
                               f"(PID {first.pid}"])
    assert contents(tmp_path / "run") == before
    finish(first, tmp_path)
    assert RunFolder(tmp_path / "run").summary["epochs_completed"] == 2


def test_a_holder_killed_holds_nothing(tmp_path, start):
    """SIGKILL leaves the lock file behind, but not its lock: the next command trains."""
    first = start("debug=smoke", "hydra.run.dir=runs/x")
    training(first, tmp_path)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    lock = tmp_path / "runs" / "x" / ".tftrain.lock"
    assert json.loads(lock.read_text())["pid"] == first.pid  # left behind, its lock free
    (tmp_path / "GO").touch()
    again = in_process("debug=smoke", *WAIT, "hydra.run.dir=runs/x", cwd=tmp_path)
    assert again.returncode == 0, again.output
    assert not lock.exists()


@pytest.mark.slow  # a sweep of two jobs in a process of its own
def test_one_sweep_into_a_sweep_folder_in_use_and_its_jobs_are_held(tmp_path, start):
    sweep = ["-m", "debug=smoke", "seed=1,2", "hydra.sweep.dir=sw"]
    first = start(*sweep)
    training(first, tmp_path)
    before = contents(tmp_path / "sw")
    again = in_process(*sweep, *WAIT, cwd=tmp_path)  # the same sweep, twice
    assert_refused(again, 2, ["sw is in use: `tftrain -m debug=smoke seed=1,2", f"(PID {first.pid}"])
    job = in_process("resume=sw/0", cwd=tmp_path)  # a job, resumed on its own
    assert_refused(job, 2, ["sw/0 is in use: `job 0 of tftrain -m debug=smoke", f"(PID {first.pid}"])
    inside = in_process("debug=smoke", "hydra.run.dir=sw/2", cwd=tmp_path)
    assert_refused(inside, 2, ["sw/2 is inside", "which is in use", f"(PID {first.pid}"])
    assert contents(tmp_path / "sw") == before
    finish(first, tmp_path)
    rerun = in_process(*sweep, *WAIT, cwd=tmp_path)  # after it ended: continues (all skipped)
    assert rerun.returncode == 0, rerun.output
    assert rerun.stdout.count("already completed") == 2, rerun.stdout


def test_the_workers_of_one_run_share_its_folder_and_no_one_else(tmp_path):
    """Two workers of one multi-worker run (their TF_CONFIG's cluster) hold one folder
    together; a lone command, or a worker of another cluster, is refused it. The lock as
    the command holds it, taken by three processes of their own."""
    claim = ("import sys, time; from pathlib import Path; from tftrain.run.lock import claim\n"
             "claim(Path('shared'), 'worker ' + sys.argv[1], sys.argv[2] or None)\n"
             "print('held', flush=True); time.sleep(60)")
    holders = []
    for name, group in (("0", "cluster A"), ("1", "cluster A")):
        holders.append(subprocess.Popen([sys.executable, "-c", claim, name, group], cwd=tmp_path,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        assert holders[-1].stdout.readline() == "held\n", holders[-1].communicate()
    try:
        for name, group in (("lone", ""), ("other", "cluster B")):
            refused = subprocess.run([sys.executable, "-c", claim, name, group], cwd=tmp_path,
                                     capture_output=True, text=True, timeout=60)
            assert refused.returncode != 0 and "shared is in use: `worker 0`" in refused.stderr, \
                refused.stderr
    finally:
        for holder in holders:
            holder.kill()
            holder.communicate()


@pytest.mark.slow  # two TensorFlow workers
def test_the_workers_of_one_multi_worker_run_share_its_folder_and_a_second_command_is_refused(
        tmp_path, start):
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    args = ["distribute=multi_worker", "trainer=custom_loop", "debug=smoke", "hydra.run.dir=shared"]
    workers = [start(*args, TF_CONFIG=json.dumps({"cluster": cluster,
                                                  "task": {"type": "worker", "index": index}}))
               for index in range(2)]
    training(workers[0], tmp_path)
    lone = in_process("debug=smoke", "hydra.run.dir=shared", cwd=tmp_path)
    assert_refused(lone, 2, ["shared is in use: `tftrain distribute=multi_worker"])
    assert {f"(PID {w.pid}" in lone.stderr for w in workers} == {True, False}  # the first of them
    (tmp_path / "GO").touch()
    for worker in workers:
        out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, out + err
    assert RunFolder(tmp_path / "shared").summary["replicas"] == 2
    assert not (tmp_path / "shared" / ".tftrain.lock").exists()
