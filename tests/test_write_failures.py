"""Writing is a door: a file that cannot be written (a full disk, a file-size limit, a folder
that refuses it) ends a command with one paragraph naming the file and the system's reason,
exit status 74, after whatever was computed was shown; nothing written before is lost, and
the run folder resumes to the uninterrupted run's weights once it can be written again.

Failures are injected at each write of a run by putting a folder where the file's temporary
name will be (what the system then refuses is the write itself), and once with a real
file-size limit (`ulimit -f`).
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import os
from pathlib import Path

import pytest

from conftest import RunFolder, assert_refused, in_process, tftrain_command

BLOCKER = '''
import os
from pathlib import Path
import keras
from tftrain import artifacts

class Block(keras.callbacks.Callback):
    """Puts a folder where `name` (in the run folder) will be staged, as epoch `epoch`
    (0-based) begins, or as training ends (epoch: null)."""

    def __init__(self, folder, name, epoch=None, suffix=""):
        super().__init__()
        self.path = Path(folder) / name
        self.epoch, self.suffix = epoch, suffix

    def block(self):
        if not Path("blocked").exists():
            Path("blocked").write_text(str(self.target()))
            self.target().mkdir(parents=True)

    def target(self):
        if self.path.name.startswith("."):  # a fixed staging name (the backup's weights)
            return self.path
        return artifacts.staged(self.path, self.suffix)

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.block()

    def on_train_end(self, logs=None):
        if self.epoch is None:
            self.block()
'''
COMMON = ["dataset=synthetic", "dataset.num_samples=400", "trainer.epochs=3", "trainer.batch_size=64",
          "deterministic=true", "allow_targets=[blocker]"]
WRITES = {  # the file whose write fails, and the Block callback's arguments
    "metrics-row": ("metrics.csv", "{name: metrics.csv, epoch: 1}"),
    "backup": ("latest.weights.h5", "{name: checkpoints/backup/.latest.weights.h5, epoch: 1}"),
    "best-checkpoint": ("best.keras", "{name: checkpoints/best.keras, epoch: 0, suffix: .keras}"),
    "final-model": ("model.keras", "{name: model.keras, suffix: .keras}"),
    "summary": ("summary.json", "{name: summary.json}"),
}


def block_override(arguments: str) -> str:
    return "+callbacks.block={_target_: blocker.Block, folder: '${run_dir}', " + arguments[1:]


def prepared_folder(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "blocker.py").write_text(BLOCKER)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("write", WRITES)
def test_a_write_that_fails_ends_in_one_paragraph_and_the_folder_resumes(tmp_path, write):
    name, arguments = WRITES[write]
    whole = prepared_folder(tmp_path, "whole")
    (whole / "blocked").write_text("never")  # the same callbacks, which block nothing here
    done = in_process(*COMMON, block_override(arguments), "hydra.run.dir=run", cwd=whole)
    assert done.returncode == 0, done.output

    cut = prepared_folder(tmp_path, "cut")
    failed = in_process(*COMMON, block_override(arguments), "hydra.run.dir=run", cwd=cut)
    assert_refused(failed, 74, [f"could not write {cut / 'run'}", name, "resume with: tftrain resume="])
    blocked = Path((cut / "blocked").read_text())
    blocked.rmdir()  # the folder can be written again
    resumed = in_process(f"resume={cut / 'run'}", cwd=cut)
    assert resumed.returncode == 0, resumed.output
    a, b = RunFolder(cut / "run").summary, RunFolder(whole / "run").summary
    assert a["weights_fingerprint"] == b["weights_fingerprint"] and a["test"] == b["test"]
    assert [r["loss"] for r in RunFolder(cut / "run").metrics] == \
        [r["loss"] for r in RunFolder(whole / "run").metrics]


@pytest.mark.slow
def test_a_file_size_limit_ends_the_run_in_one_paragraph_and_it_resumes_without_it(tmp_path):
    """`ulimit -f 64` (kilobytes): the run's first model file is too large to write."""
    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    result = subprocess.run([*tftrain_command(), "debug=smoke", "hydra.run.dir=run"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300, preexec_fn=limited)
    assert result.returncode == 74, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "File too large (EFBIG)" in result.stderr, result.stderr
    resumed = in_process(f"resume={tmp_path / 'run'}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.output
    whole = in_process("debug=smoke", "hydra.run.dir=whole", cwd=tmp_path)
    assert whole.returncode == 0, whole.output
    assert RunFolder(tmp_path / "run").summary["weights_fingerprint"] == \
        RunFolder(tmp_path / "whole").summary["weights_fingerprint"]


def test_a_report_that_cannot_be_written_is_one_paragraph_after_the_table(tmp_path, train):
    run = train("debug=smoke")
    target = tmp_path / "runs.csv"
    from tftrain import artifacts

    artifacts.staged(target).mkdir()
    result = in_process(str(run.path), "--csv", str(target), cwd=tmp_path, tool="tftrain-report")
    assert_refused(result, 74, [f"could not write {target}", "Is a directory"])
    assert "objective" in result.stdout  # the table was shown first
    shutil.rmtree(artifacts.staged(target))
