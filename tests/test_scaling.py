"""Beyond one machine: one model trained by several worker processes that a scheduler
started (submitit, locally here; Slurm the same way), each taking its role from the
scheduler's environment, with no TF_CONFIG written by anyone."""

from __future__ import annotations

import re

import pytest

from conftest import RunFolder, in_process, run_cli


@pytest.mark.slow
def test_two_tasks_of_a_submitit_job_train_one_model_as_mirrored_does(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip install tftrain[slurm]")
    sweep = tmp_path / "sweep"
    result = run_cli("-m", "hydra/launcher=submitit_local", "hydra.launcher.tasks_per_node=2",
                        "distribute=multi_worker", "trainer=custom_loop", "debug=smoke",
                        f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    workers = sorted(sweep.glob(".submitit/*/*_log.out"))
    fingerprints = [re.findall(r"weights fingerprint: (\w+)", p.read_text()) for p in workers]
    assert len(workers) == 2 and fingerprints[0] == fingerprints[1] != [], fingerprints
    job = RunFolder(sweep / "0")
    assert job.summary["replicas"] == 2 and [job.summary["weights_fingerprint"]] == fingerprints[0]
    assert (job.path / "train.log").read_text().count("weights fingerprint") == 1  # the chief's

    mirrored = run_cli("distribute=mirrored", "distribute.cpu_devices=2", "trainer=custom_loop",
                          "debug=smoke", f"hydra.run.dir={tmp_path / 'mirrored'}", cwd=tmp_path)
    assert mirrored.returncode == 0, mirrored.output
    one_machine = RunFolder(tmp_path / "mirrored").summary
    for split in ("final", "test"):
        for name, value in one_machine[split].items():
            assert job.summary[split][name] == pytest.approx(value, abs=1e-4), (split, name)


def test_multi_worker_without_a_role_says_how_to_give_one(tmp_path):
    result = in_process("distribute=multi_worker", "trainer=custom_loop", "debug=smoke",
                        cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.output
    assert "hydra/launcher=submitit_slurm" in result.stderr and "TF_CONFIG" in result.stderr
    assert not (tmp_path / "outputs").exists()
