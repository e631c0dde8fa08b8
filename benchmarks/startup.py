"""How long tftrain's command line takes, against a bare Keras script doing the same work.

    python benchmarks/startup.py [--repeats 3]

Measures, side by side in one process run (interleaved, median of N):
  tftrain --help, tftrain --cfg job        composition only: no TensorFlow import
  tftrain debug=smoke                      a whole run: TF start-up, 2 epochs x 4 batches,
                                           evaluation, checkpoints, model.keras, summary
  bare script                              the same training in a plain Keras script
                                           (import TF, load digits, MLP, fit, evaluate, save)
and prints each time with its ratio to the bare script.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TFTRAIN = [str(Path(sys.executable).parent / "tftrain")]
BARE = r"""
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, keras
from importlib.resources import files
with np.load(files("tftrain.data").joinpath("digits.npz").open("rb")) as d:
    x = (d["images"].astype("float32") / 16)[..., None]; y = d["labels"].astype("int32")
model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
    keras.layers.Dense(256, activation="relu"), keras.layers.Dropout(0.2),
    keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x[:1200], y[:1200], batch_size=32, epochs=2, steps_per_epoch=4,
          validation_data=(x[1200:1400], y[1200:1400]), verbose=0)
model.evaluate(x[1400:], y[1400:], verbose=0)
model.save("bare.keras")
"""


def timed(command: list[str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cases = {
        "tftrain --help": TFTRAIN + ["--help"],
        "tftrain --cfg job": TFTRAIN + ["--cfg", "job"],
        "tftrain debug=smoke": TFTRAIN + ["debug=smoke"],
        "bare Keras script": [sys.executable, "-c", BARE],
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(args.repeats):
            for name, command in cases.items():
                times[name].append(timed(command, cwd))
    bare = statistics.median(times["bare Keras script"])
    print(f"{'command':<24}{'median s':>10}{'vs bare script':>16}   (n={args.repeats})")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<24}{median:>10.2f}{median / bare:>15.2f}x")


if __name__ == "__main__":
    main()
