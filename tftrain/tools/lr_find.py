"""`tftrain-tune lr OVERRIDES [steps=300] [start=1e-7] [end=10] [output=DIR]`: the learning
rate to train `tftrain OVERRIDES` with, from a range test (Leslie Smith; fastai's `lr_find`,
Lightning's tuner).

The run's model, data, precision, strategy and trainer, built as the run builds them, train
from their initial weights for up to `steps` steps while the rate rises exponentially from
`start` to `end` (a schedule is switched off meanwhile). The loss is smoothed (a
bias-corrected moving average) and the ramp stops once it diverges (4x its best, or NaN).
Two rules read the curve: the steepest descent of the smoothed loss against log10 of the
rate, and fastai's valley (the longest stretch in which the loss keeps falling, taken a
little past its middle). The valley's is suggested; when the two disagree by more than 10x
the curve is too noisy to trust, and that is said with how to get a cleaner one.

lr_find.csv (each step: rate, loss, smoothed loss, which rule chose it) and lr_find.png
(the curve and both suggestions) go to a folder of the finder's own, never a run's.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import shlex
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from tftrain import artifacts
from tftrain.console import echo
from tftrain.errors import TftrainError, WriteFailed
from tftrain.run.plots import INSTALL, pyplot, save_figure
from tftrain.tools.outputs import not_written
from tftrain.tools.tuning import setting, train_for, tuning_config

TOOL = "tftrain-tune lr"
DISAGREE = 10.0  # the rules' suggestions this many times apart: the curve is too noisy
LEFT_OUT_END = 5  # the last steps, already diverging, that no rule reads (fastai's)
FEWEST = 10  # steps a rule needs to read


@dataclass(frozen=True)
class Curve:
    """What the ramp recorded, step by step, and how it ended."""

    rates: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    planned: int  # the steps the ramp would have taken had the loss not diverged
    diverged_at: int | None


@dataclass(frozen=True)
class Suggestion:
    steepest: int  # indices into the curve
    valley: int

    def rates(self, curve: Curve) -> tuple[float, float]:
        """(steepest, valley) as learning rates."""
        return float(curve.rates[self.steepest]), float(curve.rates[self.valley])


def ramp(start: float, end: float, steps: int) -> np.ndarray:
    """`steps` rates from `start` to `end`, each a constant factor above the one before."""
    return start * (end / start) ** (np.arange(steps) / max(steps - 1, 1))


def read_range(curve: Curve) -> np.ndarray:
    """The steps the rules read: not the first tenth of the ramp (the loss barely moves,
    and the average is settling), nor the last few before the end (already diverging), nor
    any whose loss is not finite."""
    finite = np.flatnonzero(np.isfinite(curve.smoothed))
    last = finite[-1] + 1 - LEFT_OUT_END if len(finite) else 0
    return finite[(finite >= curve.planned // 10) & (finite < last)]


def steepest(rates: np.ndarray, smoothed: np.ndarray) -> int:
    """Where the smoothed loss falls fastest against log10 of the rate."""
    return int(np.argmin(np.gradient(smoothed, np.log10(rates))))


def valley(smoothed: np.ndarray) -> int:
    """fastai's valley: the longest run of steps along which the loss keeps falling (each
    lower than the one before it in the run, gaps allowed), and a point half way along it:
    past the run's flat start, short of its bottom, where the loss still falls."""
    n = len(smoothed)
    longest = np.ones(n, dtype=int)  # the longest falling run that ends at each step
    for i in range(1, n):
        lower = smoothed[:i] > smoothed[i]
        if lower.any():
            longest[i] = longest[:i][lower].max() + 1
    end = int(np.argmax(longest))
    start = end - longest[end]
    third = (end - start) / 3
    return start + int(third) + int(third / 2)


def suggest(curve: Curve, start: float) -> Suggestion:
    """Both rules' steps, or a refusal naming what to change when the curve is too short."""
    read = read_range(curve)
    if len(read) < FEWEST:
        stopped = (f"the loss diverged after {len(curve.losses)} steps, at a rate of "
                   f"{curve.rates[-1]:.2g}" if curve.diverged_at is not None else
                   f"the ramp has only {len(curve.losses)} steps")
        raise TftrainError(
            f"{TOOL}: {stopped}, too few for a curve ({FEWEST} or more are read, after the first "
            f"tenth of the ramp and before its last {LEFT_OUT_END}). Start lower (start="
            f"{start / 100:.0e}) or ramp longer (steps=600).")
    rates, smoothed = curve.rates[read], curve.smoothed[read]
    return Suggestion(int(read[steepest(rates, smoothed)]), int(read[valley(smoothed)]))


def disagreement(a: float, b: float) -> float:
    return max(a, b) / min(a, b)


def noisy(steep: float, suggested: float, steps: int) -> str:
    """What is said when the rules disagree by more than 10x, and how to get a cleaner curve
    (not a larger batch: the rate found would be that batch's, not the run's)."""
    return (f"note: the two rules disagree by {disagreement(steep, suggested):.0f}x: the curve "
            "is too noisy to trust either (see lr_find.png). For a cleaner one, ramp over more steps "
            f"(steps={steps * 3}: more batches per decade of rates, each averaged over more), "
            f"or over a narrower range around them (start={min(steep, suggested) / 100:.0e} "
            f"end={max(steep, suggested) * 10:.0e}).")


def switched_off(cfg: DictConfig) -> str | None:
    """The schedule the run has (switched off while the finder ramps), and whether it reads
    `optimizer.learning_rate` (a note when it does not: the suggestion would change nothing)."""
    if not cfg.lr_schedule:
        return None
    target = cfg.lr_schedule.get("_target_", "the schedule")
    if "optimizer.learning_rate" in OmegaConf.to_yaml(cfg.lr_schedule):
        return (f"lr_schedule ({target}) was switched off while the rate ramped; it starts "
                "from optimizer.learning_rate, so the suggestion is its peak rate.")
    return (f"note: lr_schedule ({target}) sets its own rates and does not read "
            "optimizer.learning_rate, so the override below changes nothing in that run: "
            "set the schedule's rates around the suggestion, or use one that reads it "
            "(lr_schedule=cosine, warmup_cosine, exponential).")


def curve_of(overrides: list[str], steps: int, start: float, end: float) -> Curve:
    """Build the run as `tftrain OVERRIDES` would and ramp its rate."""
    cfg = tuning_config(overrides, TOOL)
    said = switched_off(cfg)
    setting(cfg, "lr_schedule", {})
    setting(cfg, "trainer.steps_per_execution", 1)  # the rate changes every step
    from tftrain.run.prepare import prepare  # first: quiets TensorFlow as it loads
    from tftrain.callbacks.ramp import LearningRateRamp

    prepared = prepare(cfg)
    model, trainer = prepared.model, prepared.trainer
    if getattr(model, "trained_by", None):
        raise TftrainError(f"{TOOL}: model '{model.name}' is trained by its own step "
                           f"({model.trained_by}), whose losses pull against each other and "
                           "do not fall as a good rate would make them; tune its rate by "
                           "short runs instead (tftrain -m optimizer.learning_rate=...).")
    if hasattr(trainer, "step") and "loss" not in trainer.step.results():
        raise TftrainError(f"{TOOL}: the custom loop's step ({type(trainer.step).__name__}) logs "
                           f"no 'loss' ({', '.join(trainer.step.results())}), which the range "
                           "test follows; log the loss it minimises as 'loss' in results().")
    # the custom loop's step keeps its own metrics; fit's are the model's
    reset = (lambda: trainer.step.reset()) if hasattr(trainer, "step") else model.reset_metrics
    recorder = LearningRateRamp(ramp(start, end, steps), reset)
    if said:
        echo(said)
    train_for(prepared, [recorder], steps)
    rows = np.array(recorder.rows, dtype=float).reshape(-1, 3)
    return Curve(rows[:, 0], rows[:, 1], rows[:, 2], steps, recorder.diverged_at)


def find(overrides: list[str], typed: list[str], steps: int, start: float, end: float,
         output: Path | None) -> None:
    """Ramp, suggest, say it, then write the curve (what was said stays said if it cannot
    be written). `typed`: the run's arguments as given (`--config-dir` and co. too), for the
    command line to paste."""
    if output is not None:
        check_output(output)
    folder = output or default_folder()  # dated as a run is, when it starts
    began = time.perf_counter()
    curve = curve_of(overrides, steps, start, end)
    seconds = time.perf_counter() - began
    chosen = suggest(curve, start)
    steep, suggested = chosen.rates(curve)
    ended = (f"stopped at {curve.rates[-1]:.2g}, where the smoothed loss diverged"
             if curve.diverged_at is not None else f"up to {curve.rates[-1]:.2g}")
    echo(f"lr_find: {len(curve.losses)} steps from {start:.2g}, {ended}; {seconds:.1f} s "
         "(building the run included)")
    echo(f"suggested learning rate: {suggested:.2g} (valley); steepest descent: {steep:.2g}")
    if disagreement(steep, suggested) > DISAGREE:
        echo(noisy(steep, suggested, steps))
    override = f"optimizer.learning_rate={suggested:.2g}"
    echo(f"  {override}")
    echo(f"  {shlex.join(['tftrain', *without_rate(typed), override])}")
    try:
        folder = write_curve(folder, curve, chosen, numbered=output is None)
    except WriteFailed as failed:
        raise not_written(failed, "Give output=DIR, a folder that can be written.") from None
    echo(f"curve: {folder / 'lr_find.png'}, {folder / 'lr_find.csv'}")


def without_rate(overrides: list[str]) -> list[str]:
    """The overrides, less a learning rate they set (the suggestion replaces it)."""
    return [o for o in overrides if o.split("=", 1)[0].lstrip("+") != "optimizer.learning_rate"]


def default_folder() -> Path:
    """outputs/lr_find/DATE/TIME, as runs are dated (a second finder started in the same
    second gets TIME_1: see `placed`)."""
    now = datetime.now()
    return Path("outputs") / "lr_find" / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S")


def check_output(folder: Path) -> None:
    """A folder of the finder's own: never a file, nor a run's folder, whose record it would
    mix with. Checked before anything is trained."""
    if folder.exists() and not folder.is_dir():
        raise TftrainError(f"output={folder} is a file; {TOOL} writes lr_find.png and "
                           "lr_find.csv into a folder: give output=DIR.")
    if (folder / artifacts.OVERRIDES).is_file() or (folder / artifacts.SUMMARY).is_file():
        raise TftrainError(f"output={folder} is a run folder; {TOOL} writes its curve into a "
                           f"folder of its own (output={folder / 'lr_find'}, say).")


def write_curve(folder: Path, curve: Curve, chosen: Suggestion, numbered: bool) -> Path:
    """lr_find.csv (every step) and lr_find.png (when matplotlib is there), made in a hidden
    folder and put in place whole (an interruption leaves nothing half-written); the folder
    they went to (`numbered`: the dated default, see `placed`)."""
    with artifacts.writing(folder):
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
        os.chmod(staging, 0o777 & ~artifacts.umask())  # as a folder made by mkdir (not 0700)
    try:
        artifacts.write_text_atomic(staging / "lr_find.csv", curve_table(curve, chosen))
        plot_curve(staging / "lr_find.png", curve, chosen)
        with artifacts.writing(folder):
            return placed(staging, folder, numbered)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def placed(staging: Path, folder: Path, numbered: bool) -> Path:
    """The staged files moved to `folder`: a folder of the user's (output=) gets them beside
    what it holds; the dated default is claimed whole by a rename, as TIME_1, TIME_2... if
    another finder took TIME."""
    if not numbered:
        folder.mkdir(parents=True, exist_ok=True)
        for file in sorted(staging.iterdir()):
            os.replace(file, folder / file.name)
        return folder
    for attempt in range(10_000):
        candidate = folder if attempt == 0 else folder.with_name(f"{folder.name}_{attempt}")
        try:
            os.rename(staging, candidate)  # fails on a folder that is there and not empty
            return candidate
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    raise FileExistsError(errno.EEXIST, "every numbered folder is taken", str(folder))


def curve_table(curve: Curve, chosen: Suggestion) -> str:
    """lr_find.csv's text: each step's rate, loss, smoothed loss and the rule that chose it."""
    chose = {chosen.steepest: "steepest", chosen.valley: "valley"}
    if chosen.steepest == chosen.valley:
        chose[chosen.valley] = "steepest+valley"
    out = io.StringIO()
    table = csv.writer(out, lineterminator="\n")
    table.writerow(["step", "learning_rate", "loss", "smoothed_loss", "suggested"])
    for i, (rate, loss, smooth) in enumerate(zip(curve.rates, curve.losses, curve.smoothed)):
        table.writerow([i, repr(float(rate)), repr(float(loss)), repr(float(smooth)), chose.get(i, "")])
    return out.getvalue()


def plot_curve(path: Path, curve: Curve, chosen: Suggestion) -> None:
    """The smoothed loss against the rate (log scale), the raw losses faint behind it, a
    line at each suggestion; the loss axis stops short of the divergence."""
    plt = pyplot()
    if plt is None:
        echo(f"note: {path.name} skipped: plots need matplotlib, which is not installed "
             f"({INSTALL} adds it); lr_find.csv has the same numbers.")
        return
    figure, axis = plt.subplots(figsize=(6.5, 4))
    axis.plot(curve.rates, curve.losses, color="0.8", linewidth=0.8, label="loss")
    axis.plot(curve.rates, curve.smoothed, label="smoothed loss")
    for index, name, color in ((chosen.valley, "valley", "C2"), (chosen.steepest, "steepest", "C3")):
        axis.axvline(curve.rates[index], color=color, linestyle="--",
                     label=f"{name}: {curve.rates[index]:.2g}")
    read = read_range(curve)
    low, high = np.nanmin(curve.smoothed[read]), np.nanmax(curve.smoothed[: read[-1] + 1])
    axis.set_ylim(low - 0.05 * (high - low), high + 0.1 * (high - low))
    axis.set(xscale="log", xlabel="learning rate", ylabel="training loss",
             title="tftrain-tune lr")
    axis.grid(alpha=0.3, which="both")
    axis.legend()
    figure.tight_layout()
    save_figure(figure, path)
