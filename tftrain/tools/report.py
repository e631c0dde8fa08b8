"""`tftrain-report PATH...`: one row per run folder found under the paths, best objective first.

Everything comes from the run folders' own files (summary.json, .hydra/overrides.yaml,
metrics.csv), so a report can be made of any runs, finished or not, long after they ran.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tftrain import artifacts
from tftrain.console import console, error_console
from tftrain.errors import TftrainError, WriteFailed
from tftrain.tools.shell import shell
from tftrain.run.plots import INSTALL, pyplot, save_figure
from tftrain.artifacts import OVERRIDES
from tftrain.run.folder import RunFolder
from tftrain.tools.report_html import run_report

MARKDOWN, CSV, PLOT = "report.md", "report.csv", "sweep.png"
REPORT_COLUMN = "eval report"  # a run's tftrain-eval report (report.html), when it has one


@dataclass
class RunRecord:
    path: Path
    name: str
    summary: dict[str, Any]
    overrides: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.summary.get("status", "incomplete")

    @property
    def objective(self) -> float | None:
        value = self.summary.get("objective")
        return None if value is None or not math.isfinite(value) else float(value)


def natural_key(path: Path) -> list[Any]:
    """Sort job folders 0, 1, 2, ..., 10, not 0, 1, 10, 2."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path.as_posix())]


def is_run_folder(path: Path) -> bool:
    return (path / OVERRIDES).is_file()


def read_run(path: Path, root: Path) -> RunRecord:
    """A run folder's record, read through the run-folder door. A folder without
    summary.json (killed hard, or still running) is reported as incomplete, one whose
    files are damaged as damaged (with a note saying which), rather than skipped."""
    folder = RunFolder(str(path))
    summary: dict[str, Any] = {"status": "incomplete"}
    try:
        if (path / artifacts.SUMMARY).is_file():
            summary = folder.summary("tftrain-report")
        listed = summary.get("overrides") or folder.overrides()
    except TftrainError as error:
        error_console().print(f"tftrain-report: note: {error} It is listed as damaged.",
                              markup=False)
        summary, listed = {"status": "damaged"}, []
    overrides = dict(o.split("=", 1) if "=" in o else (o, "") for o in listed)
    overrides.pop("resume", None)  # where a run was continued from, not what it trained
    name = path.relative_to(root).as_posix() if path != root else path.name
    return RunRecord(path, name, summary, overrides)


def collect(paths: list[Path]) -> list[RunRecord]:
    """Every run folder at or under the paths (run folders, sweep folders, outputs/)."""
    runs = []
    for root in paths:
        root = Path(root)
        candidates = [root] if is_run_folder(root) else sorted(
            {p.parent.parent for p in root.rglob(OVERRIDES.as_posix())}, key=natural_key)
        # a run folder inside another is part of it (an Optuna trial's folds: trial_folds)
        runs += [read_run(p, root) for p in candidates if is_run_folder(p)
                 and not any(is_run_folder(above) for above in p.parents if above.is_relative_to(root))]
    return sort_runs(runs)


def sort_runs(runs: list[RunRecord]) -> list[RunRecord]:
    """Completed runs, best objective first (in the runs' own direction), then the others
    (pruned, diverged, failed: their objective is of a run cut short), in order."""
    ranked = [r for r in runs if r.objective is not None and r.status == "completed"]
    mode = next((r.summary.get("objective_mode") for r in ranked), "min")
    ranked.sort(key=lambda r: r.objective, reverse=mode == "max")
    return ranked + [r for r in runs if r not in ranked]


def swept_keys(runs: list[RunRecord]) -> list[str]:
    """The override keys whose value differs between runs (all of a lone run's overrides)."""
    keys = list(dict.fromkeys(k for r in runs for k in r.overrides))
    if len(runs) == 1:
        return keys
    return [k for k in keys if len({r.overrides.get(k) for r in runs}) > 1]


def fmt(value: Any, human: bool = True) -> str:
    """A cell: for people, 18,634 rather than 1.863e+04, 0.9512 for a metric and 4.59e+09
    past a million; for files (CSV), the number as it is."""
    if value is None:
        return ""
    if not isinstance(value, float) or not math.isfinite(value):
        return str(value)
    if not human:
        return repr(value)
    if abs(value) >= 1e6:  # compact, so a diverged loss cannot widen the table: 4.59e+09
        return f"{value:.3g}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}" if abs(value) < 1e-3 \
        else f"{value:.4f}".rstrip("0").rstrip(".")


def rows(runs: list[RunRecord], human: bool = True) -> tuple[list[str], list[list[str]]]:
    """The header and cells shared by the table and the Markdown (for people) and the CSV."""
    swept = swept_keys(runs)
    val = list(dict.fromkeys(k for r in runs for k in r.summary.get("best", {})
                             if k.startswith("val_")))
    test = list(dict.fromkeys(k for r in runs for k in r.summary.get("test", {})))
    reports = {r.name: run_report(r.path) for r in runs}
    header = ["run", *swept, "status", "objective", *[f"{k} at best epoch" for k in val],
              *[f"test {k}" for k in test], "epochs", "wall_s", "samples/s",
              *([REPORT_COLUMN] if any(reports.values()) else [])]
    body = []
    for run in runs:
        s = run.summary
        cell = lambda value: fmt(value, human)  # noqa: E731
        body.append([run.name, *[run.overrides.get(k, "") for k in swept], run.status,
                     cell(run.objective), *[cell(s.get("best", {}).get(k)) for k in val],
                     *[cell(s.get("test", {}).get(k)) for k in test],
                     cell(s.get("epochs_completed")), cell(s.get("wall_time_s")),
                     cell(s.get("samples_per_s", s.get("train_samples_per_s"))),
                     *([str(reports[run.name] or "")] if REPORT_COLUMN in header else [])])
    return header, body


def show(runs: list[RunRecord], title: str) -> None:
    header, body = rows(runs)
    metric = next((r.summary.get("objective_metric") for r in runs if r.objective is not None), "")
    table = Table(title=f"{title}: {len(runs)} run(s), objective {metric}", show_edge=False,
                  title_justify="left")
    for column in header:
        table.add_column(column, justify="left" if column in ("run", "status") else "right")
    for cells in body:
        table.add_row(*cells, style=None if cells[header.index("status")] == "completed" else "red")
    # Piped output (a log, CI) has no width to respect: print every cell whole, not squeezed.
    wide = console() if console().is_terminal else Console(highlight=False, width=1000)
    wide.print(table, crop=False)


def to_csv(runs: list[RunRecord]) -> str:
    header, body = rows(runs, human=False)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(body)
    return out.getvalue()


def to_markdown(runs: list[RunRecord], where: Path = Path(".")) -> str:
    """The table in Markdown, each run's eval report a link relative to `where` (the
    folder the Markdown is written to), so that it opens from there."""
    header, body = rows(runs)
    if REPORT_COLUMN in header:
        column = header.index(REPORT_COLUMN)
        for cells in body:
            if cells[column]:
                link = os.path.relpath(Path(cells[column]).absolute(), where.absolute())
                cells[column] = f"[{Path(cells[column]).name}]({Path(link).as_posix()})"
    escape = lambda cell: cell.replace("|", r"\|")  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape(c) for c in cells) + " |" for cells in body]
    return "\n".join(lines) + "\n"


def write_all(runs: list[RunRecord], folder: Path) -> list[Path]:
    """report.md, report.csv and sweep.png (with matplotlib): what the end of every multirun
    leaves behind. Returns the files written."""
    artifacts.write_text_atomic(folder / MARKDOWN, to_markdown(runs, folder))
    artifacts.write_text_atomic(folder / CSV, to_csv(runs))
    written = [folder / MARKDOWN, folder / CSV]
    if pyplot() is None:
        console().print(f"note: {PLOT} skipped: plots need matplotlib, which is not installed "
                        f"({INSTALL} adds it).", markup=False)
    else:
        plot(runs, folder / PLOT)
        written.append(folder / PLOT)
    return written


def numeric(values: list[str]) -> list[float] | None:
    try:
        return [float(v) for v in values]
    except ValueError:
        return None


def curves(run: RunRecord, metric: str) -> tuple[list[int], list[float]]:
    path = run.path / artifacts.METRICS
    if not path.is_file():
        return [], []
    with open(path, newline="") as handle:
        records = [r for r in csv.DictReader(handle) if r.get(metric) not in (None, "")]
    return [int(r["epoch"]) for r in records], [float(r[metric]) for r in records]


def plot(runs: list[RunRecord], path: Path) -> None:
    """The objective against each swept parameter, and every run's objective curve by epoch.
    Needs matplotlib (the `plots` extra), on its headless Agg backend."""
    plt = pyplot()
    swept = swept_keys(runs) if len(runs) > 1 else []
    scored = [r for r in runs if r.objective is not None]
    metric = next((r.summary.get("objective_metric") for r in scored), "val_loss")
    figure, axes = plt.subplots(1, len(swept) + 1, figsize=(4.5 * (len(swept) + 1), 3.8),
                                squeeze=False)
    for axis, key in zip(axes[0], swept):
        values = [r.overrides.get(key, "") for r in scored]
        as_numbers = numeric(values)
        xs = as_numbers if as_numbers is not None else values
        axis.scatter(xs, [r.objective for r in scored])
        if as_numbers and min(as_numbers) > 0 and max(as_numbers) / min(as_numbers) >= 100:
            axis.set_xscale("log")
        axis.set(xlabel=key, ylabel=metric, title=f"{metric} vs {key}")
    curve_axis = axes[0][-1]
    for run in runs:
        epochs, values = curves(run, metric)
        if epochs:
            label = " ".join([run.name, *(f"{k}={run.overrides.get(k, '')}" for k in swept)])
            curve_axis.plot(epochs, values, marker=".", label=label)
    curve_axis.set(xlabel="epoch", ylabel=metric, title=f"{metric} by epoch, all runs")
    if len(runs) <= 12 and curve_axis.lines:  # runs without curves (trials of folds): none
        curve_axis.legend(fontsize="small")
    with warnings.catch_warnings():  # long labels: tight_layout gives up; bbox_inches fits
        warnings.filterwarnings("ignore", message="Tight layout not applied")
        figure.tight_layout()
    save_figure(figure, path, bbox_inches="tight")


def unwritable(target: Path, example: str) -> str | None:
    """Why a report cannot be written to `target` (checked before anything is printed)."""
    if target.is_dir():
        return f"this is a folder; give a file name in it, e.g. {target / example}"
    if not target.parent.is_dir():
        return f"its folder {target.parent} does not exist"
    return None


def write_or_print(text: str, target: str) -> None:
    if target == "-":
        sys.stdout.write(text)
    else:
        artifacts.write_text_atomic(Path(target), text)


def command(argv: list[str]) -> int:
    """`tftrain-report ARGS` in this process; its exit status."""
    parser = argparse.ArgumentParser(
        prog="tftrain-report",
        description="A table of the runs in run folders or sweep folders (searched recursively), "
                    "best objective first.")
    parser.add_argument("paths", nargs="+", type=Path, help="run folders, sweep folders, outputs/")
    parser.add_argument("--csv", metavar="FILE", help="also write the table as CSV ('-': stdout)")
    parser.add_argument("--markdown", metavar="FILE", help="also write it as Markdown ('-': stdout)")
    parser.add_argument("--plot", metavar="FILE", help="also draw the objective plots (a .png)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse's own usage errors (and --help)
        return int(stop.code or 0)
    return shell(lambda: tabulate(args))


def tabulate(args: argparse.Namespace) -> None:
    """The table of the runs under args.paths, and the files asked for."""
    if args.plot and pyplot() is None:
        raise TftrainError(f"--plot needs matplotlib, which is not installed: {INSTALL} adds it "
                           f"(or leave out --plot).")
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        raise TftrainError(f"no such folder: {', '.join(missing)}; give run folders or sweep "
                           "folders (e.g. outputs/ or outputs/multirun/2026-11-21/10-32-05).")
    targets = {("--csv", "runs.csv"): args.csv, ("--markdown", "runs.md"): args.markdown,
               ("--plot", "runs.png"): args.plot}
    problem = next((f"{flag} {target}: {unwritable(Path(target), name)}"
                    for (flag, name), target in targets.items()
                    if target and target != "-" and unwritable(Path(target), name)), None)
    if problem:
        raise TftrainError(f"{problem}.")
    runs = collect(args.paths)
    if not runs:
        raise TftrainError(f"no run folders under {', '.join(map(str, args.paths))}: a run "
                           "folder holds .hydra/overrides.yaml (and summary.json once it has run).")
    if args.csv != "-" and args.markdown != "-":  # a table would spoil CSV/Markdown on stdout
        show(runs, title=", ".join(map(str, args.paths)))
    try:
        if args.csv:
            write_or_print(to_csv(runs), args.csv)
        if args.markdown:
            where = Path(".") if args.markdown == "-" else Path(args.markdown).parent
            write_or_print(to_markdown(runs, where), args.markdown)
        if args.plot:
            plot(runs, Path(args.plot))
    except WriteFailed as error:  # after the table: what was computed is shown
        raise WriteFailed(error.path, error.error, then="Choose a path that can be written.") from None


def main() -> None:
    sys.exit(command(sys.argv[1:]))


if __name__ == "__main__":
    main()
