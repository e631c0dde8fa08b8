"""Both trainers, one contract: the same knobs, callbacks and outputs, and the same numbers."""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import time
import warnings
from pathlib import Path

import pytest

from conftest import RunFolder, in_process, run_cli, tftrain_command

QUICK = ("trainer.epochs=2", "dataset.limit_batches=12", "trainer.steps_per_execution=5")


@pytest.fixture
def both_trainers(sweep):
    """The same config with `fit` and with `custom_loop`, jobs of one sweep."""

    def _both(*args: str) -> dict[str, RunFolder]:
        return dict(zip(("fit", "custom_loop"), sweep("trainer=fit,custom_loop", *args)))

    return _both


METRIC_COLUMNS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")


@pytest.mark.parametrize("case", [
    ("dataset.shuffle=false",),
    pytest.param(("optimizer.clipvalue=0.02",), marks=pytest.mark.slow),
    pytest.param(("optimizer.global_clipnorm=0.5", "lr_schedule=warmup_cosine"), marks=pytest.mark.slow),
    ("optimizer.gradient_accumulation_steps=3",),
    ("trainer.class_weight={0: 3.0, 7: 0.5}",),  # sample weights gathered with the batches
], ids=["plain", "clipped-by-value", "clipped-by-norm-with-schedule", "accumulated", "class-weighted"])
def test_fit_and_custom_loop_give_the_same_losses(both_trainers, case):
    runs = both_trainers(*QUICK, *case)
    fit, loop = runs["fit"].metrics, runs["custom_loop"].metrics
    assert len(fit) == len(loop) == 2
    for fit_row, loop_row in zip(fit, loop):
        for key in METRIC_COLUMNS:
            assert float(loop_row[key]) == pytest.approx(float(fit_row[key]), rel=1e-5, abs=1e-7), key
    assert runs["fit"].summary["test"] == pytest.approx(runs["custom_loop"].summary["test"], rel=1e-5)


def test_the_custom_loop_traces_each_function_once_and_syncs_once_per_call(tmp_path):
    """In-process: 3 epochs of 12 steps at 5 per call -> calls of 5, 5, 2 steps; one trace."""
    import keras

    from tftrain.config import compose, schema

    from tftrain.run import runtime
    from tftrain.config.dataset import build_data
    from tftrain.config.model import build_model, compile_model
    from tftrain.config.trainer import build_trainer

    schema.register()
    cfg = compose.compose(["trainer=custom_loop", "trainer.epochs=3", "dataset.limit_batches=12",
                       "trainer.steps_per_execution=5", f"run_dir={tmp_path}"])
    runtime.setup(cfg.seed, False, "float32")
    trainer = build_trainer(cfg.trainer)
    data = build_data(cfg.dataset, trainer.batch_size, cfg.seed)
    model = build_model(cfg.model, data.spec)
    compile_model(model, cfg, data.spec, trainer.steps_per_execution, trainer.jit_compile)

    seen = []
    probe = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append((batch, sorted(logs))))
    trainer.train(model, data, [probe])
    assert trainer.train_function.experimental_get_tracing_count() == 1
    assert trainer.test_function.experimental_get_tracing_count() == 1
    assert [batch for batch, _ in seen] == [4, 9, 11] * 3  # once per call, not per step
    assert seen[0][1] == ["accuracy", "loss"]
    assert int(model.optimizer.iterations.numpy()) == 36


def test_an_iterator_made_before_its_epoch_is_set_reads_that_epochs_order():
    """FitTrainer lets fit make epoch k+1's iterator at the end of epoch k, before
    on_epoch_begin sets the epoch: the pipeline must read the order at the first batch."""
    import numpy as np

    from tftrain.config import compose, schema
    from tftrain.config.dataset import build_data

    schema.register()
    cfg = compose.compose(["dataset.limit_batches=4"])
    data = build_data(cfg.dataset, 8, cfg.seed)

    def labels(iterator) -> np.ndarray:
        return np.concatenate([y.numpy() for _, y in iterator])

    data.set_epoch(3)
    expected = labels(data.train)
    data.set_epoch(2)
    early = iter(data.train)
    data.set_epoch(3)
    assert (labels(early) == expected).all()
    data.set_epoch(2)
    assert (labels(data.train) != expected).any()  # the epochs' orders do differ


def test_epochs_in_a_row_are_the_epochs_one_at_a_time():
    """The custom loop's one iterator per run reads what fit's iterator per epoch reads."""
    from tftrain.config import compose, schema
    from tftrain.config.dataset import build_data

    schema.register()
    cfg = compose.compose(["dataset.limit_batches=4"])
    data = build_data(cfg.dataset, 8, cfg.seed)
    one_at_a_time = []
    for epoch in (2, 3, 4):
        data.set_epoch(epoch)
        one_at_a_time += [y.numpy() for _, y in data.train]
    in_a_row = [y.numpy() for _, y in data.train_epochs(2, 5)]
    assert len(in_a_row) == len(one_at_a_time) == 12
    assert all((a == b).all() for a, b in zip(in_a_row, one_at_a_time))
    assert int(data.train_epochs(2, 5).cardinality()) == 12
    assert not all((a == b).all() for a, b in zip(in_a_row[:4], in_a_row[4:8]))  # reshuffled


def test_keras_callbacks_work_unchanged_with_both_trainers(both_trainers):
    for run in both_trainers("trainer.epochs=3", "dataset.limit_batches=6",
                             "callbacks=[default,tensorboard,csv_logger,terminate_on_nan,reduce_lr]",
                             "callbacks.reduce_lr.patience=0", "callbacks.reduce_lr.min_delta=100").values():
        check_callback_outputs(run)


def check_callback_outputs(run: RunFolder) -> None:
    lrs = [float(r["lr"]) for r in run.metrics]
    # ReduceLROnPlateau halves the rate at the end of epochs 2 and 3 (no improvement >= 100);
    # metrics.csv logs the rate each epoch ran with.
    assert lrs == pytest.approx([1e-3, 1e-3, 5e-4])
    assert list((run.path / "tensorboard").rglob("events.out.tfevents.*"))
    with open(run.path / "history.csv") as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["0", "1", "2"]
    assert (run.path / "checkpoints/best.keras").is_file()


def test_learning_rate_scheduler_callback_with_both_trainers(both_trainers):
    for run in both_trainers("trainer.epochs=3", "dataset.limit_batches=4",
                             "callbacks=[default,lr_scheduler]",
                             "callbacks.lr_scheduler.schedule.every=1").values():
        assert [float(r["lr"]) for r in run.metrics] == pytest.approx([1e-3, 5e-4, 2.5e-4])


def test_early_stopping_stops_both_trainers(both_trainers):
    for run in both_trainers("trainer.epochs=10", "dataset.limit_batches=4",
                             "callbacks.early_stopping.patience=0",
                             "callbacks.early_stopping.min_delta=100").values():
        assert run.summary["epochs_completed"] == 2


@pytest.mark.parametrize("trainer", ["fit", "custom_loop"])
def test_a_misspelt_monitor_is_refused_before_training_naming_what_is_logged(tmp_path, trainer):
    result = in_process(f"trainer={trainer}", "callbacks.early_stopping.monitor=val_acuracy",
                        cwd=tmp_path)
    assert result.returncode == 2, result.output
    message = result.stderr.strip().splitlines()[-1]
    assert "callbacks.early_stopping.monitor='val_acuracy'" in message
    assert "loss, accuracy, val_loss, val_accuracy" in message and "Traceback" not in result.output
    assert not list((tmp_path / "outputs").glob("*/*"))


def test_without_validation_the_callbacks_monitor_the_training_metrics(tmp_path):
    """The objective and the callbacks following it fall back to the training metric (said);
    a val_ monitor set by hand does too; early stopping still stops, and neither it nor
    ModelCheckpoint warns per epoch."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = in_process("dataset.val_split=0", "trainer.epochs=10", "dataset.limit_batches=4",
                            "callbacks.early_stopping.patience=0", "callbacks.early_stopping.min_delta=100",
                            "callbacks.model_checkpoint.monitor=val_loss",
                            f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert "the objective is the training metric accuracy (not val_accuracy)" in result.stdout
    assert "these callbacks monitor the training metric: model_checkpoint (val_loss -> loss)" \
        in result.stdout
    summary = RunFolder(tmp_path / "run").summary
    assert summary["epochs_completed"] == 2 and summary["early_stopping"]["monitor"] == "accuracy"
    assert (tmp_path / "run/checkpoints/best.keras").is_file()
    assert not [w for w in caught if "val_loss" in str(w.message)]


def test_validation_frequency_and_initial_epoch(both_trainers):
    """The monitoring callbacks (val_loss) act on validated epochs, without a warning between."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = both_trainers("trainer.epochs=4", "trainer.initial_epoch=1", "trainer.validation_freq=2",
                             "dataset.limit_batches=4", "callbacks=[default,reduce_lr]")
    assert not [w for w in caught if "val_loss" in str(w.message)]
    for run in runs.values():
        rows = run.metrics
        assert [r["epoch"] for r in rows] == ["2", "3", "4"]
        assert [bool(r["val_loss"]) for r in rows] == [True, False, True]  # epochs 2 and 4


SCHEDULES = ["exponential", "cosine", "warmup_cosine", "piecewise"]


@pytest.mark.slow  # 8-18 s: the default run stays near 5 minutes
def test_lr_schedules_drive_the_learning_rate(sweep):
    runs = sweep("trainer=custom_loop", "trainer.epochs=3", "dataset.limit_batches=4",
                 f"lr_schedule={','.join(SCHEDULES)}")
    for schedule, run in zip(SCHEDULES, runs):
        check_schedule(schedule, [float(r["lr"]) for r in run.metrics])


def check_schedule(schedule: str, lrs: list[float]) -> None:
    expected = {
        "exponential": [1e-3 * 0.9, 1e-3 * 0.81, 1e-3 * 0.729],  # x0.9 per epoch of 4 steps
        "piecewise": [1e-3, 1e-3, 1e-3],                          # first boundary at epoch 10
    }
    if schedule in expected:
        assert lrs == pytest.approx(expected[schedule], rel=1e-4)
    elif schedule == "warmup_cosine":
        assert lrs[0] == pytest.approx(1e-3, rel=1e-4) and lrs[1] > lrs[2]  # warm after epoch 1
    else:
        assert lrs[0] > lrs[1] > lrs[2] >= 0  # cosine reaches alpha * lr = 0 at the end


@pytest.mark.slow  # 8-18 s: the default run stays near 5 minutes
def test_mixed_precision_trains_with_both_trainers(sweep):
    runs = sweep("trainer=fit,custom_loop", "precision=mixed_float16,mixed_bfloat16", "debug=smoke")
    assert len(runs) == 4
    for run in runs:
        summary = run.summary
        assert summary["precision"] in ("mixed_float16", "mixed_bfloat16")
        assert summary["status"] == "completed" and summary["test"]["loss"] < 2.5
        assert summary["loss_scaling"] == (summary["precision"] == "mixed_float16")
    float16 = next(run for run in runs if run.summary["precision"] == "mixed_float16")
    with warnings.catch_warnings(record=True) as caught:  # the optimizer's state is no use here
        warnings.simplefilter("always")
        evaluated = in_process(str(float16.path), tool="tftrain-eval", cwd=float16.path)
    assert evaluated.returncode == 0, evaluated.output
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]


@pytest.mark.slow
def test_jit_compile_runs_the_custom_loop_under_xla(tmp_path):
    result = in_process("trainer=custom_loop", "trainer.jit_compile=true", "debug=smoke",
                     f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert RunFolder(tmp_path / "run").summary["jit_compile"] is True


DENSE_ONLY = ("~model", "+model={_target_: tftrain.models.sequential, name: dense, layers: ["
              "{_target_: keras.layers.Flatten}, "
              "{_target_: keras.layers.Dense, units: 256, activation: relu}, "
              "{_target_: keras.layers.Dense, units: 128, activation: relu}]}")


@pytest.mark.parametrize("overrides, xla", [
    (DENSE_ONLY, True),  # 784-256-128-10, 235k weights, 30 epochs: XLA ~1.3x per step
    (("model=cnn",), False),  # convolutions: XLA 0.4x on a CPU
    (("model=mlp",), False),  # the catalogue mlp has Dropout: XLA's random numbers, 0.2x
    ((*DENSE_ONLY, "debug=smoke"), False),  # 8 steps do not pay for 1-2 s of compiling
    ((*DENSE_ONLY, "trainer.jit_compile=false"), False),
    ((*DENSE_ONLY, "deterministic=true"), False),  # as Keras' auto
], ids=["dense-mlp", "cnn", "mlp-with-dropout", "smoke", "off", "deterministic"])
def test_jit_compile_auto_on_cpu_uses_xla_only_where_it_pays(tmp_path, overrides, xla):
    """In-process: the trainer's `auto` on a CPU-only machine, decided as training starts."""
    from tftrain.config import compose, schema
    from tftrain.run import prepare, runtime

    if runtime.tf.config.list_physical_devices("GPU"):
        pytest.skip("on a GPU, auto is Keras' own choice")
    schema.register()
    cfg = compose.compose(["dataset=synthetic", "dataset.shape=[28,28,1]", "dataset.num_classes=10",
                       "dataset.num_samples=4096", f"run_dir={tmp_path}", *overrides])
    try:
        run = prepare.prepare(cfg)
        model = run.model
        assert not model.jit_compile  # Keras' auto: no XLA on CPUs
        run.trainer.resolve_jit_compile(model, run.data.steps_per_epoch)
        assert model.jit_compile is xla
    finally:
        if cfg.deterministic:  # this worker's later in-process tests run without it
            from tensorflow.python.framework.config import disable_op_determinism
            disable_op_determinism()


@pytest.mark.parametrize("trainer", [pytest.param("fit", marks=pytest.mark.slow), "custom_loop"])
def test_mirrored_strategy_on_two_logical_cpus(tmp_path, trainer):
    """A new process: the CPU splits into logical devices only before TensorFlow starts them."""
    result = run_cli(f"trainer={trainer}", "distribute=mirrored", "debug=smoke",
                     f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    summary = RunFolder(tmp_path / "run").summary
    assert summary["replicas"] == 2 and summary["status"] == "completed"


@pytest.mark.slow
def test_gan_experiment_uses_its_own_step(tmp_path):
    result = in_process("experiment=digits_gan", "debug=smoke", f"hydra.run.dir={tmp_path / 'run'}",
                     cwd=tmp_path)
    assert result.returncode == 0, result.output
    run = RunFolder(tmp_path / "run")
    assert {"d_loss", "g_loss", "val_d_loss", "val_g_loss"} <= set(run.metrics[0])
    assert run.summary["objective_metric"] == "val_loss"
    import keras
    import numpy as np

    generated = keras.models.load_model(run.path / "model.keras").generator(
        np.zeros((2, 16), "float32")).numpy()
    assert generated.shape == (2, 8, 8, 1) and ((generated >= 0) & (generated <= 1)).all()


def test_a_gan_trained_by_its_step_is_judged_by_its_loss_not_an_accuracy_it_never_logs(tmp_path):
    """objective auto is val_accuracy for classifiers that log one; the GAN step logs losses."""
    result = in_process("model=gan", "trainer=custom_loop", "trainer.train_step._target_=tftrain.trainers.GANStep",
                        "debug=smoke", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert RunFolder(tmp_path / "run").summary["objective_metric"] == "val_loss"


@pytest.mark.slow  # 8-18 s: the default run stays near 5 minutes
def test_a_resumed_gan_continues_as_if_never_stopped(tmp_path):
    """The step's own state (the discriminator's optimizer, the noise stream) is checkpointed
    with the model: 1 epoch, resumed to 3, equals 3 epochs in one go."""
    args = ("experiment=digits_gan", "dataset.limit_batches=3", "deterministic=true")
    full = in_process(*args, "trainer.epochs=3", f"hydra.run.dir={tmp_path / 'full'}", cwd=tmp_path)
    assert full.returncode == 0, full.output
    part = in_process(*args, "trainer.epochs=1", f"hydra.run.dir={tmp_path / 'part'}", cwd=tmp_path)
    assert part.returncode == 0, part.output
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = in_process(f"resume={tmp_path / 'part'}", "trainer.epochs=3", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.output
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    expected, got = RunFolder(tmp_path / "full").metrics, RunFolder(tmp_path / "part").metrics
    assert [r["epoch"] for r in got] == ["1", "2", "3"]
    for want, have in zip(expected, got):
        for key in ("d_loss", "g_loss", "val_d_loss", "val_g_loss"):
            assert float(have[key]) == pytest.approx(float(want[key]), rel=1e-5), (have["epoch"], key)


def test_a_diverging_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    """Epoch 1 trains normally; from epoch 2 the learning rate is absurd and the loss explodes."""
    run_dir = tmp_path / "run"
    result = in_process("trainer=custom_loop", "optimizer=sgd", "trainer.epochs=4", "dataset.limit_batches=5",
                     "lr_schedule=piecewise", "lr_schedule.boundaries=[5]", "lr_schedule.values=[0.01,1e30]",
                     "~callbacks.early_stopping", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 3, result.output
    assert "epoch 2" in result.stderr and "step" in result.stderr and "Traceback" not in result.output
    assert "The last good state is kept in" in result.stderr and "checkpoints/backup" in result.stderr
    summary = RunFolder(run_dir).summary
    assert summary["status"] == "diverged" and summary["epochs_completed"] == 1
    assert json.loads((run_dir / "checkpoints/backup/training_metadata.json").read_text())["epoch"] == 1
    assert not (run_dir / "model.keras").exists()


def test_a_loss_diverging_in_the_first_epoch_names_a_step_of_that_epoch_and_no_checkpoint(tmp_path):
    """fit hands over the last step of a 32-step call, past a 4-step epoch's end."""
    result = in_process("debug=smoke", "optimizer=sgd", "optimizer.learning_rate=1e4",
                        f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 3, result.output
    assert "in epoch 1 by step 4;" in result.stderr, result.stderr
    assert "No epoch had completed, so nothing was checkpointed" in result.stderr
    assert "optimizer.learning_rate" in result.stderr


SLOW_EPOCHS = ("dataset=synthetic", "dataset.num_samples=40000", "dataset.shape=[32]",
               "dataset.noise=3.0", "trainer.epochs=4", "deterministic=true",
               "~callbacks.early_stopping")


def start_and_stop_after_epoch(tmp_path: Path, name: str, trainer: str, epoch: int,
                               signal_number: int,
                               args: tuple[str, ...] = SLOW_EPOCHS) -> subprocess.CompletedProcess:
    folder = tmp_path / name
    proc = subprocess.Popen([*tftrain_command(), f"trainer={trainer}", *args,
                             f"hydra.run.dir={folder}"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        metrics = folder / "metrics.csv"
        if metrics.exists() and len(metrics.read_text().splitlines()) > epoch:
            proc.send_signal(signal_number)
            break
        time.sleep(0.02)
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.slow  # 8-18 s: the default run stays near 5 minutes
def test_sigterm_saves_a_checkpoint_and_says_how_to_resume(tmp_path):
    stopped = start_and_stop_after_epoch(tmp_path, "cut", "custom_loop", 1, signal.SIGTERM)
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    last = stopped.stderr.strip().splitlines()[-1]
    assert "Resume with: tftrain resume=" in last and str(tmp_path / "cut") in last
    folder = RunFolder(tmp_path / "cut")
    assert folder.summary["status"] == "interrupted"
    assert (folder.path / "checkpoints/interrupted.keras").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("trainer", ["fit", "custom_loop"])
def test_a_killed_run_resumes_to_the_same_final_metrics(tmp_path, trainer):
    """SIGKILL after epoch 2, `tftrain resume=DIR`, and compare with an uninterrupted run."""
    full = in_process(f"trainer={trainer}", *SLOW_EPOCHS, f"hydra.run.dir={tmp_path / 'full'}",
                      cwd=tmp_path)
    assert full.returncode == 0, full.output
    killed = start_and_stop_after_epoch(tmp_path, "cut", trainer, 2, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "cut/summary.json").exists()
    resumed = in_process(f"resume={tmp_path / 'cut'}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.output
    assert "resuming after epoch" in resumed.stdout
    expected, got = RunFolder(tmp_path / "full"), RunFolder(tmp_path / "cut")
    assert [r["epoch"] for r in got.metrics] == ["1", "2", "3", "4"]
    for want, have in zip(expected.metrics, got.metrics):
        for key in METRIC_COLUMNS:
            assert float(have[key]) == pytest.approx(float(want[key]), rel=1e-5, abs=1e-7), key
    assert got.summary["test"] == pytest.approx(expected.summary["test"], rel=1e-5, abs=1e-7)
    rerun = in_process(f"resume={tmp_path / 'cut'}", cwd=tmp_path)
    assert rerun.returncode == 2 and "already completed all 4 epochs" in rerun.stderr


@pytest.mark.slow
def test_two_workers_on_localhost_train_identical_weights_and_only_the_chief_writes(tmp_path):
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    for index in range(2):
        env = {**__import__("os").environ,
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen(
            [*tftrain_command(), "distribute=multi_worker", "trainer=custom_loop", "debug=smoke",
             f"hydra.run.dir={tmp_path / f'worker{index}'}"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [worker.communicate(timeout=240)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    fingerprints = [re.search(r"weights fingerprint: (\w+)", out).group(1) for out in outputs]
    assert fingerprints[0] == fingerprints[1]
    chief = RunFolder(tmp_path / "worker0")
    assert chief.summary["replicas"] == 2 and chief.summary["weights_fingerprint"] == fingerprints[0]
    assert sorted(p.name for p in (tmp_path / "worker1").iterdir()) == [".hydra", "train.log"]


def test_fit_refuses_multi_worker_before_starting(tmp_path):
    result = in_process("distribute=multi_worker", "trainer=fit", cwd=tmp_path)
    assert result.returncode == 2 and "keras-team/keras#20585" in result.stderr
