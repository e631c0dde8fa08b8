"""`tftrain-eval RUN_FOLDER [split=] [weights=] [predictions=] [output=] [overrides]`: a trained
run's model on the data it names, scored whole.

The run folder is the whole record: its `.hydra/overrides.yaml` rebuilds the same data split
(same config, same seed), and `model.keras` (or `checkpoints/best.keras`) is loaded in Keras'
safe mode. Overrides given here (`dataset.path=new.csv`, `dataset.test_split=0.5`) change
the data, never the model. Which split, the record kept: tftrain.tools.eval_record.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from tftrain import artifacts
from tftrain.config import checks
from tftrain.config.compose import composed, layered
from tftrain.config.sources import flags_of_run, source_of, used
from tftrain.console import echo
from tftrain.errors import UNREADABLE, TftrainError, WriteFailed, door, said
from tftrain.fast_exit import exits_fast
from tftrain.artifacts import CONFIG
from tftrain.run.folder import RunFolder
from tftrain.tools.shell import shell
from tftrain.run.plots import INSTALL
from tftrain.tools import eval_report
from tftrain.tools.eval_examples import predicted
from tftrain.tools.eval_record import (Evaluation, arguments, changed_data, data_named,
                                       record_name, said_evaluated, weights_file)
from tftrain.tools.outputs import csv_text, not_written, output_file, run_targets, table
from tftrain.tools.report_html import headline, report_files, report_paths

# Older runs kept one record, eval.json, overwritten by each evaluation; nothing reads it
# now, and new records go to eval/<data>.<split>[.best].json.


def run_config(folder: RunFolder, overrides: list[str]) -> DictConfig:
    """The run's own config (as it ran), or recomposed with the overrides given now."""
    if overrides:  # composed from the config folders the run was made with
        saved = [o for o in folder.overrides() if not o.startswith("resume=")]
        with used(source_of(flags_of_run(folder.path))):
            cfg = composed(layered(saved, overrides))
    else:
        try:
            cfg = OmegaConf.load(folder.path / CONFIG)
        except Exception as error:  # yaml or OmegaConf refusing the file's text
            raise folder.damaged(CONFIG, said(error), "tftrain-eval") from None
        checks.validate(cfg)
    cfg.run_dir = str(folder.path)
    return cfg


def load_model(folder: RunFolder, needed_for: str, file: Path | None = None) -> Any:
    """model.keras (or `file`, checked whole) in safe mode: a run folder never needs
    arbitrary code to load."""
    from tftrain.run import runtime  # noqa: F401  (first: quiets TensorFlow before it loads)

    from tftrain import models

    file = file or folder.model_file(needed_for)
    with door(str(file), explain=lambda error: refused(error, folder, file, needed_for),
              refused=UNREADABLE):
        return models.load_model(str(file), inference=True)


def refused(error: Exception, folder: RunFolder, file: Path, needed_for: str) -> str:
    """Why Keras would not load a run's model.keras: safe mode, or a damaged file."""
    if "safe_mode" in str(error):
        return (f"{file} holds code (a Lambda layer or a pickled function) that Keras' safe "
                f"mode refuses to run; tftrain loads models only in safe mode. A model written "
                f"by tftrain never needs it off: this file was changed or written elsewhere.")
    return str(folder.damaged(Path(artifacts.MODEL), said(error), needed_for))


def evaluate(folder: RunFolder, args: list[str]) -> Evaluation:
    """Evaluate the run's model (final or best weights) on the data and split asked for;
    return what its record holds, and the per-example rows when asked."""
    overrides, asked = arguments(args)
    output = output_file(asked["output"], None, "eval.json")  # checked before anything is computed
    cfg = run_config(folder, overrides)
    summary = folder.summary("tftrain-eval")
    run = run_record(summary)
    file = weights_file(folder, asked["weights"])  # whole, before any data is read
    from tftrain.run import runtime
    from tftrain.tools.eval_data import eval_data

    runtime.setup(cfg.seed, False, "float32")
    own, name, target = data_named(folder, cfg)
    data = eval_data(cfg.dataset, run, cfg.trainer.batch_size, cfg.seed, asked["split"], own)
    echo(said_evaluated(own, name, data))
    warnings = changed_data(summary.get("data", {}), data, overrides) if own else []
    model = load_model(folder, "tftrain-eval", file)
    gan = generative(model, folder, asked["predictions"])  # refused before anything is scored
    metrics = scored(model, data.dataset.map(lambda x, y, i: (x, y)), cfg)
    record = {"evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "overrides": overrides, "dataset": target, "split": data.split,
              "samples": data.samples, "metrics": metrics,
              "data": {"name": name, "own": own, "sizes": data.sizes,
                       "fingerprint": data.fingerprint,
                       "source_fingerprint": data.source_fingerprint},
              "weights": asked["weights"], "model": str(file.relative_to(folder.path)),
              "weights_fingerprint": artifacts.weights_fingerprint(model), "warnings": warnings}
    asked["report"] = asked["report"] and reportable(gan)
    logits = bool(cfg.model.get("logits", False))  # a head without its softmax
    examples = predicted(model, data.dataset, run["targets"], logits) \
        if asked["predictions"] or asked["report"] else None
    kept = record_name(own, cfg, overrides, data.split, asked["weights"])
    return Evaluation(record, examples, run, asked, output or folder.path / "eval" / f"{kept}.json")


def generative(model: Any, folder: RunFolder, predictions: bool) -> bool:
    """Whether the run's model generates samples (a GAN), which predicts no label per
    example: predictions=true is refused for it."""
    from tftrain.callbacks.samples import generates

    if not generates(model):
        return False
    if predictions:
        raise TftrainError(f"predictions=true: {folder.given} is a GAN run, whose model generates "
                           "samples and predicts no label per example; tftrain-predict "
                           f"{folder.given} n=16 writes samples.")
    return True


def reportable(gan: bool) -> bool:
    """Whether the report can be made (said in one line when not): a GAN predicts no
    label, and the report's figures need scikit-learn and matplotlib."""
    if gan:
        echo("report: none for a GAN run (its model generates samples and predicts no label "
             "per example)")
        return False
    if not eval_report.available():
        echo(f"note: no report: it needs scikit-learn and matplotlib ({INSTALL} adds them); "
             "the record is written without it")
        return False
    return True


def scored(model: Any, pairs: Any, cfg: DictConfig) -> dict[str, float]:
    """The model's metrics on `pairs` as the run scored its test split: by the run's own
    trainer (`fit`: Keras' evaluate; the custom loop: the run's step, so a GAN reports its
    losses, which Keras' evaluate cannot compute without the step)."""
    from tftrain.config.trainer import build_trainer

    trainer = build_trainer(cfg.trainer)
    return {k: float(v) for k, v in trainer.evaluate(model, pairs).items()}


def run_record(summary: dict[str, Any]) -> dict[str, Any]:
    """What the run's summary.json says its model takes and predicts."""
    data = summary.get("data", {})
    return {"inputs": data.get("inputs", {}), "targets": run_targets(summary),
            "reading": data.get("reading", {})}


def tool_command(usage: str, body: Callable[[RunFolder, list[str]], None], args: list[str]) -> int:
    """tftrain-eval's and tftrain-predict's arguments, RUN_FOLDER then KEY=VALUE, in the
    shape every tftrain command shares (tftrain.tools.shell). Returns the exit status."""
    if not args or args[0] in ("-h", "--help"):
        print(usage)
        return 0 if args else 2
    return shell(lambda: body(RunFolder(args[0]), args[1:]))


def show_eval(folder: RunFolder, args: list[str]) -> None:
    """The metrics and the report's headline first, then the files written: a run folder
    that cannot be written (read-only, another user's) is still evaluated, and output=
    keeps the record elsewhere."""
    done = evaluate(folder, args)
    record = done.record
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in record["metrics"].items())
    echo(f"{record['split']} ({record['samples']} samples, {record['data']['name']}, "
         f"{record['model']}): {metrics}")
    files = beside(done)
    try:
        keep(files, done.path, record)
    except WriteFailed as failed:
        raise not_written(failed, "The metrics above are kept nowhere else: give output=FILE.json "
                          "(in a folder that can be written) to keep the record there.") from None
    echo(f"written to {done.path}" + (" (per-example predictions: "
                                      f"{done.path.with_name(record['predictions'])})"
                                      if done.asked["predictions"] else ""))
    if done.asked["report"]:
        echo(f"report: {done.path.with_name(record['report'])} (and .md, .json beside it)")


def beside(done: Evaluation) -> dict[Path, str]:
    """The files beside the record (the predictions, the report), their names noted in
    the record; the report's headline is shown as it is made."""
    files: dict[Path, str] = {}
    if done.asked["predictions"]:
        path = done.path.with_name(done.path.name.removesuffix(".json") + ".predictions.csv")
        files[path] = csv_text(table(done.predicted.outputs, done.predicted.ids,
                                     done.run["targets"], done.predicted.labels))
        done.record["predictions"] = path.name
    if done.asked["report"]:
        sections, report = report_files(done.record, done.predicted, done.run, done.path)
        headline(sections)
        files.update(report)
        done.record["report"] = report_paths(done.path)["html"].name
    return files


def keep(files: dict[Path, str], path: Path, record: dict[str, Any]) -> None:
    """Write `files`, then the record that names them (last: a record never names a file
    that is not there); a write that fails removes what was written before it. A record
    kept without a report removes the report of the evaluation it replaces, which would
    no longer be of its record (and tftrain-report would link it)."""
    written: list[Path] = []
    try:
        for file, text in files.items():
            artifacts.write_text_atomic(file, text)
            written.append(file)
        artifacts.write_json_atomic(path, record)
    except WriteFailed:
        for file in written:
            file.unlink(missing_ok=True)
        raise
    for stale in set(report_paths(path).values()) - set(files):
        stale.unlink(missing_ok=True)


USAGE = """Usage: tftrain-eval RUN_FOLDER [split=S] [weights=W] [predictions=true] [report=false] [output=FILE] [OVERRIDES...]

Reload RUN_FOLDER's model (safe mode) and evaluate it on the data named:
  the run's own data (no dataset overrides)   its test split, all of it (a debug run's
                                              limit_batches never cuts what eval scores)
  other data (dataset.path=NEW, dataset=X)    all of it, read as the run read its own
  split=train|val|test|all                    that split instead (cut as training cuts it)
  weights=final|best                          model.keras (default) or checkpoints/best.keras
  predictions=true                            also each example's prediction and label, in
                                              tftrain-predict's columns (.predictions.csv)
  report=false                                no report (.report.html, .md, .json: per-class
                                              figures, curves, calibration, mistakes)
  output=FILE.json                            write the record there instead
Other overrides change the data, never the model (dataset.test_split=0.5). A changed
fingerprint of the run's own data is warned about. The metrics and the report's headline
are printed, then written to RUN_FOLDER/eval/<data>.<split>[.best].json, one record per
data, split and weights, with the report beside it (<record>.report.html)."""


def command(args: list[str]) -> int:
    """`tftrain-eval ARGS` in this process; its exit status."""
    return tool_command(USAGE, show_eval, args)


@exits_fast
def main() -> None:
    sys.exit(command(sys.argv[1:]))


if __name__ == "__main__":
    main()
