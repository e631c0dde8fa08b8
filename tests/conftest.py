"""Shared helpers: run the real `tftrain` command and read its run folder.

`run_cli` starts the console script in a new process: for what only a process shows (exit
statuses, signals, a terminal, TensorFlow never imported). `in_process` runs the same
command line through the same entry (`tftrain.cli.command`, which the console script calls)
inside the test worker, which imports TensorFlow once instead of once per test (7 s on 2
cores); the `train` and `sweep` fixtures use it. Each run starts from a clean, seeded
TensorFlow state (`runtime.setup`), as every job of a sweep does.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def tftrain_command() -> list[str]:
    """The installed console script next to this interpreter (what a user runs)."""
    script = Path(sys.executable).parent / "tftrain"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tftrain.cli"]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 300) -> Result:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    done = subprocess.run([*tftrain_command(), *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    return Result(done.returncode, done.stdout, done.stderr)


def keep_absl_off_pytest_streams() -> None:
    """TensorFlow's absl log handler writes to the sys.stderr of the moment absl was
    imported, and closes that stream whenever logging is reconfigured (Hydra does, at every
    run) unless it is sys.stderr at that moment. Under pytest it would close the capture's
    file from under pytest: point it at the real stderr, which absl never closes."""
    from absl import logging as absl_logging

    absl_logging.get_absl_handler().python_handler.stream = sys.__stderr__


COMMANDS = {"tftrain": "tftrain.cli", "tftrain-eval": "tftrain.tools.evaluate",
            "tftrain-predict": "tftrain.tools.predict", "tftrain-report": "tftrain.tools.report",
            "tftrain-tune": "tftrain.tools.tune", "tftrain-export": "tftrain.tools.export"}


def in_process(*args: str, cwd: Path, env: dict[str, str] | None = None,
               tool: str = "tftrain") -> Result:
    """`tftrain ARGS` (or `tftrain-eval`, `tftrain-predict`, `tftrain-report`: `tool`) run in this process from
    `cwd`, through the `command` function its console script calls, output captured.
    Afterwards the working folder, environment, sys.argv, sys.path and the modules imported
    from `cwd` (a test's own models or steps) are as they were."""
    command = importlib.import_module(COMMANDS[tool]).command
    keep_absl_off_pytest_streams()
    saved = os.getcwd(), dict(os.environ), list(sys.argv), list(sys.path), set(sys.modules)
    stdout, stderr = io.StringIO(), io.StringIO()
    os.chdir(cwd)
    os.environ.update(env or {})
    os.environ.pop("HYDRA_FULL_ERROR", None)
    sys.argv[:] = [tool]
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            status = command(list(args))
    finally:
        os.chdir(saved[0])
        os.environ.clear()
        os.environ.update(saved[1])
        sys.argv[:], sys.path[:] = saved[2], saved[3]
        for name in set(sys.modules) - saved[4]:
            if str(Path(getattr(sys.modules[name], "__file__", None) or "/").parent) == str(cwd):
                del sys.modules[name]
    return Result(status, stdout.getvalue(), stderr.getvalue())


@dataclass
class RunFolder:
    path: Path

    @property
    def summary(self) -> dict:
        return json.loads((self.path / "summary.json").read_text())

    @property
    def metrics(self) -> list[dict[str, str]]:
        with open(self.path / "metrics.csv", newline="") as handle:
            return list(csv.DictReader(handle))


@pytest.fixture
def sweep(tmp_path):
    """Run `tftrain -m ARGS` (in this process) into tmp_path/sweep; assert it succeeded;
    return the job folders in job order."""

    def _sweep(*args: str) -> list[RunFolder]:
        folder = tmp_path / "sweep"
        result = in_process("-m", *args, f"hydra.sweep.dir={folder}", cwd=tmp_path)
        assert result.returncode == 0, result.output
        jobs = sorted((p for p in folder.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
        return [RunFolder(job) for job in jobs]

    return _sweep


@pytest.fixture
def train(tmp_path):
    """Run `tftrain ARGS` (in this process) into tmp_path/run (run_1, run_2, ... for the
    next runs of a test: a folder holds one run); assert it succeeded; return the run folder."""
    made = []

    def _train(*args: str) -> RunFolder:
        folder = tmp_path / ("run" if not made else f"run_{len(made)}")
        made.append(folder)
        result = in_process(*args, f"hydra.run.dir={folder}", cwd=tmp_path)
        assert result.returncode == 0, result.output
        return RunFolder(folder)

    return _train


def console_script(name: str, module: str) -> list[str]:
    """An installed console script next to this interpreter, else its module (same code)."""
    script = Path(sys.executable).parent / name
    return [str(script)] if script.exists() else [sys.executable, "-m", module]


def run_tool(name: str, module: str, *args: str, cwd: Path, timeout: int = 300) -> Result:
    """Run tftrain-report / tftrain-eval / tftrain-predict as a user would."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    done = subprocess.run([*console_script(name, module), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    return Result(done.returncode, done.stdout, done.stderr)


def assert_refused(result: Result, status: int, fragments: list[str]) -> None:
    """The promise for bad input: the exit status, one short paragraph on stderr that names
    the bad value (each fragment; "!text": text must not be said), no traceback."""
    assert result.returncode == status, result.output
    assert "Traceback" not in result.output, result.output
    message = result.stderr.strip()
    assert message.startswith("tftrain: error:"), message
    assert len(message.splitlines()) <= 2, message  # one paragraph (a terminal may wrap it)
    for fragment in fragments:
        if fragment.startswith("!"):
            assert fragment[1:] not in message, (fragment, message)
        else:
            assert fragment in message, (fragment, message)


@pytest.fixture
def no_tensorflow(tmp_path):
    """An environment where `import tensorflow` (and keras) fails outright."""
    shadow = tmp_path / "shadow"
    for name in ("tensorflow", "keras"):
        (shadow / name).mkdir(parents=True)
        (shadow / name / "__init__.py").write_text(f"raise ImportError('{name} must not be imported')\n")
    return {"PYTHONPATH": str(shadow)}


def wait_for(process: subprocess.Popen, ready, timeout: float = 240) -> None:
    """Wait until `ready()` holds, the process still running (to signal it at that moment)."""
    started = time.monotonic()
    while not ready() and process.poll() is None:
        assert time.monotonic() - started < timeout, "never got there"
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()
