"""A user's own config folder passes the same door as tftrain's configs.

`--config-dir` adds a folder (more options of tftrain's groups, primary configs of the
user's own), `--config-name` picks the primary config, `--config-path` replaces tftrain's
folder, as Hydra documents them. Whatever is wrong there is one paragraph, exit 2, no
traceback, no folder: a broken YAML file named with its line and column, an unknown key or a
bad value with the file and line, an unknown option with the closest ones among the user's
options too. And what is right there trains, resumes and prints, without importing
TensorFlow before the run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import RunFolder, assert_refused, in_process, run_cli

TINY = """_target_: tftrain.models.sequential
layers:
  - _target_: keras.layers.Flatten
  - {_target_: keras.layers.Dense, units: 8, activation: relu}
"""
MYCONF = {
    "model/tiny.yaml": TINY,  # 64*8+8 + 8*10+10 = 610 weights on the digits
    "model/broken.yaml": "_target_: tftrain.models.sequential\nlayers:\n"
                         "  - {_target_: keras.layers.Dense, units: 3\n  - foo: [1, 2\n",
    "trainer/fast.yaml": "defaults:\n  - fit\nepochz: 3\n",
    "trainer/slow.yaml": "defaults:\n  - fit\nepochs: three\n",
    "mine.yaml": "defaults:\n  - train\n  - override model: tiny\n  - _self_\n",
    "typo.yaml": "defaults:\n  - train\n  - override model: tinny\n  - _self_\n",
    "tabbed.yaml": "defaults:\n  - train\n  - _self_\ntrainer:\n  epochs: 2\n\tbatch_size: 3\n",
}


@pytest.fixture
def myconf(tmp_path: Path) -> Path:
    for name, text in MYCONF.items():
        (tmp_path / "myconf" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "myconf" / name).write_text(text)
    return tmp_path / "myconf"


MISTAKES = {
    "broken-yaml": (["model=broken"], ["myconf/model/broken.yaml, line 4, column 8",
                                       "not valid YAML", "expected ',' or '}'"]),
    "tab-in-primary": (["--config-name", "tabbed"], ["myconf/tabbed.yaml, line 6, column 1",
                                                     "not valid YAML", "'\\t'"]),
    "key-in-file": (["trainer=fast"], ["unknown key 'trainer.epochz' in myconf/trainer/fast.yaml, "
                                       "line 3", "Did you mean 'trainer.epochs'?"]),
    "value-in-file": (["trainer=slow"], ["bad value in myconf/trainer/slow.yaml, line 3", "'three'",
                                         "trainer.epochs"]),
    "option": (["model=tinny"], ["unknown option 'tinny' for config group 'model'",
                                 "Did you mean 'tiny'?", "mlp, regression"]),
    "option-in-a-sweep": (["-m", "model=tiny,tinny"], ["unknown option 'tinny'", "Did you mean 'tiny'?"]),
    "option-in-file": (["--config-name", "typo"], ["unknown option 'tinny' for config group 'model' "
                                                   "(in the defaults list of myconf/typo.yaml, line 3)",
                                                   "Did you mean 'tiny'?"]),
    "key-of-own-option": (["model=tiny", "model.layerz=3"], ["unknown key 'model.layerz'",
                                                             "Did you mean 'model.layers'?"]),
    "primary": (["--config-name", "mien"], ["--config-name mien: there is no mien.yaml",
                                            "Did you mean 'mine'?"]),
    "folder": (["--config-dir", "myconfs"], ["--config-dir myconfs: no such folder"]),
    "relative-config-path": (["--config-path", "myconf", "--config-name", "mine"],
                             ["Hydra reads a relative --config-path", "--config-path {here}/myconf"]),
    "config-path-without-train": (["--config-path", "{here}/myconf", "--config-name", "mine"],
                                  ["myconf/mine.yaml names 'train' in its defaults list",
                                   "--config-dir adds it beside them"]),
}


@pytest.mark.parametrize("args, fragments", MISTAKES.values(), ids=MISTAKES)
def test_a_mistake_in_a_users_config_folder_is_one_paragraph_and_leaves_no_folder(
        myconf, tmp_path, args, fragments):
    given = [a.replace("{here}", str(tmp_path)) for a in args]
    flags = [] if {"--config-dir", "--config-path"} & set(given) else ["--config-dir", "myconf"]
    result = in_process(*flags, *given, cwd=tmp_path)
    assert_refused(result, 2, [f.replace("{here}", str(tmp_path)) for f in fragments])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["myconf"]


def test_a_users_option_and_a_users_primary_config_train_and_resume(myconf, tmp_path):
    """model=tiny from the user's folder, and a primary config that builds on tftrain's:
    both train the user's model; resume= finds the user's configs again without the flags."""
    added = in_process("--config-dir", "myconf", "model=tiny", "debug=smoke", "hydra.run.dir=a",
                       cwd=tmp_path)
    assert added.returncode == 0, added.output
    assert "610 parameters" in added.stdout, added.stdout
    own = in_process("--config-dir", "myconf", "--config-name", "mine", "debug=smoke",
                     "trainer.epochs=1", "hydra.run.dir=b", cwd=tmp_path)
    assert own.returncode == 0, own.output
    assert "610 parameters" in own.stdout, own.stdout
    resumed = in_process("resume=b", "trainer.epochs=2", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.output
    assert RunFolder(tmp_path / "b").summary["epochs_completed"] == 2


def test_a_users_config_folder_is_read_without_tensorflow(myconf, tmp_path, no_tensorflow):
    printed = run_cli("--config-dir", "myconf", "model=tiny", "--cfg", "job", cwd=tmp_path,
                      env=no_tensorflow)
    assert printed.returncode == 0 and "units: 8" in printed.stdout, printed.output
    broken = run_cli("--config-dir", "myconf", "model=broken", cwd=tmp_path, env=no_tensorflow)
    assert_refused(broken, 2, ["myconf/model/broken.yaml, line 4, column 8"])
    assert not (tmp_path / "outputs").exists()


def test_eval_with_overrides_and_a_sweeps_continue_command_keep_the_users_config_folder(
        myconf, tmp_path):
    """tftrain-eval RUN key=value composes from the folders the run was made with (it refused
    `model=tiny` as an unknown option), and the command printed to continue a sweep of a
    user's options names the folder too (it composed without it, and failed)."""
    run = in_process("--config-dir", "myconf", "model=tiny", "debug=smoke", "hydra.run.dir=a",
                     cwd=tmp_path)
    assert run.returncode == 0, run.output
    scored = in_process(str(tmp_path / "a"), "dataset.test_split=0.3", cwd=tmp_path,
                        tool="tftrain-eval")
    assert scored.returncode == 0, scored.output
    swept = in_process("-m", "--config-dir", "myconf", "model=tiny", "debug=smoke", "seed=1,2",
                       "hydra.sweep.dir=s", cwd=tmp_path)
    assert swept.returncode == 0, swept.output
    from tftrain.sweeps.multirun import sweep_command

    command = sweep_command(tmp_path / "s")
    assert f"--config-dir {myconf}" in command and "model=tiny" in command, command
    again = in_process(*command.split()[1:], cwd=tmp_path)
    assert again.returncode == 0 and "already completed" in again.stdout, again.output


def test_help_lists_the_options_of_a_users_config_folder_too(myconf, tmp_path):
    shown = in_process("--help", "--config-dir", "myconf", cwd=tmp_path)
    assert shown.returncode == 0 and "tiny" in next(
        line for line in shown.stdout.splitlines() if line.strip().startswith("model ")), shown.output
    missing = in_process("--help", "--config-dir", "nowhere", cwd=tmp_path)
    assert_refused(missing, 2, ["--config-dir nowhere: no such folder"])
