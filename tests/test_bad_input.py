"""The bad-input suite, organised by the door where input enters (README, Errors).

Each case is a mistake a tired user makes, run through the real command (tftrain, -m,
resume=, tftrain-eval, tftrain-predict, tftrain-report): it must end with the promised exit
status, one short paragraph that names the bad value, no traceback, and nothing left behind
(no run folder for a run that never trained; nothing new in a run folder that was only read).
Signals, which need a process of their own, are in test_signals.py.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import RunFolder, assert_refused, in_process, run_cli

MODULES = {
    "broken_model.py": "def model(spec:\n    return None\n",
    "mydata.py": "import numpy as np\n\ndef load(rows: int = 50):\n"
                 "    return rows\n",
    "three_classes.py": "import keras\n\ndef model(spec):\n"
                        "    return keras.Sequential([keras.Input(spec.input_shape), keras.layers.Flatten(),\n"
                        "                             keras.layers.Dense(3, activation='softmax')])\n",
}


def write_csv(path: Path, rows: int = 60, label: str = "species", classes=("a", "b", "c"),
              encoding: str = "utf-8", delimiter: str = ",") -> Path:
    """A small table: two numbers, a string column, and a label."""
    rng = np.random.default_rng(0)
    lines = [delimiter.join(["size", "weight", "colour", label])]
    for i in range(rows):
        lines.append(delimiter.join([f"{rng.normal():.3f}", f"{rng.normal():.3f}",
                                     ["rouge", "bleu", "vert"][i % 3], classes[i % len(classes)]]))
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def setup_files(folder: Path) -> None:
    """Every broken or awkward input the cases below name, made once per case folder."""
    for name, text in MODULES.items():
        (folder / name).write_text(text)
    write_csv(folder / "table.csv")
    write_csv(folder / "one_class.csv", classes=("yes",))
    (folder / "header_only.csv").write_text("size,weight,colour,species\n")
    (folder / "binary.csv").write_bytes(bytes(range(256)) * 8)
    latin = write_csv(folder / "latin.csv")
    latin.write_bytes(latin.read_bytes().replace(b"rouge", "rougé".encode("latin-1")))
    (folder / "ragged.csv").write_text("a,b,label\n1,2,x\n3,4\n5,6,y\n")
    (folder / "cut.csv.gz").write_bytes(gzip.compress((folder / "table.csv").read_bytes())[:40])
    (folder / "a_folder").mkdir()
    np.save(folder / "single.npy", np.zeros((10, 4)))
    np.savez(folder / "objects.npz", x_train=np.array([[1, 2], [3]], dtype=object),
             y_train=np.array([0, 1]))
    np.savez(folder / "arrays.npz", x_train=np.zeros((20, 4)), y_train=np.arange(20) % 2)
    np.savez(folder / "images.npz", images=np.zeros((20, 4)), labels=np.arange(20) % 2)
    (folder / "text.npz").write_text("x_train,y_train\n")
    (folder / "photos" / "cats").mkdir(parents=True)
    (folder / "photos" / "cats" / "1.png").write_bytes(b"not a png at all" * 20)
    (folder / "photos" / "dogs").mkdir()
    (folder / "photos" / "dogs" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (folder / "reviews" / "good").mkdir(parents=True)
    (folder / "reviews" / "good" / "1.txt").write_text("fine film")
    (folder / "reviews" / "bad").mkdir()
    (folder / "reviews" / "bad" / "1.txt").write_bytes("awful caf\xe9".encode("latin-1"))
    (folder / "records").mkdir()
    (folder / "records" / "train.tfrecord").write_bytes(b"\x00" * 64)


# Door 1 and 2: composing the config, instantiating its `_target_`s, checks before training.
CONFIG = {
    "layer-class-typo": (["model.layers.1._target_=keras.layers.Dence"],
                         ["model.layers.1._target_", "keras.layers.Dence", "Did you mean 'keras.layers.Dense'"]),
    "layer-argument-typo": (["+model.layers.1.unit=3"],
                            ["model.layers.1", "keras.layers.Dense", "'unit'", "Did you mean 'units'", "activation"]),
    "layer-value-refused": (["model.layers.1.units=-3"], ["model.layers.1", "units=-3"]),
    "subclassed-model-on-a-table": (["dataset=csv", "dataset.path=table.csv", "dataset.label=species", "model=resnet"],
                                    ["model 'SmallResNet'", "layer 'conv2d'", "expected min_ndim=4",
                                     "vectors or table columns: model=mlp"]),
    "cnn-on-a-table": (["dataset=csv", "dataset.path=table.csv", "dataset.label=species", "model=cnn"],
                       ["model 'cnn'", "expected min_ndim=4", "need images (H, W, C)"]),
    "model-target-swapped-keeping-the-option-keys": (["model._target_=three_classes.model", "allow_targets=[three_classes]"],
                                                     ["three_classes.model takes no argument 'name'", "Its arguments: spec",
                                                      "'~model' '+model={_target_: three_classes.model}'"]),
    "head-narrower-than-the-classes": (["~model", "+model={_target_: three_classes.model}", "allow_targets=[three_classes]"],
                                       ["outputs of shape (None, 3)", "label value of 9", "[0, 3)",
                                        "classification task with 10 classes"]),
    "gan-under-fit": (["model=gan"], ["tftrain.models.zoo.ImageGAN", "trainer=fit",
                                      "trainer=custom_loop trainer.train_step._target_=tftrain.trainers.GANStep"]),
    "gan-step-on-an-mlp": (["trainer=custom_loop", "trainer.train_step._target_=tftrain.trainers.GANStep"],
                           ["trainer.train_step", "GANStep trains a GAN", "model 'mlp' has no generator"]),
    "no-layers": (["model.layers=[]"], ["model 'mlp'", "outputs of shape (None, 8, 8, 10)"]),
    "unknown-loss": (["loss=not_a_loss"], ["loss='not_a_loss'", "not a Keras loss"]),
    "loss-typo": (["loss=mean_squared_eror"], ["Did you mean 'mean_squared_error'"]),
    "unknown-metric": (["metrics=[accuracy,not_a_metric]"], ["metrics.1='not_a_metric'", "not a Keras metric"]),
    "negative-learning-rate": (["optimizer.learning_rate=-1"], ["optimizer.learning_rate=-1.0", "> 0"]),
    "negative-patience": (["callbacks.early_stopping.patience=-2"], ["callbacks.early_stopping.patience=-2", ">= 0"]),
    "objective-typo": (["objective.metric=val_acuracy"], ["objective.metric='val_acuracy'", "Did you mean 'val_accuracy'"]),
    "monitor-typo": (["callbacks.early_stopping.monitor=val_los"], ["val_los", "Did you mean 'val_loss'"]),
    "optimizer-class-typo": (["optimizer._target_=keras.optimizers.Adamm"], ["keras.optimizers.Adamm", "'keras.optimizers.Adam'"]),
    "step-class-typo": (["trainer=custom_loop", "trainer.train_step._target_=tftrain.trainers.SupervisedStepp"],
                        ["trainer.train_step._target_", "'tftrain.trainers.SupervisedStep'"]),
    "split-out-of-range": (["dataset.val_split=1.5"], ["dataset.val_split=1.5", "[0, 1)"]),
    "key-typo": (["trainer.epochz=3"], ["trainer.epochz", "Did you mean 'trainer.epochs'"]),
    "option-typo": (["model=mlpp"], ["'mlpp'", "Did you mean 'mlp'"]),
    "key-by-synonym": (["dataset=synthetic", "dataset.size=500"], ["Did you mean 'dataset.num_samples'"]),
    "key-of-another-option": (["dataset.path=table.csv"], ["'path' is a key of dataset=csv",
                                                             "'dataset=csv dataset.path=table.csv'"]),
    "short-layer-name-typo": (["model.layers=[Flatten,Dnse]"], ["'Dnse'", "Did you mean 'Dense'"]),
    "one-class-synthetic": (["dataset=synthetic", "dataset.num_classes=1"], ["dataset.num_classes=1", ">= 2"]),
    "missing-module": (["dataset._target_=nowhere.load", "allow_targets=[nowhere]"], ["nowhere.load", "no module 'nowhere'"]),
    "user-module-syntax-error": (["model._target_=broken_model.model", "allow_targets=[broken_model]"],
                                 ["broken_model.model", "SyntaxError", "broken_model.py, line 1"]),
    "user-source-argument": (["dataset._target_=mydata.load", "+dataset.row=5", "allow_targets=[mydata]"],
                             ["'row'", "Did you mean 'rows'"]),
    "sweep-with-one-bad-job": (["-m", "optimizer.learning_rate=0.01,-1"], ["optimizer.learning_rate=-1.0"]),
    "pruner-typo": (["-m", "hparams_search=optuna", "hydra.sweeper.pruner=medain"],
                    ["hydra.sweeper.pruner='medain'", "Did you mean 'median'"]),
    "sweep-on-a-hydra-key": (["-m", "hparams_search=optuna", "hydra.sweeper.params.lr=choice(1,2)"],
                             ["Hydra's own keys take no sweep", "'lr=choice(1,2)'"]),
    "cfg-with-multirun": (["-m", "--cfg", "job"], ["-m and --cfg cannot be combined"]),
    "backup-every-negative-steps": (["callbacks.backup.save_freq=-3"],
                                    ["callbacks.backup.save_freq=-3", "epoch, or a number of steps"]),
    "worker-port-reserved": (["distribute=multi_worker", "trainer=custom_loop", "distribute.port=80"],
                             ["distribute.port=80", "[1024, 65535]"]),
}


# Door 3: reading the user's data, per source.
DATA = {
    "csv-missing": (["dataset=csv", "dataset.path=nope.csv", "dataset.label=species"], ["nope.csv", "no such file"]),
    "csv-folder": (["dataset=csv", "dataset.path=a_folder", "dataset.label=species"], ["a_folder is a folder"]),
    "csv-header-only": (["dataset=csv", "dataset.path=header_only.csv", "dataset.label=species"],
                        ["header_only.csv", "no data rows"]),
    "csv-binary": (["dataset=csv", "dataset.path=binary.csv", "dataset.label=species"], ["binary.csv", "binary file"]),
    "csv-latin1": (["dataset=csv", "dataset.path=latin.csv", "dataset.label=species"],
                   ["latin.csv, line 2", "dataset.encoding=latin-1"]),
    "csv-one-class": (["dataset=csv", "dataset.path=one_class.csv", "dataset.label=species"],
                      ["one_class.csv", "label column 'species' holds a single class, 'yes'", "needs at least two"]),
    "csv-label-typo": (["dataset=csv", "dataset.path=table.csv", "dataset.label=Species"],
                       ["'Species'", "Did you mean 'species'"]),
    "csv-label-float": (["dataset=csv", "dataset.path=table.csv", "dataset.label=4.5"], ["no label column '4.5'", "species"]),
    "csv-label-position": (["dataset=csv", "dataset.path=table.csv", "dataset.label=99"],
                           ["position 99 is outside the file's", "-1 for the last"]),
    "csv-ragged": (["dataset=csv", "dataset.path=ragged.csv", "dataset.label=label"], ["ragged.csv, line 3", "2 fields"]),
    "csv-gzip-cut": (["dataset=csv", "dataset.path=cut.csv.gz", "dataset.label=species"], ["cut.csv.gz", "gzip"]),
    "npz-given-npy": (["dataset=npz", "dataset.path=single.npy"], ["single.npy", "not an .npz archive"]),
    "npz-objects": (["dataset=npz", "dataset.path=objects.npz"], ["objects.npz", "Object arrays"]),
    "npz-not-zip": (["dataset=npz", "dataset.path=text.npz"], ["text.npz", "not an .npz archive"]),
    "npz-other-keys": (["dataset=npz", "dataset.path=images.npz"],
                       ["no array 'x_train'", "Set dataset.x_key=images dataset.y_key=labels"]),
    "npz-key": (["dataset=npz", "dataset.path=arrays.npz", "dataset.y_key=labels"], ["'labels'", "x_train, y_train"]),
    "image-dir-file": (["dataset=image_dir", "dataset.path=table.csv"], ["table.csv is a file", "folder"]),
    "image-dir-corrupt": (["dataset=image_dir", "dataset.path=photos", "dataset.image_size=[8,8]"],
                          ["photos/cats/1.png is not an image", "remove or replace it"]),
    "text-dir-latin1": (["dataset=text_dir", "dataset.path=reviews"], ["1.txt, line 1", "not UTF-8"]),
    "tfrecord-none": (["dataset=tfrecord", "dataset.path=a_folder", "+dataset.features={x: {dtype: float32}, label: {dtype: int64}}"],
                      ["dataset.path=a_folder", "no TFRecord files"]),
    "tfrecord-corrupt": (["dataset=tfrecord", "dataset.path=records", "+dataset.features={x: {dtype: float32}, label: {dtype: int64}}"],
                         ["dataset.path=records"]),
    "keras-offline": (["dataset=mnist", "dataset.path=nope.npz"], ["nope.npz", "no such file"]),
    "user-source-returns-nonsense": (["dataset._target_=mydata.load", "allow_targets=[mydata]"],
                                     ["dataset._target_=mydata.load", "Source"]),
}


@pytest.mark.parametrize("case", sorted(CONFIG) + sorted(DATA))
def test_a_bad_config_or_data_is_one_paragraph_exit_2_and_leaves_no_folder(tmp_path, case):
    args, fragments = {**CONFIG, **DATA}[case]
    setup_files(tmp_path)
    result = in_process("debug=smoke", *args, cwd=tmp_path)
    assert_refused(result, 2, fragments)
    assert not (tmp_path / "outputs").exists(), list((tmp_path / "outputs").rglob("*"))


def test_a_fit_batch_that_does_not_split_over_the_replicas_is_refused(tmp_path):
    """In a process of its own: the CPU is split into replicas before TensorFlow starts."""
    result = run_cli("debug=smoke", "distribute=mirrored", "trainer.batch_size=33", cwd=tmp_path)
    assert_refused(result, 2, ["trainer.batch_size=33", "over the 2 replicas", "trainer.batch_size=32",
                               "trainer=custom_loop"])
    assert not (tmp_path / "outputs").exists()


def test_a_sweep_job_with_bad_data_keeps_its_folder_as_failed_and_the_others_run(tmp_path):
    setup_files(tmp_path)
    result = in_process("-m", "debug=smoke", "dataset=csv", "dataset.label=species",
                        "dataset.path=table.csv,header_only.csv", f"hydra.sweep.dir={tmp_path / 's'}",
                        cwd=tmp_path)
    assert result.returncode == 1, result.output
    assert "Traceback" not in result.output
    assert "header_only.csv" in result.stderr and "no data rows" in result.stderr
    assert RunFolder(tmp_path / "s" / "0").summary["status"] == "completed"
    failed = RunFolder(tmp_path / "s" / "1").summary
    assert failed["status"] == "failed" and "no data rows" in failed["error"]


# Door 4: reading a run folder (eval, predict, resume, report).
@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("finished")
    result = in_process("debug=smoke", f"hydra.run.dir={root / 'run'}", cwd=root)
    assert result.returncode == 0, result.output
    return root / "run"


def cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


DAMAGE = {
    "model": lambda run: cut_in_half(run / "model.keras"),
    "backup": lambda run: [cut_in_half(run / "checkpoints" / "backup" / f) for f in
                           ("latest.weights.h5", "latest.weights.h5.bkp")],
    "overrides": lambda run: (run / ".hydra" / "overrides.yaml").write_text("- a: [\n"),
    "summary": lambda run: (run / "summary.json").write_text('{"status": '),
    "nothing": lambda run: None,
    "no-model": lambda run: (run / "model.keras").unlink(),
    "overrides-of-an-interrupted-run": lambda run: [
        (run / ".hydra" / "overrides.yaml").write_text("- a: [\n"),
        (run / "summary.json").write_text(json.dumps({"status": "interrupted"}))],
}
RUN_FOLDER = {
    "eval-damaged-model": ("model", "tftrain-eval", ["RUN"], ["model.keras is damaged", "checkpoints/best.keras"]),
    "eval-damaged-overrides": ("overrides", "tftrain-eval", ["RUN", "dataset.test_split=0.3"],
                               [".hydra/overrides.yaml is damaged"]),
    "eval-model-deleted": ("no-model", "tftrain-eval", ["RUN"],
                           ["has no model.keras (the run completed, so it was deleted or moved since)",
                            "checkpoints/best.keras", "!resume="]),
    "resume-damaged-overrides-offers-no-resume": ("overrides-of-an-interrupted-run", "tftrain", ["resume=RUN", "trainer.epochs=3"],
                                                  [".hydra/overrides.yaml is damaged", "!tftrain resume="]),
    "eval-not-a-run": ("nothing", "tftrain-eval", ["RUN/checkpoints"], ["not a tftrain run folder"]),
    "predict-damaged-model": ("model", "tftrain-predict", ["RUN", "input=x.npy"], ["model.keras is damaged", "cp "]),
    "predict-damaged-summary": ("summary", "tftrain-predict", ["RUN", "input=x.npy"], ["summary.json is damaged"]),
    "predict-empty-file": ("nothing", "tftrain-predict", ["RUN", "input=empty.npy"], ["input=empty.npy"]),
    "predict-no-rows": ("nothing", "tftrain-predict", ["RUN", "input=none.npy"], ["input=none.npy", "holds no inputs"]),
    "predict-empty-csv": ("nothing", "tftrain-predict", ["RUN", "input=empty.csv"], ["input=empty.csv", "empty"]),
    "predict-missing-input": ("nothing", "tftrain-predict", ["RUN", "input=nope.npy"], ["input=nope.npy", "no such"]),
    "predict-wrong-shape": ("nothing", "tftrain-predict", ["RUN", "input=wide.npy"], ["(5, 9)", "(8, 8, 1)"]),
    "predict-npz-named-npy": ("nothing", "tftrain-predict", ["RUN", "input=archive.npy"], ["is an .npz archive"]),
    "resume-damaged-backup": ("backup", "tftrain", ["resume=RUN", "trainer.epochs=4"],
                              ["checkpoints/backup is damaged", "previous state too", "best.keras"]),
    "resume-damaged-overrides": ("overrides", "tftrain", ["resume=RUN"], [".hydra/overrides.yaml is damaged"]),
    "resume-a-file": ("nothing", "tftrain", ["resume=RUN/model.keras"], ["this is a file"]),
    "resume-completed": ("nothing", "tftrain", ["resume=RUN"], ["already completed all 2 epochs", "trainer.epochs=N"]),
    "report-missing": ("nothing", "tftrain-report", ["RUN/nope"], ["no such folder"]),
    "report-csv-into-a-folder": ("nothing", "tftrain-report", ["RUN", "--csv", "RUN"],
                                 ["--csv run: this is a folder", "run/runs.csv"]),
    "report-markdown-nowhere": ("nothing", "tftrain-report", ["RUN", "--markdown", "nope/r.md"],
                                ["--markdown nope/r.md: its folder nope does not exist"]),
    "resume-nothing": ("nothing", "tftrain", ["resume="], ["resume= names no run folder"]),
    "resume-elsewhere": ("nothing", "tftrain", ["resume=RUN", "trainer.epochs=3", "hydra.run.dir=elsewhere"],
                         ["hydra.run.dir=elsewhere with resume=run", "resumes in its own folder"]),
    "resume-another-model": ("nothing", "tftrain", ["resume=RUN", "trainer.epochs=3", "model=resmlp"],
                             ["holds the weights of another model", "leave out overrides that change them"]),
    "run-into-another-run": ("nothing", "tftrain", ["debug=smoke", "optimizer.learning_rate=0.01", "hydra.run.dir=RUN"],
                             ["hydra.run.dir=run holds another run", "['debug=smoke']", "tftrain resume=run"]),
    "run-into-its-own-completed-folder": ("nothing", "tftrain", ["debug=smoke", "hydra.run.dir=RUN"],
                                          ["holds this very run, completed", "resume=run trainer.epochs=N"]),
    "run-into-a-folder-of-other-files": ("nothing", "tftrain", ["debug=smoke", "hydra.run.dir=RUN/checkpoints"],
                                         ["hydra.run.dir=run/checkpoints already holds files, and no tftrain run"]),
}


@pytest.mark.parametrize("case", sorted(RUN_FOLDER))
def test_a_damaged_or_wrong_run_folder_is_one_paragraph_and_nothing_is_written(
        finished, tmp_path, case):
    damage, tool, args, fragments = RUN_FOLDER[case]
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    DAMAGE[damage](run)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((3, 8, 8, 1)))
    np.save(tmp_path / "none.npy", np.zeros((0, 8, 8, 1)))
    np.save(tmp_path / "wide.npy", np.zeros((5, 9)))
    with open(tmp_path / "archive.npy", "wb") as handle:  # np.savez would add .npz to the name
        np.savez(handle, x=np.zeros((2, 64)))
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "empty.csv").write_text("")
    before = contents(tmp_path)
    result = in_process(*(a.replace("RUN", "run") for a in args), cwd=tmp_path, tool=tool)
    assert_refused(result, 2, fragments)
    assert contents(tmp_path) == before


def contents(folder: Path) -> dict[Path, bytes | None]:
    """Every path under `folder`, with each file's bytes: nothing added, nothing rewritten."""
    return {p.relative_to(folder): p.read_bytes() if p.is_file() else None for p in folder.rglob("*")}


def test_a_sweep_into_the_folder_of_another_sweep_is_refused_and_the_same_one_continues(tmp_path):
    first = in_process("-m", "debug=smoke", "seed=1", "hydra.sweep.dir=s", cwd=tmp_path)
    assert first.returncode == 0, first.output
    before = contents(tmp_path)
    other = in_process("-m", "debug=smoke", "seed=1,3", "hydra.sweep.dir=s", cwd=tmp_path)
    assert_refused(other, 2, ["hydra.sweep.dir=s holds another sweep", "'seed=1'", "'seed=1,3'"])
    assert contents(tmp_path) == before
    again = in_process("-m", "debug=smoke", "seed=1", "hydra.sweep.dir=s", cwd=tmp_path)
    assert again.returncode == 0 and "already completed" in again.stdout, again.output


STOP_AT_STEP_2 = """
import os, signal
import keras

class StopAtStep2(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 1:
            os.kill(os.getpid(), signal.SIGINT)
"""


@pytest.mark.slow  # 8-18 s: the default run stays near 5 minutes
def test_resuming_inside_an_epoch_with_another_batch_size_is_refused_and_with_its_own_goes_on(tmp_path):
    """The rest of an epoch is the rest of its batches; with other batches the step it
    stopped at means nothing (past the new epoch's end, it trained nothing at all)."""
    (tmp_path / "stop_at_step_2.py").write_text(STOP_AT_STEP_2)
    stopped = in_process("trainer.epochs=2", "trainer.steps_per_execution=1", "callbacks.backup.save_freq=1",
                         "+callbacks.stop={_target_: stop_at_step_2.StopAtStep2}",
                         "allow_targets=[stop_at_step_2]", "hydra.run.dir=run", cwd=tmp_path)
    assert stopped.returncode == 130, stopped.output
    before = contents(tmp_path)
    result = in_process("resume=run", "trainer.batch_size=64", "~callbacks.stop", cwd=tmp_path)
    assert_refused(result, 2, ["stopped at step 2 of an epoch of 39 steps", "now have 19",
                               "resume with the batch size and data it was made with"])
    assert contents(tmp_path) == before
    resumed = in_process("resume=run", "~callbacks.stop", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.output
    assert "epoch 1/2" in resumed.stdout and "epoch 2/2" in resumed.stdout, resumed.stdout


def test_eval_on_another_dataset_option_drops_the_keys_of_the_runs_own(tmp_path):
    """dataset=digits on a synthetic run: the run's dataset.num_samples has no place in digits;
    the user never typed it, so the message is about the data, not that key."""
    run = in_process("debug=smoke", "dataset=synthetic", "dataset.num_samples=300", "hydra.run.dir=run",
                     cwd=tmp_path)
    assert run.returncode == 0, run.output
    result = in_process("run", "dataset=digits", tool="tftrain-eval", cwd=tmp_path)
    assert_refused(result, 2, ["the examples have shape (8, 8, 1)", "takes (16,)", "!num_samples"])


def test_resume_falls_back_to_the_previous_backup_when_the_latest_is_damaged(finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    cut_in_half(run / "checkpoints" / "backup" / "latest.weights.h5")
    result = in_process("resume=run", "trainer.epochs=3", cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert "latest backup is damaged" in result.stdout and "one before it" in result.stdout
    summary = RunFolder(run).summary
    assert summary["status"] == "completed" and summary["epochs_completed"] == 3


def test_report_lists_a_damaged_run_as_damaged_and_says_why(finished, tmp_path):
    for name, damage in (("good", "nothing"), ("bad", "summary")):
        shutil.copytree(finished, tmp_path / name)
        DAMAGE[damage](tmp_path / name)
    result = in_process(str(tmp_path), "--csv", "-", cwd=tmp_path, tool="tftrain-report")
    assert result.returncode == 0, result.output
    status = {row["run"]: row["status"] for row in csv.DictReader(io.StringIO(result.stdout))}
    assert status == {"good": "completed", "bad": "damaged"}
    assert "bad/summary.json is damaged" in result.stderr and "Traceback" not in result.output


def test_a_search_without_optuna_installed_says_how_to_get_it(tmp_path):
    import importlib.util

    if importlib.util.find_spec("optuna") is not None:
        pytest.skip("Optuna is installed here (CI installs the test extra only, without it)")
    result = in_process("-m", "hparams_search=optuna", cwd=tmp_path)
    assert_refused(result, 2, ["needs Optuna", 'pip install "tftrain[optuna]"'])
    assert not (tmp_path / "outputs").exists()
