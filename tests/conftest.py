"""Shared helpers: run the real `tftrain` command in a subprocess and read its run folder."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
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
    """Run `tftrain -m ARGS` (every job in one process, one TensorFlow start-up) into
    tmp_path/sweep; assert it succeeded; return the job folders in job order."""

    def _sweep(*args: str) -> list[RunFolder]:
        folder = tmp_path / "sweep"
        result = run_cli("-m", *args, f"hydra.sweep.dir={folder}", cwd=tmp_path, timeout=900)
        assert result.returncode == 0, result.output
        jobs = sorted((p for p in folder.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
        return [RunFolder(job) for job in jobs]

    return _sweep


@pytest.fixture
def train(tmp_path):
    """Run `tftrain ARGS` into tmp_path/run; assert it succeeded; return the run folder."""

    def _train(*args: str) -> RunFolder:
        result = run_cli(*args, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
        assert result.returncode == 0, result.output
        return RunFolder(tmp_path / "run")

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
