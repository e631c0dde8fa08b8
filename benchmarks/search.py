"""The same Optuna search with and without pruning: wall time and best objective of each.

A search where many learning rates are hopeless (SGD on 40,000 synthetic examples of 32
features in 8 noisy classes, learning rate log-uniform in [1e-6, 0.3], batch size 32/64/128,
16 epochs a trial: training is most of a trial's time), the same sampler seed and trial
budget, run by the real `tftrain -m hparams_search=optuna` in its own process: once with
`hydra.sweeper.pruner=median` (the default), once with `none`.

    python benchmarks/search.py --trials 20
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

SEARCH = ["-m", "hparams_search=optuna", "dataset=synthetic", "dataset.num_samples=40000",
          "dataset.shape=[32]", "dataset.num_classes=8", "dataset.noise=2.0", "optimizer=sgd",
          "trainer.epochs=16", "optimizer.learning_rate=tag(log, interval(1e-6, 0.3))",
          "trainer.batch_size=choice(32,64,128)", "~callbacks.early_stopping", "seed=7"]


def search(folder: Path, pruner: str, trials: int) -> dict:
    sweep = folder / pruner
    command = [str(Path(sys.executable).parent / "tftrain"), *SEARCH, f"hydra.sweeper.pruner={pruner}",
               f"hydra.sweeper.n_trials={trials}", f"hydra.sweep.dir={sweep}"]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    return {"wall_s": time.perf_counter() - started, "best": results["best_value"], **results["trials"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {pruner: search(Path(tmp), pruner, args.trials) for pruner in ("median", "none")}
    print("| pruner | trials (complete / pruned / failed) | wall | best val_accuracy |")
    print("|---|---|---|---|")
    for pruner, r in runs.items():
        print(f"| {pruner} | {r['complete']} / {r['pruned']} / {r['fail']} | {r['wall_s']:.0f} s | "
              f"{r['best']:.4f} |")
    ratio = runs["median"]["wall_s"] / runs["none"]["wall_s"]
    print(f"\npruned / unpruned wall time: {ratio:.2f}; best objective "
          f"{runs['median']['best']:.4f} vs {runs['none']['best']:.4f}")


if __name__ == "__main__":
    main()
