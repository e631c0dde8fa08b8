"""What an export command says and keeps: one table on the console (formats as rows), and
`export/report.json` (every figure) and `export/report.md` (the table for people) beside
the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from tftrain import artifacts
from tftrain.config.exports import FLOAT32_TOLERANCE
from tftrain.console import echo, number, show


def report(rows: list[dict[str, Any]], tolerance: float, split: tuple[str, int],
           record: dict[str, Any], folder: Path, classifies: bool) -> None:
    """export/report.json and report.md, and the table on the console. `split`: the name
    and size of the split the exports were verified on."""
    metric, (name, samples) = "accuracy" if classifies else "mae", split
    kept = {"split": name, "samples": samples, "metric": metric,
            "float32_tolerance": FLOAT32_TOLERANCE, "tolerance_points": tolerance,
            "versions": record["versions"], "weights_fingerprint": record["weights_fingerprint"],
            "data_fingerprint": record["data_fingerprint"], "exports": rows}
    table = Table(title=f"exports on the {name} split ({samples} samples) beside Keras",
                  show_edge=False, padding=(0, 1))
    header = ["export", "size", "diff", "top-1", metric, "p50 ms b1/b32", "verdict"]
    for column in header:
        table.add_column(column, justify="left" if column in ("export", "verdict") else "right",
                         no_wrap=column in ("export", "verdict"))
    for r in rows:
        table.add_row(*cells_of(r, full=False))
    show(table)
    echo("diff: the largest difference from Keras' outputs; top-1: the share of equal top-1 "
         "predictions; p95 latencies are in the report")
    for r in rows:
        if r.get("note"):
            echo(f"{r['file']}: {r['note']}")
    artifacts.write_json_atomic(folder / "report.json", kept)
    artifacts.write_text_atomic(folder / "report.md", markdown(metric, rows, kept))
    echo(f"exports written to {folder} (report: {folder / 'report.md'})")


def cells_of(r: dict[str, Any], full: bool) -> list[str]:
    """A row of the table: the file, its figures, its verdict (why it failed is said below
    the table and in report.json). `full`: latency p50/p95 at each batch size (report.md),
    else p50 at batch 1 and 32 (the console's 80 columns)."""
    label = {"model.keras": "keras", "saved_model": "saved_model"}.get(r["file"], r["format"])
    label += {"none": "", "float16": " f16", "dynamic": " dyn"}.get(r["quantize"], f" {r['quantize']}")
    drop, lat = r["metric_drop_points"], r["latency_ms"]
    if lat is None:  # not run: unverified (flex), or its runtime refused it
        return [label, megabytes(r["size_bytes"]), *[""] * (5 if full else 4),
                {"FAILED": "FAIL"}.get(r["verdict"], r["verdict"])]
    agree = "" if r["top1_agreement"] is None else f"{r['top1_agreement']:.3f}"
    timing = [f"{lat[f'b{b}_p50']:.2f}/{lat[f'b{b}_p95']:.2f}" for b in (1, 32)] if full else \
        [f"{lat['b1_p50']:.2f}/{lat['b32_p50']:.2f}"]
    return [label, megabytes(r["size_bytes"]), f"{r['max_abs_diff']:.0e}", agree,
            number(r["metric"]), *timing,
            {"reference": "-", "FAILED": "FAIL"}.get(r["verdict"], r["verdict"])
            + ("" if drop is None else f" {-drop:+.1f}")]


def megabytes(count: int) -> str:
    return f"{count / 1e6:.2f}MB" if count >= 1e5 else f"{count / 1e3:.1f}kB"


def markdown(metric: str, rows: list[dict[str, Any]], kept: dict[str, Any]) -> str:
    header = ["export", "file", "size", "max abs diff", "top-1 agreement", metric,
              "batch 1 ms p50/p95", "batch 32 ms p50/p95", "verdict"]
    lines = [f"# Exports on the {kept['split']} split ({kept['samples']} samples)", "",
             f"A float32 export may differ from Keras by {kept['float32_tolerance']:g} (times the "
             "largest output where it exceeds 1); a quantized one "
             f"may lose {kept['tolerance_points']:g} points of {kept['metric']} (its verdict "
             f"shows the change). Weights {kept['weights_fingerprint']}, data "
             f"{kept['data_fingerprint']}.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = cells_of(r, full=True)
        lines.append("| " + " | ".join([cells[0], r["file"], *cells[1:]]) + " |")
    lines += [f"- {r['file']}: {r['why'] or r['note']}" for r in rows if r["why"] or r.get("note")]
    versions = ", ".join(f"{k} {v}" for k, v in kept["versions"].items())
    return "\n".join([*lines, "", f"Versions: {versions}.", ""])
