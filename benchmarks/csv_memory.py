"""Peak memory and speed of a CSV read whole (`dataset.in_memory=true`) against the same CSV
streamed (`dataset.in_memory=false`), at growing numbers of rows.

Each variant is the real `tftrain` command in a process of its own (so its peak resident
memory is its own, read from the kernel when it ends): a generated table of 8 numbers, 2
strings and a 3-class label, 3 epochs of the default MLP at batch 256, the file read whole,
streamed, and streamed with a file cache (`dataset.cache=FOLDER`: epochs after the first
read parsed chunks back instead of text). samples/s is summary.json's (epochs after the
first); the wall time includes reading and the statistics pass. Streamed memory should stay flat as the file grows; read whole, it grows
with the file.

    python benchmarks/csv_memory.py --rows 10000,1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

COLOURS = np.array(["red", "green", "blue", "grey"])
SHAPES = np.array(["round", "square", "flat"])


def write_table(path: Path, rows: int, seed: int = 0) -> None:
    """8 numeric columns (5% missing), 2 string columns, a label that depends on them."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as handle:
        handle.write(",".join([f"x{i}" for i in range(8)] + ["colour", "shape", "label"]) + "\n")
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            label = rng.integers(0, 3, n)
            numbers = rng.normal(size=(n, 8)) + label[:, None]
            text = np.char.mod("%.4f", numbers).astype(object)
            text[rng.random((n, 8)) < 0.05] = ""
            colour = COLOURS[(label + (rng.random(n) < 0.3)) % 4]
            lines = [",".join(row) for row in np.column_stack(
                [text, colour, SHAPES[rng.integers(0, 3, n)], np.array(["a", "b", "c"])[label]])]
            handle.write("\n".join(lines) + "\n")


MODES = {"in memory": ["dataset.in_memory=true"],
         "streamed": ["dataset.in_memory=false"],
         "streamed, file cache": ["dataset.in_memory=false", "dataset.cache=CACHE"]}


def measure(csv: Path, mode: str, folder: Path) -> dict[str, float]:
    """One run of the real command: its peak RSS (MB), steady samples/s and wall time."""
    run = folder / f"run-{csv.stem}-{mode.replace(' ', '_').replace(',', '')}"
    options = [o.replace("CACHE", str(folder / f"cache-{csv.stem}")) for o in MODES[mode]]
    command = [str(Path(sys.executable).parent / "tftrain"), "dataset=csv", f"dataset.path={csv}",
               "dataset.label=label", *options, "trainer.epochs=3", "trainer.batch_size=256",
               "callbacks=none", f"hydra.run.dir={run}"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{process.stderr.read().decode()}")
    summary = json.loads((run / "summary.json").read_text())
    return {"peak_mb": usage.ru_maxrss / 1024, "samples_per_s": summary["train_samples_per_s"],
            "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="10000,1000000", help="table sizes, comma-separated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results = []
        for rows in map(int, args.rows.split(",")):
            csv = folder / f"table_{rows}.csv"
            write_table(csv, rows)
            size = csv.stat().st_size / 1e6
            for mode in MODES:
                result = measure(csv, mode, folder)
                results.append((rows, size, mode, result))
                print(f"{rows:>9,} rows ({size:,.0f} MB)  {mode:20}  "
                      f"peak {result['peak_mb']:>7,.0f} MB  {result['samples_per_s']:>9,.0f} samples/s  "
                      f"{result['wall_s']:6.1f} s", flush=True)
    print("\n| rows | file | mode | peak RSS | samples/s (after epoch 1) | wall |")
    print("|---|---|---|---|---|---|")
    for rows, size, mode, r in results:
        print(f"| {rows:,} | {size:,.0f} MB | {mode} | "
              f"{r['peak_mb']:,.0f} MB | {r['samples_per_s']:,.0f} | {r['wall_s']:.1f} s |")


if __name__ == "__main__":
    main()
