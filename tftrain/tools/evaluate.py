"""`tftrain-eval RUN_FOLDER [overrides]`: a trained run's model on its test split, or another's.

The run folder is the whole record: its `.hydra/overrides.yaml` rebuilds the same data split
(same config, same seed), and `model.keras` is loaded in Keras' safe mode. Overrides given
here (`dataset=synthetic`, `dataset.test_split=0.5`) change the data, never the model.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from tftrain import artifacts
from tftrain.config import checks, schema
from tftrain.config.compose import composed, layered
from tftrain.console import echo, fail
from tftrain.errors import Interrupted, TftrainError, door, said
from tftrain.fast_exit import exits_fast
from tftrain.artifacts import CONFIG
from tftrain.run.folder import RunFolder
from tftrain.run.signals import Signals

EVAL = "eval.json"


def run_config(folder: RunFolder, overrides: list[str]) -> DictConfig:
    """The run's own config (as it ran), or recomposed with the overrides given now."""
    if overrides:
        saved = [o for o in folder.overrides() if not o.startswith("resume=")]
        cfg = composed(layered(saved, overrides))
    else:
        try:
            cfg = OmegaConf.load(folder.path / CONFIG)
        except Exception as error:  # yaml or OmegaConf refusing the file's text
            raise folder.damaged(CONFIG, said(error), "tftrain-eval") from None
        checks.validate(cfg)
    cfg.run_dir = str(folder.path)
    return cfg


def load_model(folder: RunFolder, needed_for: str) -> Any:
    """model.keras in safe mode: a run folder never needs arbitrary code to load."""
    from tftrain.run import runtime  # noqa: F401  (first: quiets TensorFlow before it loads)

    from tftrain import models

    file = folder.model_file(needed_for)
    with door(str(file), explain=lambda error: refused(error, folder, file, needed_for)):
        return models.load_model(str(file), inference=True)


def refused(error: Exception, folder: RunFolder, file: Path, needed_for: str) -> str:
    """Why Keras would not load a run's model.keras: safe mode, or a damaged file."""
    if "safe_mode" in str(error):
        return (f"{file} holds code (a Lambda layer or a pickled function) that Keras' safe "
                f"mode refuses to run; tftrain loads models only in safe mode. A model written "
                f"by tftrain never needs it off: this file was changed or written elsewhere.")
    return str(folder.damaged(Path(artifacts.MODEL), said(error), needed_for))


def evaluate(folder: RunFolder, overrides: list[str]) -> dict[str, Any]:
    """Evaluate the run's model; write eval.json; return what it holds."""
    cfg = run_config(folder, overrides)
    run = run_record(folder.summary("tftrain-eval"))
    folder.model_file("tftrain-eval")  # whole, before any data is read
    from tftrain.run import runtime
    from tftrain.tools.eval_data import eval_data

    runtime.setup(cfg.seed, False, "float32")
    data = eval_data(cfg.dataset, run, cfg.trainer.batch_size, cfg.seed)
    if data.dataset is None:
        raise TftrainError("the data has neither a test nor a validation split to evaluate on; "
                           "set dataset.test_split to a fraction in (0, 1).")
    model = load_model(folder, "tftrain-eval")
    metrics = {k: float(v) for k, v in model.evaluate(data.dataset, return_dict=True, verbose=0).items()}
    result = {"evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "overrides": overrides, "dataset": cfg.dataset._target_, "split": data.split,
              "samples": data.sizes[data.split], "metrics": metrics,
              "data": {"sizes": data.sizes, "fingerprint": data.fingerprint},
              "weights_fingerprint": artifacts.weights_fingerprint(model)}
    artifacts.write_json_atomic(folder.path / EVAL, result)
    return result


def run_record(summary: dict[str, Any]) -> dict[str, Any]:
    """What the run's summary.json says its model takes and predicts."""
    data = summary.get("data", {})
    targets = data.get("targets") or {"output": {"task": data.get("task"),
                                                 "class_names": data.get("class_names")}}
    return {"inputs": data.get("inputs", {}), "targets": targets, "reading": data.get("reading", {})}


def tool_command(usage: str, body: Callable[[RunFolder, list[str]], None], args: list[str]) -> int:
    """The shared shape of tftrain-eval and tftrain-predict: RUN_FOLDER then KEY=VALUE
    arguments; bad input is one paragraph and exit status 2. Returns the exit status."""
    if os.getcwd() not in sys.path:  # the user's own layers and losses, as in training
        sys.path.insert(0, os.getcwd())
    if not args or args[0] in ("-h", "--help"):
        print(usage)
        return 0 if args else 2
    schema.register()
    try:
        with Signals():
            body(RunFolder(args[0]), args[1:])
    except TftrainError as error:
        fail(str(error))
        return error.exit_code
    except Interrupted as error:  # nothing is half-written: files go to their place whole
        fail(f"{error}; nothing was written.")
        return error.exit_code
    return 0


def show_eval(folder: RunFolder, overrides: list[str]) -> None:
    result = evaluate(folder, overrides)
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in result["metrics"].items())
    echo(f"{result['split']} ({result['samples']} samples, {result['dataset']}): {metrics}")
    echo(f"written to {folder.path / EVAL}")


USAGE = """Usage: tftrain-eval RUN_FOLDER [OVERRIDES...]

Reload RUN_FOLDER/model.keras (safe mode) and evaluate it on the run's test split, rebuilt
from the run's own config; overrides change the data, e.g. dataset=synthetic or
dataset.test_split=0.5. Writes RUN_FOLDER/eval.json and prints the metrics."""


def command(args: list[str]) -> int:
    """`tftrain-eval ARGS` in this process; its exit status."""
    return tool_command(USAGE, show_eval, args)


@exits_fast
def main() -> None:
    sys.exit(command(sys.argv[1:]))


if __name__ == "__main__":
    main()
