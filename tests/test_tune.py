"""tftrain-tune lr and batch: the finders run the real run's model, data and trainer through
the real command, and print what to paste; the pasted value trains as if typed by hand."""

from __future__ import annotations

import csv
import math
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_refused, console_script, in_process

DIGITS = ["trainer.epochs=2"]


def tune(*args: str, cwd: Path):
    return in_process(*args, cwd=cwd, tool="tftrain-tune")


def curve(folder: Path) -> list[dict[str, str]]:
    with open(folder / "lr_find.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status")
    found = re.search(r"^Threads:\s+(\d+)", status.read_text(), re.M) if status.exists() else None
    return int(found.group(1)) if found else 0


def only_folder(root: Path) -> Path:
    """The one dated folder under outputs/lr_find/DATE/."""
    (day,) = (root / "outputs" / "lr_find").iterdir()
    (folder,) = day.iterdir()
    return folder


def test_lr_finder_ramps_stops_and_its_pasted_rate_trains_as_typed(tmp_path, train):
    done = tune("lr", *DIGITS, cwd=tmp_path)
    assert done.returncode == 0, done.output
    folder = only_folder(tmp_path)
    rows = curve(folder)
    assert (folder / "lr_find.png").stat().st_size > 0
    assert [p.name for p in (tmp_path / "outputs").iterdir()] == ["lr_find"]  # no run folder
    rates = np.array([float(r["learning_rate"]) for r in rows])
    assert rates[0] == pytest.approx(1e-7)
    ratios = rates[1:] / rates[:-1]
    assert ratios == pytest.approx(np.full_like(ratios, (10 / 1e-7) ** (1 / 299)))  # exponential
    losses = [float(r["loss"]) for r in rows]
    smoothed = [float(r["smoothed_loss"]) for r in rows]
    assert smoothed[0] == pytest.approx(losses[0])  # bias-corrected: no pull towards 0
    # digits' loss diverges well before a rate of 10: the ramp stopped there
    assert len(rows) < 300
    assert not math.isfinite(smoothed[-1]) or smoothed[-1] > 4 * min(smoothed[:-1])
    chosen = {r["suggested"]: float(r["learning_rate"]) for r in rows if r["suggested"]}
    valley = chosen.get("valley", chosen.get("steepest+valley"))
    assert f"suggested learning rate: {valley:.2g} (valley)" in done.stdout
    (pasted,) = re.findall(r"^  tftrain (.*)$", done.stdout, re.M)
    assert pasted == f"trainer.epochs=2 optimizer.learning_rate={valley:.2g}"
    again = train(*pasted.split())
    typed = train(*DIGITS, f"optimizer.learning_rate={float(f'{valley:.2g}'):e}")  # 6.700000e-04
    assert again.metrics == [
        {**row, "epoch_time_s": again.metrics[i]["epoch_time_s"]}
        for i, row in enumerate(typed.metrics)]  # every loss and metric, bit for bit
    assert again.summary["weights_fingerprint"] == typed.summary["weights_fingerprint"]


def test_custom_loop_ramps_the_same_curve_with_its_schedule_switched_off(tmp_path):
    fit = tune("lr", "output=fit", cwd=tmp_path)
    loop = tune("lr", "trainer=custom_loop", "lr_schedule=cosine", "output=loop", cwd=tmp_path)
    assert fit.returncode == 0 and loop.returncode == 0, fit.output + loop.output
    assert "lr_schedule (keras.optimizers.schedules.CosineDecay) was switched off" in loop.stdout
    a, b = curve(tmp_path / "fit"), curve(tmp_path / "loop")
    assert len(a) == len(b)
    assert [float(r["loss"]) for r in b] == pytest.approx([float(r["loss"]) for r in a], rel=1e-4)
    assert [r["suggested"] for r in b] == [r["suggested"] for r in a]


def test_noisy_curve_is_said_with_how_to_clean_it():
    from tftrain.tools import lr_find

    said = lr_find.noisy(0.05, 0.0001, 300)
    assert "disagree by 500x" in said and "steps=900" in said and "start=1e-06 end=5e-01" in said
    flat = lr_find.Curve(lr_find.ramp(1e-7, 10, 300), np.ones(300), np.ones(300), 300, None)
    rules = lr_find.suggest(flat, 1e-7)
    assert rules.valley in range(30, 295)


def test_too_short_a_curve_says_what_to_change():
    from tftrain.errors import TftrainError
    from tftrain.tools import lr_find

    rates = lr_find.ramp(1e-3, 10, 300)[:40]
    short = lr_find.Curve(rates, np.ones(40), np.ones(40), 300, 39)
    with pytest.raises(TftrainError, match=r"diverged after 40 steps.*start=1e-05"):
        lr_find.suggest(short, 1e-3)


@pytest.mark.parametrize("args, fragments", [
    (["lrr"], ["'lrr' is no tftrain-tune subcommand", "Did you mean 'lr'?"]),
    (["bach"], ["Did you mean 'batch'?"]),
    (["lr", "resume=outputs/x"], ["resume=outputs/x", "leave resume= out"]),
    (["batch", "optimizer.learning_rat=0.1"], ["optimizer.learning_rat", "learning_rate"]),
    (["lr", "steps=many"], ["steps=many", "a whole number"]),
    (["lr", "start=1", "end=0.1"], ["start=1 end=0.1", "above 0"]),
    (["lr", "-m", "seed=1,2"], ["tunes one run"]),
])
def test_mistakes_are_refused_as_tftrain_would(tmp_path, args, fragments):
    assert_refused(tune(*args, cwd=tmp_path), 2, fragments)
    assert not (tmp_path / "outputs").exists()


def test_a_run_folder_is_never_the_curve_s(tmp_path):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("[]\n")  # what makes a folder a run's
    assert_refused(tune("lr", f"output={run}", cwd=tmp_path), 2,
                   [f"output={run} is a run folder", "lr_find"])
    assert sorted(p.name for p in run.rglob("*")) == [".hydra", "overrides.yaml"]


@pytest.mark.slow
def test_batch_finder_prints_its_table_the_knee_and_the_rescaled_rate(tmp_path):
    done = tune("batch", "optimizer=sgd", cwd=tmp_path)
    assert done.returncode == 0, done.output
    rows = re.findall(r"│\s+(\d+) │\s+(\d+) │\s+(\d+) │", done.stdout)
    batches = [int(b) for b, _, _ in rows]
    assert batches == [8, 16]  # digits' 1259 training examples: 50 steps an epoch cap at 25
    assert all(int(steps) >= 50 for _, steps, _ in rows)
    (chosen,) = re.findall(r"trainer\.batch_size=(\d+)", done.stdout.splitlines()[-1])
    speeds = {int(b): int(s) for b, _, s in rows}
    assert speeds[int(chosen)] >= 0.95 * max(speeds.values())
    assert all(speeds[b] < 0.95 * max(speeds.values()) for b in batches if b < int(chosen))
    rate = 0.01 * int(chosen) / 32  # SGD: linear, from 0.01 at the config's 32
    assert f"linear (SGD): x {chosen}/32" in done.stdout
    assert done.stdout.splitlines()[-1].strip() == \
        f"trainer.batch_size={chosen} optimizer.learning_rate={rate:.3g}"
    assert not (tmp_path / "outputs").exists()  # the batch finder writes nothing


@pytest.mark.slow
def test_ctrl_c_leaves_nothing_half_written(tmp_path):
    command = [*console_script("tftrain-tune", "tftrain.tools.tune"), "lr", "steps=20000",
               "end=1e-3"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    started = time.monotonic()  # TensorFlow started (its thread pools), then the ramp under way
    while threads(process.pid) < 8 and time.monotonic() - started < 90:
        time.sleep(0.5)
    time.sleep(8)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, out + err
    assert "nothing was written" in err and "Traceback" not in err
    assert "lr_find:" not in out  # stopped in the middle of the ramp
    assert not (tmp_path / "outputs").exists() or not any(
        p.is_file() for p in (tmp_path / "outputs").rglob("*"))


def test_the_console_script_is_installed(tmp_path):
    done = subprocess.run([*console_script("tftrain-tune", "tftrain.tools.tune"), "--help"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "tftrain-tune lr|batch" in done.stdout


def test_the_knee_is_the_smallest_batch_near_the_best_that_fits():
    from tftrain.tools.batch_find import Measured, candidates, knee, largest_fitting

    done = [Measured(8, 500, 4000, 1000.0), Measured(16, 250, 4000, 1890.0),
            Measured(32, 125, 4000, 1960.0), Measured(64, 63, 4000, 2000.0),
            Measured(128, 32, 4000, 2600.0, over="over memory")]
    assert knee(done).batch == 32  # 1960 >= 0.95 x 2000; 128, faster, does not fit
    assert candidates(4000) == [8, 16, 32, 64]  # 4000 / 64 = 62 steps; 128 would leave 31
    assert candidates(120) == [1, 2]  # too few examples for 8
    for m, peak in zip(done, (100, 200, 400)):  # 12.5 MiB a sample
        m.peak = peak * 2 ** 20
    assert largest_fitting(done[:3], limit=1000 * 2 ** 20) == pytest.approx(80.0)  # a line
    assert largest_fitting(done[:3], limit=None) == math.inf


def test_the_moving_average_is_bias_corrected():
    from tftrain.callbacks.ramp import Smoothed

    smoothed = Smoothed()
    assert [smoothed.add(2.0) for _ in range(3)] == pytest.approx([2.0, 2.0, 2.0])
    raw = 0.98 * 2.0 * (1 - 0.98 ** 3) + 0.02 * 4.0  # the average from 0, uncorrected
    assert smoothed.add(4.0) == pytest.approx(raw / (1 - 0.98 ** 4))  # weighs 4.0 by 0.02/0.078
