"""What a sweep of folds (k-fold cross-validation) writes at its end, beside report.md:
the folds' mean and standard deviation of every metric (cv.md, cv.json) and the out-of-fold
predictions (oof.csv: each row of the data beside the test split, predicted by the one run
that did not train on it, with its identity: a CSV's row number, an image's path).

Each fold is a job like any other (tftrain.config.cv turns `cv.folds=K` into the sweep), so
this is made from the job folders alone, whichever launcher ran them, and made again, whole,
when an interrupted or failed sweep is re-run. A setting's folds are the jobs whose
overrides differ only in their fold (`tftrain -m cv.folds=5 optimizer.learning_rate=1e-3,1e-2`
cross-validates two settings). The predictions are tftrain-eval's of each run's validation
split (split=val), so they are the numbers `tftrain-eval RUN split=val predictions=true` gives.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from tftrain import artifacts
from tftrain.config.cv import count_of_run, expand, fold_in, in_search, sweep_asked
from tftrain.config.dataset import check_folds
from tftrain.console import console, echo, number, show
from tftrain.errors import TftrainError
from tftrain.run.folder import RunFolder
from tftrain.tools.outputs import table, write_table
from tftrain.tools.report import RunRecord, natural_key

MARKDOWN, JSON, OOF = "cv.md", "cv.json", "oof.csv"
PARTS = ("best", "test")  # summary.json's metrics: the epoch the run kept, its test split

Setting = tuple[tuple[str, str], ...]


def sweep_of_folds(argv: list[str]) -> list[str]:
    """A command line that asks for folds as the sweep of them (tftrain.config.cv.expand),
    after the data is read and cut once as each fold's run will cut it: a mistake that would
    fail every fold (a class of fewer rows than folds, a group column that is not there, a
    streamed source) is one refusal, before the sweep's folder exists."""
    cfg = sweep_asked(argv)
    if cfg is None:
        return argv
    from tftrain.run import runtime  # noqa: F401  (first: quiets TensorFlow as it loads)

    check_folds(cfg.dataset, int(cfg.seed))
    # an Optuna search stays one: each trial runs its folds (tftrain.sweeps.trial_folds)
    return argv if in_search(cfg.hydra) else expand(argv, int(cfg.cv.folds))


def settings(runs: list[RunRecord]) -> dict[Setting, dict[int, RunRecord]]:
    """The sweep's runs that are folds, by setting, each setting's by fold."""
    found: dict[Setting, dict[int, RunRecord]] = {}
    for run in runs:
        if (fold := fold_in(run.overrides)) is not None:
            found.setdefault(fold[1], {})[fold[0]] = run
    return {s: dict(sorted(folds.items())) for s, folds in found.items()}


def folds_asked(folds: dict[int, RunRecord]) -> int:
    """How many folds the setting's runs were cut into (as their config says)."""
    return max(count_of_run(run.path) or len(folds) for run in folds.values())


def metrics(folds: dict[int, RunRecord]) -> dict[str, dict[str, Any]]:
    """Each metric's value in every completed fold, its mean and standard deviation (n-1)."""
    done = [run for run in folds.values() if run.status == "completed"]
    found = dict.fromkeys(f"{part}.{k}" for run in done for part in PARTS
                          for k in run.summary.get(part) or {} if k != "lr")
    # the objective, then validation, test and training metrics
    names = ["objective", *sorted(found, key=lambda n: (not n.startswith("best.val_"),
                                                         not n.startswith("test.")))]
    out = {}
    for name in names:
        values = [value_of(run.summary, name) for run in done]
        values = [v for v in values if v is not None and math.isfinite(v)]
        if values:
            out[name] = {"mean": statistics.fmean(values),
                         "std": statistics.stdev(values) if len(values) > 1 else None,
                         "values": values}
    return out


def value_of(summary: dict[str, Any], name: str) -> float | None:
    part, _, key = name.partition(".")
    value = summary.get(part) if not key else (summary.get(part) or {}).get(key)
    return None if value is None else float(value)


def out_of_fold(folds: dict[int, RunRecord]) -> tuple[list[list[Any]], list[str]]:
    """The rows of oof.csv (a header first; rows in the data's order) and the folds that
    gave none (not completed, or their model not evaluated, said why)."""
    header: list[str] | None = None
    rows, missing = [], []
    for index, run in folds.items():
        if run.status != "completed":
            missing.append(f"fold {index} ({run.status})")
            continue
        try:
            made = fold_predictions(RunFolder(str(run.path)))
        except TftrainError as error:
            missing.append(f"fold {index} ({error})")
            continue
        header = header or ["fold", *made[0]]
        rows += [[index, *row] for row in made[1:]]
    rows.sort(key=lambda row: natural_key(Path(str(row[1]))))
    return ([header, *rows] if header else []), missing


def fold_predictions(folder: RunFolder) -> list[list[Any]]:
    """A fold's run on its validation split (the fold), as `tftrain-eval RUN split=val
    predictions=true` writes it: the run's own config and data (tftrain-eval's reader),
    its model.keras in safe mode, each example's identity, outputs and label."""
    import numpy as np
    import tensorflow as tf

    from tftrain.run import runtime
    from tftrain.tools.eval_data import eval_data
    from tftrain.tools.evaluate import load_model, run_config, run_record

    cfg = run_config(folder, [])
    run = run_record(folder.summary("the out-of-fold predictions"))
    runtime.setup(cfg.seed, False, "float32")
    with console().capture():  # the data's lines, once per fold, would bury the sweep's table
        data = eval_data(cfg.dataset, run, cfg.trainer.batch_size, cfg.seed, "val", True)
    model = load_model(folder, "the out-of-fold predictions")
    outputs, labels, names = [], [], []
    for x, y, identity in data.dataset:
        outputs.append(model.predict_on_batch(x))
        labels.append(tf.nest.map_structure(lambda t: t.numpy(), y))
        names += [i.decode() for i in identity.numpy()]
    joined = tf.nest.map_structure(lambda *parts: np.concatenate(parts), *outputs)
    truth = tf.nest.map_structure(lambda *parts: np.concatenate(parts), *labels)
    return table(joined, names, run["targets"], truth)


def summarize(sweep_dir: Path, runs: list[RunRecord]) -> list[Path]:
    """cv.md, cv.json and oof.csv (oof_<n>.csv for the n-th of several settings) in the
    sweep folder, and the folds' table on the console; nothing for a sweep of no folds."""
    found = settings(runs)
    if not found:
        return []
    record, written = [], []
    for number_, (setting, folds) in enumerate(found.items()):
        rows, missing = out_of_fold(folds)
        oof = sweep_dir / (OOF if len(found) == 1 else f"oof_{number_}.csv")
        if rows:
            write_table(oof, rows)
            written.append(oof)
        entry = {"setting": [f"{k}={v}" for k, v in setting], "label": labelled(setting, found),
                 "folds": folds_asked(folds),
                 "completed": [i for i, r in folds.items() if r.status == "completed"],
                 "missing": missing, "metrics": metrics(folds),
                 "objective_metric": next(iter(folds.values())).summary.get("objective_metric"),
                 "out_of_fold": oof.name if rows else None, "out_of_fold_rows": max(0, len(rows) - 1)}
        record.append(entry)
        shown(entry)
    artifacts.write_json_atomic(sweep_dir / JSON, {"cross_validation": record})
    artifacts.write_text_atomic(sweep_dir / MARKDOWN, markdown(record))
    return [sweep_dir / MARKDOWN, sweep_dir / JSON, *written]


def labelled(setting: Setting, found: dict[Setting, Any]) -> str:
    """What tells a setting from the sweep's others: the overrides whose values differ."""
    differing = {k for k, _ in setting if len({dict(other).get(k) for other in found}) > 1}
    return " ".join(f"{k}={v}" for k, v in setting if k in differing)


def said_metric(name: str, objective: str | None) -> str:
    """objective (val_accuracy), val_loss at the best epoch, test accuracy, ..."""
    if name == "objective":
        return f"objective ({objective})"
    part, _, key = name.partition(".")
    return f"test {key}" if part == "test" else f"{key} at the best epoch"


def spread(stats: dict[str, Any]) -> str:
    std = stats["std"]
    return f"{number(stats['mean'])} ± {number(std)}" if std is not None else number(stats["mean"])


def shown(entry: dict[str, Any]) -> None:
    """The setting's folds on the console: each metric's mean ± std and its values."""
    done = len(entry["completed"])
    title = (f"cross-validation, {done} of {entry['folds']} folds"
             + (f" ({entry['label']})" if entry["label"] else ""))
    grid = Table(title=escape(title), title_justify="left")
    for column in ("metric", "mean ± std", "folds"):
        grid.add_column(column, justify="left" if column == "metric" else "right")
    for name, stats in entry["metrics"].items():
        grid.add_row(said_metric(name, entry["objective_metric"]), spread(stats),
                     "  ".join(number(v) for v in stats["values"]))
    show(grid)
    if entry["missing"]:
        echo(f"note: no out-of-fold predictions from {'; '.join(entry['missing'])}; the mean and "
             "std are of the completed folds. Re-running the sweep's command runs the others.")


def markdown(record: list[dict[str, Any]]) -> str:
    """cv.md: a table per setting."""
    parts = []
    for entry in record:
        lines = [f"## cross-validation: {len(entry['completed'])} of {entry['folds']} folds"
                 + (f" ({entry['label']})" if entry["label"] else ""), "",
                 "| metric | mean | std | folds |", "|---|---:|---:|---|"]
        lines += [f"| {said_metric(name, entry['objective_metric'])} | {number(s['mean'])} | "
                  f"{number(s['std'])} | {' '.join(number(v) for v in s['values'])} |"
                  for name, s in entry["metrics"].items()]
        if entry["out_of_fold"]:
            lines += ["", f"Out-of-fold predictions: {entry['out_of_fold']} "
                          f"({entry['out_of_fold_rows']} rows)."]
        if entry["missing"]:
            lines += ["", f"Missing folds: {'; '.join(entry['missing'])}."]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
