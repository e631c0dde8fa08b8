"""`tftrain-tune batch OVERRIDES`: the batch size to train `tftrain OVERRIDES` with, from its
throughput (Lightning's batch-size scaler doubles the batch until memory runs out;
Ultralytics' AutoBatch fits memory against the batch size and solves for a share of it).

Each power of two from 8 up is built as the run builds it (data, model, precision,
strategy, trainer: `prepare`) and trained a few epochs, each cut to 16,384 samples or 256
steps, whichever is more (every batch size sees about as many samples, and an epoch's fixed
costs weigh on a small batch as in the run); the first epoch warms up (tracing, compiling),
the others are timed, each as a run's summary.json measures its `train_samples_per_s`, and
their median is taken (an epoch slowed by another process on a shared machine moves it
little). The suggestion is the knee, the smallest batch within 5% of the best throughput:
larger ones cost generalisation and steps for nothing. Batches are capped by memory,
measured for each (a GPU's peak from TensorFlow, kept under 60% of its memory, AutoBatch's
share; on a CPU the process's peak, kept under half of what the machine has available) and
fitted against the batch size, as AutoBatch does, so that no batch predicted to exceed the
cap is tried; and by at least 50 steps an epoch, which the optimizer needs to make progress
between validations.

The learning rate is rescaled with the batch: linearly for SGD (Goyal et al., 2017), by the
square root for adaptive optimizers such as Adam (Hoffer et al., 2017; Malladi et al., 2022).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.table import Table

from tftrain.console import echo, show
from tftrain.errors import TftrainError
from tftrain.tools.memory import Memory, memory_meter, out_of_memory
from tftrain.tools.tuning import setting, train_for, tuning_config

TOOL = "tftrain-tune batch"
SMALLEST = 8
FEWEST_STEPS = 50  # an epoch's steps at the largest batch suggested
KNEE = 0.95  # within 5% of the best throughput
EPOCH_SAMPLES, EPOCH_STEPS = 16384, 256  # an epoch while measuring: whichever is more
SECONDS = 2.0  # timed per batch size, after the warm-up epoch, in at least
TIMED_EPOCHS = 5  # the median's: one slowed by another process on the machine moves it little


@dataclass
class Measured:
    batch: int
    steps_per_epoch: int  # of the run at this batch size
    examples: int  # in the training split
    samples_per_s: float | None = None
    spread: tuple[float, float] | None = None  # the slowest and fastest timed epoch
    peak: int | None = None  # bytes, while built and trained
    over: str = ""  # why it cannot be suggested: memory


def measure(overrides: list[str], batch: int, memory: Memory) -> Measured:
    """The run at this batch size: its throughput over timed epochs, and its peak memory."""
    from tftrain.callbacks.record import EpochRecorder  # imports TensorFlow
    from tftrain.run.prepare import prepare
    from tftrain.run.summary import samples_per_step, speeds

    cfg = tuning_config(overrides, TOOL)
    setting(cfg, "trainer.batch_size", batch)
    limit = cfg.dataset.get("limit_batches")
    cut = max(EPOCH_STEPS, EPOCH_SAMPLES // batch)
    setting(cfg, "dataset.limit_batches", min(limit or cut, cut))
    memory.reset()
    prepared = prepare(cfg)
    data, trainer, model = prepared.data, prepared.trainer, prepared.model
    run_steps = min(limit or math.inf, -(-data.sizes["train"] // batch))
    trainer.resolve_jit_compile(model, run_steps)  # XLA as the run at this batch decides it
    recorder = EpochRecorder()
    examples = data.sizes["train"]
    try:
        train_for(prepared, [recorder, stopper(recorder)], 1000 * data.steps_per_epoch)
    except out_of_memory():
        return Measured(batch, int(run_steps), examples, peak=memory.peak(), over="out of memory")
    timed = recorder.trained[1:]
    per_step = samples_per_step(data)
    rates = [r for r in (speeds([epoch], per_step)["train_samples_per_s"] for epoch in timed) if r]
    if not rates:  # epochs too quick for the clock
        return Measured(batch, int(run_steps), examples, peak=memory.peak())
    return Measured(batch, int(run_steps), examples, float(np.median(rates)),
                    (min(rates), max(rates)), memory.peak())


def stopper(recorder: Any) -> Any:
    """Stop at an epoch's end once the epochs after the first have trained long enough: 5
    of them over 2 s, or 2 over 20 s (a slow model's epochs need not be 5)."""
    import keras

    def enough(epoch: int, logs: dict | None = None) -> None:
        timed = recorder.train_seconds[1:]
        if (len(timed) >= TIMED_EPOCHS and sum(timed) >= SECONDS
                or len(timed) >= 2 and sum(timed) >= 10 * SECONDS):
            recorder.model.stop_training = True

    return keras.callbacks.LambdaCallback(on_epoch_end=enough)


def largest_fitting(measured: list[Measured], limit: float | None) -> float:
    """AutoBatch's fit: peak memory as a line in the batch size, solved for the limit; no
    bound while memory does not grow with the batch (or cannot be measured)."""
    points = [(m.batch, m.peak) for m in measured if m.peak is not None]
    if limit is None or len(points) < 2:
        return math.inf
    slope, base = np.polyfit(*zip(*points), deg=1)
    return (limit - base) / slope if slope > 0 else math.inf


def candidates(examples: int) -> list[int]:
    """Powers of two from 8 (from 1 on data too small for 8) to the largest that leaves 50
    steps an epoch."""
    most = max(1, examples // FEWEST_STEPS)
    first = SMALLEST if most >= SMALLEST else 1
    return [2 ** k for k in range(first.bit_length() - 1, most.bit_length()) if 2 ** k <= most]


def find(overrides: list[str]) -> None:
    """Measure each batch size the caps allow, smallest first, then say the knee."""
    began = time.perf_counter()
    cfg = tuning_config(overrides, TOOL)  # refused here, before anything is built
    memory = memory_meter()
    first = measure(overrides, SMALLEST, memory)
    sizes = candidates(first.examples)
    done = [first] if first.batch in sizes else []
    for batch in sizes[len(done):]:
        if batch > largest_fitting(done, memory.limit):
            done.append(Measured(batch, 0, first.examples, over="predicted over memory"))
            break
        done.append(measure(overrides, batch, memory))
        if done[-1].over:
            break
    for m in done:
        if m.peak is not None and memory.limit is not None and m.peak > memory.limit:
            m.over = m.over or "over memory"
    tell(done, cfg, memory, time.perf_counter() - began)


def knee(done: list[Measured]) -> Measured | None:
    """The smallest batch within 5% of the best throughput, among those that fit."""
    fitting = [m for m in done if not m.over and m.samples_per_s]
    if not fitting:
        return None
    best = max(m.samples_per_s for m in fitting)
    return min((m for m in fitting if m.samples_per_s >= KNEE * best), key=lambda m: m.batch)


def rescaled(cfg: Any, batch: int) -> tuple[str, float] | None:
    """The learning rate for `batch`, from the config's rate at its own batch size, and the
    rule: linear for SGD, the square root for adaptive optimizers. None when the rate is no
    number (a schedule node of the user's)."""
    rate, before = cfg.optimizer.get("learning_rate"), cfg.trainer.batch_size
    if not isinstance(rate, (int, float)) or batch == before:
        return None
    if str(cfg.optimizer.get("_target_", "")).rsplit(".", 1)[-1] == "SGD":
        return f"linear (SGD): x {batch}/{before}", rate * batch / before
    return (f"square root (adaptive optimizer): x sqrt({batch}/{before})",
            rate * math.sqrt(batch / before))


def table(done: list[Measured], chosen: Measured | None, memory: Memory) -> Table:
    grid = Table(title=f"{TOOL}: training samples/s, the median of the epochs after a warm-up one "
                       f"({memory.described})")
    for name in ("batch", "steps/epoch", "samples/s", "slowest-fastest", "peak memory", ""):
        grid.add_column(name, justify="right" if name else "left")
    for m in done:
        spread = f"{m.spread[0]:.0f}-{m.spread[1]:.0f}" if m.spread else ""
        note = "suggested" if m is chosen else m.over
        grid.add_row(str(m.batch), str(m.steps_per_epoch or ""),
                     f"{m.samples_per_s:.0f}" if m.samples_per_s else "", spread,
                     f"{m.peak / 2 ** 20:.0f} MiB" if m.peak else "", note)
    return grid


def tell(done: list[Measured], cfg: Any, memory: Memory, seconds: float) -> None:
    """The table, the knee as an override, and the learning rate to go with it."""
    chosen = knee(done)
    show(table(done, chosen, memory))
    tried = f"{len([m for m in done if m.samples_per_s])} batch sizes measured in {seconds:.0f} s"
    if chosen is None:
        raise TftrainError(f"{TOOL}: no batch size could be measured ({tried}); even batch "
                           f"{done[0].batch} was {done[0].over or 'not timed'}: give the run less "
                           "to hold (a smaller model, precision=mixed_float16) or more memory.")
    best = max(m.samples_per_s for m in done if m.samples_per_s and not m.over)
    largest = done[-1]
    cap = (f"memory stopped it at {largest.batch} ({largest.over})" if largest.over else
           f"{largest.batch} is the largest that leaves {FEWEST_STEPS} steps an epoch of the "
           f"{largest.examples} training examples")
    echo(f"suggested batch size: {chosen.batch}, the smallest within 5% of the best "
         f"throughput ({best:.0f} samples/s); {cap}; {tried}.")
    override = [f"trainer.batch_size={chosen.batch}"]
    rate = rescaled(cfg, chosen.batch)
    if rate:
        rule, value = rate
        override.append(f"optimizer.learning_rate={value:.3g}")
        echo(f"learning rate rescaled for it, {rule}: {cfg.optimizer.learning_rate:g} -> "
             f"{value:.3g} (or find it anew: tftrain-tune lr ... {override[0]})")
    echo("  " + " ".join(override))
