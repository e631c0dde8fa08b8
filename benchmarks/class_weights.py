"""What `trainer.class_weight=balanced` does to a skewed label: titanic.csv with only some of
its 342 survivors kept (a seeded draw; all 549 others), trained unweighted and weighted with
the same seeds, scored on the test split by accuracy, balanced accuracy and macro F1.

Each run is the real `tftrain` command (default MLP, 20 epochs, early stopping on
val_accuracy as shipped, `dataset.test_split=0.3`); the table gives each seed and the mean.

    python benchmarks/class_weights.py --survivors 30,60 --seeds 1,2,3,4
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "titanic.csv"
SCORES = ("accuracy", "balanced_accuracy", "macro_f1")


def skewed(folder: Path, survivors: int) -> Path:
    """titanic.csv with `survivors` of its survivors (seeded) and every other row."""
    with open(DATA, newline="") as handle:
        rows = list(csv.DictReader(handle))
    rng = random.Random(0)
    kept = [r for r in rows if r["survived"] == "0"]
    kept += rng.sample([r for r in rows if r["survived"] == "1"], survivors)
    rng.shuffle(kept)
    path = folder / f"titanic_{survivors}.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(kept[0]))
        writer.writeheader()
        writer.writerows(kept)
    return path


def test_scores(path: Path, folder: Path, seed: int, weighting: str) -> dict[str, float]:
    run = folder / f"{path.stem}_{weighting}_{seed}"
    subprocess.run([str(Path(sys.executable).parent / "tftrain"), "dataset=csv",
                    f"dataset.path={path}", "dataset.label=survived", "dataset.drop=[alive]",
                    "dataset.test_split=0.3", "trainer.epochs=20", f"seed={seed}",
                    f"trainer.class_weight={weighting}",
                    f"metrics=[{','.join(SCORES)}]", f"hydra.run.dir={run}"],
                   check=True, capture_output=True)
    return json.loads((run / "summary.json").read_text())["test"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--survivors", default="30,60")
    parser.add_argument("--seeds", default="1,2,3,4")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print("| survivors kept (skew) | seed | " + " | ".join(
        f"{s} unweighted / balanced" for s in SCORES) + " |")
    print("|---|---|" + "---|" * len(SCORES))
    with tempfile.TemporaryDirectory() as tmp:
        for survivors in map(int, args.survivors.split(",")):
            path = skewed(Path(tmp), survivors)
            runs = {(w, s): test_scores(path, Path(tmp), s, w) for s in seeds
                    for w in ("null", "balanced")}
            for seed in [*seeds, "mean"]:
                cells = []
                for score in SCORES:
                    pair = [runs[(w, seed)][score] if seed != "mean" else
                            sum(runs[(w, s)][score] for s in seeds) / len(seeds)
                            for w in ("null", "balanced")]
                    cells.append(f"{pair[0]:.3f} / {pair[1]:.3f}")
                skew = f"{survivors} ({549 / survivors:.0f}:1)"
                print(f"| {skew} | {seed} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
