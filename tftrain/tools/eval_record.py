"""What `tftrain-eval` is asked (its own arguments beside the config overrides), what it says
it evaluates, and the record it keeps: one per data, split and weights
(`eval/<data>.<split>[.best].json`), so that a second evaluation never overwrites the
first, with each example's prediction beside it when asked (`.predictions.csv`, in
tftrain-predict's columns plus the label) and the report on them (`.report.html`, `.md`,
`.json`: tftrain.tools.eval_report).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tftrain import artifacts
from tftrain.config.dataset import options_of
from tftrain.errors import TftrainError, said
from tftrain.run.folder import RunFolder, keras_file_problem
from tftrain.tools.eval_examples import Predicted

# tftrain-eval's own arguments, and the values each takes (None: any, a path)
ARGUMENTS = {"split": ("train", "val", "test", "all"), "weights": ("final", "best"),
             "predictions": ("true", "false"), "report": ("true", "false"), "output": None}
DEFAULTS = {"split": None, "weights": "final", "predictions": "false", "report": "true",
            "output": None}
WEIGHTS = {"final": Path(artifacts.MODEL), "best": artifacts.BEST}


@dataclass
class Evaluation:
    """An evaluation done: its record, each example's outputs and label (for the
    predictions file and the report, when either is asked), what the run's model takes
    and predicts (its `inputs` and `targets`), what was asked (`report`: whether the
    report is written), and where the record goes."""

    record: dict[str, Any]
    predicted: Predicted | None
    run: dict[str, Any]
    asked: dict[str, Any]
    path: Path


def arguments(args: list[str]) -> tuple[list[str], dict[str, Any]]:
    """(the config overrides, tftrain-eval's own arguments with their defaults)."""
    asked, overrides = dict(DEFAULTS), []
    for arg in args:
        key, equals, value = arg.partition("=")
        if not equals or key not in ARGUMENTS:
            overrides.append(arg)
            continue
        allowed = ARGUMENTS[key]
        if allowed is not None and value not in allowed or not value:
            raise TftrainError(f"{arg}: {key}= takes " + (" or ".join(allowed) if allowed else
                               "a file path") + ".")
        asked[key] = value
    for flag in ("predictions", "report"):
        asked[flag] = asked[flag] == "true"
    return overrides, asked


def weights_file(folder: RunFolder, weights: str) -> Path:
    """The model file `weights=` names, checked whole before any data is read."""
    if weights == "final":
        return folder.model_file("tftrain-eval")
    file = folder.path / WEIGHTS[weights]
    if not file.is_file():
        raise TftrainError(f"{folder.given} has no {WEIGHTS[weights]} (the run kept no best "
                           "epoch's model: no validation split, or callbacks.model_checkpoint "
                           "off); weights=final evaluates model.keras.")
    problem = keras_file_problem(file)
    if problem:
        raise folder.damaged(WEIGHTS[weights], problem, "tftrain-eval weights=best")
    return file


def data_named(folder: RunFolder, cfg: DictConfig) -> tuple[bool, str, str]:
    """(whether the data is the run's own: the same source with the same options, paths
    compared where they lead; a name for it; its source's `_target_`)."""
    options, _, name = options_of(cfg.dataset)
    try:
        saved = OmegaConf.load(folder.path / artifacts.CONFIG).dataset
    except Exception as error:  # yaml or OmegaConf refusing the file's text
        raise folder.damaged(artifacts.CONFIG, said(error), "tftrain-eval") from None
    own = where_led(options_of(saved)[0]) == where_led(options)
    return own, name, options["_target_"]


def where_led(options: dict[str, Any]) -> dict[str, Any]:
    """A source's options with each path resolved (./a.csv and a.csv are one file)."""
    return {k: str(Path(v).expanduser().resolve()) if k.endswith("path") and isinstance(v, str)
            else v for k, v in options.items()}


def said_evaluated(own: bool, name: str, data: Any) -> str:
    """What is evaluated, in one line."""
    if own:
        part = "all of it" if data.split == "all" else f"its {data.split} split"
        return f"evaluating the run's own data ({name}), {part}: {data.samples} samples"
    if data.split == "all":
        return (f"evaluating all of {name} ({data.samples} samples): not the run's own data "
                "(split=train|val|test evaluates one split of it)")
    return f"evaluating {name}, its {data.split} split as training would cut it: {data.samples} samples"


def changed_data(recorded: dict[str, Any], data: Any, overrides: list[str]) -> list[str]:
    """Warnings (said, and kept in the record) when the run's own data is not what the run
    read: its metrics are then not the run's test metrics."""
    from tftrain.console import echo

    before, now, what = recorded.get("source_fingerprint"), data.source_fingerprint, "data"
    if not before and not overrides:  # a run older than the whole-data fingerprint
        before, now, what = recorded.get("fingerprint"), data.fingerprint, "training split"
    if not before or before == now:
        return []
    warning = (f"the run's data changed since it trained: its {what} fingerprint was {before} "
               f"(summary.json), it is {now} now; these metrics are of the data as it is now, "
               "not comparable with the run's own")
    echo(f"warning: {warning}")
    return [warning]


def record_name(own: bool, cfg: DictConfig, overrides: list[str], split: str, weights: str) -> str:
    """eval/<name>.json: 'run' for the run's own data, else the data's file or source; a
    short hash of the overrides when there are some (two other files of one name, or
    another test_split, are two records); the split; `.best` for the best weights."""
    path = cfg.dataset.get("path")
    label = "run" if own else (Path(str(path)).name.split(".")[0] if path else
                               str(cfg.dataset._target_).rsplit(".", 1)[-1])
    label = re.sub(r"[^A-Za-z0-9_-]+", "_", label) or "data"
    if overrides:
        label += "-" + hashlib.sha256("\n".join(sorted(overrides)).encode()).hexdigest()[:6]
    return f"{label}.{split}" + ("" if weights == "final" else f".{weights}")
