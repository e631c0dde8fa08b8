"""A non-editable install carries the configs: `tftrain` works from any folder."""

from __future__ import annotations

import json
import os
import site
import subprocess
import venv

import pytest

from conftest import REPO


@pytest.mark.slow
def test_wheel_install_trains_from_another_folder(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # Reuse this environment's heavy dependencies (TensorFlow...) instead of downloading
    # them again: a .pth line appends their site-packages after the new venv's own.
    new_site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(new_site, "deps.pth"), "w") as handle:
        handle.write("\n".join(site.getsitepackages()) + "\n")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(REPO)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    located = subprocess.run([python, "-c", "import tftrain; print(tftrain.__file__)"], cwd=elsewhere,
                             capture_output=True, text=True, check=True).stdout.strip()
    assert located.startswith(str(env_dir)), located  # the wheel, not the repository

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([env_dir / "bin" / "tftrain", "debug=smoke"], cwd=elsewhere, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    summaries = list((elsewhere / "outputs").glob("*/*/summary.json"))
    assert len(summaries) == 1
    assert json.loads(summaries[0].read_text())["epochs_completed"] == 2


def test_the_test_extra_brings_every_package_the_tests_use():
    """`pip install -e ".[test]"` (README's command, and CI's) installs what the optional
    features' tests import: a test that skips for a missing package has not run."""
    import importlib.util
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in ("plots", "tensorboard", "optuna", "joblib", "slurm", "mlflow", "export"):
        for requirement in extras[extra]:
            name = requirement.split(">")[0].split("=")[0].split("<")[0].strip()
            assert any(name == r.split(">")[0].split("=")[0].split("<")[0].strip()
                       for r in extras["test"]), f"the test extra lacks {name} (of [{extra}])"
    for module in ("optuna", "cmaes", "matplotlib", "sklearn", "tensorboard", "mlflow", "tf2onnx",
                   "onnx", "onnxruntime", "ai_edge_litert",
                   "hydra_plugins.hydra_joblib_launcher", "hydra_plugins.hydra_submitit_launcher"):
        assert importlib.util.find_spec(module) is not None, f"{module} is not installed"
