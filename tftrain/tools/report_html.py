"""`tftrain-eval`'s report as files: `<record>.report.html` (one file: its figures and the
thumbnails of image inputs embedded as PNG data, no reference outside it, so it opens
offline and travels as one attachment), `<record>.report.md` (the same tables, for a
repository or a terminal) and `<record>.report.json` (every number behind the tables and
figures); and its headline table on the console.
"""

from __future__ import annotations

import base64
import html
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from tftrain.console import number, show
from tftrain.tools import eval_figures, eval_report
from tftrain.tools.eval_examples import Predicted

IDENTITY = ("each example's identity: an image's or text's path in its folder, a row's number "
            "among the file's data rows (0: the first), test:N for a source's own test arrays")
TEXT = 160  # characters of a text input shown; past that it is cut, with an ellipsis
STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.2em .6em;
text-align:right}td:first-child,th:first-child{text-align:left}img{max-width:100%}
.thumb{image-rendering:pixelated;height:64px}.note{color:#555}code{font-size:90%}"""


def report_paths(record: Path) -> dict[str, Path]:
    """The report's files beside its record (`eval/run.test.json` ->
    `eval/run.test.report.html`, `.md`, `.json`)."""
    stem = record.name.removesuffix(".json")
    return {kind: record.with_name(f"{stem}.report.{kind}") for kind in ("html", "md", "json")}


def run_report(run: Path) -> Path | None:
    """The evaluation report tftrain-report links for a run folder: its own test split's
    (what `tftrain-eval RUN` writes), else the newest of its records' reports."""
    found = sorted(run.glob("eval/*.report.html"), key=lambda p: p.stat().st_mtime, reverse=True)
    own = report_paths(run / "eval" / "run.test.json")["html"]
    return own if own in found else next(iter(found), None)


def report_files(record: dict[str, Any], predicted: Predicted, run: dict[str, Any],
                 path: Path) -> tuple[dict[str, dict[str, Any]], dict[Path, str]]:
    """The report of the evaluation whose record is `path`, computed and drawn: its
    sections (for the headline table) and each file's text, for the caller to write (after
    the headline is shown, and beside the record it writes last)."""
    sections = eval_report.sections(predicted, run["targets"])
    drawn = {name: eval_figures.figures(section) for name, section in sections.items()}
    inputs = {i: shown(predicted.inputs[i], list(run["inputs"])) for i in predicted.inputs}
    paths = report_paths(path)
    about = {"record": path.name, **{k: record[k] for k in ("evaluated_at", "split", "samples",
                                                           "model", "weights_fingerprint")},
             "data": record["data"], "metrics": record["metrics"]}
    numbers = json.dumps(finite({**about, "targets": sections}), indent=2)
    return sections, {paths["json"]: numbers + "\n",
                      paths["md"]: markdown(about, sections, inputs),
                      paths["html"]: page(about, sections, drawn, inputs)}


def headline(sections: dict[str, dict[str, Any]]) -> None:
    """The report's headline figures and the baseline's, on the console."""
    table = Table(title="report: the model against a baseline that learnt nothing",
                  show_edge=False)
    several = len(sections) > 1
    for column in (["target"] if several else []) + ["metric", "model", "baseline"]:
        table.add_column(column, justify="right" if column in ("model", "baseline") else "left")
    for name, section in sections.items():
        for metric, value in section["headline"].items():
            cells = (number(value), number(section["baseline"].get(metric)))
            table.add_row(*([name] if several else []), metric, *cells)
    show(table)


def finite(value: Any) -> Any:
    """JSON without NaN or infinity (which strict JSON readers refuse): those become null."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return None if isinstance(value, float) and not np.isfinite(value) else value


def shown(inputs: Any, names: list[str]) -> list[tuple[str, str, Any]]:
    """An example's inputs as the report shows them: (name, 'image' | 'text', PNG bytes or
    the text), an image as a thumbnail, a text or a CSV cell as written, numbers as numbers."""
    columns = inputs if isinstance(inputs, dict) else {names[0] if names else "input": inputs}
    out = []
    for name, values in columns.items():
        values = np.asarray(values)
        picture = eval_figures.thumbnail(values)
        out.append((name, "image", picture) if picture is not None else (name, "text", cell(values)))
    return out


def cell(values: np.ndarray) -> str:
    """One input's value as text: a string, a number, or a vector's first values."""
    flat = values.ravel()
    if flat.dtype.kind in "SO":
        flat = np.array([v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in flat])
    if flat.dtype.kind == "U":  # a text's line breaks shown, so it stays one table cell
        text = " | ".join(v.strip().replace("\r\n", "\n").replace("\n", " ↵ ") for v in flat)
    elif flat.size <= 4:
        text = ", ".join(f"{v:.6g}" for v in flat.astype(np.float64))
    else:
        text = f"{flat.size} values: " + ", ".join(f"{v:.4g}" for v in flat[:4].astype(np.float64)) + ", ..."
    return text if len(text) <= TEXT else text[:TEXT - 1] + "…"


def rows_of(section: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """A section's tables: (title, header, rows), as both the HTML and the markdown show them."""
    head = [[m, number(v), number(section["baseline"].get(m))] for m, v in section["headline"].items()]
    tables = [(f"headline (baseline: {section['baseline']['strategy']})",
               ["metric", "model", "baseline"], head)]
    if section["task"] == "classification":
        report = section["classification_report"]
        roc, pr = section["roc"], section["precision_recall"]
        per_class = [[c, *(number(report[c][k]) for k in ("precision", "recall", "f1-score")),
                      str(int(report[c]["support"])), number((roc.get(c) or {}).get("auc")),
                      number((pr.get(c) or {}).get("average_precision"))]
                     for c in section["classes"]]
        averages = [[a, *(number(report[a][k]) for k in ("precision", "recall", "f1-score")),
                     str(int(report[a]["support"])), "", ""] for a in ("macro avg", "weighted avg")]
        tables += [("per class (scikit-learn's classification_report; ROC AUC and average "
                    "precision one class against the rest)",
                    ["class", "precision", "recall", "F1", "support", "ROC AUC", "AP"],
                    per_class + averages + [["accuracy", "", "", number(report["accuracy"]),
                                             str(section["samples"]), "", ""]]),
                   ("top confusions", ["true class", "predicted", "count", "share of true class"],
                    [[c["true"], c["predicted"], str(c["count"]), number(c["share of true"])]
                     for c in section["top_confusions"]])]
        return tables
    return tables + [("error by decile of the actual value",
                      ["decile", "from", "to", "count", "MAE", "mean error"],
                      [[str(r["decile"]), *(number(r[k]) for k in ("from", "to")), str(r["count"]),
                        number(r["MAE"]), number(r["mean error"])] for r in section["deciles"]])]


def examples_of(section: dict[str, Any]) -> tuple[str, list[str], list[dict[str, Any]]]:
    """The examples a section shows: title, the columns after the input, and the rows."""
    if section["task"] == "classification":
        return ("most confident mistakes", ["label", "predicted", "confidence"],
                [{**m, "cells": [m["label"], m["predicted"], number(m["confidence"])]}
                 for m in section["mistakes"]])
    return ("worst rows (largest absolute error)",
            ["actual", "predicted", "error (predicted - actual)"],
            [{**w, "cells": [number(w[k]) for k in ("actual", "predicted", "error")]}
             for w in section["worst"]])


def said(about: dict[str, Any]) -> list[str]:
    """What was evaluated, in a few lines."""
    data = about["data"]
    when = datetime.fromisoformat(about["evaluated_at"]).strftime("%Y-%m-%d %H:%M UTC")
    return [f"data: {data['name']}, " + ("the run's own, " if data["own"] else "")
            + f"{about['split']} split, {about['samples']} examples",
            f"model: {about['model']}, weights fingerprint {about['weights_fingerprint']}",
            f"data fingerprints: training split {data['fingerprint']}, all the data "
            f"{data['source_fingerprint']}",
            "metrics (the run's own loss and metrics): " + ", ".join(
                f"{k} {number(v)}" for k, v in about["metrics"].items()),
            f"evaluated {when}; record {about['record']}"]


def markdown(about: dict[str, Any], sections: dict[str, dict[str, Any]],
             inputs: dict[int, list]) -> str:
    lines = [f"# tftrain-eval report: {about['record']}", ""]
    lines += [f"- {line}" for line in said(about)] + [
        "", "Figures: the .report.html beside this file; their numbers: the .report.json.", ""]
    for name, section in sections.items():
        lines += [f"## {name} ({section['task']})", ""]
        title, columns, examples = examples_of(section)
        shown_rows = [[f"`{e['input']}`", shown_text(inputs.get(e["index"], [])), *e["cells"]]
                      for e in examples]
        for title, header, rows in [*rows_of(section),
                                    (title, ["input", "as the model took it", *columns],
                                     shown_rows)]:
            lines += [f"### {title}", "", "| " + " | ".join(header) + " |",
                      "|" + "|".join("---" for _ in header) + "|"]
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
            lines.append("")
        lines += [f"Input: {IDENTITY}.", ""]
    return "\n".join(lines)


def page(about: dict[str, Any], sections: dict[str, dict[str, Any]],
         drawn: dict[str, dict[str, bytes]], inputs: dict[int, list]) -> str:
    e = html.escape
    body = [f"<h1>tftrain-eval report: {e(about['record'])}</h1><ul>"
            + "".join(f"<li>{e(line)}</li>" for line in said(about)) + "</ul>"]
    for name, section in sections.items():
        body.append(f"<h2>{e(name)} ({e(section['task'])})</h2>")
        for title, header, rows in rows_of(section):
            body.append(f"<h3>{e(title)}</h3>" + html_table(header, rows))
        for title, png in drawn[name].items():
            body.append(f"<h3>{e(title)}</h3><img alt=\"{e(title)}\" src=\"{image(png)}\">")
        title, columns, examples = examples_of(section)
        rows = [[f"<code>{e(x['input'])}</code>", shown_html(inputs.get(x["index"], [])),
                 *map(e, x["cells"])] for x in examples]
        listed = html_table(["input", "as the model took it", *columns], rows, escaped=True) \
            if rows else "<p class=\"note\">none</p>"
        body.append(f"<h3>{e(title)}</h3><p class=\"note\">input: {e(IDENTITY)}</p>{listed}")
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
            f"{e(about['record'])}</title><style>{STYLE}</style></head><body>"
            + "\n".join(body) + "</body></html>\n").encode(
                "ascii", "xmlcharrefreplace").decode("ascii")  # whatever the file's encoding


def html_table(header: list[str], rows: list[list[str]], escaped: bool = False) -> str:
    e = (lambda c: c) if escaped else html.escape
    return ("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
            + "</table>")


def shown_html(parts: list[tuple[str, str, Any]]) -> str:
    """An example's inputs: thumbnails and text, each named when there are several."""
    named = len(parts) > 1
    return " ".join((f"{html.escape(name)}: " if named else "")
                    + (f"<img class=\"thumb\" alt=\"{html.escape(name)}\" src=\"{image(v)}\">"
                       if kind == "image" else html.escape(v)) for name, kind, v in parts)


def shown_text(parts: list[tuple[str, str, Any]]) -> str:
    """An example's inputs in markdown: text as written, an image said to be one."""
    named = len(parts) > 1
    return "; ".join((f"{name}: " if named else "") + ("(image)" if kind == "image" else v)
                     for name, kind, v in parts)


def image(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
