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

from tftrain import artifacts, schema
from tftrain.console import echo, fail
from tftrain.errors import TftrainError
from tftrain.process import exits_fast

EVAL = "eval.json"


def run_folder(given: str) -> Path:
    """The folder a user named, checked to be a finished tftrain run."""
    folder = Path(given).expanduser().resolve()
    if not (folder / ".hydra" / "overrides.yaml").is_file():
        raise TftrainError(f"{given} is not a tftrain run folder (no .hydra/overrides.yaml); "
                           f"give a folder a run printed as its 'run folder', e.g. "
                           f"outputs/2026-11-21/10-32-05.")
    if not (folder / artifacts.MODEL).is_file():
        raise TftrainError(f"{given} has no {artifacts.MODEL}: the run did not finish training "
                           f"(its summary.json says why); an interrupted run continues with "
                           f"tftrain resume={given}.")
    return folder


def run_config(folder: Path, overrides: list[str]) -> DictConfig:
    """The run's own config (as it ran), or recomposed with the overrides given now."""
    from tftrain import cli

    if overrides:
        saved = [o for o in cli.saved_overrides(folder) if not o.startswith("resume=")]
        try:
            cfg = cli.compose([*saved, *overrides])
        except Exception as error:
            raise TftrainError(cli.explain(error, overrides)) from None
    else:
        cfg = OmegaConf.load(folder / ".hydra" / "config.yaml")
    cfg.run_dir = str(folder)
    schema.validate(cfg)
    return cfg


def load_model(folder: Path) -> Any:
    """model.keras in safe mode: a run folder never needs arbitrary code to load."""
    from tftrain import runtime  # noqa: F401  (first: quiets TensorFlow before it loads)

    from tftrain import models

    try:
        return models.load_model(str(folder / artifacts.MODEL))
    except ValueError as error:
        if "safe_mode" not in str(error):
            raise
        raise TftrainError(
            f"{folder / artifacts.MODEL} holds code (a Lambda layer or a pickled function) "
            f"that Keras' safe mode refuses to run; tftrain loads models only in safe mode. "
            f"A model written by tftrain never needs it off: this file was changed or "
            f"written elsewhere.") from None


def evaluate(folder: Path, overrides: list[str]) -> dict[str, Any]:
    """Evaluate the run's model; write eval.json; return what it holds."""
    from tftrain import runtime

    cfg = run_config(folder, overrides)
    runtime.setup(cfg.seed, False, "float32")
    from tftrain.data import build_data

    data = build_data(cfg.dataset, cfg.trainer.batch_size, cfg.seed)
    model = load_model(folder)
    check_fits(model, data.spec)
    split, dataset = ("test", data.test) if data.test is not None else ("val", data.val)
    if dataset is None:
        raise TftrainError("the data has neither a test nor a validation split to evaluate on; "
                           "set dataset.test_split to a fraction in (0, 1).")
    metrics = {k: float(v) for k, v in model.evaluate(dataset, return_dict=True, verbose=0).items()}
    result = {"evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "overrides": overrides, "dataset": cfg.dataset._target_, "split": split,
              "samples": data.sizes[split], "metrics": metrics,
              "data": {"sizes": data.sizes, "fingerprint": data.fingerprint},
              "weights_fingerprint": artifacts.weights_fingerprint(model)}
    artifacts.write_json_atomic(folder / EVAL, result)
    return result


def check_fits(model: Any, spec: Any) -> None:
    """The saved model takes the shapes this data gives (named inputs compared as a set)."""
    inputs = getattr(model, "inputs", None) or []
    expected = sorted(tuple(t.shape[1:]) for t in inputs) or [tuple(model.input_shape[1:])]
    given = sorted(f.shape for f in spec.inputs)
    if expected != given:
        raise TftrainError(f"the model takes inputs of shape {', '.join(map(str, expected))} but "
                           f"this data gives {', '.join(map(str, given))}; choose a dataset with "
                           "the run's input shapes.")


def tool_command(usage: str, body: Callable[[Path, list[str]], None], args: list[str]) -> int:
    """The shared shape of tftrain-eval and tftrain-predict: RUN_FOLDER then KEY=VALUE
    arguments; bad input is one paragraph and exit status 2. Returns the exit status."""
    if os.getcwd() not in sys.path:  # the user's own layers and losses, as in training
        sys.path.insert(0, os.getcwd())
    if not args or args[0] in ("-h", "--help"):
        print(usage)
        return 0 if args else 2
    schema.register()
    try:
        body(run_folder(args[0]), args[1:])
    except TftrainError as error:
        fail(str(error))
        return error.exit_code
    return 0


def show_eval(folder: Path, overrides: list[str]) -> None:
    result = evaluate(folder, overrides)
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in result["metrics"].items())
    echo(f"{result['split']} ({result['samples']} samples, {result['dataset']}): {metrics}")
    echo(f"written to {folder / EVAL}")


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
