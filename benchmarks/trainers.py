"""Training throughput: a textbook Keras script against tftrain's two trainers.

    python benchmarks/trainers.py [--models mlp,cnn] [--repeats 3] [--epochs 4]
                                  [--samples N] [--spe-sweep] [--precision mixed_float16]

Four variants train the same architecture on the same synthetic data (28x28x1, 10 classes)
with a global batch of 128, side by side in one process, interleaved (a, b, c, d, a, ...):
  (a) textbook Keras    compile("adam", ...), fit(x, y) on numpy arrays: Keras defaults
  (b) textbook, spe=S   the same with compile(steps_per_execution=S), S = tftrain's default
  (c) tftrain fit       FitTrainer, driven the way `tftrain trainer=fit` drives it
  (d) tftrain custom    CustomLoopTrainer, driven the way `tftrain trainer=custom_loop` does
A run's samples/s is the median of its epochs after the first (the first one traces); each
table shows the median over repeats, and the spread of the repeats (max - min) / median as a
measure of the machine's noise. There is no validation split, and the timer stops at the last
training batch of each epoch. For the MLP the table adds the achieved GFLOP/s against an
estimate of the CPU's FP32 peak (on a GPU: beside the GPU's own float32 matmul). --precision
runs every variant under a mixed-precision policy (tftrain's `precision=` group; the textbook
script sets the same Keras policy, its output layer float32 as the Keras guide says).
--spe-sweep also times tftrain's trainers on the MLP for several steps_per_execution, to
choose the default.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tftrain.run import runtime  # first: sets TensorFlow's environment before it is imported

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from omegaconf import DictConfig, open_dict  # noqa: E402

from tftrain.config import checks, schema  # noqa: E402
from tftrain.run import prepare  # noqa: E402
from tftrain.config.compose import compose as compose_overrides  # noqa: E402
from tftrain.callbacks.record import EpochRecorder, recorder  # noqa: E402
from tftrain.config.dataset import build_data  # noqa: E402

BATCH = 128
CLASSES = 10
SHAPE = (28, 28, 1)
SWEEP_SPE = (1, 8, 32, 64, 128)
# One epoch of about 1-3 s on 2 cores for each model; --samples replaces both.
DEFAULT_SAMPLES = {"mlp": 49_152, "cnn": 8_192}

Layer = tuple[str, dict[str, Any]]  # a keras.layers class name and its arguments
# The hidden layers; both builds end in Dense(10, softmax). No Dropout: tftrain's
# catalogue mlp/cnn differ, so both sides build these exact layers instead.
ARCHITECTURES: dict[str, list[Layer]] = {
    "mlp": [("Flatten", {}),
            ("Dense", {"units": 256, "activation": "relu"}),
            ("Dense", {"units": 128, "activation": "relu"})],
    "cnn": [("Conv2D", {"filters": 32, "kernel_size": 3, "activation": "relu"}),
            ("MaxPooling2D", {}),
            ("Conv2D", {"filters": 64, "kernel_size": 3, "activation": "relu"}),
            ("MaxPooling2D", {}),
            ("Flatten", {}),
            ("Dense", {"units": 128, "activation": "relu"})],
}
MLP_WIDTHS = (784, 256, 128, CLASSES)
# Forward is 2 FLOP per multiply-add; backward (input and weight gradients) twice that.
MLP_FLOP_PER_SAMPLE = 3 * 2 * sum(a * b for a, b in zip(MLP_WIDTHS, MLP_WIDTHS[1:]))
# Lower bounds on ratios of samples/s, "c/b" being variant (c)'s over variant (b)'s.
GOALS = {"c/b": 0.98, "d/b": 1.00, "c/a": 1.6}
MLP_ONLY_GOALS = {"c/a"}


@dataclass(frozen=True)
class Run:
    """One training run: the seconds each epoch spent training, and what it trained."""

    seconds: list[float]
    samples_per_epoch: int
    params: int

    @property
    def rate(self) -> float:
        """Samples/s over the epochs after the first, which pays for tracing."""
        return self.samples_per_epoch / statistics.median(self.seconds[1:] or self.seconds)


@dataclass(frozen=True)
class Rate:
    """A variant's samples/s: the median over repeats, and their spread, (max - min) / median,
    which says how far the machine's noise lets one trust the median."""

    median: float
    spread: float

    @classmethod
    def of(cls, values: list[float]) -> Rate:
        median = statistics.median(values)
        return cls(median, (max(values) - min(values)) / median)


PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")  # conf/precision


def benchmark_config(model: str, trainer: str, samples: int, epochs: int, precision: str = "float32",
            overrides: tuple[str, ...] = ()) -> DictConfig:
    """tftrain's real composed config, with the benchmark's data, batch and model.

    No validation or test split: every sample trains, and no variant spends time evaluating.
    """
    cfg = compose_overrides(["dataset=synthetic", f"dataset.shape=[{','.join(map(str, SHAPE))}]",
                       f"dataset.num_classes={CLASSES}", f"dataset.num_samples={samples}",
                       "dataset.val_split=0", "dataset.test_split=0", "callbacks=none",
                       f"trainer={trainer}", f"trainer.batch_size={BATCH}",
                       f"trainer.epochs={epochs}", f"precision={precision}", *overrides])
    checks.validate(cfg)
    with open_dict(cfg):
        cfg.model = {"_target_": "tftrain.models.sequential", "name": model,
                     "layers": [{"_target_": f"keras.layers.{cls}", **kwargs}
                                for cls, kwargs in ARCHITECTURES[model]]}
    return cfg


def run_tftrain(cfg: DictConfig) -> Run:
    """A run as `tftrain callbacks=none` prepares it (`prepare.prepare`), then trained.

    The callbacks are the guards every run gets and the metrics writer, an EpochRecorder,
    whose `train_seconds` (epoch start to last training batch) are the timings.
    """
    with open_dict(cfg):
        cfg.run_dir = tempfile.mkdtemp(prefix="tftrain-benchmark-")
    run = prepare.prepare(cfg)
    run.trainer.train(run.model, run.data, run.callbacks, run.first_epoch)
    return Run(recorder(run.callbacks).train_seconds, run.data.steps_per_epoch * run.data.batch_size,
               run.model.count_params())


def training_arrays(cfg: DictConfig) -> tuple[np.ndarray, np.ndarray]:
    """tftrain's training split as numpy arrays: the very samples (c) and (d) train on."""
    runtime.setup(cfg.seed, cfg.deterministic, cfg.precision.policy)
    batches = list(build_data(cfg.dataset, BATCH, cfg.seed).train.as_numpy_iterator())
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def run_textbook(model_name: str, x: np.ndarray, y: np.ndarray, epochs: int, seed: int,
                 policy: str, steps_per_execution: int) -> Run:
    """What a Keras tutorial writes: Sequential, compile with strings, fit on arrays."""
    runtime.setup(seed, False, policy)  # the same clean, seeded session as tftrain's runs get
    layers = [getattr(keras.layers, cls)(**kwargs) for cls, kwargs in ARCHITECTURES[model_name]]
    model = keras.Sequential([keras.Input(SHAPE), *layers,
                              keras.layers.Dense(CLASSES, activation="softmax", dtype="float32")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)
    timer = EpochRecorder()  # the same timing callback tftrain's runs carry
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[timer])
    return Run(timer.train_seconds, len(x), model.count_params())


def measure(variants: dict[str, Callable[[], Run]], repeats: int) -> dict[str, Rate]:
    """Each variant's samples/s over repeats, interleaved so drifts in machine speed hit all alike.

    Fails if the variants' models differ in size: then they would not train the same thing.
    """
    rates: dict[str, list[float]] = {name: [] for name in variants}
    params: set[int] = set()
    for _ in range(repeats):
        for name, variant in variants.items():
            run = variant()
            rates[name].append(run.rate)
            params.add(run.params)
    assert len(params) == 1, f"the variants' models differ: {sorted(params)} parameters"
    return {name: Rate.of(values) for name, values in rates.items()}


def compare(model: str, samples: int, epochs: int, repeats: int, spe: int,
            precision: str) -> dict[str, Rate]:
    """Time the four variants on one model, print the table; return their rates."""
    fit_cfg = benchmark_config(model, "fit", samples, epochs, precision)
    x, y = training_arrays(fit_cfg)
    textbook = functools.partial(run_textbook, model, x, y, epochs, fit_cfg.seed,
                                 fit_cfg.precision.policy)
    variants = {
        "(a) textbook Keras, spe=1": functools.partial(textbook, 1),
        f"(b) textbook Keras, spe={spe}": functools.partial(textbook, spe),
        "(c) tftrain fit (default)": functools.partial(run_tftrain, fit_cfg),
        "(d) tftrain custom_loop": functools.partial(
            run_tftrain, benchmark_config(model, "custom_loop", samples, epochs, precision)),
    }
    rates = measure(variants, repeats)
    print(f"\n{model} ({precision}): {len(x):,} samples/epoch = {len(x) // BATCH} steps of {BATCH}; "
          f"{epochs} epochs/run; samples/s = median of epochs 2..{epochs}, then median of {repeats} "
          f"repeats")
    print_table(rates, MLP_FLOP_PER_SAMPLE if model == "mlp" else None)
    return rates


def print_table(rates: dict[str, Rate], flop_per_sample: float | None) -> None:
    """One row per variant: samples/s, spread, ratios to (a) and (b), and with
    `flop_per_sample` the achieved GFLOP/s and its share of the estimated CPU peak (of the
    measured float32 matmul on a GPU)."""
    a, b = (rate.median for rate in list(rates.values())[:2])
    peak = (matmul_gflops() if on_gpu() else cpu_peak()[0]) if flop_per_sample else 0.0
    print(f"{'variant':<28}{'samples/s':>11}{'spread':>8}{'vs (a)':>8}{'vs (b)':>8}"
          + (f"{'GFLOP/s':>9}{'of peak':>9}" if flop_per_sample else ""))
    for name, rate in rates.items():
        gflops = rate.median * (flop_per_sample or 0) / 1e9
        print(f"{name:<28}{rate.median:>11,.0f}{rate.spread:>7.0%} {rate.median / a:>7.2f}x"
              f"{rate.median / b:>7.2f}x"
              + (f"{gflops:>9.1f}{gflops / peak:>9.1%}" if flop_per_sample else ""))


def print_goals(rates: dict[str, Rate], model: str) -> None:
    """Each goal's ratio and verdict; a miss smaller than the two variants' noise says so."""
    variant = dict(zip("abcd", rates.values()))
    for name, goal in GOALS.items():
        if name in MLP_ONLY_GOALS and model != "mlp":
            continue
        numerator, denominator = variant[name[0]], variant[name[2]]
        ratio = numerator.median / denominator.median
        noise = (numerator.spread + denominator.spread) / 2
        verdict = ("met" if ratio >= goal else
                   f"not met, but within the noise of +-{noise:.0%}" if ratio >= goal * (1 - noise)
                   else "NOT MET")
        print(f"goal {name} >= {goal:.2f}: {ratio:.3f}, {verdict}")


def spe_sweep(samples: int, epochs: int, repeats: int) -> None:
    """tftrain's fit and custom loop on the MLP at each steps_per_execution, interleaved."""
    variants = {f"{trainer} spe={spe}": functools.partial(run_tftrain, benchmark_config(
                    "mlp", trainer, samples, epochs, overrides=(f"trainer.steps_per_execution={spe}",)))
                for spe in SWEEP_SPE for trainer in ("fit", "custom_loop")}
    rates = measure(variants, repeats)
    print(f"\nsteps_per_execution sweep, mlp, tftrain trainers: samples/s, median of {repeats} "
          f"repeats (spread); {samples // BATCH} steps/epoch")
    print(f"{'steps_per_execution':<20}" + "".join(f"{spe:>15}" for spe in SWEEP_SPE))
    for trainer in ("fit", "custom_loop"):
        cells = (rates[f"{trainer} spe={spe}"] for spe in SWEEP_SPE)
        print(f"{trainer:<20}" + "".join(f"{r.median:>9,.0f} ({r.spread:>3.0%})" for r in cells))


def cpu_mhz() -> tuple[float, str]:
    """The highest clock the system reports: lscpu's max MHz, else /proc/cpuinfo's cpu MHz."""
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"CPU max MHz:\s*([\d.]+)", lscpu)
    if found:
        return float(found.group(1)), "lscpu 'CPU max MHz'"
    reported = re.findall(r"cpu MHz\s*:\s*([\d.]+)", Path("/proc/cpuinfo").read_text())
    return max(map(float, reported)), "highest 'cpu MHz' in /proc/cpuinfo; lscpu gives no max"


def flop_per_cycle() -> tuple[int, str]:
    """FP32 FLOP per cycle and core, from the vector extensions /proc/cpuinfo lists."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    flags = set(re.search(r"^flags\s*:(.*)$", cpuinfo, re.M).group(1).split())
    zen4 = "AuthenticAMD" in cpuinfo and re.search(r"^cpu family\s*:\s*25$", cpuinfo, re.M)
    if "avx512f" in flags and zen4:  # Zen 4 runs 512-bit FMAs on its two 256-bit units
        return 32, "AVX-512 on AMD Zen 4: 2 FMA units x 8 FP32 lanes x 2 FLOP"
    if "avx512f" in flags:
        return 64, "AVX-512: 2 FMA units x 16 FP32 lanes x 2 FLOP"
    if {"avx2", "fma"} <= flags:
        return 32, "AVX2: 2 FMA units x 8 FP32 lanes x 2 FLOP"
    return 8, "no AVX2/FMA: 4-lane SSE add + multiply"


@functools.cache
def cpu_peak() -> tuple[float, str]:
    """FP32 peak GFLOP/s, estimated as cores x GHz x FLOP/cycle, and how it was estimated."""
    cores = os.cpu_count() or 1
    mhz, clock = cpu_mhz()
    per_cycle, unit = flop_per_cycle()
    peak = cores * mhz / 1000 * per_cycle
    return peak, (f"FP32 peak ~ {cores} cores (os.cpu_count) x {mhz / 1000:.2f} GHz ({clock}) x "
                  f"{per_cycle} FLOP/cycle ({unit}) = {peak:.0f} GFLOP/s")


def on_gpu() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


@functools.cache
def matmul_gflops(n: int = 2048, tries: int = 5) -> float:
    """The best GFLOP/s TensorFlow's own float32 matmul reaches here: a practical ceiling
    beside the paper peak (virtual CPUs may share a physical core, clocks may boost)."""
    x = tf.random.uniform((n, n))
    seconds = []
    for _ in range(tries):
        started = time.perf_counter()
        tf.reduce_sum(tf.linalg.matmul(x, x)).numpy()
        seconds.append(time.perf_counter() - started)
    return 2 * n ** 3 / min(seconds) / 1e9


def print_flop_model() -> None:
    """How the MLP table's GFLOP/s and peak were computed, so readers can check them."""
    terms = " + ".join(f"{a}*{b}" for a, b in zip(MLP_WIDTHS, MLP_WIDTHS[1:]))
    print(f"GFLOP/s = samples/s x {MLP_FLOP_PER_SAMPLE / 1e6:.2f} MFLOP/sample = 3 (forward + "
          f"2 backward) x 2 x ({terms}); biases, activations and Adam not counted")
    measured = matmul_gflops()
    if on_gpu():
        name = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
        print(f"GPU {name.get('device_name', '?')}: 'of peak' is of a 2048x2048 float32 tf matmul "
              f"on it, {measured:,.0f} GFLOP/s")
        return
    peak, how = cpu_peak()
    print(how)
    print(f"measured ceiling: a 2048x2048 float32 tf matmul reaches {measured:.0f} GFLOP/s "
          f"({measured / peak:.0%} of the estimated peak"
          + ("; above 100%: the clock runs faster than reported)" if measured > peak else ")"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mlp,cnn", help="comma-separated: mlp, cnn")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4, help="per run; the first is not timed")
    parser.add_argument("--samples", type=int, help=f"per epoch (default: {DEFAULT_SAMPLES})")
    parser.add_argument("--spe-sweep", action="store_true", help="also time tftrain's trainers "
                        f"on the MLP at steps_per_execution {', '.join(map(str, SWEEP_SPE))}")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="tftrain's precision group, for every variant")
    args = parser.parse_args()
    # Every run builds a new model, whose tf.functions trace once each; TF's frequent-retracing
    # detector counts those traces across instances and would warn after a few runs.
    tf.get_logger().setLevel("ERROR")
    models = args.models.split(",")
    if not set(models) <= set(ARCHITECTURES):
        parser.error(f"--models takes a comma-separated list of: {', '.join(ARCHITECTURES)}")
    schema.register()
    spe = compose_overrides([]).trainer.steps_per_execution
    print(f"tftrain default trainer.steps_per_execution = {spe}; batch {BATCH}; {os.cpu_count()} CPUs")
    print("goals: " + ", ".join(f"{name} >= {goal:.2f}" for name, goal in GOALS.items())
          + f" ({', '.join(MLP_ONLY_GOALS)} on the MLP only); (c) is tftrain's default trainer")
    for model in models:
        rates = compare(model, args.samples or DEFAULT_SAMPLES[model], args.epochs, args.repeats, spe,
                        args.precision)
        print_goals(rates, model)
        if model == "mlp":
            print_flop_model()
    if args.spe_sweep:
        spe_sweep(args.samples or DEFAULT_SAMPLES["mlp"], args.epochs, args.repeats)


if __name__ == "__main__":
    main()
