"""The finders against what they replace: `tftrain-tune lr`'s suggestion beside the best
rates of a seeded 10-rate sweep, and `tftrain-tune batch`'s table, each with its cost.

For each case (digits with the default MLP and Adam; California housing, housing.csv in
../shared/data, a regression MLP), all through the real console scripts in their own
processes:
  1. `tftrain-tune lr CASE` (timed);
  2. `tftrain -m CASE optimizer.learning_rate=<10 rates, log-spaced> seed=1,2` (timed): the
     objective of each rate as the mean over the seeds, the best rate, and the rates whose
     mean lies within the best rate's own spread over its seeds (the best learning rates:
     those the seeds cannot tell from the best);
  3. the suggested rate trained with the same seeds: its mean objective, and whether it
     lies within that spread (or beyond it, on the better side).
Then `tftrain-tune batch CASE` (timed), its table as printed.

    python benchmarks/finders.py [--cases digits housing] [--epochs 20] [--seeds 1 2]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HOUSING = Path(__file__).resolve().parents[2] / "shared" / "data" / "housing.csv"
CASES = {
    "digits": [],
    "housing": ["dataset=csv", f"dataset.path={HOUSING}", "dataset.label=median_house_value",
                "model=regression", "trainer.batch_size=64"],
}
RATES = np.logspace(-4, -0.5, 10)  # Adam's useful range and beyond, 10 rates


def script(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def timed(command: list[str], cwd: Path) -> tuple[str, float]:
    """The command's output and its wall time; a failure stops the benchmark."""
    began = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout, time.perf_counter() - began


def sweep(case: list[str], rates: list[float], seeds: list[int], epochs: int, folder: Path) -> tuple[dict, float]:
    """{rate: [objective per seed]}, the objective's mode, and the sweep's wall time."""
    values = ",".join(f"{r:.3g}" for r in rates)
    _, seconds = timed([script("tftrain"), "-m", *case, f"trainer.epochs={epochs}",
                        "~callbacks.early_stopping", f"optimizer.learning_rate={values}",
                        f"seed={','.join(map(str, seeds))}", f"hydra.sweep.dir={folder}"], folder.parent)
    found: dict[float, list[float]] = {}
    mode = "max"
    for summary in folder.glob("*/summary.json"):
        record = json.loads(summary.read_text())
        rate = float(next(o for o in record["overrides"] if o.startswith("optimizer.learning_rate="))
                     .split("=", 1)[1])
        found.setdefault(rate, []).append(record["objective"])
        mode = record["objective_mode"]
    return {"objectives": found, "mode": mode}, seconds


def best_rates(result: dict) -> tuple[float, tuple[float, float], list[float]]:
    """The best rate by its mean objective, its spread over the seeds, and every rate whose
    mean lies within that spread."""
    sign = 1 if result["mode"] == "max" else -1
    means = {r: float(np.mean(v)) for r, v in result["objectives"].items()}
    best = max(means, key=lambda r: sign * means[r])
    low, high = min(result["objectives"][best]), max(result["objectives"][best])
    return best, (low, high), sorted(r for r, m in means.items() if low <= m <= high)


def lr_case(name: str, case: list[str], seeds: list[int], epochs: int, tmp: Path) -> None:
    out, finder_s = timed([script("tftrain-tune"), "lr", *case, f"output={tmp / name}"], tmp)
    suggested = float(re.search(r"suggested learning rate: ([0-9.e+-]+)", out).group(1))
    steepest = float(re.search(r"steepest descent: ([0-9.e+-]+)", out).group(1))
    result, sweep_s = sweep(case, list(RATES), seeds, epochs, tmp / f"{name}-sweep")
    best, (low, high), bests = best_rates(result)
    tried, tried_s = sweep(case, [suggested], seeds, epochs, tmp / f"{name}-suggested")
    mean = float(np.mean(next(iter(tried["objectives"].values()))))
    metric = "val_accuracy" if result["mode"] == "max" else "val_loss"
    print(f"\n## {name}: learning rate ({len(RATES)} rates x seeds {seeds}, {epochs} epochs)\n")
    print(f"| rate | {metric} (mean over seeds) |\n|---|---|")
    for rate in sorted(result["objectives"]):
        values = result["objectives"][rate]
        mark = " best" if rate == best else " within the best's spread" if rate in bests else ""
        print(f"| {rate:.3g} | {np.mean(values):.4g} ({', '.join(f'{v:.4g}' for v in values)}){mark} |")
    within = low <= mean <= high or (result["mode"] == "max" and mean >= low) or \
        (result["mode"] == "min" and mean <= high)
    print(f"\nfinder: valley {suggested:.2g} (steepest {steepest:.2g}) in {finder_s:.0f} s; trained "
          f"with the same seeds: {metric} {mean:.4g}, {'within' if within else 'outside'} the best "
          f"rate's spread [{low:.4g}, {high:.4g}] (best {best:.3g}; best rates "
          f"{bests[0]:.3g}-{bests[-1]:.3g})")
    print(f"sweep: {sweep_s:.0f} s; the finder took {finder_s / sweep_s:.0%} of it")


def batch_case(name: str, case: list[str], tmp: Path) -> None:
    out, seconds = timed([script("tftrain-tune"), "batch", *case], tmp)
    print(f"\n## {name}: batch size ({seconds:.0f} s)\n")
    print(out.rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-batch", action="store_true", help="skip the batch finder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases:
            lr_case(name, CASES[name], args.seeds, args.epochs, Path(tmp))
            if not args.no_batch:
                batch_case(name, CASES[name], Path(tmp))


if __name__ == "__main__":
    main()
